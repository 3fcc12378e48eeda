"""Planning: which targets a run times, with which typed options and artifacts; opening their
sessions with failures isolated; and the one rule that picks the float reference.

Shared by `run` and `accuracy` (and whatever else opens sessions on planned targets). Nothing
here asks which runtime it has: runtimes declare formats, options and capabilities.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from edgebench.bench.config import RunConfig
from edgebench.bench.memory import PeakMemory
from edgebench.errors import TargetUnavailable, UserError, printable
from edgebench.models.artifact import Artifact
from edgebench.models.source import ModelSource, open_source
from edgebench.runtimes.base import BATCH, TARGETS, THROUGHPUT, Runtime, Session, TargetDef, load_runtime
from edgebench.runtimes.options import RuntimeOptions
from edgebench.tensors import image_layout, input_specs, output_specs

T = TypeVar("T")
REFERENCE_PRECISION = "fp32"


@dataclass
class PlannedTarget:
    """One target of a run: its runtime, typed options, and artifact, or why it cannot run."""

    target: TargetDef
    runtime: Runtime
    options: RuntimeOptions | None
    artifact: Artifact | None = None
    status: str = "ok"          # ok | unavailable | failed
    error: str | None = None
    sweep: dict = field(default_factory=dict)   # {"threads": n, "batch": n} when sweeping

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def runnable(self) -> bool:
        return self.status == "ok" and self.artifact is not None

    def formats(self) -> tuple[str, ...]:
        return self.runtime.formats


@dataclass(frozen=True)
class Skipped:
    target: str
    reason: str


@dataclass(frozen=True)
class TaskChoice:
    """The run's task, why it was chosen (said on screen), and the user's class names."""

    task: object                 # an edgebench.tasks.base.Task
    name: str
    why: str
    labels: object | None = None  # edgebench.tasks.base.Labels from --labels


@dataclass
class Plan:
    config: RunConfig
    source: ModelSource
    targets: list[PlannedTarget]
    skipped: list[Skipped] = field(default_factory=list)
    meters: dict[str, object] = field(default_factory=dict)   # device -> meter (or None)
    task: TaskChoice | None = None

    def labels_for(self, output_specs) -> object:
        """The class names a session's outputs are read with (edgebench.tasks.base.Labels)."""
        return class_names(self.task, self.source, output_specs)

    def reference_candidates(self) -> list[PlannedTarget]:
        """Float targets not in the plan that could give the reference prediction, best first
        (artifacts not prepared yet: only needed when no planned float target succeeds)."""
        chosen = {p.name for p in self.targets}
        candidates = []
        for target in TARGETS.values():
            if target.name in chosen or target.precision != REFERENCE_PRECISION:
                continue
            planned = _plan_one(target, self.config, self.source, explicit=False)
            if isinstance(planned, PlannedTarget):
                candidates.append(planned)
        return choose_order(candidates, self.source.native_format, planned_traits)


def make_plan(config: RunConfig, on_step: Callable[[str], None] | None = None,
              source: ModelSource | None = None) -> Plan:
    """Open the model source (unless given), choose targets and options, select meters, then
    prepare every artifact: conversions never run between one target's measurement and the next."""
    source = source or open_source(config.model, config.allow_download, on_step, config.calibration,
                                   config.preprocess)
    task = choose_task(config, source)
    # Registry order whatever order they were named in: it puts targets whose runtime leaves
    # threads behind (Keras on JAX) after every other target.
    named = set(config.targets or TARGETS)
    chosen = [target for name, target in TARGETS.items() if name in named]
    plan = Plan(config, source, [], task=task)
    for target in chosen:
        for threads, batch in config.sweep_points():
            planned = _plan_one(target, config, source, config.explicit_targets, threads, batch)
            if isinstance(planned, Skipped):
                if planned not in plan.skipped:
                    plan.skipped.append(planned)
            else:
                planned.sweep = _sweep_label(config, threads, batch)
                plan.targets.append(planned)
    if not plan.targets:
        raise UserError(f"no available target runs {source.name}" + why_none_run(source.name, plan.skipped))
    plan.meters = _select_meters(config, plan.targets)
    runnable = [p for p in plan.targets if p.status == "ok"]
    source.conversions_needed([(p.name, p.target.source_precision, p.formats()) for p in runnable])
    for planned in runnable:
        prepare(planned, source)
    return plan


def why_none_run(model: str, skipped: list[Skipped]) -> str:
    """The reasons, short: a specific one (an Edge TPU file without libedgetpu) whole and first,
    the targets that read no format the model comes in counted, not listed one by one."""
    no_format = [s for s in skipped if s.reason.startswith(f"{model} has no ")]
    parts = [f"{s.target}: {s.reason}" for s in skipped if s not in no_format]
    if no_format:
        parts.append(f"{len(no_format)} other target{'s' if len(no_format) > 1 else ''} read no format "
                     "and precision it comes in (`edgebench targets` lists them)")
    return f" - {'; '.join(parts)}" if parts else ""


def _sweep_label(config: RunConfig, threads: int | None, batch: int) -> dict:
    label = {}
    if len(set(config.thread_counts)) > 1:
        label["threads"] = threads
    if len(set(config.batch_sizes)) > 1:
        label["batch"] = batch
    return label


def _plan_one(target: TargetDef, config: RunConfig, source: ModelSource, explicit: bool,
              threads: int | None = None, batch: int | None = None) -> PlannedTarget | Skipped:
    """A named target is always planned (unavailable, with its reason, if it cannot run); in a
    default selection a target that cannot run here is skipped with its reason."""
    threads = threads if threads is not None else config.threads
    batch = batch if batch is not None else config.batch
    runtime = load_runtime(target.runtime_key)
    offline = _offline_options(config, runtime, threads)
    problem = _why_not(target, runtime, source, explicit, batch)
    options = None
    if problem is None:
        try:
            options = runtime.options_type.build(
                target.runtime, config.runtime_settings.get(target.runtime, {}),
                device=target.device, precision=target.precision, batch=batch,
                input_shapes=config.input_shapes, **offline)
        except UserError as exc:
            if explicit:
                raise UserError(f"{target.name}: {exc}") from None
            problem = str(exc)
    if problem is not None and not explicit:
        return Skipped(target.name, problem)
    planned = PlannedTarget(target, runtime, options)
    if problem is not None:
        planned.status, planned.error = "unavailable", problem
    return planned


def _offline_options(config: RunConfig, runtime: Runtime, threads: int | None) -> dict:
    """Offline: a runtime with a throughput mode of its own runs it (its own stream count unless
    --streams; all cores unless --threads); any other runtime gets parallel sessions, one thread
    each unless told otherwise."""
    if config.scenario not in ("offline", "server"):   # LoadGen's server keeps inferences in flight too
        return {"threads": threads}
    if THROUGHPUT in runtime.capabilities:
        return {"threads": threads, "throughput": True, "streams": config.streams}
    return {"threads": threads if threads is not None else 1}


def _why_not(target: TargetDef, runtime: Runtime, source: ModelSource, explicit: bool,
             batch: int) -> str | None:
    # A named target the model does not fit goes on to prepare(), whose reason is specific
    # ("compiled for the Edge TPU", "does not read tflite files").
    if not explicit and not source.applies(target.source_precision, runtime.formats):
        return f"{source.name} has no {target.source_precision} model in a format it reads ({'/'.join(runtime.formats)})"
    ok, reason = runtime.available()
    if not ok:
        return reason
    if batch > 1 and BATCH not in runtime.capabilities:
        return f"--batch {batch} needs a runtime that builds its graph for the batch size; " \
               f"{target.runtime} runs the artifact's batch of 1"
    return None


def _select_meters(config: RunConfig, planned: list[PlannedTarget]) -> dict[str, object]:
    from edgebench.meters.base import select_meter

    devices = dict.fromkeys(p.target.device for p in planned if p.status == "ok")
    return {device: select_meter(config.meter, config.power_w, device) for device in devices}


def prepare(planned: PlannedTarget, source: ModelSource) -> None:
    """Find or build the planned target's artifact; a failure is recorded on it, not raised."""
    try:
        planned.artifact = source.artifact_for(planned.name, planned.target.source_precision,
                                               planned.formats())
    except TargetUnavailable as exc:
        planned.status, planned.error = "unavailable", str(exc)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - one variant failing to build must not stop the rest
        planned.status, planned.error = "failed", describe_error(exc)


def open_session(planned: PlannedTarget, task=None) -> Session:
    """Load the planned target's artifact with its options, and check that the task (image
    classification unless given) can feed and read it, before anything is timed."""
    from edgebench.tasks import get_task

    task = task or get_task("classification")
    session = planned.runtime.load(planned.artifact, planned.options)
    problem = task.problem(input_specs(session), output_specs(session))
    if problem is not None:
        session.close()
        raise TargetUnavailable(f"{problem} (read as {task.name})")
    return session


def choose_task(config: RunConfig, source: ModelSource) -> TaskChoice:
    """--task, else the task the source names, else the one its file's tensors say; a task
    that cannot read the file is one line before anything is prepared."""
    from edgebench.tasks import get_task, infer_task, task_key
    from edgebench.tasks.labels import read_labels

    labels = read_labels(config.labels) if config.labels is not None else None
    declared = task_key(source.declared_task)
    if config.input_shapes and source.tensors is None:
        raise UserError(f"input shapes fill in open dimensions of a model file's inputs; {source.name} is "
                        "not a file with open dimensions", "input_shapes")
    if config.task != "auto":
        if declared is not None and declared != config.task:
            raise UserError(f"{source.name} is a {declared} model, not {config.task} (its "
                            f"{source.describe().get('source', 'card')} entry says so)", "task")
        name, why = config.task, "chosen with --task"
    elif declared is not None:
        name, why = declared, f"named by the model's {source.describe().get('source', 'card')} entry"
    elif source.tensors is not None:
        counts = (1000, 1001) + ((len(labels.names),) if labels is not None else ())
        inferred = infer_task(*_with_shapes(source.tensors, config.input_shapes), label_counts=counts)
        name, why = inferred.task, inferred.reason
        if labels is not None and name == "embedding":   # a vector the labels were meant for, but do not fit
            width = get_task("classification").classes(source.tensors[1])
            raise UserError(f"the labels file names {len(labels.names)} classes; {source.name}'s output "
                            f"has {width} (or read it as a feature vector: the embedding task)", "labels")
    else:
        name, why = "classification", "the model says nothing else"
    task = get_task(name)
    tensors = _with_shapes(source.tensors, config.input_shapes) if source.tensors is not None else None
    if tensors is not None and (problem := task.problem(*tensors)) is not None:
        raise UserError(f"{source.name} cannot be read as {name}: {problem}")
    choice = TaskChoice(task, name, why, labels)
    if source.tensors is not None and labels is not None:
        class_names(choice, source, source.tensors[1])   # a label count that cannot fit: one line now
    return choice


def _with_shapes(tensors, shapes):
    """A file's (inputs, outputs) with the shapes given by --input-shape put in; one line for a
    name no input has, or a shape that contradicts a dimension the file fixes."""
    import dataclasses

    inputs = list(tensors[0])
    names = [spec.name for spec in inputs]
    for name, shape in shapes:
        index = 0 if name == "" and inputs else names.index(name) if name in names else None
        if index is None:
            raise UserError(f"input shape {name}=...: the model has no input {name!r} "
                            f"(its inputs: {', '.join(repr(n) for n in names) or 'none'})", "input_shapes")
        spec = inputs[index]
        fixed = [d for d in spec.shape]
        if len(shape) != len(fixed) or any(f > 0 and f != d for f, d in zip(fixed, shape)):
            raise UserError(f"input shape {spec.name}={'x'.join(map(str, shape))} disagrees with the file's "
                            f"{list(fixed)} (0: open; only open dimensions can be given)", "input_shapes")
        inputs[index] = dataclasses.replace(spec, shape=tuple(shape), layout=image_layout(tuple(shape)))
    return tuple(inputs), tensors[1]


def class_names(choice: TaskChoice | None, source: ModelSource, output_specs):
    """Names for a session's classes: --labels, else the source's own (a retrained model's, a
    card's), else a set built in for the task (ImageNet, COCO, PASCAL VOC), else none."""
    from edgebench.tasks import get_task
    from edgebench.tasks.base import Labels
    from edgebench.tasks.labels import builtin_labels

    task = choice.task if choice is not None else get_task("classification")
    width = task.classes(tuple(output_specs)) if output_specs else None
    if choice is not None and choice.labels is not None:
        if width is not None and width != len(choice.labels.names):
            raise UserError(f"the labels file names {len(choice.labels.names)} classes; "
                            f"{source.name}'s output has {width}")
        return choice.labels
    if width is not None:   # the source's names for this many classes (a card's, a zoo entry's, ImageNet's)
        names, label_set = source.labels(width)
        if tuple(names) != tuple(f"class {i}" for i in range(width)):
            return Labels(tuple(names), label_set)
    own = source.own_labels()
    if own and (width is None or width == len(own)):
        return Labels(tuple(own), f"{source.name}'s own {len(own)} classes")
    return builtin_labels(task.name, width) or Labels()


@dataclass
class Attempt(Generic[T]):
    """What running work on one target's session gave: a value, or a status and reason."""

    value: T | None = None
    status: str = "ok"
    error: str | None = None
    load_s: float | None = None
    settings: dict = field(default_factory=dict)
    memory: dict | None = None     # MemoryUse fields


def attempt(planned: PlannedTarget, work: Callable[[Session], T], task=None) -> Attempt[T]:
    """Open the session (checked against the task, image classification unless given), call
    work(session), close it. One target's failure never stops the
    others: TargetUnavailable -> unavailable, other errors -> failed, each with the reason.
    UserError and KeyboardInterrupt pass through."""
    if not planned.runnable:
        return Attempt(status=planned.status, error=planned.error)
    outcome: Attempt[T] = Attempt()
    session = None
    memory = PeakMemory()
    try:
        before = memory.reset()
        started = time.perf_counter()
        session = open_session(planned, task)
        outcome.load_s = round(time.perf_counter() - started, 3)
        load_peak, after_load = memory.peak_bytes(), memory.reset()
        outcome.settings = dict(session.settings)
        outcome.value = work(session)
        outcome.memory = _memory_use(planned, memory, before, load_peak, after_load, session)
    except TargetUnavailable as exc:
        outcome.status, outcome.error = "unavailable", printable(str(exc))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a runtime's failure must not stop the others
        outcome.status, outcome.error = "failed", printable(describe_error(exc))
    finally:
        if session is not None:
            session.close()
    return outcome


def _memory_use(planned: PlannedTarget, memory: PeakMemory, before: int, load_peak: int,
                after_load: int, session) -> dict:
    mib = 1024 * 1024
    path = planned.artifact.path
    arena = session.arena_bytes()
    return {"model_file_mb": round(path.stat().st_size / mib, 3) if path.is_file() else None,
            "load_peak_added_mb": round(max(0, load_peak - before) / mib, 3),
            "run_peak_added_mb": round(max(0, memory.peak_bytes() - after_load) / mib, 3),
            "process_rss_mb": round(after_load / mib, 3),
            "runtime_arena_mb": round(arena / mib, 3) if arena is not None else None,
            "method": memory.method}


def describe_error(exc: BaseException) -> str:
    """Type and the most specific line: C++ runtimes prefix theirs with source locations."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1][:300] if lines else 'no message'}"


# The reference rule. A reference is always a float target; among those, the one that runs the
# model as it was published (no conversion), on a CPU, first in target order.

Traits = tuple[str, str | None, str]   # (precision, artifact format, device)


def planned_traits(p: PlannedTarget) -> Traits:
    fmt = p.artifact.format if p.artifact else (p.formats()[0] if p.formats() else None)
    return p.target.precision, fmt, p.target.device


def choose_order(items: Iterable[T], native_format: str | None, traits: Callable[[T], Traits]) -> list[T]:
    """Float items, best reference first."""
    floats = [(i, item) for i, item in enumerate(items) if traits(item)[0] == REFERENCE_PRECISION]
    ranked = sorted(floats, key=lambda pair: (traits(pair[1])[1] != native_format,
                                              traits(pair[1])[2] != "cpu", pair[0]))
    return [item for _, item in ranked]


def choose_reference(items: Iterable[T], native_format: str | None,
                     traits: Callable[[T], Traits]) -> T | None:
    ranked = choose_order(items, native_format, traits)
    return ranked[0] if ranked else None

"""One benchmark run: plan, then time every planned target in turn, then check each target's
prediction against the float reference. Results are recorded as they happen.

Failures are per target: an unavailable runtime or a model it cannot load is recorded with its
reason and the other targets still run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol as TypingProtocol

import numpy as np

from edgebench.bench.config import RunConfig
from edgebench.bench.outcome import Measured, target_result
from edgebench.bench.plan import Attempt, Plan, PlannedTarget, attempt, make_plan, prepare
from edgebench.bench.sustained import device_sampler, summarize
from edgebench.errors import Terminated, printable
from edgebench.protocol import Protocol
from edgebench.results.schema import Prediction, ReferencePrediction, RunResult, SkippedTarget, TargetResult
from edgebench.tensors import input_specs, output_specs


class RunEvents(TypingProtocol):
    """What a front end hears while a run is under way."""

    def prepare_step(self, message: str) -> None: ...
    def prepared(self) -> None: ...
    def target_started(self, target: str, runs: int) -> None: ...
    def target_progress(self, target: str, done: int, total: int) -> None: ...
    def target_finished(self, result: TargetResult) -> None: ...


class Recorder(TypingProtocol):
    """Where a run is saved while it happens (the results Store implements this)."""

    def begin_run(self, run: RunResult) -> None: ...
    def add_target(self, run_id: str, position: int, result: TargetResult) -> None: ...
    def finish_run(self, run: RunResult) -> None: ...


class RunInterrupted(Exception):
    """Ctrl-C (or SIGTERM/SIGHUP) during a run; .result holds the finished targets, status
    'interrupted'; .signum says which signal."""

    def __init__(self, result: RunResult, signum: int = 2):
        super().__init__("run interrupted")
        self.result = result
        self.signum = signum


class SilentEvents:
    def prepare_step(self, message: str) -> None: pass
    def prepared(self) -> None: pass
    def target_started(self, target: str, runs: int) -> None: pass
    def target_progress(self, target: str, done: int, total: int) -> None: pass
    def target_finished(self, result: TargetResult) -> None: pass


class Photo:
    """The image of a run: decoded once, preprocessed once per normalisation, both timed."""

    def __init__(self, path: Path):
        from edgebench.models.images import load_image

        started = time.perf_counter()
        self.path = path
        self.pil = load_image(path)
        self.decode_ms = (time.perf_counter() - started) * 1e3
        self._tensors: dict = {}

    def frame(self, prep, spec, geometry: str = "crop") -> tuple[np.ndarray, float]:
        """The session's input for this photo, and the ms spent decoding and preprocessing it.
        geometry: "crop" (shorter side resized, centre-cropped) or "stretch" (the whole photo)."""
        from edgebench.models.images import stretch_float_nchw, to_float_nchw, to_input

        key = (prep, geometry, spec.image_size if geometry == "stretch" else None)
        if key not in self._tensors:
            started = time.perf_counter()
            x = stretch_float_nchw(self.pil, prep, spec.image_size) if geometry == "stretch" \
                else to_float_nchw(self.pil, prep)
            self._tensors[key] = (x, (time.perf_counter() - started) * 1e3)
        x, normalise_ms = self._tensors[key]
        started = time.perf_counter()
        if _channels(spec) == 1:   # a grey input: the photo's mean over its colour channels
            x = x.mean(axis=1, keepdims=True)
        x = to_input(np.repeat(x, spec.shape[0], axis=0) if spec.shape[0] > 1 else x, spec)
        return x, self.decode_ms + normalise_ms + (time.perf_counter() - started) * 1e3


def _channels(spec) -> int:
    return spec.shape[1] if spec.layout == "NCHW" else spec.shape[3]


@dataclass(frozen=True)
class Fed:
    """A session's inputs for one run, built before timing, with how the image was prepared."""

    x: object                          # one array, or a tuple for several inputs
    preprocess_ms: float
    preprocessing: object | None       # models.zoo.Preprocessing of the image input, if any
    why: str


def feed_inputs(plan: Plan, session, photo: Photo) -> Fed:
    """What the run's task feeds this session: the photo, prepared as the source says, into its
    image input; the task's own tensors elsewhere."""
    task = plan.task.task
    if not task.uses_image:
        started = time.perf_counter()
        x = task.inputs(input_specs(session), None)
        return Fed(x, (time.perf_counter() - started) * 1e3, None,
                   "seeded random tensors in each input's dtype and range, the same on every target")
    chosen = {}

    def image_for(spec):
        prep, why = plan.source.preprocessing(spec, plan.config.preprocess)
        x, ms = photo.frame(prep, spec, task.geometry)
        chosen.update(prep=prep, why=why, ms=ms)
        return x

    x = task.inputs(input_specs(session), image_for)
    return Fed(x, chosen.get("ms", 0.0), chosen.get("prep"), chosen.get("why", ""))


def decode(plan: Plan, session, output, photo_size: tuple[int, int] | None, min_score: float | None = None):
    """The task's answer from one inference's outputs (the first item of a batch), for a photo
    of photo_size (width, height; None: no photo). min_score: a detector's lowest box score kept
    (None: the task's own floor)."""
    from edgebench.tasks.base import Broken, Context, nonfinite
    from edgebench.tasks.inputs import image_input
    from edgebench.tensors import as_tuple

    specs = input_specs(session)
    index = image_input(specs)
    batch = specs[0].shape[0] if specs and specs[0].shape else 1
    outputs = tuple(y[:1] if batch > 1 and np.ndim(y) and np.shape(y)[0] == batch else y for y in as_tuple(output))
    context = Context(plan.labels_for(output_specs(session)),
                      specs[index].image_size if index is not None else None,
                      photo_size, min_score)
    broken = nonfinite(outputs, output_specs(session))
    if broken:   # NaN or infinity in: nothing a task reads, and no figure may come out of it
        return Broken(broken), context.labels.source
    return plan.task.task.decode(outputs, output_specs(session), context), context.labels.source


def run(config: RunConfig = RunConfig(), events: RunEvents | None = None,
        recorder: Recorder | None = None, labelled=None) -> RunResult:
    """Benchmark config.model on every selected target. Example:

    >>> from edgebench import run, RunConfig
    >>> result = run(RunConfig(targets=("litert-int8",)))

    labelled: ground truth (models.labelled.ClassSet, models.annotated.CocoSet / MaskSet) every
    timed target is also scored on, after all timing (each result's `accuracy`; through LoadGen's
    accuracy mode when config.loadgen is set).
    Ctrl-C raises RunInterrupted carrying the targets finished so far (already recorded).
    """
    from edgebench.models.images import default_image

    events = events or SilentEvents()
    if config.loadgen is not None:   # before anything is prepared: its absence is one line
        from edgebench.bench.loadgen import require_loadgen

        require_loadgen()
    photo = Photo(Path(config.image) if config.image else default_image())
    plan = make_plan(config, events.prepare_step)
    if labelled is not None:
        from edgebench.bench.scored import check_task

        check_task(plan, labelled)   # before minutes of timing, not after
        if hasattr(labelled, "load"):   # a classifier's labels: read with the model's own class names
            labelled.load(plan.source.own_labels())
    events.prepared()
    run_result = _new_run(plan, photo)
    if recorder is not None:
        recorder.begin_run(run_result)
    interrupted = None
    answers: dict = {}   # id(TargetResult) -> the task's answer, for agreement
    try:
        _time_targets(plan, photo, events, recorder, run_result, answers)
        _settle_reference(plan, photo, run_result, answers)
        if labelled is not None:
            from edgebench.bench.scored import score_targets

            run_result.accuracy_notes, run_result.accuracy_warnings = score_targets(
                plan, run_result.results, labelled, loadgen_logs=_loadgen_accuracy_logs(plan, run_result.run_id))
    except KeyboardInterrupt as exc:  # what finished is already recorded
        run_result.status, run_result.error, interrupted = "interrupted", _interruption(exc), exc
    except BaseException as exc:
        # Anything else that ends the run still leaves it in a final state in the store.
        run_result.status, run_result.error = "failed", f"{type(exc).__name__}: {exc}"[:300]
        _finish(run_result, recorder)
        raise
    if run_result.status == "complete" and not any(r.status == "ok" for r in run_result.results):
        # Stored as complete it would pass for the device's latest measurement, hiding real ones.
        run_result.status, run_result.error = "failed", "no target ran"
    _finish(run_result, recorder)
    if interrupted is not None:
        raise RunInterrupted(run_result, interrupted.signum if isinstance(interrupted, Terminated) else 2)
    return run_result


def _interruption(exc: KeyboardInterrupt) -> str:
    return str(exc) if str(exc) else "interrupted by the user (Ctrl-C)"


def _new_run(plan: Plan, photo: Photo) -> RunResult:
    from edgebench import __version__
    from edgebench.models.artifact import sha256_of
    from edgebench.system import device_info

    return RunResult(
        run_id=uuid.uuid4().hex,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        edgebench_version=__version__, device=device_info(), model=plan.source.describe(),
        task=plan.task.name, task_why=printable(plan.task.why)[:400],
        image={"path": str(photo.path), "sha256": sha256_of(photo.path), "size": list(photo.pil.size)},
        harness_overhead=harness_overhead(), conditions=_conditions_now(),
        skipped=[SkippedTarget(target=s.target, reason=s.reason) for s in plan.skipped],
        results=[])


def _conditions_now() -> list:
    """The cheap checks (sysfs, procfs, vcgencmd/nvpmodel when present, NVML): tens of ms."""
    from edgebench.conditions import check_all

    return check_all()


def _time_targets(plan: Plan, photo: Photo, events: RunEvents, recorder: Recorder | None,
                  run_result: RunResult, answers: dict) -> None:
    """Time each planned target in turn; an interruption records the target it stopped, then
    goes on up. Other processes' CPU use during each timed loop joins the run's conditions."""
    load: list[dict] = []
    try:
        _time_each(plan, photo, events, recorder, run_result, answers, load)
    finally:
        _record_load(run_result, load)


def _record_load(run_result: RunResult, load: list[dict]) -> None:
    from edgebench.conditions.processes import during_run

    if not load:
        return
    seconds = sum(u["seconds"] for u in load) or 1e-9
    overall = {"cores": round(sum(u["cores"] * u["seconds"] for u in load) / seconds, 2),
               "peak_cores": max(u["peak_cores"] for u in load), "seconds": round(seconds, 3),
               "cpus": load[0]["cpus"],
               "top": max((u for u in load), key=lambda u: u["cores"])["top"]}
    run_result.conditions.append(during_run(overall, "during the timed loops", load))


def _time_each(plan: Plan, photo: Photo, events: RunEvents, recorder: Recorder | None,
               run_result: RunResult, answers: dict, load: list[dict]) -> None:
    for position, planned in enumerate(plan.targets):
        interrupted = None
        try:
            outcome = attempt(planned, lambda session: _measure(session, planned, plan, photo, events,
                                                                _load_of(load, position, planned.name),
                                                                run_result.run_id),
                              plan.task.task)
        except KeyboardInterrupt as exc:
            outcome, interrupted = Attempt(status="interrupted", error=_interruption(exc)), exc
        result = target_result(planned, plan.source.name, plan.config.protocol, outcome)
        if outcome.value is not None:
            answers[id(result)] = outcome.value.answer
        run_result.results.append(result)
        if recorder is not None:
            recorder.add_target(run_result.run_id, position, result)
        events.target_finished(result)
        if interrupted is not None:
            raise interrupted


def _load_of(load: list[dict], position: int, target: str):
    """Where one target's timed loop records other processes' CPU use."""
    def record(usage: dict | None) -> None:
        if usage is not None:
            load.append({"position": position, "target": target, **usage})
    return record


def _measure(session, planned: PlannedTarget, plan: Plan, photo: Photo, events: RunEvents,
             record_load=None, run_id: str = "") -> Measured:
    from edgebench.conditions.processes import OtherProcesses

    fed = feed_inputs(plan, session, photo)
    meter = plan.meters.get(planned.target.device)
    protocol, window = _protocol_for(plan.config.protocol, meter)
    name = planned.name
    progress = lambda done, total: events.target_progress(name, done, total)  # noqa: E731
    streams, loadgen = 1, None
    others = OtherProcesses().start()
    try:
        if plan.config.loadgen is not None:
            # LoadGen's queries are not metered: no energy figure rather than one for the wrong span.
            meter, window = None, None
            m, loadgen, streams = _measure_loadgen(session, planned, plan, fed.x, events, run_id)
        else:
            events.target_started(name, protocol.runs * protocol.repetitions)
            m, streams = _timed(session, planned, plan, fed, protocol, progress, meter)
    finally:
        usage = others.stop()
        if record_load is not None:
            record_load(usage)
    answer, label_set = decode(plan, session, m.output, photo.pil.size)
    energy = None
    if m.energy:
        from edgebench.meters.base import energy_from

        energy = energy_from(m.energy, m.runs)
    sustained = None
    if m.windows:
        from edgebench.hardware import board

        sustained = summarize(m.windows, protocol.window_s, board())   # flags as the loop ended
    return Measured(m, protocol, input_specs(session), fed.preprocessing, fed.why, fed.preprocess_ms,
                    answer, plan.task.task, label_set, energy, meter.name if meter is not None else None,
                    window, sustained, plan.config.scenario, streams, loadgen)


def _loadgen_accuracy_logs(plan: Plan, run_id: str):
    """Where each target's LoadGen accuracy-mode logs go (a --loadgen run scores through
    LoadGen's accuracy mode), else None."""
    if plan.config.loadgen is None:
        return None
    from edgebench.bench.loadgen_run import logs_dir_for

    return lambda planned: logs_dir_for(run_id, loadgen_label(planned)) / "accuracy"


def loadgen_label(planned: PlannedTarget) -> str:
    """A target's name and sweep point: its LoadGen logs' folder name."""
    return " ".join([planned.name, *(f"{k}={v}" for k, v in planned.sweep.items())])


def _measure_loadgen(session, planned: PlannedTarget, plan: Plan, x, events: RunEvents, run_id: str):
    """LoadGen issues the queries (bench.loadgen_run); its logs go under the run's id."""
    from edgebench.bench.loadgen_run import logs_dir_for, measure_loadgen

    return measure_loadgen(session, planned, plan, x, lambda: events.target_started(planned.name, 0),
                           logs_dir_for(run_id or "unsaved", loadgen_label(planned)))


def _timed(session, planned: PlannedTarget, plan: Plan, fed: Fed, protocol: Protocol, progress, meter):
    """The timed loop of the run's scenario: (measurement, inferences in flight)."""
    from edgebench.bench.runner import measure

    if plan.config.scenario == "offline":
        return _measure_offline(session, planned, fed.x, protocol, progress, meter, plan.config.streams,
                                plan.task.task)
    sampler = device_sampler() if protocol.window_s else None
    return measure(session, fed.x, protocol, progress, meter, sampler), 1


def _measure_offline(session, planned: PlannedTarget, x, protocol: Protocol, progress, meter,
                     streams: int | None, task=None):
    """Offline: in the runtime's own throughput mode where its session has one (it keeps its own
    requests in flight), else `streams` sessions of this target at once (the first is the one
    loaded), each in a thread of edgebench's."""
    import os

    from edgebench.bench.plan import open_session
    from edgebench.bench.runner import measure_async, measure_offline
    from edgebench.runtimes.base import AsyncSession

    if isinstance(session, AsyncSession):
        return measure_async(session, x, protocol, progress, meter), session.in_flight
    count = streams or max(2, os.cpu_count() or 1)
    extra = []
    try:
        for _ in range(count - 1):
            extra.append(open_session(planned, task))
        return measure_offline([session, *extra], x, protocol, progress, meter), count
    finally:
        for s in extra:
            s.close()


def _protocol_for(protocol: Protocol, meter) -> tuple[Protocol, float | None]:
    """A meter that cannot resolve a shorter loop lengthens the timed loop to its window."""
    window = meter.min_window_s if meter is not None else 0.0
    if window > protocol.min_duration_s:
        return dataclasses.replace(protocol, min_duration_s=window), window
    return protocol, None


def _settle_reference(plan: Plan, photo: Photo, run_result: RunResult, answers: dict) -> None:
    """The float answer every target is checked against: the best timed float target's, else
    one untimed inference of the best float target that was not selected."""
    from edgebench.bench.agreement import mark_agreement, timed_reference

    task = plan.task.task
    timed = timed_reference(run_result.results, plan.source.native_format)
    reference_answer = None
    if timed is not None:
        reference_answer = answers.get(id(timed))
        run_result.reference = _reference_record(task, timed.target, reference_answer, True)
    else:
        found = _untimed_reference(plan, photo)
        if found is not None:
            run_result.reference = _reference_record(task, found[0], found[1], False)
            reference_answer = found[1]
    reference = run_result.reference
    run_result.reference_target = reference.target if reference else None
    run_result.agreement_rule = task.threshold_text
    mark_agreement(run_result.results, answers, task, reference_answer,
                   reference.target if reference and reference.timed else None)


def _reference_record(task, target: str, answer, timed: bool) -> ReferencePrediction:
    from edgebench.errors import printable
    from edgebench.tasks.base import summary_of

    record = answer.record()
    top5 = [Prediction(**r) for r in record.get("top5", [])]
    return ReferencePrediction(target=target, top1=top5[0] if top5 else None, top5=top5, timed=timed,
                               task=task.name, answer=record, summary=printable(summary_of(task, answer))[:400])


def _untimed_reference(plan: Plan, photo: Photo):
    def predict(session):
        fed = feed_inputs(plan, session, photo)
        session.set_input(fed.x)
        session.invoke()
        return decode(plan, session, session.output(), photo.pil.size)[0]

    for candidate in plan.reference_candidates():
        prepare(candidate, plan.source)
        outcome = attempt(candidate, predict, plan.task.task)
        if outcome.value is not None:
            return candidate.name, outcome.value
    return None


def _finish(run_result: RunResult, recorder: Recorder | None) -> None:
    from edgebench.hardware import thermal_zones

    run_result.thermal_after_c = thermal_zones()
    if recorder is not None:
        recorder.finish_run(run_result)


def harness_overhead():
    """Per-call cost of the timing loop itself: a NullRuntime session through measure()."""
    from edgebench.bench.runner import measure
    from edgebench.results.schema import HarnessOverhead
    from edgebench.runtimes.null import NullSession

    session = NullSession()
    x = np.zeros(session.input_spec.shape, np.float32)
    m = measure(session, x, Protocol("null", warmup=200, settle_s=0.0, runs=5000))
    us = m.samples_ns / 1e3
    return HarnessOverhead(median_us=float(np.median(us)), p99_us=float(np.percentile(us, 99)),
                           runs=int(us.size))


def predict(config: RunConfig) -> dict[str, object]:
    """One untimed inference of config.image on every planned target: {target: the task's
    answer}, for scoring answers against ground truth (segmentation masks, keypoints). Targets
    that cannot run are left out."""
    from edgebench.models.images import default_image

    photo = Photo(Path(config.image) if config.image else default_image())
    plan = make_plan(config)

    def once(session):
        fed = feed_inputs(plan, session, photo)
        session.set_input(fed.x)
        session.invoke()
        return decode(plan, session, session.output(), photo.pil.size)[0]

    answers = {}
    for planned in plan.targets:
        outcome = attempt(planned, once, plan.task.task)
        if outcome.value is not None:
            answers[planned.name] = outcome.value
    return answers

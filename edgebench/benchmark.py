"""One benchmark run: model source x targets -> RunResult.

Failures are per target: an unavailable runtime or a model it cannot load is recorded
with its reason and the other targets still run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol as TypingProtocol

import numpy as np

from edgebench.errors import TargetUnavailable, UserError
from edgebench.meters.base import select_meter
from edgebench.models.artifact import Artifact, inspect_model_file, sha256_of
from edgebench.protocol import CLASSIC, Protocol
from edgebench.results.schema import ProtocolInfo, RunResult, TargetResult
from edgebench.runtimes.base import TARGETS, RuntimeOptions, TargetDef, load_runtime


@dataclass(frozen=True)
class RunConfig:
    """What `edgebench run` was asked to do. model: a zoo name or a .tflite/.onnx path."""

    model: str = "mobilenet_v2"
    image: Path | None = None
    targets: tuple[str, ...] | None = None     # None: every target that applies
    protocol: Protocol = CLASSIC
    threads: int | None = None
    preprocess: str = "auto"                   # user models: auto, torchvision, inception, unit, raw
    torch_mode: str = "auto"
    allow_download: bool = True
    meter: str = "auto"             # auto (a measuring meter if present), none, rated, rapl, nvml, jetson
    power_w: float | None = None    # for the rated meter: the device's rated power
    batch: int = 1                  # images per inference (throughput mode; torch targets)
    cuda_input: str = "auto"        # CUDA targets: host (copy each frame) or device (staged once)
    extra_options: dict[str, str] = field(default_factory=dict)


class RunEvents(TypingProtocol):
    """What a front end hears while a run is under way."""

    def prepare_step(self, message: str) -> None: ...
    def target_started(self, target: str, runs: int) -> None: ...
    def target_progress(self, target: str, done: int, total: int) -> None: ...
    def target_finished(self, result: TargetResult) -> None: ...


class Recorder(TypingProtocol):
    """Where a run is saved while it happens (the results Store implements this)."""

    def begin_run(self, run: RunResult) -> None: ...
    def add_target(self, run_id: str, position: int, result: TargetResult) -> None: ...
    def finish_run(self, run: RunResult) -> None: ...


class RunInterrupted(Exception):
    """Ctrl-C during a run; .result holds the finished targets, status 'interrupted'."""

    def __init__(self, result: RunResult):
        super().__init__("run interrupted")
        self.result = result


class SilentEvents:
    def prepare_step(self, message: str) -> None: pass
    def target_started(self, target: str, runs: int) -> None: pass
    def target_progress(self, target: str, done: int, total: int) -> None: pass
    def target_finished(self, result: TargetResult) -> None: pass


class ZooSource:
    """A zoo model: artifacts are prepared (or found cached) per target."""

    def __init__(self, name: str, allow_download: bool, events: RunEvents):
        from edgebench.models.prepare import Preparer
        from edgebench.models.zoo import get_model

        self.spec = get_model(name)
        self.preparer = Preparer(self.spec, allow_download=allow_download, on_step=events.prepare_step)
        self.name = self.spec.name

    def applies(self, target: TargetDef, formats: tuple[str, ...]) -> bool:
        return any((fmt, target.source_precision) in self.spec.variants for fmt in formats)

    def artifact_for(self, target: TargetDef, formats: tuple[str, ...]) -> Artifact:
        for fmt in formats:
            if (fmt, target.source_precision) in self.spec.variants:
                return self.preparer.get((fmt, target.source_precision))
        raise TargetUnavailable(f"{self.name} has no {target.source_precision} variant in "
                                f"{'/'.join(formats)} format")

    def preprocessing(self, _input_spec, _choice: str):
        return self.spec.preprocessing

    def labels(self, num_classes: int) -> tuple[str, ...]:
        return _labels_by_width(num_classes)

    def describe(self) -> dict:
        return {"name": self.name, "source": "zoo", "description": self.spec.description,
                "weights_sha256": self.spec.weights.sha256 if self.spec.weights else None}


class FileSource:
    """A user's .tflite or .onnx file: it runs on each runtime that reads its format."""

    def __init__(self, path: Path):
        self.artifact = inspect_model_file(path)
        self.name = self.artifact.model

    def applies(self, target: TargetDef, formats: tuple[str, ...]) -> bool:
        return self.artifact.format in formats and self.artifact.precision == target.source_precision

    def artifact_for(self, target: TargetDef, formats: tuple[str, ...]) -> Artifact:
        if self.artifact.requires == "edgetpu" and target.device != "edgetpu":
            raise TargetUnavailable("the model is compiled for the Edge TPU: it runs only through "
                                    "the Edge TPU delegate (libedgetpu), not on a CPU runtime")
        if self.artifact.format not in formats:
            raise TargetUnavailable(f"{target.runtime} does not read {self.artifact.format} files")
        if self.artifact.precision != target.source_precision:
            raise TargetUnavailable(f"the model is {self.artifact.precision}, the target is "
                                    f"{target.precision}")
        return self.artifact

    def preprocessing(self, input_spec, choice: str):
        from edgebench.models.images import preprocessing_for

        return preprocessing_for(input_spec, choice)

    def labels(self, num_classes: int) -> tuple[str, ...]:
        return _labels_by_width(num_classes)

    def describe(self) -> dict:
        return {"name": self.name, "source": "file", "path": str(self.artifact.path),
                "sha256": self.artifact.sha256, "format": self.artifact.format,
                "precision": self.artifact.precision}


class HubSource:
    """A model version from the hub (hub://owner/name@version): its files are pulled into the
    cache (sha256-checked) and each runs on the runtimes that read it, preprocessed as its card says."""

    def __init__(self, reference: str, events: RunEvents):
        from edgebench.hub.client import cache_pull
        from edgebench.hub.names import parse_ref

        ref = parse_ref(reference)
        events.prepare_step(f"pulling {ref} from the hub")
        self.version, paths = cache_pull(ref)
        self.name = f"{ref.path}@{self.version['version']}"
        self.files = [FileSource(path) for path in paths]

    def applies(self, target: TargetDef, formats: tuple[str, ...]) -> bool:
        return any(f.applies(target, formats) for f in self.files)

    def artifact_for(self, target: TargetDef, formats: tuple[str, ...]) -> Artifact:
        # In the runtime's order of preference: OpenVINO reads both, but ONNX int8 better.
        chosen = next((f for fmt in formats for f in self.files
                       if f.artifact.format == fmt and f.applies(target, formats)), None)
        if chosen is None:
            have = ", ".join(f"{f.artifact.format} {f.artifact.precision}" for f in self.files)
            raise TargetUnavailable(f"{self.name} has no {target.source_precision} file that "
                                    f"{target.runtime} reads (it has: {have})")
        return dataclasses.replace(chosen.artifact_for(target, formats), model=self.name)

    def preprocessing(self, input_spec, choice: str):
        card = self.version["card"].get("preprocessing")
        if card and choice == "auto":  # the publisher said how: trust the card over a guess
            from edgebench.models.zoo import Preprocessing

            return Preprocessing(card["resize"], card["crop"], tuple(card["mean"]), tuple(card["std"]))
        return self.files[0].preprocessing(input_spec, choice)

    def labels(self, num_classes: int) -> tuple[str, ...]:
        card = self.version["card"].get("labels") or []
        return tuple(card) if len(card) == num_classes else _labels_by_width(num_classes)

    def describe(self) -> dict:
        return {"name": self.name, "source": "hub", "hub": self.version.get("hub"),
                "ref": self.name.partition("@")[0], "version": self.version["version"],
                "files": [{"filename": a["filename"], "format": a["format"], "precision": a["precision"],
                           "sha256": a["sha256"]} for a in self.version["artifacts"]]}


def _labels_by_width(num_classes: int) -> tuple[str, ...]:
    from edgebench.models.labels import labels_for

    return labels_for(num_classes)


def open_source(model: str, allow_download: bool, events: RunEvents):
    from edgebench.models.zoo import ZOO

    if model.startswith("hub://"):
        return HubSource(model, events)
    if model in ZOO:
        return ZooSource(model, allow_download, events)
    if Path(model).suffix.lower() in (".tflite", ".onnx") or Path(model).exists():
        return FileSource(Path(model))
    raise UserError(f"unknown model '{model}': not a zoo model ({', '.join(sorted(ZOO))}), "
                    "a .tflite/.onnx file, nor hub://owner/name[@version]")


def resolve_targets(names: tuple[str, ...] | None) -> list[TargetDef]:
    if names is None:
        return list(TARGETS.values())
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        raise UserError(f"unknown target '{unknown[0]}'; known: {', '.join(TARGETS)}")
    return [TARGETS[n] for n in dict.fromkeys(names)]


class _Image:
    """The decoded image, preprocessed once per normalisation and timed."""

    def __init__(self, path: Path):
        from edgebench.models.images import load_image

        started = time.perf_counter()
        self.path = path
        self.pil = load_image(path)
        self.decode_ms = (time.perf_counter() - started) * 1e3
        self._tensors: dict = {}

    def tensor(self, prep) -> tuple[np.ndarray, float]:
        from edgebench.models.images import to_float_nchw

        if prep not in self._tensors:
            started = time.perf_counter()
            x = to_float_nchw(self.pil, prep)
            self._tensors[prep] = (x, self.decode_ms + (time.perf_counter() - started) * 1e3)
        return self._tensors[prep]


def run(config: RunConfig = RunConfig(), events: RunEvents | None = None,
        recorder: Recorder | None = None) -> RunResult:
    """Benchmark config.model on every selected target. Example:

    >>> from edgebench.benchmark import run, RunConfig
    >>> result = run(RunConfig(targets=("litert-int8",)))

    Ctrl-C raises RunInterrupted carrying the targets finished so far (already recorded).
    """
    from edgebench.bench.agreement import mark_agreement
    from edgebench.models.images import default_image
    from edgebench.system import device_info

    events = events or SilentEvents()
    image_path = Path(config.image) if config.image else default_image()
    image = _Image(image_path)
    source = open_source(config.model, config.allow_download, events)
    meters: dict[str, object] = {}  # one per device, chosen once
    explicit = config.targets is not None
    planned = []
    # Prepare every artifact before timing anything: conversions must not run between
    # one target's measurement and the next.
    left_out: list[str] = []
    for target in resolve_targets(config.targets):
        runtime = load_runtime(target.runtime_key)
        if not explicit:
            if not source.applies(target, runtime.formats):
                continue  # a user's int8 .tflite does not "run" on onnxruntime-fp32: leave it out
            ok, reason = runtime.available()
            if not ok:  # the default is every *available* target; `edgebench targets` lists the rest
                left_out.append(f"{target.name}: {reason}")
                continue
        result = new_result(target, runtime, source, config.protocol)
        planned.append((target, runtime, artifact_or_reason(target, runtime, source, result), result))
    if not planned:
        raise UserError(f"no available target runs {source.name}"
                        + (f" - {'; '.join(left_out)}" if left_out else ""))
    events.prepare_step("models prepared")

    run_result = RunResult(
        run_id=uuid.uuid4().hex,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        edgebench_version=_own_version(),
        device=device_info(),
        model=source.describe(),
        image={"path": str(image_path), "sha256": sha256_of(image_path), "size": list(image.pil.size)},
        harness_overhead=harness_overhead(),
        results=[])
    if recorder is not None:
        recorder.begin_run(run_result)
    try:
        for position, (target, runtime, artifact, result) in enumerate(planned):
            if artifact is not None:
                if target.device not in meters:
                    meters[target.device] = select_meter(config.meter, config.power_w, target.device)
                try:
                    _measure_target(target, runtime, artifact, source, image, config, events, result,
                                    meters[target.device])
                except KeyboardInterrupt:
                    result.status, result.error = "interrupted", "interrupted by the user (Ctrl-C)"
                    result.latency_ms = result.fps = None
                    run_result.status = "interrupted"
            run_result.results.append(result)
            if recorder is not None:
                recorder.add_target(run_result.run_id, position, result)
            events.target_finished(result)
            if run_result.status == "interrupted":
                break
    except KeyboardInterrupt:  # between targets: what finished is already recorded
        run_result.status = "interrupted"
    run_result.reference_target = mark_agreement(run_result.results)
    from edgebench.hardware import thermal_zones

    run_result.thermal_after_c = thermal_zones()
    if recorder is not None:
        recorder.finish_run(run_result)
    if run_result.status == "interrupted":
        raise RunInterrupted(run_result)
    return run_result


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


def new_result(target: TargetDef, runtime, source, protocol: Protocol) -> TargetResult:
    return TargetResult(
        target=target.name, runtime=target.runtime, runtime_version=runtime.version(),
        precision=target.precision, device=target.device, model=source.name, status="ok",
        protocol=ProtocolInfo(**dataclasses.asdict(protocol)))


def artifact_or_reason(target: TargetDef, runtime, source, result: TargetResult) -> Artifact | None:
    """The artifact this target runs, or None with the reason recorded on result."""
    ok, reason = runtime.available()
    if not ok:
        result.status, result.error = "unavailable", reason
        return None
    try:
        artifact = source.artifact_for(target, runtime.formats)
    except TargetUnavailable as exc:
        result.status, result.error = "unavailable", str(exc)
        return None
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - one variant failing to build must not stop the rest
        result.status, result.error = "failed", f"{type(exc).__name__}: {_first_line(exc)}"
        return None
    result.artifact = {"format": artifact.format, "path": str(artifact.path),
                       "sha256": artifact.sha256, "toolchain": artifact.toolchain}
    return artifact


def _measure_target(target: TargetDef, runtime, artifact: Artifact, source, image: _Image,
                    config: RunConfig, events: RunEvents, result: TargetResult, meter=None) -> None:
    from edgebench.bench.agreement import scores, top_k
    from edgebench.bench.runner import measure
    from edgebench.bench.stats import latency_stats
    from edgebench.models.images import to_input

    session = None
    try:
        if config.batch > 1 and target.runtime != "torch":  # graphs of other runtimes are batch 1
            raise TargetUnavailable(f"--batch {config.batch} needs a runtime that builds its graph "
                                    "for the batch size (torch targets); this artifact is batch 1")
        input_shape = None
        if hasattr(source, "spec"):
            input_shape = (config.batch, *source.spec.input_shape[1:])
        options = RuntimeOptions(threads=config.threads, device=target.device,
                                 precision=target.precision, extra={
            "torch_mode": config.torch_mode, "cuda_input": config.cuda_input,
            **({"input_shape": input_shape} if input_shape else {}),
            **config.extra_options})
        result.options = {"threads": config.threads or _cores(), **(
            {"torch_mode": config.torch_mode} if target.runtime == "torch" else {})}
        if meter is not None:
            result.options["meter"] = meter.name
        started = time.perf_counter()
        session = runtime.load(artifact, options)
        result.load_s = round(time.perf_counter() - started, 3)
        for attribute, key in (("mode", "mode"), ("input_on", "cuda_input"), ("layout", "cuda_layout")):
            if getattr(session, attribute, None):
                result.options[key] = getattr(session, attribute)
        spec = session.input_spec
        if spec.layout is None:
            raise TargetUnavailable(f"input {spec.name} {spec.shape} is not an image tensor")
        float_x, preprocess_ms = image.tensor(source.preprocessing(spec, config.preprocess))
        started = time.perf_counter()
        x = to_input(np.repeat(float_x, spec.shape[0], axis=0) if spec.shape[0] > 1 else float_x, spec)
        result.preprocess_ms = round(preprocess_ms + (time.perf_counter() - started) * 1e3, 3)
        result.input = {"shape": list(spec.shape), "layout": spec.layout, "dtype": spec.dtype,
                        "quantization": (None if spec.quantization is None else
                                         {"scale": spec.quantization.scale,
                                          "zero_point": spec.quantization.zero_point})}
        protocol = config.protocol
        window = getattr(meter, "min_window_s", 0.0)
        if window > protocol.min_duration_s:
            # The meter cannot resolve a shorter loop: time for at least its window, and say so.
            protocol = dataclasses.replace(protocol, min_duration_s=window)
            result.options["energy_window_s"] = window
        events.target_started(target.name, protocol.runs * protocol.repetitions)
        m = measure(session, x, protocol,
                    lambda done, total: events.target_progress(target.name, done, total), meter)
        result.latency_ms = latency_stats(
            m.samples_ms, [float(np.median(r)) / 1e6 for r in m.repetitions])
        result.fps = m.fps
        result.batch = spec.shape[0]
        result.images_per_s = m.fps * spec.shape[0]
        result.elapsed_s = m.total_elapsed_s
        if m.energy:
            from edgebench.meters.base import energy_from

            result.energy = energy_from(m.energy, m.runs)
        result.samples_ms = [round(float(v), 6) for v in m.samples_ms]
        probabilities = scores(m.output[:1], session.output_spec)  # first image of a batch
        predictions = top_k(probabilities, source.labels(probabilities.size))
        result.top1, result.top5 = predictions[0], predictions
    except TargetUnavailable as exc:
        result.status, result.error = "unavailable", str(exc)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a runtime's failure must not stop the others
        result.status, result.error = "failed", f"{type(exc).__name__}: {_first_line(exc)}"
    finally:
        if session is not None:
            session.close()


def _first_line(exc: BaseException) -> str:
    """The most specific line of an error: C++ runtimes prefix theirs with source locations."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def _own_version() -> str:
    from edgebench import __version__

    return __version__

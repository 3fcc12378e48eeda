"""What a run is asked to do. Constructing a RunConfig validates every name and range in it
(touching no device, file or network), so a typo fails before anything is prepared or timed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.errors import UserError
from edgebench.protocol import CLASSIC, Protocol
from edgebench.runtimes.options import MAX_BATCH, MAX_STREAMS, MAX_THREADS, check_choice

PREPROCESS_CHOICES = ("auto", "torchvision", "inception", "unit", "raw")
METER_CHOICES = ("auto", "none", "rated", "rapl", "nvml", "jetson")
SCENARIOS = ("single-stream", "offline")   # MLPerf's names, timed by edgebench's own loops
LOADGEN_SCENARIOS = ("single-stream", "multi-stream", "server", "offline")   # through MLPerf's LoadGen
MAX_POWER_W = 10_000.0   # a rated power above this is a typo, not an edge device
MAX_SWEEP = 16           # values per swept knob


@dataclass(frozen=True)
class RunConfig:
    """model: a zoo name, a .tflite/.onnx path or hub://owner/name[@version]. targets: None for
    every target that applies. runtime_settings: per runtime name, its own options as strings
    ({runtime: {option: value}}, from `--runtime-option runtime.option=value`), checked against
    that runtime's typed options."""

    model: str = "mobilenet_v2"
    image: Path | None = None
    targets: tuple[str, ...] | None = None
    protocol: Protocol = CLASSIC
    threads: int | None = None
    batch: int = 1
    preprocess: str = "auto"
    # Images to calibrate a user's own model's int8 variants on (None: the built-in photos).
    calibration: Path | None = None
    allow_download: bool = True
    meter: str = "auto"
    power_w: float | None = None
    runtime_settings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Sweeps: every target is timed at each of these (instead of `threads` / `batch`).
    thread_counts: tuple[int, ...] = ()
    batch_sizes: tuple[int, ...] = ()
    # single-stream: one frame at a time (the article's loop); offline: `streams` sessions at
    # once (default: the CPU's cores), each with `threads` threads (default 1), for images/s.
    scenario: str = "single-stream"
    streams: int | None = None
    # What the model does: "auto" (the zoo entry's or hub card's, else inferred from the file's
    # tensors) or a name in edgebench.tasks.TASKS. labels: a file naming its classes.
    task: str = "auto"
    labels: Path | None = None
    # Shapes for inputs with open dimensions: ((input name or "" for the first, shape), ...).
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # MLPerf's LoadGen issues the queries (any of LOADGEN_SCENARIOS) instead of edgebench's loops.
    loadgen: LoadGenSettings | None = None

    def __post_init__(self) -> None:
        from edgebench.runtimes.base import TARGETS

        if not isinstance(self.model, str) or not self.model.strip():
            raise UserError("no model named: give a zoo name, a .tflite/.onnx file or hub://owner/name")
        if self.targets is not None:
            if not self.targets:
                raise UserError(f"no target named; known: {', '.join(TARGETS)}")
            unknown = [n for n in self.targets if n not in TARGETS]
            if unknown:
                raise UserError(f"unknown target '{unknown[0]}'; known: {', '.join(TARGETS)}")
        if not isinstance(self.protocol, Protocol):
            raise UserError(f"protocol must be a Protocol, got {type(self.protocol).__name__}")
        _check_int("threads", self.threads, MAX_THREADS, optional=True)
        _check_int("batch", self.batch, MAX_BATCH)
        for name, values, high in (("threads", self.thread_counts, MAX_THREADS),
                                   ("batch", self.batch_sizes, MAX_BATCH)):
            if not isinstance(values, tuple) or len(values) > MAX_SWEEP:
                raise UserError(f"a {name} sweep takes up to {MAX_SWEEP} values, got {values!r}")
            for value in values:
                _check_int(name, value, high)
        check_choice("preprocessing", self.preprocess, PREPROCESS_CHOICES)
        check_choice("meter", self.meter, METER_CHOICES)
        if self.loadgen is None and self.scenario in set(LOADGEN_SCENARIOS) - set(SCENARIOS):
            raise UserError(f"the {self.scenario} scenario is run by LoadGen only: ask for LoadGen to issue the "
                            "queries", "loadgen")
        check_choice("scenario", self.scenario, LOADGEN_SCENARIOS if self.loadgen is not None else SCENARIOS)
        if self.loadgen is not None:
            _check_loadgen(self)
        _check_int("streams", self.streams, MAX_STREAMS, optional=True)
        if self.scenario == "offline" and self.protocol.window_s:
            raise UserError("a sustained run times the single-stream loop; it cannot run offline", "duration_s")
        if self.power_w is not None and not (isinstance(self.power_w, (int, float))
                                             and math.isfinite(self.power_w) and 0 < self.power_w <= MAX_POWER_W):
            raise UserError(f"rated power must be above 0 and at most {MAX_POWER_W:g} W, got {self.power_w!r}", "power_w")
        if self.meter == "rated" and self.power_w is None:
            raise UserError("the rated meter needs the device's rated power in W", "power_w")
        _check_settings(self.runtime_settings)
        from edgebench.tasks import TASK_CHOICES

        check_choice("task", self.task, TASK_CHOICES)
        _check_shapes(self.input_shapes)

    @property
    def explicit_targets(self) -> bool:
        return self.targets is not None

    def sweep_points(self) -> list[tuple[int | None, int]]:
        """(threads, batch) of every timing of each target: one point unless sweeping."""
        threads = sorted(set(self.thread_counts)) or [self.threads]
        batches = sorted(set(self.batch_sizes)) or [self.batch]
        return [(t, b) for b in batches for t in threads]

    @property
    def sweeping(self) -> bool:
        return len(self.sweep_points()) > 1


MAX_QPS = 1_000_000.0          # queries/s: above this no edge device answers, it is a typo
MAX_LATENCY_BOUND_MS = 3_600_000.0
MAX_SAMPLES_IN_LIBRARY = 100_000   # LoadGen's query sample library (copies of one input share it)
MAX_LOADGEN_DURATION_S = 24 * 3600.0
MAX_QUERIES = 10_000_000


@dataclass(frozen=True)
class LoadGenSettings:
    """edgebench's overrides of LoadGen's own rules (its mlperf.conf); None keeps edgebench's
    defaults, which bench.loadgen states (MLPerf's 600 s minimum would make every probe of a
    server search ten minutes long). target_qps: server - one test at this rate instead of the
    search; offline - the expected rate LoadGen sizes its query by. latency_bound_ms: server's
    latency bound at latency_percentile (mlperf.conf: 10 ms at p99). samples: the query sample
    library's size (copies of the run's one input). search_tolerance: the server search stops when
    its bracket is within this fraction of its low end."""

    target_qps: float | None = None
    latency_bound_ms: float | None = None
    latency_percentile: float | None = None
    samples: int | None = None
    min_duration_s: float | None = None
    min_query_count: int | None = None
    search_tolerance: float = 0.1

    def __post_init__(self) -> None:
        _check_number("target rate", self.target_qps, 0.0, MAX_QPS, "queries per second", setting="target_qps")
        _check_number("latency bound", self.latency_bound_ms, 0.0, MAX_LATENCY_BOUND_MS, "ms",
                      setting="latency_bound_ms")
        _check_number("latency percentile", self.latency_percentile, 50.0, 99.99, "", low_open=False,
                      setting="latency_percentile")
        _check_number("LoadGen's minimum duration", self.min_duration_s, 0.0, MAX_LOADGEN_DURATION_S, "s",
                      setting="min_duration_s")
        _check_number("search tolerance", self.search_tolerance, 0.0, 1.0, "")
        _check_int("samples", self.samples, MAX_SAMPLES_IN_LIBRARY, optional=True, setting="samples")
        _check_int("minimum query count", self.min_query_count, MAX_QUERIES, optional=True,
                   setting="min_query_count")


def _check_number(name: str, value, low: float, high: float, unit: str, low_open: bool = True,
                  setting: str | None = None) -> None:
    """None passes; else a finite number in (low, high] (or [low, high])."""
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"above {low:g}" if low_open else f"from {low:g}"
        raise UserError(f"{name} must be a number {bound} and at most {high:g}{' ' + unit if unit else ''}, "
                        f"got {value!r}", setting)


def _check_loadgen(config: RunConfig) -> None:
    """Options that mean nothing in the chosen LoadGen scenario are refused, not ignored."""
    lg, scenario = config.loadgen, config.scenario
    if not isinstance(lg, LoadGenSettings):
        raise UserError(f"loadgen must be LoadGenSettings, got {type(lg).__name__}")
    if lg.target_qps is not None and scenario not in ("server", "offline"):
        raise UserError(f"a target rate applies to the server and offline scenarios, not {scenario}", "target_qps")
    if (lg.latency_bound_ms is not None or lg.latency_percentile is not None) and scenario != "server":
        raise UserError(f"a latency bound applies to the server scenario (LoadGen has no bound in {scenario})",
                        "latency_bound_ms")
    if config.protocol.window_s:
        raise UserError("a sustained run times edgebench's own loop, not LoadGen's queries", "duration_s")


def _check_int(name: str, value, high: int, optional: bool = False, setting: str | None = None) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise UserError(f"{name} must be an integer from 1 to {high}, got {value!r}", setting)


MAX_DIM = 1 << 20


def _check_shapes(shapes) -> None:
    if not isinstance(shapes, tuple):
        raise UserError(f"input shapes must be a tuple of (name, shape), got {shapes!r}")
    for entry in shapes:
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], tuple) and 1 <= len(entry[1]) <= 8
                and all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DIM for d in entry[1])):
            raise UserError(f"input shape {entry!r}: a name and 1-8 dimensions from 1 to {MAX_DIM}")


def _check_settings(settings: Mapping[str, Mapping[str, str]]) -> None:
    """Each runtime's settings must be valid on at least one device it runs on; which device a
    value suits (a CUDA-only mode) is checked again per target when the run is planned."""
    from edgebench.runtimes.base import TARGETS, runtime_class

    runtimes = {t.runtime: [] for t in TARGETS.values()}
    for target in TARGETS.values():
        runtimes[target.runtime].append(target)
    for runtime, values in settings.items():
        if runtime not in runtimes:
            raise UserError(f"unknown runtime '{runtime}' in runtime options; known: {', '.join(runtimes)}")
        errors = []
        for target in runtimes[runtime]:
            try:
                runtime_class(target.runtime_key).options_type.build(
                    runtime, values, device=target.device, precision=target.precision)
                break
            except UserError as exc:
                errors.append(str(exc))
        else:
            raise UserError(errors[0])

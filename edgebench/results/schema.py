"""Result types. JSON written by edgebench round-trips through these models."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import typing
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, create_model,
                      model_validator)

from edgebench.protocol import Protocol

# 2: results carry the task, its answer and the agreement figure (version 1 runs are image
# classification, read as such).
SCHEMA_VERSION = 2

FPS_METHOD = "timed runs / wall-clock seconds of the timed loop"
LATENCY_METHOD = "time.perf_counter_ns around set_input + invoke + output, per inference"

# -- what every stored number and name must be --------------------------------------------------
# A result enters the store (a run, an import, a hub push) only through these models, so their
# rules are the store's: every number finite, every typed number >= 0 (latencies, rates, energy,
# counts; free-form dicts such as thermal readings or quantization zero points may be negative),
# scores in [0, 1], ids and names bounded (the store's column widths) without control characters.
# JSON written from a valid result therefore never holds NaN or Infinity.
_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
MAX_DEPTH = 32              # nesting of free-form dicts/lists (options, artifact, board, ...)
MAX_SAMPLES = 10_000_000    # raw samples per target
MAX_TARGETS = 1000


def _name(max_length: int, min_length: int = 1):
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length,
                                            pattern=_NO_CONTROL)]


def _iso_time(value: str) -> str:
    try:
        _dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value[:40]!r}") from None
    return value


RunId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                         pattern=r"^[^\s\x00-\x1f\x7f-\x9f]+$")]
Name = _name(256)
ShortName = _name(64)
Stamp = Annotated[_name(40), AfterValidator(_iso_time)]
Score = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=2**53)]


def check_values(value, where: str = "", typed: bool = True, depth: int = 0) -> None:
    """Refuse (ValueError naming the place) a NaN or infinite number anywhere, a negative number
    in a typed field, a NUL in any string, or free-form data nested deeper than MAX_DEPTH."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            check_values(getattr(value, name), f"{where}.{name}" if where else name, typed, depth)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: {value} is not a finite number")
        if isinstance(value, int) and abs(value) > (2**53 if typed else 2**63):
            # JSON readers keep integers exact only up to 2**53 (and SQLite's up to 2**63)
            raise ValueError(f"{where}: the integer is too large (over 2**{53 if typed else 63})")
        if typed and value < 0:
            raise ValueError(f"{where}: {value} is negative")
    elif isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where}: text holds a NUL character")
    elif isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise ValueError(f"{where}: nested deeper than {MAX_DEPTH} levels")
        for key, item in value.items():
            check_values(key, where, False, depth + 1)
            check_values(item, f"{where}.{key}", False, depth + 1)
    elif isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise ValueError(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if len(value) > 64 and all(type(v) is float for v in value):  # raw samples: checked at once
            _check_floats(value, where, typed)
            return
        for i, item in enumerate(value):
            check_values(item, f"{where}.{i}", typed, depth + (0 if typed else 1))


def _check_floats(values, where: str, typed: bool) -> None:
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(array) | ((array < 0) if typed else False)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{where}.{i}: {values[i]} is " + ("negative" if math.isfinite(values[i])
                                                            else "not a finite number"))


def first_problem(exc) -> str:
    """A pydantic ValidationError as one line: where, and what is wrong (the first problem)."""
    return problem_line(exc.errors()[0])


def problem_line(first: dict, drop: tuple = ()) -> str:
    """One validation error (pydantic's or FastAPI's dict) as 'where: what'; `drop`: leading
    location parts to leave out (FastAPI's "body")."""
    loc = list(first.get("loc", ()))
    while loc and loc[0] in drop:
        loc.pop(0)
    where = ".".join(str(p) for p in loc) or "top level"
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if first.get("type") == "string_pattern_mismatch":
        message = "must be text without control characters" + (
            " or spaces" if "\\s" in str((first.get("ctx") or {}).get("pattern", "")) else "")
    if ": " in message and message.split(": ", 1)[0].replace(".", "").replace("_", "").isalnum():
        inner, message = message.split(": ", 1)   # check_values names the place inside the model
        where = f"{where}.{inner}" if where != "top level" else inner
    text = f"{where}: {message}"[:400]
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Prediction(BaseModel):
    index: Count
    label: Name
    score: Score = Field(description="probability (softmax of the output unless it already is one)")


class LatencyStats(BaseModel):
    """Milliseconds per inference (cv is a fraction: std / mean)."""

    median: float
    mean: float
    std: float = 0.0
    cv: float = 0.0
    p90: float
    p99: float
    p999: float | None = None
    min: float
    max: float
    ci95_median: tuple[float, float] | None = None
    ci_method: str | None = None
    n: int | None = None
    repetition_medians: list[float] = Field(default_factory=list)


class _ProtocolRecord(BaseModel):
    @classmethod
    def of(cls, protocol: Protocol) -> BaseModel:
        """The record of a protocol a target was timed with."""
        return cls(**dataclasses.asdict(protocol))


def _protocol_fields() -> dict:
    """ProtocolInfo's fields are edgebench.protocol.Protocol's, read from the dataclass: one
    definition of what a protocol is. Only the name is bounded here, to the store's column."""
    hints = typing.get_type_hints(Protocol)
    return {f.name: (_name(32) if f.name == "name" else hints[f.name],
                     ... if f.default is dataclasses.MISSING else f.default)
            for f in dataclasses.fields(Protocol)}


# The protocol a target was timed with, as recorded (ProtocolInfo.of(protocol)).
ProtocolInfo = create_model("ProtocolInfo", __base__=_ProtocolRecord, __module__=__name__,
                            **_protocol_fields())


class Energy(BaseModel):
    """Energy over the timed loops. method says how it was obtained (rated power is not measured)."""

    method: _name(200)
    joules: float
    seconds: float
    inferences: int
    j_per_inference: float
    inferences_per_j: float
    avg_power_w: float


class MemoryUse(BaseModel):
    """Megabytes (MiB). load/run: the peak resident memory a phase added to the process."""

    model_file_mb: float | None = None
    load_peak_added_mb: float | None = None
    run_peak_added_mb: float | None = None
    process_rss_mb: float | None = Field(default=None, description="the whole process after loading")
    runtime_arena_mb: float | None = Field(default=None, description="the runtime's own figure, if it reports one")
    method: str


class Window(BaseModel):
    """One window of a sustained run: its throughput and the device's state at its end."""

    t_s: float = Field(description="end of the window, seconds since the timed loop began")
    inferences: int
    fps: float
    cpu_mhz: float | None = None
    temperatures_c: dict[str, float] = Field(default_factory=dict)
    gpu: dict[str, float] = Field(default_factory=dict, description="NVML clock MHz / temperature C")


class Sustained(BaseModel):
    """A sustained run: the per-window curve and whether the device slowed down."""

    window_s: float
    windows: list[Window]
    first_minute_fps: float
    last_minute_fps: float
    last_vs_first: float = Field(description="last-minute fps / first-minute fps")
    throttled: bool
    evidence: str = Field(description="why throttled is what it is")


class HarnessOverhead(BaseModel):
    """What the timing loop itself costs per inference, measured with the NullRuntime."""

    median_us: float
    p99_us: float
    runs: int
    method: str = "NullRuntime session through the same timing loop"


class LoadGenRecord(BaseModel):
    """A target measured through MLPerf's LoadGen: its verdict and every reason, LoadGen's own
    figures and effective settings, edgebench's overrides of its mlperf.conf, the server search's
    probes, and where its logs are kept. Absent (None) in results stored before LoadGen came."""

    scenario: Literal["single-stream", "multi-stream", "server", "offline"]
    verdict: Literal["VALID", "INVALID"]
    reasons: list[str] = Field(default_factory=list, description="why INVALID, each as LoadGen says it")
    figures: dict = Field(default_factory=dict, description="LoadGen's: qps, p50/p90/p99/mean/max ms, queries, "
                                                              "early-stopping estimate")
    settings: dict = Field(default_factory=dict, description="LoadGen's effective settings")
    overrides: dict = Field(default_factory=dict, description="what edgebench set over mlperf.conf")
    samples: int | None = Field(default=None, description="the query sample library's size")
    in_flight: int = 1
    single_stream_qps: float | None = None
    server_qps: float | None = Field(default=None, description="server: the highest VALID rate, queries/s")
    server_p99_ms: float | None = Field(default=None, description="server: LoadGen's p99 at that rate")
    search: dict | None = Field(default=None, description="server search: method, stopping rule, probes")
    logs_dir: str | None = None
    summary_log: str | None = Field(default=None, description="LoadGen's mlperf_log_summary.txt")
    loadgen_version: str | None = None
    accuracy: dict | None = Field(default=None, description="accuracy mode (run --accuracy-images): method, "
                                                            "samples, the task's headline figure and value, "
                                                            "LoadGen's accuracy log")


class TargetResult(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    # Scored on labelled data in the same run (edgebench run --annotations/--masks); defined below.
    accuracy: TaskAccuracy | None = Field(default=None, description="the target's accuracy on labelled data "
                                          "(classification, detection, segmentation, pose), with the data set's fingerprint")

    target: ShortName
    runtime: ShortName
    runtime_version: str | None
    precision: _name(16)
    device: ShortName = "cpu"
    model: Name
    artifact: dict | None = Field(default=None, description="format, path, sha256, toolchain")
    status: Literal["ok", "unavailable", "failed", "interrupted"]
    error: str | None = None
    sweep: dict = Field(default_factory=dict, description="the swept knobs at this point: threads, batch")
    scenario: str = Field(default="single-stream", description="MLPerf scenario: single-stream, offline (or, through LoadGen, multi-stream or server)")
    streams: int = Field(default=1, description="inferences in flight at once (offline)")
    offline_mode: Literal["runtime", "sessions"] | None = Field(
        default=None, description="offline: 'runtime' (the runtime's own throughput mode, `streams` infer "
                                  "requests in its queue) or 'sessions' (`streams` parallel sessions, one "
                                  "edgebench thread each)")
    protocol: ProtocolInfo
    options: dict = Field(default_factory=dict)
    input: dict | None = Field(default=None, description="the first input: name, shape, layout, dtype, quantization")
    inputs: list[dict] = Field(default_factory=list, description="every input, as `input`")
    preprocess_ms: float | None = None
    preprocessing: dict | None = Field(default=None, description="name, resize, crop, mean, std, why")
    labels: str | None = Field(default=None, description="the label set the output was read with")
    load_s: float | None = None
    first_inference_ms: float | None = Field(
        default=None, description="the session's first inference after loading (cold), ms")
    latency_ms: LatencyStats | None = None
    latency_method: str = LATENCY_METHOD
    fps: float | None = None
    fps_method: str = FPS_METHOD
    elapsed_s: float | None = None
    batch: int = 1
    images_per_s: float | None = Field(default=None, description="batch x fps: throughput in images/s")
    samples_ms: list[float] = Field(default_factory=list, max_length=MAX_SAMPLES)
    energy: Energy | None = None
    memory: MemoryUse | None = None
    sustained: Sustained | None = None
    loadgen: LoadGenRecord | None = Field(default=None, description="measured through MLPerf's LoadGen")
    task: ShortName | None = Field(default=None, description="what the outputs were read as (None: a "
                                   "schema 1 result, image classification)")
    answer: dict | None = Field(default=None, description="the task's answer (classification: top5; "
                                "detection: boxes; segmentation: class shares; pose: keypoints; ...)")
    summary: _name(400) | None = Field(default=None, description="the answer in one line")
    top1: Prediction | None = None
    top5: list[Prediction] = Field(default_factory=list)
    is_reference: bool = False
    agreement: dict | None = Field(default=None, description="against the float reference: metric, value, "
                                   "threshold, passed, figures")
    agrees_with_reference: bool | None = None
    int8_check: dict | None = Field(
        default=None, description="an int8 artifact edgebench built: how it agreed with its float source "
        "on held-back calibration images when prepared (samples, against, by_runtime: top1_agreement, "
        "mean_abs_logit_error)")

    @model_validator(mode="after")
    def _values_in_range(self):
        check_values(self)
        return self


def sweep_label(result: TargetResult) -> str:
    """'litert-int8', or 'litert-int8 t=2 b=8' for one point of a sweep."""
    marks = {"threads": "t", "batch": "b"}
    return " ".join([result.target, *(f"{marks.get(k, k)}={v}" for k, v in result.sweep.items())])


def in_flight(result: TargetResult) -> str:
    """How many inferences an offline result kept going at once, and as what: '2 requests' (the
    runtime's own throughput mode) or '2 sessions' ('streams' for results stored before either)."""
    kind = {"runtime": "request", "sessions": "session"}.get(result.offline_mode, "stream")
    return f"{result.streams} {kind}{'s' if result.streams != 1 else ''}"


class DeviceInfo(BaseModel):
    """The machine a result was measured on; thermal_c is read at the start of the run."""

    hostname: Name
    cpu_model: Name
    cores_physical: int | None
    cores_logical: int | None
    arch: str
    os: str
    kernel: str
    memory_gb: float | None
    python: str
    toolchain: dict[str, str | None]
    cpu_governor: str | None = None
    cpu_freq_mhz: dict[str, float] = Field(default_factory=dict)   # current, max
    gpus: list[dict] = Field(default_factory=list)
    board: dict | None = None                                     # Raspberry Pi / Jetson
    edgetpus: list[dict] = Field(default_factory=list)            # with USB link speed
    thermal_c: dict[str, float] = Field(default_factory=dict)

    def fingerprint(self) -> str:
        """Stable id of the hardware: the same machine gives the same id across runs."""
        import hashlib

        key = "|".join(str(v) for v in (self.hostname, self.cpu_model, self.cores_physical,
                                         self.cores_logical, self.arch, self.memory_gb,
                                         (self.board or {}).get("model"), len(self.gpus)))
        return hashlib.sha256(key.encode()).hexdigest()[:16]


class ReferencePrediction(BaseModel):
    """The float prediction the targets are checked against, and where it came from."""

    target: ShortName
    top1: Prediction | None = None
    top5: list[Prediction] = Field(default_factory=list)
    task: ShortName | None = None
    answer: dict | None = None
    summary: _name(400) | None = None
    timed: bool = Field(description="True: one of the run's timed targets; False: one untimed "
                                    "inference of a float target that was not selected")


class SkippedTarget(BaseModel):
    target: ShortName
    reason: str


class ProcessInfo(BaseModel):
    """The process that recorded a run as it happened: while the run is stored as running, its
    process being gone (same host, no such pid, or a pid reused by a later process) means the
    run was abandoned (kill -9, power loss)."""

    host: Name
    pid: int = Field(ge=1, le=2**32)
    started: float = Field(ge=0, allow_inf_nan=False, description="the process's start, unix seconds")


# complete/interrupted/failed: how a run ended. running: its process is (as far as can be told)
# still at it; abandoned: stored as running, but its process is gone. Neither of the last two is
# ever written by a run's end: the store derives them when it reads.
RunStatus = Literal["complete", "interrupted", "failed", "running", "abandoned"]


class Condition(BaseModel):
    """One check of the conditions a run was measured under (edgebench.conditions): what was
    read, from where, what it said, and what that means for the figures."""

    check: _name(64)
    family: _name(32)
    status: Literal["ok", "warn", "unavailable"] = Field(
        description="ok: read, nothing that slows the figures; warn: read, and it can slow them; "
                    "unavailable: cannot be checked on this machine (meaning says why)")
    read: _name(400) = Field(description="what was read")
    source: _name(400) = Field(description="where it was read from (a file, a command, a library)")
    value: _name(400) | None = Field(default=None, description="what it said, in words")
    meaning: _name(600) = Field(description="what it means for the figures")
    data: dict = Field(default_factory=dict, description="the values as numbers, for explanations")


class RunResult(BaseModel):
    schema_version: int = Field(SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    run_id: RunId
    created: Stamp
    status: RunStatus = "complete"
    edgebench_version: str
    device: DeviceInfo
    model: dict
    image: dict
    task: ShortName | None = Field(default=None, description="the task the outputs were read as")
    task_why: _name(400) | None = Field(default=None, description="why that task")
    agreement_rule: _name(400) | None = Field(default=None, description="what makes a target agree")
    accuracy_notes: list[_name(400)] = Field(default_factory=list, description="what the targets' `accuracy` "
                                             "figures cover (the categories scored, masks left out, ...)")
    accuracy_warnings: list[_name(400)] = Field(default_factory=list, description="int8 targets whose labelled-"
                                                "data figure lost more than the task's rule against fp32")
    harness_overhead: HarnessOverhead | None = None
    thermal_after_c: dict[str, float] = Field(default_factory=dict)
    reference_target: str | None = None
    reference: ReferencePrediction | None = None
    skipped: list[SkippedTarget] = Field(default_factory=list)
    error: str | None = Field(default=None, description="why a failed run stopped")
    process: ProcessInfo | None = Field(default=None, description="the process that recorded the run")
    # Added within schema 2: runs stored before it read with no conditions (never "checked: fine").
    conditions: list[Condition] = Field(default_factory=list, max_length=256, description=(
        "the conditions checked at the start of the run, and other processes' CPU use during its "
        "timed loops (edgebench.conditions)"))
    results: list[TargetResult] = Field(max_length=MAX_TARGETS)

    @model_validator(mode="after")
    def _values_in_range(self):
        name = self.model.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 256 or not name.isprintable():
            raise ValueError("model.name: must be printable text of 1-256 characters")
        for field in type(self).model_fields:
            if field != "results":   # each target checked itself when it was built
                check_values(getattr(self, field), field)
        return self


class ConfidenceInterval(BaseModel):
    """Where a proportion measured on a sample of images plausibly lies (e.g. top-1 over 6 images)."""
    low: Score
    high: Score
    confidence: Score = 0.95
    method: Literal["wilson", "bootstrap"] = Field(
        default="wilson", description="wilson: Wilson score interval (scipy's binomtest); bootstrap: the 2.5th "
                                      "and 97.5th percentiles of the figure over images drawn with replacement")

    def percent(self) -> str:
        """'61.0-100.0': the interval in percent, as the tables print it."""
        return f"{self.low * 100:.1f}-{self.high * 100:.1f}"


class ImagePrediction(BaseModel):
    """One image's top-1 on one target. Accuracy JSON written before these were recorded held
    the bare index: it reads back with only `index`, and AccuracyResult fills `image` and
    `true_index` from its image list."""
    image: str | None = Field(default=None, description="the image file, as listed in `images`")
    index: int = Field(ge=-1, description="predicted class (torchvision order for ImageNet; -1: a "
                                          "1001-class model's 'background')")
    label: Name | None = None
    score: Score | None = Field(default=None, description="the predicted class's probability")
    true_index: Count | None = None
    true_label: Name | None = None


class AccuracyFigure(BaseModel):
    """One figure of a task's accuracy (mAP@[.5:.95], mIoU, PCK@0.2, ...), in [0, 1]."""
    name: ShortName
    value: Score
    interval: ConfidenceInterval | None = None
    note: str | None = Field(default=None, max_length=400, description="how it was computed, in a line")


class TaskAccuracy(BaseModel):
    """A target's figures on a labelled set, scored beside its timing in one run."""
    task: ShortName
    images: Count
    figures: list[AccuracyFigure]
    dataset: dict = Field(default_factory=dict, description="format, files and sha256 fingerprints of the set")

    def text(self) -> str:
        """'mIoU 57.5% (47.1-98.9), pixel accuracy 98.0% (97.9-99.5) on 2 images, data sha256
        2313ef14a57c': the figures under their task's names, as the report and the hub show them."""
        figures = ", ".join(f"{f.name} {f.value * 100:.1f}%" + (f" ({f.interval.percent()})" if f.interval else "")
                            for f in self.figures)
        sha = self.dataset.get("annotations_sha256") or self.dataset.get("sha256") or ""
        return (f"{figures} on {self.images} image{'s' if self.images != 1 else ''}"
                + (f", data sha256 {str(sha)[:12]}" if sha else ""))[:400]


TargetResult.model_rebuild()   # its `accuracy` names TaskAccuracy, defined above only now
RunResult.model_rebuild()


class TargetAccuracy(BaseModel):
    target: str
    runtime_version: str | None
    precision: str
    device: str = "cpu"
    artifact_format: str | None = None
    status: str
    error: str | None = None
    reference_only: bool = Field(default=False, description="not selected: evaluated as the float reference")
    images: int = 0
    classes: int | None = None   # the model's output classes (1000 for a 1001-class TF model)
    top1_accuracy: float | None = None
    top5_accuracy: float | None = None   # None when the model has 5 classes or fewer
    top1_interval: ConfidenceInterval | None = None   # 95%, over `images`
    top5_interval: ConfidenceInterval | None = None
    agreement_with_reference: float | None = None   # fraction of images whose top-1 matches fp32
    predictions: list[ImagePrediction] = Field(default_factory=list)   # top-1 per image, in image order
    task: str = "classification"
    figures: list[AccuracyFigure] = Field(default_factory=list, description="detection, segmentation, pose: "
                                          "the task's figures, headline first (classification: top1/top5 above)")
    details: dict = Field(default_factory=dict, description="per-class figures and counts behind `figures`")

    @model_validator(mode="before")
    @classmethod
    def _bare_indices(cls, data):
        """Older JSON: predictions were bare class indices."""
        if isinstance(data, dict) and isinstance(data.get("predictions"), list):
            data = {**data, "predictions": [{"index": p} if isinstance(p, int) and not isinstance(p, bool)
                                            else p for p in data["predictions"]]}
        return data


class AccuracyResult(BaseModel):
    schema_version: int = 1
    model: str
    image_dir: str
    images: list[dict]
    reference_target: str | None
    device: dict
    results: list[TargetAccuracy]
    task: str = "classification"
    dataset: dict | None = Field(default=None, description="what identifies the labelled set: its format, "
                                 "files and sha256 fingerprints")
    notes: list[str] = Field(default_factory=list, description="what the figures cover (e.g. the categories scored)")
    warnings: list[str] = Field(default_factory=list, description="int8 targets that lost more than the task's "
                                "rule against fp32 on this set")

    @model_validator(mode="after")
    def _name_older_predictions(self):
        """Older JSON's bare indices get their image and true label index from `images`."""
        for result in self.results:
            for prediction, image in zip(result.predictions, self.images):
                if prediction.image is None and isinstance(image, dict):
                    prediction.image = image.get("path")
                    prediction.true_index = image.get("label_index")
        return self


class OpShare(BaseModel):
    node: str
    op_type: str
    total_ms: float = Field(ge=0)
    calls: int = Field(ge=0)
    ms_per_inference: float = Field(ge=0)
    share: float = Field(ge=0, le=1, description="of the summed op time")


class OpProfile(BaseModel):
    """A target's per-op profile from its runtime's own profiler; never mixed into timed runs."""

    schema_version: int = 1
    model: str
    target: str
    runtime_version: str | None
    method: str
    inferences: int
    total_ms: float
    device: dict
    ops: list[OpShare]            # every op, most time first
    by_type: dict[str, float]     # op type -> share

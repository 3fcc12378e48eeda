"""Result types. JSON written by edgebench round-trips through these models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

FPS_METHOD = "timed runs / wall-clock seconds of the timed loop"
LATENCY_METHOD = "time.perf_counter_ns around set_input + invoke + output, per inference"


class Prediction(BaseModel):
    index: int
    label: str
    score: float = Field(description="probability (softmax of the output unless it already is one)")


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


class ProtocolInfo(BaseModel):
    name: str
    warmup: int
    settle_s: float
    runs: int
    warmup_s: float = 0.0
    min_duration_s: float = 0.0
    repetitions: int = 1
    window_s: float = 0.0


class Energy(BaseModel):
    """Energy over the timed loops. method says how it was obtained (rated power is not measured)."""

    method: str
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


class TargetResult(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    target: str
    runtime: str
    runtime_version: str | None
    precision: str
    device: str = "cpu"
    model: str
    artifact: dict | None = Field(default=None, description="format, path, sha256, toolchain")
    status: Literal["ok", "unavailable", "failed", "interrupted"]
    error: str | None = None
    protocol: ProtocolInfo
    options: dict = Field(default_factory=dict)
    input: dict | None = Field(default=None, description="shape, layout, dtype, quantization")
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
    samples_ms: list[float] = Field(default_factory=list)
    energy: Energy | None = None
    memory: MemoryUse | None = None
    sustained: Sustained | None = None
    top1: Prediction | None = None
    top5: list[Prediction] = Field(default_factory=list)
    is_reference: bool = False
    agrees_with_reference: bool | None = None


class DeviceInfo(BaseModel):
    """The machine a result was measured on; thermal_c is read at the start of the run."""

    hostname: str
    cpu_model: str
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

    target: str
    top1: Prediction
    top5: list[Prediction] = Field(default_factory=list)
    timed: bool = Field(description="True: one of the run's timed targets; False: one untimed "
                                    "inference of a float target that was not selected")


class SkippedTarget(BaseModel):
    target: str
    reason: str


class RunResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    created: str
    status: Literal["complete", "interrupted", "failed"] = "complete"
    edgebench_version: str
    device: DeviceInfo
    model: dict
    image: dict
    harness_overhead: HarnessOverhead | None = None
    thermal_after_c: dict[str, float] = Field(default_factory=dict)
    reference_target: str | None = None
    reference: ReferencePrediction | None = None
    skipped: list[SkippedTarget] = Field(default_factory=list)
    error: str | None = Field(default=None, description="why a failed run stopped")
    results: list[TargetResult]


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
    top1_accuracy: float | None = None
    top5_accuracy: float | None = None
    agreement_with_reference: float | None = None   # fraction of images whose top-1 matches fp32
    predictions: list[int] = Field(default_factory=list)   # top-1 index per image, in image order


class AccuracyResult(BaseModel):
    schema_version: int = 1
    model: str
    image_dir: str
    images: list[dict]
    reference_target: str | None
    device: dict
    results: list[TargetAccuracy]

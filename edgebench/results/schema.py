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
    """Milliseconds per inference."""

    median: float
    mean: float
    p90: float
    p99: float
    min: float
    max: float


class ProtocolInfo(BaseModel):
    name: str
    warmup: int
    settle_s: float
    runs: int


class TargetResult(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    target: str
    runtime: str
    runtime_version: str | None
    precision: str
    device: str = "cpu"
    model: str
    artifact: dict | None = Field(default=None, description="format, path, sha256, toolchain")
    status: Literal["ok", "unavailable", "failed"]
    error: str | None = None
    protocol: ProtocolInfo
    options: dict = Field(default_factory=dict)
    input: dict | None = Field(default=None, description="shape, layout, dtype, quantization")
    preprocess_ms: float | None = None
    load_s: float | None = None
    latency_ms: LatencyStats | None = None
    latency_method: str = LATENCY_METHOD
    fps: float | None = None
    fps_method: str = FPS_METHOD
    elapsed_s: float | None = None
    samples_ms: list[float] = Field(default_factory=list)
    top1: Prediction | None = None
    top5: list[Prediction] = Field(default_factory=list)
    is_reference: bool = False
    agrees_with_reference: bool | None = None


class DeviceInfo(BaseModel):
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


class RunResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    created: str
    edgebench_version: str
    device: DeviceInfo
    model: dict
    image: dict
    reference_target: str | None = None
    results: list[TargetResult]

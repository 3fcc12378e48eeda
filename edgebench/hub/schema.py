"""What goes over the wire: the model card, versions, artifacts, feed events, results."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

RUNTIME_HINTS = {"tflite": "litert", "tflite-edgetpu": "edgetpu", "onnx": "onnxruntime"}


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shape: list[int] = Field(description="NCHW shape of the model's image input")
    layout: str = "NCHW"
    dtype: str = "float32"


class PreprocessingSpec(BaseModel):
    """Resize the shorter side, centre-crop, then (x/255 - mean) / std per channel."""

    model_config = ConfigDict(extra="forbid")

    resize: int = Field(gt=0, le=8192)
    crop: int = Field(gt=0, le=8192)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field("", max_length=4000)
    task: str = Field("image-classification", max_length=64)
    license: str = Field("unknown", max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=32)
    labels: list[str] = Field(default_factory=list, max_length=100_000)
    input: InputSpec | None = None
    preprocessing: PreprocessingSpec | None = None
    retrainable: bool = False
    source: str = Field("", max_length=1000, description="where the weights come from")


class ArtifactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    runtime_hint: str | None = Field(None, max_length=64)


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    card: ModelCard
    artifacts: list[ArtifactRequest] = Field(min_length=1, max_length=64)


class UploadOut(BaseModel):
    sha256: str
    size: int
    format: str
    precision: str


class ArtifactOut(BaseModel):
    filename: str
    format: str
    precision: str
    runtime_hint: str
    sha256: str
    size: int
    url: str


class VersionOut(BaseModel):
    model: str
    version: str
    created: str
    publisher: str
    card: ModelCard
    artifacts: list[ArtifactOut]


class ModelSummary(BaseModel):
    model: str
    description: str
    task: str
    license: str
    tags: list[str]
    retrainable: bool
    latest_version: str | None
    formats: list[str]
    updated: str


class ModelDetail(ModelSummary):
    card: ModelCard
    versions: list[VersionOut]


class SubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    webhook_url: str | None = Field(None, max_length=2000)


class FeedEvent(BaseModel):
    cursor: int
    event: str = "version.published"
    model: str
    version: str
    created: str
    artifacts: list[ArtifactOut]


class FeedPage(BaseModel):
    events: list[FeedEvent]
    next_cursor: int = Field(description="pass as ?cursor= to get what came after this page")


class ResultsPush(BaseModel):
    """One run (edgebench's RunResult JSON) for one model version."""

    model_config = ConfigDict(extra="forbid")

    model: str
    version: str
    run: dict


class DeviceResult(BaseModel):
    device: str
    fingerprint: str
    version: str
    target: str
    runtime: str
    precision: str
    median_ms: float
    fps: float
    energy_j_per_inference: float | None
    energy_method: str | None
    run_id: str
    created: str

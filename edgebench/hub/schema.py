"""What goes over the wire: the model card, versions, artifacts, feed events, results.

Both sides use these models: the server validates every request with them and declares every
answer with them (so /openapi.json states every bound), and the client parses every answer with
them, so a hub that answers something else is one clear line, never a KeyError. Bounds are part
of the schema: numbers finite and ranged, text sized and free of control characters.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from edgebench.arch.checkpoint import ARCHITECTURES, BACKBONES, LEGACY_NAMES, current_name
from edgebench.results.schema import RunResult

def _current(value):
    return current_name(value) if isinstance(value, str) and value in LEGACY_NAMES else value


RUNTIME_HINTS = {"tflite": "litert", "tflite-edgetpu": "edgetpu", "onnx": "onnxruntime"}

_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"            # one line of text: no control characters
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"   # text: tabs and line breaks allowed


def _line(max_length: int, min_length: int = 0):
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length, pattern=_LINE)]


def _text(max_length: int):
    return Annotated[str, StringConstraints(max_length=max_length, pattern=_TEXT)]


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Size = Annotated[int, Field(ge=0, le=2**53)]
Cursor = Annotated[int, Field(ge=0, le=2**53)]
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]
Scale = Annotated[float, Field(allow_inf_nan=False, gt=0, le=1e6)]


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shape: list[Annotated[int, Field(ge=1, le=1 << 20)]] = Field(
        description="NCHW shape of the model's image input", min_length=1, max_length=8)
    layout: _line(8) = "NCHW"
    dtype: _line(16) = "float32"


class PreprocessingSpec(BaseModel):
    """Resize the shorter side, centre-crop, then (x/255 - mean) / std per channel."""

    model_config = ConfigDict(extra="forbid")

    resize: int = Field(gt=0, le=8192)
    crop: int = Field(gt=0, le=8192)
    mean: tuple[Finite, Finite, Finite]
    std: tuple[Scale, Scale, Scale]


class Architecture(BaseModel):
    """How to rebuild the float model from the version's safetensors file (retraining)."""

    model_config = ConfigDict(extra="forbid")

    # Names stored before the architectures moved (edgebench.models...) read as their new ones.
    arch: Annotated[Literal[ARCHITECTURES], BeforeValidator(_current)]
    base_arch: Annotated[Literal[BACKBONES], BeforeValidator(_current)] | None = None
    num_classes: int = Field(ge=2, le=100_000)
    cosine: bool = False
    kept: int = Field(0, ge=0, le=100_000, description="base classes kept in their own linear head")
    weights_file: _line(128, 1) = Field(description="the version's .safetensors file")


class Lineage(BaseModel):
    """Where a retrained model came from and how well it validated."""

    model_config = ConfigDict(extra="forbid")

    base: _line(300, 1)
    base_sha256: Sha256 | None = None
    method: Literal["head", "imprint", "finetune"]
    hyperparameters: dict[_line(64, 1), Annotated[float, Field(allow_inf_nan=False)] | bool | _line(64)] = Field(
        default_factory=dict, max_length=32)
    dataset_files: int = Field(ge=1, le=10_000_000)
    dataset_classes: int = Field(ge=2, le=100_000)
    dataset_sha256: Sha256
    validation_images: int = Field(ge=1, le=10_000_000)
    validation_top1: dict[_line(64, 1), Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = Field(
        default_factory=dict, max_length=64)


class CardFields(BaseModel):
    """A model card's fields, each bounded. As sent with a publish it may be partial: the fields
    it holds replace the previous version's, the others carry over (see hub/cards.py)."""

    model_config = ConfigDict(extra="forbid")

    description: _text(4000) = ""
    task: _line(64) = "image-classification"
    license: _line(200) = "unknown"
    tags: list[_line(64, 1)] = Field(default_factory=list, max_length=32)
    labels: list[_line(256)] = Field(default_factory=list, max_length=100_000)
    input: InputSpec | None = None
    preprocessing: PreprocessingSpec | None = None
    retrainable: bool = False
    source: _text(1000) = Field("", description="where the weights come from")
    architecture: Architecture | None = Field(None, description="required when retrainable")
    lineage: Lineage | None = None


class ModelCard(CardFields):
    """A version's whole card."""

    @model_validator(mode="after")
    def _retrainable_needs_architecture(self):
        if self.retrainable and self.architecture is None:
            raise ValueError("a retrainable card names its architecture and float source (architecture)")
        if self.architecture and self.architecture.arch.endswith(":RetrainedClassifier") \
                and self.architecture.base_arch is None:
            raise ValueError("a retrained architecture names its base_arch")
        return self


class ArtifactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: _line(128, 1)
    sha256: Sha256
    runtime_hint: _line(64) | None = None


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: _line(64, 1)
    card: CardFields = Field(default_factory=CardFields, description=(
        "the fields given replace the previous version's; the others carry over"))
    artifacts: list[ArtifactRequest] = Field(min_length=1, max_length=64)


class UploadOut(BaseModel):
    sha256: Sha256
    size: Size
    format: _line(32, 1)
    precision: _line(16, 1)


class ArtifactOut(BaseModel):
    filename: _line(128, 1)
    format: _line(32, 1)
    precision: _line(16, 1)
    runtime_hint: _line(64)
    sha256: Sha256
    size: Size
    # Where the file is downloaded from: a path on the same hub, never another host.
    url: Annotated[str, StringConstraints(max_length=1000, pattern=r"^/api/models/[^\x00-\x20\x7f-\x9f]+$")]


class VersionOut(BaseModel):
    model: _line(129, 3)
    version: _line(64, 1)
    created: _line(40)
    publisher: _line(64)
    card: ModelCard
    artifacts: list[ArtifactOut] = Field(max_length=64)


class ModelSummary(BaseModel):
    model: _line(129, 3)
    description: _text(4000)
    task: _line(64)
    license: _line(200)
    tags: list[_line(64)] = Field(max_length=32)
    retrainable: bool
    latest_version: _line(64) | None
    formats: list[_line(32)] = Field(max_length=64)
    updated: _line(40)


class ModelDetail(ModelSummary):
    card: ModelCard
    versions: list[VersionOut]


class SubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: _line(129, 1)
    webhook_url: _line(2000) | None = None


class SubscribeOut(BaseModel):
    model: _line(129, 3)
    webhook_url: _line(2000) | None
    webhook_secret: _line(128) | None


class SubscriptionOut(BaseModel):
    model: _line(129, 3)
    webhook_url: _line(2000) | None
    since: _line(40)


class UnsubscribeOut(BaseModel):
    model: _line(129, 3)
    subscribed: bool


class FeedEvent(BaseModel):
    cursor: Cursor
    event: Literal["version.published"] = "version.published"
    model: _line(129, 3)
    version: _line(64, 1)
    created: _line(40)
    artifacts: list[ArtifactOut] = Field(max_length=64)


class FeedPage(BaseModel):
    events: list[FeedEvent] = Field(max_length=500)
    next_cursor: Cursor = Field(description="pass as ?cursor= to get what came after this page")


class ResultsPush(BaseModel):
    """One run (edgebench's RunResult, held to the rules of a local store) for one model version."""

    model_config = ConfigDict(extra="forbid")

    model: _line(129, 1)
    version: _line(64, 1)
    run: RunResult


class SkippedResult(BaseModel):
    target: _line(64)
    reason: _line(400)


class PushOut(BaseModel):
    model: _line(129, 3)
    version: _line(64, 1)
    added: Size
    already_present: Size
    skipped: list[SkippedResult] = Field(max_length=1000)


class WhoAmI(BaseModel):
    user: _line(64, 1)


class Health(BaseModel):
    status: Literal["ok"]


class DeviceResult(BaseModel):
    device: _line(300)
    fingerprint: _line(32)
    version: _line(64, 1)
    target: _line(64)
    runtime: _line(64)
    precision: _line(16)
    median_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    fps: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    energy_j_per_inference: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
    energy_method: _line(200) | None
    run_id: _line(64)
    created: _line(40)
    task: _line(64) | None = Field(default=None, description="what the outputs were read as")
    answer: _line(400) | None = Field(default=None, description="the task's one-line answer")
    agreement: _line(200) | None = Field(default=None, description="against the run's float reference: "
                                         "reference, yes or NO, with the task's figure")
    conditions: _line(300) | None = Field(default=None, description="what the run's stored conditions warned of "
                                          "('governor powersave; ...'); empty: none; None: not recorded")
    accuracy: _line(400) | None = Field(default=None, description="on labelled data scored in the same run "
                                        "(run --accuracy-images): the task's figures, 95% intervals, images "
                                        "and the data set's sha256")

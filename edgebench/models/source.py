"""Where a benchmarked model comes from: the zoo, a user's file, or a hub version.

Every source answers the same questions, so planning never asks which kind it has: which
targets it applies to, the artifact a target runs, how to preprocess and label, and how to
describe itself in a result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from edgebench.errors import TargetUnavailable, UserError
from edgebench.models.artifact import Artifact, inspect_model_file
from edgebench.models.zoo import Preprocessing
from edgebench.packages import load_object
from edgebench.tensors import TensorSpec

StepCallback = Callable[[str], None]
# A target's request: (the target's name, the precision of the artifact it runs, the formats its
# runtime reads, most preferred first).
Request = tuple[str, str, tuple[str, ...]]


class ModelSource(Protocol):
    """A model to benchmark.

    name: how results name it. native_format: the format it was published in (its float
    reference runs that format when it can). The other methods are per target request.
    """

    name: str
    native_format: str | None
    # The task the source names (a zoo entry, a hub card), and the file's own tensors when it
    # is a file (what a task is inferred from); None when it says nothing.
    declared_task: str | None
    tensors: tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]] | None

    def applies(self, precision: str, formats: tuple[str, ...]) -> bool:
        """Whether some artifact of this source runs at `precision` in one of `formats`."""
    def artifact_for(self, target: str, precision: str, formats: tuple[str, ...]) -> Artifact:
        """The artifact (prepared if need be); TargetUnavailable with the reason if none."""
    def conversions_needed(self, requests: Sequence[Request]) -> int:
        """How many conversions artifact_for will run for these requests (0 when cached)."""
    def preprocessing(self, input_spec: TensorSpec, choice: str) -> tuple[Preprocessing, str]:
        """Normalisation for a session's input and why it was chosen."""
    def labels(self, num_classes: int) -> tuple[tuple[str, ...], str]:
        """Class names for an output width, and the name of that label set."""
    def own_labels(self) -> tuple[str, ...] | None:
        """The model's own class names when they are not ImageNet's (labelled folders are
        matched against them), else None."""
    def describe(self) -> dict:
        """What a result records about the model."""


# Sources named by a URL scheme, by import path: the hub's lives in edgebench.hub (above this
# package), found here without importing it.
SOURCES: dict[str, str] = {"hub://": "edgebench.hub.source:HubSource"}


def open_source(model: str, allow_download: bool = True,
                on_step: StepCallback | None = None, calibration: Path | None = None,
                preprocess: str = "auto") -> ModelSource:
    """The source a --model argument names: hub://owner/name[@v], a zoo name, or a file (a
    float .onnx or a .pt2 gets its variants built, calibrated on `calibration`)."""
    from edgebench.models.local import MANIFEST, is_model_folder, spec_from_manifest
    from edgebench.models.zoo import get_model, is_model_name, list_models

    from edgebench.models.own.source import is_own_model, open_own_model

    on_step = on_step or (lambda _message: None)
    if is_own_model(model) and not model.startswith("hub://"):
        return open_own_model(Path(model), calibration, preprocess, on_step)
    if calibration is not None:
        raise UserError("calibration images at run time apply to your own .onnx or .pt2 file (a zoo model "
                        "is calibrated when its variants are prepared)", "calibration")
    for scheme, path in SOURCES.items():
        if model.startswith(scheme):
            return load_object(path)(model, on_step)
    if is_model_name(model):
        return ZooSource(get_model(model), allow_download, on_step)
    if is_model_folder(Path(model)):   # a retrained model's folder (e.g. one copied from elsewhere)
        return ZooSource(spec_from_manifest(Path(model) / MANIFEST), allow_download, on_step)
    if Path(model).suffix.lower() == ".tflite" or Path(model).exists():
        return FileSource(Path(model))
    raise UserError(f"unknown model '{model}': not a zoo or retrained model ({', '.join(list_models())}), "
                    "a .tflite/.onnx/.pt2 file, nor hub://owner/name[@version]")


# Label sets that are a zoo entry's own classes (ImageNet's are everyone's; keypoints are no classes).
OWN_LABEL_SETS = ("coco90", "voc21")


def imagenet_labels(num_classes: int) -> tuple[tuple[str, ...], str]:
    from edgebench.tasks.labels import label_set_name, labels_for

    return labels_for(num_classes), label_set_name(num_classes)


class ZooSource:
    """A zoo model, or one retrained here: artifacts are prepared (or found) per target."""

    def __init__(self, spec, allow_download: bool, on_step: StepCallback):
        from edgebench.models.prepare import Preparer

        self.spec = spec
        self.preparer = Preparer(self.spec, allow_download=allow_download, on_step=on_step)
        self.name = self.spec.name
        self.native_format = "torch" if self.spec.weights else None
        self.declared_task = self.spec.task
        self.tensors = None
        self._labels: tuple[tuple[str, ...], str] | None = None

    def _variant(self, precision: str, formats: tuple[str, ...]) -> tuple[str, str] | None:
        return next(((fmt, precision) for fmt in formats if (fmt, precision) in self.spec.variants), None)

    def applies(self, precision: str, formats: tuple[str, ...]) -> bool:
        return self._variant(precision, formats) is not None

    def artifact_for(self, target: str, precision: str, formats: tuple[str, ...]) -> Artifact:
        variant = self._variant(precision, formats)
        if variant is None:
            raise TargetUnavailable(f"{self.name} has no {precision} variant in {'/'.join(formats)} format")
        return self.preparer.get(variant)

    def conversions_needed(self, requests: Sequence[Request]) -> int:
        variants = [v for _, precision, formats in requests if (v := self._variant(precision, formats))]
        return len(self.preparer.plan_builds(variants))

    def preprocessing(self, _input_spec: TensorSpec, _choice: str) -> tuple[Preprocessing, str]:
        whose = "the retrained model's" if self.spec.home else "the zoo entry's"
        return self.spec.preprocessing, f"{whose} ({self.spec.preprocessing.name})"

    def _spec_labels(self) -> tuple[tuple[str, ...], str]:
        """The entry's names (a label file is fetched once, announced, as weights are)."""
        from edgebench.models.zoo_labels import spec_labels

        if self._labels is None:
            self._labels = spec_labels(self.spec, allow_download=self.preparer.allow_download,
                                       notify=self.preparer.on_step)
        return self._labels

    def labels(self, num_classes: int) -> tuple[tuple[str, ...], str]:
        names, what = self._spec_labels()
        if len(names) == num_classes:
            return names, what
        return imagenet_labels(num_classes)

    def own_labels(self) -> tuple[str, ...] | None:
        if self.spec.class_names or self.spec.label_file or self.spec.labels in OWN_LABEL_SETS:
            return self._spec_labels()[0]
        return None

    def describe(self) -> dict:
        described = {"name": self.name, "source": "retrained" if self.spec.home else "zoo",
                     "description": self.spec.description,
                     "weights_sha256": self.spec.weights.sha256 if self.spec.weights else None}
        if self.spec.home:
            from edgebench.models.local import MANIFEST, read_manifest

            base = read_manifest(Path(self.spec.home) / MANIFEST).get("lineage", {}).get("base")
            described["retrained_from"] = base
        return described


class FileSource:
    """A user's .tflite or .onnx file: it runs on each runtime that reads its format."""

    def __init__(self, path: Path):
        self.artifact = inspect_model_file(path)
        self.name = self.artifact.model
        self.native_format = self.artifact.format
        self.declared_task = None
        self.tensors = (self.artifact.inputs, self.artifact.outputs) if self.artifact.outputs else None

    def applies(self, precision: str, formats: tuple[str, ...]) -> bool:
        return self.artifact.format in formats and self.artifact.precision == precision

    def artifact_for(self, target: str, precision: str, formats: tuple[str, ...]) -> Artifact:
        if self.artifact.requires == "edgetpu" and "tflite-edgetpu" not in formats:
            raise TargetUnavailable("the model is compiled for the Edge TPU: it runs only through "
                                    "the Edge TPU delegate (libedgetpu), not on a CPU runtime")
        if self.artifact.format not in formats:
            raise TargetUnavailable(f"{target} does not read {self.artifact.format} files")
        if self.artifact.precision != precision:
            raise TargetUnavailable(f"the model is {self.artifact.precision}, {target} runs {precision}")
        return self.artifact

    def conversions_needed(self, _requests: Sequence[Request]) -> int:
        return 0

    def preprocessing(self, input_spec: TensorSpec, choice: str) -> tuple[Preprocessing, str]:
        from edgebench.models.images import preprocessing_for

        return preprocessing_for(input_spec, choice)

    def labels(self, num_classes: int) -> tuple[tuple[str, ...], str]:
        return imagenet_labels(num_classes)

    def own_labels(self) -> tuple[str, ...] | None:
        return None

    def describe(self) -> dict:
        return {"name": self.name, "source": "file", "path": str(self.artifact.path),
                "sha256": self.artifact.sha256, "format": self.artifact.format,
                "precision": self.artifact.precision}

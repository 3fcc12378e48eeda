"""A user's own float model (.onnx or .pt2) as a source whose variants are built like the zoo's.

`edgebench run --model my.onnx|my.pt2 [--calibration DIR]` opens one of these: each target
gets the variant of its format and precision (recipes.py lists them), built on first use and
cached (builder.py). A file already quantized (an int8 .onnx) runs as it is (FileSource).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgebench.errors import TargetUnavailable, UserError
from edgebench.models.artifact import Artifact, inspect_model_file, sha256_of
from edgebench.models.own.builder import OwnBuilder, OwnModel, StepCallback
from edgebench.models.own.recipes import NOT_FROM_ONNX, Variant, recipes_for
from edgebench.models.zoo import Preprocessing
from edgebench.tensors import TensorSpec, image_layout

OWN_SUFFIXES = (".onnx", ".pt2")
# Tasks whose int8 variants are calibrated on photos; the others would need the user's own
# inputs, which edgebench cannot guess: they get no int8 variant.
PHOTO_TASKS = ("classification", "detection")
CALIBRATION_WARNING = ("int8 variants are calibrated on edgebench's built-in photos, which may not represent "
                       "your data: give --calibration DIR with your own images")


def is_own_model(model: str) -> bool:
    """Whether --model names a file this source builds variants of (.onnx or .pt2)."""
    return Path(model).suffix.lower() in OWN_SUFFIXES


def open_own_model(path: Path, calibration: Path | None = None, preprocess: str = "auto",
                   on_step: StepCallback | None = None):
    """The source for a user's .pt2 or float .onnx; a quantized .onnx runs as it is (FileSource)."""
    from edgebench.models.source import FileSource

    path = Path(path)
    if path.suffix.lower() == ".pt2":
        return OwnModelSource(path, "pt2", _pt2_tensors(path), calibration, preprocess, on_step)
    artifact = inspect_model_file(path)
    if artifact.precision != "fp32" or len(artifact.inputs) != 1:   # quantized, or not one image input
        if calibration is not None:
            raise UserError(f"{path.name} is already {artifact.precision}: calibration applies to a float model",
                            "calibration")
        return FileSource(path)
    return OwnModelSource(path, "onnx", (artifact.inputs, artifact.outputs), calibration, preprocess, on_step)


def _pt2_tensors(path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Input and output specs of the program's graph (read through the safe reader)."""
    from edgebench.arch.pt2 import load_exported_program

    program = load_exported_program(path)
    user_inputs = set(program.graph_signature.user_inputs)
    inputs, outputs = [], []
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            inputs.append(_spec(node.name, node.meta.get("val"), path))
        elif node.op == "output":
            for i, value in enumerate(node.args[0]):
                outputs.append(_spec(f"output{i}", getattr(value, "meta", {}).get("val"), path))
    if len(inputs) != 1:
        raise UserError(f"{path}: the program takes {len(inputs)} inputs; edgebench builds variants of models "
                        "with one image input")
    return tuple(inputs), tuple(outputs)


def _spec(name: str, value, path: Path) -> TensorSpec:
    if value is None or not hasattr(value, "shape"):
        raise UserError(f"{path}: {name} is not a tensor")
    shape = tuple(int(d) if str(d).isdigit() else -1 for d in value.shape)
    dtype = str(value.dtype).replace("torch.", "")
    return TensorSpec(name, shape, dtype, image_layout(shape) if len(shape) == 4 else None)


class OwnModelSource:
    """A user's float .onnx or .pt2: its variants are built per target, as the zoo's are."""

    def __init__(self, path: Path, origin: str, tensors, calibration: Path | None, preprocess: str,
                 on_step: StepCallback | None):
        from edgebench.tasks import infer_task

        self.path = Path(path)
        self.origin = origin
        self.name = self.path.stem
        self.native_format = "torch" if origin == "pt2" else "onnx"
        self.declared_task = None
        self.tensors = tensors
        self.sha256 = sha256_of(self.path)
        self.task = infer_task(*tensors).task
        self.recipes = self._applicable(recipes_for(origin))
        model = OwnModel(self.path, origin, self.sha256, self._input_shape(), self.task, preprocess, calibration)
        self.builder = OwnBuilder(model, on_step)

    def _input_shape(self) -> tuple[int, ...]:
        shape = list(self.tensors[0][0].shape)
        if shape and shape[0] <= 0:
            shape[0] = 1      # a dynamic batch: variants are built and checked at batch 1
        return tuple(shape)

    def _applicable(self, recipes: dict) -> dict:
        """Int8 variants only for a photo task with a fixed image size (their calibration needs
        photos of that size)."""
        self.no_int8 = None
        spec = self.tensors[0][0]
        if self.task not in PHOTO_TASKS:
            self.no_int8 = (f"no int8 variant: the model reads as {self.task}, and edgebench calibrates on "
                            "photos only for a classifier or detector")
        elif spec.layout is None or any(d <= 0 for d in spec.shape[1:]):
            self.no_int8 = (f"no int8 variant: input {spec.name} {list(spec.shape)} has no fixed image size to "
                            "calibrate at (export it with a fixed height and width)")
        if self.no_int8 is None:
            return recipes
        return {v: r for v, r in recipes.items() if v[1] != "int8"}

    @property
    def calibration_used(self) -> str:
        return self.builder.calibration_set.source

    def _variant(self, precision: str, formats: tuple[str, ...]) -> Variant | None:
        return next(((fmt, precision) for fmt in formats if (fmt, precision) in self.recipes), None)

    def applies(self, precision: str, formats: tuple[str, ...]) -> bool:
        return self._variant(precision, formats) is not None

    def artifact_for(self, target: str, precision: str, formats: tuple[str, ...]) -> Artifact:
        variant = self._variant(precision, formats)
        if variant is None:
            reason = next((NOT_FROM_ONNX[f] for f in formats if self.origin == "onnx" and f in NOT_FROM_ONNX), None)
            if precision == "int8" and self.no_int8:
                reason = self.no_int8
            raise TargetUnavailable(reason or f"{self.name} has no {precision} variant in {'/'.join(formats)} format")
        return self.builder.get(variant)

    def variants(self) -> list[Variant]:
        return list(self.recipes)

    def conversions_needed(self, requests: Sequence) -> int:
        wanted = [v for _, precision, formats in requests if (v := self._variant(precision, formats))]
        return len(self.builder.plan_builds(wanted))

    def preprocessing(self, input_spec: TensorSpec, choice: str) -> tuple[Preprocessing, str]:
        from edgebench.models.images import preprocessing_for

        return preprocessing_for(input_spec, choice)

    def labels(self, num_classes: int) -> tuple[tuple[str, ...], str]:
        from edgebench.models.source import imagenet_labels

        return imagenet_labels(num_classes)

    def own_labels(self) -> tuple[str, ...] | None:
        return None

    def describe(self) -> dict:
        return {"name": self.name, "source": "file", "path": str(self.path), "sha256": self.sha256,
                "format": "pt2" if self.origin == "pt2" else "onnx", "precision": "fp32",
                "variants_built_by": "edgebench (own model)",
                "calibration": str(self.builder.model.calibration or "built-in photos")}

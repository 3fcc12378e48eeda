"""The Runtime and Session protocols, the tensor spec, and the target registry.

The runner never asks which runtime it has: everything it needs (layout, dtype,
quantization) comes from the TensorSpec a Session reports.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # numpy stays out of `edgebench --help`
    import numpy as np


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class TensorSpec:
    """What a session's input or output looks like."""

    name: str
    shape: tuple[int, ...]
    dtype: str                       # numpy dtype name: float32, int8, uint8
    layout: str | None = None        # NCHW or NHWC for images, None otherwise
    quantization: Quantization | None = None

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of an image input."""
        if self.layout == "NHWC":
            return self.shape[1], self.shape[2]
        if self.layout == "NCHW":
            return self.shape[2], self.shape[3]
        raise ValueError(f"input {self.name} {self.shape} is not an image tensor")


def image_layout(shape: tuple[int, ...]) -> str | None:
    """Guess NCHW/NHWC from a rank-4 shape: the channel axis is the one of size 1 or 3."""
    if len(shape) != 4:
        return None
    if shape[3] in (1, 3) and shape[1] not in (1, 3):
        return "NHWC"
    if shape[1] in (1, 3):
        return "NCHW"
    return None


@dataclass(frozen=True)
class RuntimeOptions:
    """Knobs every runtime understands. threads=None means all cores."""

    threads: int | None = None
    device: str = "cpu"          # cpu, cuda, tensorrt, edgetpu: where the target runs
    precision: str = "fp32"      # the target's precision (a runtime may cast, e.g. fp16 on CUDA)
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Session(Protocol):
    """A loaded model ready for repeated inference.

    The timed loop calls set_input, invoke and output in that order, as a frame loop
    would; output() must return a host array the caller owns (a copy or a fresh view
    that stays valid after the next invoke is not required).
    """

    input_spec: TensorSpec
    output_spec: TensorSpec

    def set_input(self, x: np.ndarray) -> None: ...
    def invoke(self) -> None: ...
    def output(self) -> np.ndarray: ...
    def close(self) -> None: ...


class Runtime(Protocol):
    """An inference engine. Importing its module must be cheap; heavy imports happen in load().

    formats: the artifact formats it reads, most preferred first.
    """

    name: str
    formats: tuple[str, ...]

    def version(self) -> str | None: ...
    def available(self) -> tuple[bool, str]: ...
    def load(self, artifact, options: RuntimeOptions) -> Session: ...


@dataclass(frozen=True)
class TargetDef:
    """A target is a runtime at one precision on one device, e.g. litert-int8."""

    runtime: str      # key in RUNTIMES
    precision: str    # fp32, fp16 or int8
    device: str = "cpu"
    artifact_precision: str | None = None   # the artifact it runs, if not its own precision

    @property
    def name(self) -> str:
        suffix = "" if self.device in ("cpu", self.runtime) else f"@{self.device}"
        return f"{self.runtime}-{self.precision}{suffix}"

    @property
    def runtime_key(self) -> str:
        """Registry key: a runtime may have a separate class per device (torch on CUDA)."""
        key = f"{self.runtime}@{self.device}"
        return key if key in RUNTIMES else self.runtime

    @property
    def source_precision(self) -> str:
        return self.artifact_precision or self.precision


# Explicit registries of import paths: naming a target never imports another runtime.
RUNTIMES: dict[str, str] = {
    "litert": "edgebench.runtimes.litert:LiteRTRuntime",
    "onnxruntime": "edgebench.runtimes.onnxruntime:OnnxRuntime",
    "openvino": "edgebench.runtimes.openvino:OpenVinoRuntime",
    "torch": "edgebench.runtimes.torch:TorchRuntime",
    "torch@cuda": "edgebench.runtimes.torch:TorchCudaRuntime",
    "onnxruntime@cuda": "edgebench.runtimes.onnxruntime:OnnxRuntimeCuda",
    "onnxruntime@tensorrt": "edgebench.runtimes.onnxruntime:OnnxRuntimeTensorRT",
    "edgetpu": "edgebench.runtimes.edgetpu:EdgeTpuRuntime",
    "keras": "edgebench.runtimes.keras:KerasRuntime",
    "keras-predict": "edgebench.runtimes.keras:KerasPredictRuntime",
    "null": "edgebench.runtimes.null:NullRuntime",
}

TARGETS: dict[str, TargetDef] = {
    t.name: t
    for t in (
        TargetDef("litert", "fp32"),
        TargetDef("litert", "int8"),
        TargetDef("onnxruntime", "fp32"),
        TargetDef("onnxruntime", "int8"),
        TargetDef("openvino", "fp32"),
        TargetDef("openvino", "int8"),
        TargetDef("torch", "fp32"),
        TargetDef("torch", "fp32", "cuda"),
        TargetDef("torch", "fp16", "cuda", artifact_precision="fp32"),
        TargetDef("onnxruntime", "fp32", "cuda"),
        TargetDef("onnxruntime", "fp32", "tensorrt"),
        TargetDef("edgetpu", "int8", "edgetpu"),
        # Last: Keras' JAX backend starts threads that stay for the rest of the process.
        TargetDef("keras", "fp32"),
        TargetDef("keras-predict", "fp32"),
    )
}


def load_runtime(name: str) -> Runtime:
    """Instantiate the runtime registered under name (imports only its module)."""
    module_name, _, class_name = RUNTIMES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def package_version(dist: str) -> str | None:
    """Installed version of a distribution, without importing it."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def module_importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None

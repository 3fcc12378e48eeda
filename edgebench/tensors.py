"""Tensor specs: what a session's input or output looks like.

A neutral module: models (preprocessing) and runtimes (sessions) both speak it, and neither
imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape, numpy dtype name, image layout (NCHW/NHWC or None) and quantization."""

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

    def describe(self) -> str:
        """One phrase for a person: 'uint8 NHWC 1x224x224x3, quantized (scale 0.0078, zp 128)'."""
        text = f"{self.dtype} {self.layout or 'non-image'} {'x'.join(map(str, self.shape))}"
        if self.quantization is not None:
            text += f", quantized (scale {self.quantization.scale:.4g}, zero point {self.quantization.zero_point})"
        return text


def image_layout(shape: tuple[int, ...]) -> str | None:
    """Guess NCHW/NHWC from a rank-4 shape: the channel axis is the one of size 1 or 3."""
    if len(shape) != 4:
        return None
    if shape[3] in (1, 3) and shape[1] not in (1, 3):
        return "NHWC"
    if shape[1] in (1, 3):
        return "NCHW"
    return None


def as_tuple(value) -> tuple:
    """A session's output() (one array, or a tuple of arrays for a model with several outputs)
    as a tuple of arrays."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def dequantized(array, spec: TensorSpec):
    """An output as float64 real values: integer tensors with quantization are mapped back."""
    import numpy as np

    y = np.asarray(array, dtype=np.float64)
    if spec.quantization is not None and np.dtype(spec.dtype).kind in "iu":
        y = spec.quantization.scale * (y - spec.quantization.zero_point)
    return y


def input_specs(session) -> tuple[TensorSpec, ...]:
    """Every input of a session: its input_specs, or (input_spec,) for a session that declares
    only the one (the Session protocol's single-input form)."""
    specs = getattr(session, "input_specs", None)
    if specs is not None:
        return tuple(specs)
    return (session.input_spec,) if getattr(session, "input_spec", None) is not None else ()


def output_specs(session) -> tuple[TensorSpec, ...]:
    """Every output of a session, as input_specs() reads its inputs."""
    specs = getattr(session, "output_specs", None)
    if specs is not None:
        return tuple(specs)
    return (session.output_spec,) if getattr(session, "output_spec", None) is not None else ()

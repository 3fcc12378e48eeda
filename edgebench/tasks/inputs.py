"""Building a model's input tensors: a photo into its image input, neutral or seeded random
tensors into the others. Sizes are checked before anything is allocated."""

from __future__ import annotations

import math

import numpy as np

from edgebench.errors import TargetUnavailable
from edgebench.tensors import TensorSpec

# Inputs above this are refused before allocation: no edge model is fed a gigabyte a frame.
MAX_INPUT_BYTES = 1 << 30
MIN_IMAGE_SIDE = 8   # below this an "image" input is a dynamic size a runtime reported small
SEED = 20190425      # generic inputs: the same bytes for every target of every run


def check_sizes(specs: tuple[TensorSpec, ...]) -> None:
    """Refuse unresolved (0) dimensions and inputs too large to feed, naming the input."""
    for spec in specs:
        if any(d <= 0 for d in spec.shape):
            raise TargetUnavailable(open_dimension(spec))
        try:
            itemsize = np.dtype(spec.dtype).itemsize
        except TypeError:
            raise TargetUnavailable(f"input {spec.name} has type {spec.dtype}, which edgebench cannot feed") from None
        size = math.prod(spec.shape) * itemsize
        if size > MAX_INPUT_BYTES:
            raise TargetUnavailable(f"input {spec.name} {list(spec.shape)} ({spec.dtype}) would take "
                                    f"{size / 2**30:.1f} GiB a frame; edgebench feeds inputs up to "
                                    f"{MAX_INPUT_BYTES / 2**30:.0f} GiB")


def open_dimension(spec: TensorSpec) -> str:
    """The line for an input whose shape is not fully known, with an example to give."""
    def guess(i: int, d: int) -> int:
        if d > 0:
            return d
        return 1 if i == 0 else 3 if (i == 1 and len(spec.shape) == 4) else 224

    example = "x".join(str(guess(i, d)) for i, d in enumerate(spec.shape))
    return (f"input {spec.name} {list(spec.shape)} has an open dimension (shown as 0): give its size, "
            f"e.g. --input-shape {spec.name}={example}")


def image_input(specs: tuple[TensorSpec, ...]) -> int | None:
    """Index of the input a photo goes into: the first of image layout (1 or 3 channels)."""
    for i, spec in enumerate(specs):
        if spec.layout is not None:
            return i
    return None


def image_problem(specs: tuple[TensorSpec, ...]) -> str | None:
    """Why a photo cannot be fed to these inputs, or None."""
    index = image_input(specs)
    if index is None:
        open_input = next((spec for spec in specs if any(d <= 0 for d in spec.shape)), None)
        if open_input is not None:
            return open_dimension(open_input)
        described = ", ".join(f"{s.name} {list(s.shape)} ({s.dtype})" for s in specs) or "none"
        return f"no input is an image tensor (inputs: {described})"
    spec = specs[index]
    height, width = spec.image_size
    if min(height, width) < MIN_IMAGE_SIDE:
        return (f"input {spec.name} {list(spec.shape)} has a dynamic or tiny height/width: export the "
                f"model with a fixed input size or give one with --input-shape {spec.name}=1x3x224x224")
    return None


def photo_task_problem(inputs, outputs, reads, expected: str) -> str | None:
    """Why a task that reads a photo cannot run a model: no image input, or outputs that
    reads(outputs) says it cannot read (expected: what it reads, for the line)."""
    if (why := image_problem(inputs)) is not None:
        return why
    if not reads(outputs):
        shapes = ", ".join(f"{o.name} {list(o.shape)}" for o in outputs) or "none"
        return f"outputs {shapes}: not {expected}"
    return None


def one_output(check):
    """reads() for a task whose model has one output that check(spec) accepts."""
    return lambda outputs: len(outputs) == 1 and check(outputs[0]) is not None


def neutral(spec: TensorSpec) -> np.ndarray:
    """A tensor meaning 'nothing yet' (zeros in real terms): e.g. a recurrent model's first state."""
    dtype = np.dtype(spec.dtype)
    value = spec.quantization.zero_point if spec.quantization is not None and dtype.kind in "iu" else 0
    return np.full(spec.shape, value, dtype=dtype)


def seeded(spec: TensorSpec, index: int) -> np.ndarray:
    """Random values in the input's dtype and a sensible range, the same bytes on every target:
    floats in [0, 1) (real values, quantized for integer inputs that carry quantization),
    integers in [0, 100) (token ids, indices), booleans half true."""
    rng = np.random.default_rng(SEED + index)
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "b":
        return rng.random(spec.shape) < 0.5
    if dtype.kind in "iu" and spec.quantization is None:
        return rng.integers(0, 100, spec.shape).astype(dtype)
    real = rng.random(spec.shape, dtype=np.float64)
    if dtype.kind in "iu":
        q, info = spec.quantization, np.iinfo(dtype)
        return np.clip(np.round(real / q.scale + q.zero_point), info.min, info.max).astype(dtype)
    return real.astype(dtype)


def feed(arrays: list[np.ndarray]):
    """What set_input takes: one array for one input, else a tuple in input order."""
    return arrays[0] if len(arrays) == 1 else tuple(arrays)


class ImageInputs:
    """Inputs of a task that reads a photo: the photo into the image input, neutral tensors
    into the others (a tracker's state, a mask)."""

    uses_image = True

    def inputs(self, specs, image_for):
        check_sizes(specs)
        index = image_input(specs)
        return feed([image_for(spec) if i == index else neutral(spec) for i, spec in enumerate(specs)])

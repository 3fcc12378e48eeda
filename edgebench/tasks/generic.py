"""Any tensors: a model edgebench cannot read as a known task, or whose inputs are not images.
Inputs are seeded random tensors in each input's dtype and range (the same bytes on every
target); outputs are compared with the float reference's per output: cosine similarity, largest
absolute error and SQNR of the dequantized values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebench.tasks.base import Agreement
from edgebench.tasks.inputs import check_sizes, feed, seeded
from edgebench.tasks.metrics import cosine, max_abs_error, sqnr_db
from edgebench.tensors import dequantized

MIN_COSINE = 0.98


@dataclass(frozen=True)
class Tensors:
    names: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]       # dequantized, float64
    dtypes: tuple[str, ...]
    task: str = "generic"

    def record(self) -> dict:
        return {"outputs": [_stats(name, array, dtype)
                            for name, array, dtype in zip(self.names, self.arrays, self.dtypes)]}


def _stats(name: str, array: np.ndarray, dtype: str) -> dict:
    finite = array[np.isfinite(array)] if array.size else array
    described = {"name": name, "shape": list(array.shape), "dtype": dtype}
    if finite.size:
        described.update(mean=float(finite.mean()), std=float(finite.std()), min=float(finite.min()),
                         max=float(finite.max()))
    return described


class Generic:
    name = "generic"
    uses_image = False
    geometry = "stretch"
    threshold_text = (f"agrees = cosine similarity >= {MIN_COSINE} with the float reference for every "
                      "output (largest absolute error and SQNR shown beside)")

    def problem(self, inputs, outputs):
        return None if outputs else "the model has no outputs"

    def inputs(self, specs, image_for):
        check_sizes(specs)
        return feed([seeded(spec, i) for i, spec in enumerate(specs)]) if specs else ()

    def classes(self, outputs):
        return None

    def decode(self, outputs, specs, context):
        arrays = tuple(dequantized(np.asarray(y), spec) for y, spec in zip(outputs, specs))
        return Tensors(tuple(s.name for s in specs), arrays, tuple(s.dtype for s in specs))

    def agreement(self, answer, reference):
        if len(answer.arrays) != len(reference.arrays):
            return Agreement("min cosine over outputs", 0.0, MIN_COSINE, False)
        pairs = list(zip(answer.arrays, reference.arrays))
        cosines = [cosine(a, b) for a, b in pairs]
        shaped = [(a, b) for a, b in pairs if a.shape == b.shape]
        figures = {"max_abs_error": max((max_abs_error(a, b) for a, b in shaped), default=0.0),
                   "min_sqnr_db": min((sqnr_db(b, a) for a, b in shaped), default=0.0)}
        value = min(cosines) if cosines else 1.0
        return Agreement("min cosine over outputs", value, MIN_COSINE, value >= MIN_COSINE, figures)

    def score(self, answer, label) -> float:
        """Cosine similarity of the first output with a known tensor."""
        return max(0.0, cosine(answer.arrays[0], np.asarray(label)))

    def summary(self, answer):
        shown = ", ".join(f"{n} {list(a.shape)}" for n, a in zip(answer.names[:3], answer.arrays))
        count = len(answer.arrays)
        return f"{count} output{'s' if count != 1 else ''}: {shown}{', ...' if count > 3 else ''}"

    def overlay(self, answer):
        return {"kind": "generic", **answer.record()}

"""Top-k predictions from a classifier output, and agreement with the float reference."""

from __future__ import annotations

import numpy as np

from edgebench.results.schema import Prediction, TargetResult
from edgebench.runtimes.base import TensorSpec


def scores(output: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Class probabilities from a raw output: dequantized, softmaxed unless already probabilities."""
    y = np.asarray(output, dtype=np.float64).reshape(-1)
    if spec.quantization is not None and np.dtype(spec.dtype).kind in "iu":
        y = spec.quantization.scale * (y - spec.quantization.zero_point)
    already_probabilities = y.min() >= 0 and abs(y.sum() - 1.0) < 0.02
    if not already_probabilities:
        e = np.exp(y - y.max())
        y = e / e.sum()
    return y


def top_k(probabilities: np.ndarray, labels: tuple[str, ...], k: int = 5) -> list[Prediction]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [Prediction(index=int(i), label=labels[i] if i < len(labels) else f"class {i}",
                       score=round(float(probabilities[i]), 6)) for i in order]


def choose_reference(results: list[TargetResult]) -> TargetResult | None:
    """The fp32 PyTorch target if it succeeded, else the first successful fp32 target."""
    ok = [r for r in results if r.status == "ok" and r.top1 is not None]
    for candidate in ([r for r in ok if r.runtime == "torch" and r.precision == "fp32"],
                      [r for r in ok if r.precision == "fp32"], ok):
        if candidate:
            return candidate[0]
    return None


def mark_agreement(results: list[TargetResult]) -> str | None:
    """Set agrees_with_reference on every result; labels are compared, since a 1001-class
    model's indices are shifted by one from a 1000-class model's. Returns the reference name."""
    reference = choose_reference(results)
    for r in results:
        r.is_reference = reference is not None and r is reference
        if reference is None or r.top1 is None:
            r.agrees_with_reference = None
        else:
            r.agrees_with_reference = r.top1.label == reference.top1.label
    return reference.target if reference else None

"""Top-k predictions from a classifier output, and agreement with the float reference."""

from __future__ import annotations

import numpy as np

from edgebench.bench.plan import Traits, choose_reference
from edgebench.results.schema import Prediction, TargetResult
from edgebench.tensors import TensorSpec


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
                       # "already probabilities" may sum to 1.02: a score is at most 1
                       score=min(1.0, round(float(probabilities[i]), 6))) for i in order]


def result_traits(r: TargetResult) -> Traits:
    return r.precision, (r.artifact or {}).get("format"), r.device


def timed_reference(results: list[TargetResult], native_format: str | None) -> TargetResult | None:
    """The reference among timed results: the rule of plan.choose_reference over those that ran."""
    ok = [r for r in results if r.status == "ok" and r.top1 is not None]
    return choose_reference(ok, native_format, result_traits)


def mark_agreement(results: list[TargetResult], reference: Prediction | None,
                   reference_target: str | None = None) -> None:
    """Set agrees_with_reference (and is_reference) on every result. Labels are compared, since
    a 1001-class model's indices are shifted by one from a 1000-class model's."""
    for r in results:
        r.is_reference = reference_target is not None and r.target == reference_target
        if reference is None or r.top1 is None:
            r.agrees_with_reference = None
        else:
            r.agrees_with_reference = r.top1.label == reference.label

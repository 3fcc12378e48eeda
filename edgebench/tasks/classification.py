"""Image classification: class scores -> top-5 labels; agreement = the same top-1 label."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebench.tasks.base import Agreement, Labels
from edgebench.tasks.inputs import ImageInputs, one_output, photo_task_problem
from edgebench.tensors import TensorSpec, dequantized


def scores(output: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Class probabilities from a raw output: dequantized, softmaxed unless already probabilities."""
    y = dequantized(output, spec).reshape(-1)
    already_probabilities = y.min() >= 0 and abs(y.sum() - 1.0) < 0.02
    if not already_probabilities:
        e = np.exp(y - y.max())
        y = e / e.sum()
    return y


@dataclass(frozen=True)
class Ranked:
    index: int
    label: str
    score: float

    def record(self) -> dict:
        return {"index": self.index, "label": self.label, "score": self.score}


def top_k(probabilities: np.ndarray, labels: Labels | tuple[str, ...], k: int = 5) -> list[Ranked]:
    """The k most probable classes, ties broken by index (stable), scores at most 1 (an output
    that is "already probabilities" may sum to 1.02)."""
    labels = labels if isinstance(labels, Labels) else Labels(tuple(labels))
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [Ranked(int(i), labels.name(int(i)), min(1.0, round(float(probabilities[i]), 6))) for i in order]


def class_count(spec: TensorSpec) -> int | None:
    """Classes of a [1, N] (or [N], [1, 1, 1, N]) score vector, else None."""
    dims = [d for d in spec.shape[1:] if d != 1] if len(spec.shape) > 1 else list(spec.shape)
    return dims[0] if len(dims) == 1 and dims[0] >= 2 else None


@dataclass(frozen=True)
class Classified:
    top5: list[Ranked]
    task: str = "classification"

    def record(self) -> dict:
        return {"top5": [r.record() for r in self.top5]}


class Classification(ImageInputs):
    name = "classification"
    geometry = "crop"
    threshold_text = "agrees = the same top-1 label as the float reference"

    def problem(self, inputs, outputs):
        return photo_task_problem(inputs, outputs, one_output(class_count), "one vector of class scores")

    def classes(self, outputs):
        """How many classes the outputs score (None when they do not say)."""
        return class_count(outputs[0]) if len(outputs) == 1 else None

    def decode(self, outputs, specs, context):
        return Classified(top_k(scores(outputs[0][:1], specs[0]), context.labels))

    def agreement(self, answer, reference):
        # Labels, not indices: a 1001-class file's indices are shifted by one from a 1000-class one's.
        same = answer.top5[0].label == reference.top5[0].label
        return Agreement("same top-1 label", 1.0 if same else 0.0, 1.0, same)

    def score(self, answer, label) -> float:
        """1 when the top-1 label is the true one (a name, or an index)."""
        top = answer.top5[0]
        return float(top.label == label if isinstance(label, str) else top.index == label)

    def summary(self, answer):
        top = answer.top5[0]
        return f"{top.label} {top.score:.2f}"

    def overlay(self, answer):
        return {"kind": "classification", "top5": [r.record() for r in answer.top5]}

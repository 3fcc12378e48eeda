"""Embeddings (feature vectors): one vector that names no classes. Agreement: cosine similarity
with the float reference's vector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebench.tasks.base import Agreement
from edgebench.tasks.classification import class_count
from edgebench.tasks.inputs import ImageInputs, one_output, photo_task_problem
from edgebench.tasks.metrics import cosine
from edgebench.tensors import dequantized

MIN_COSINE = 0.95
SHOWN = 8   # values of the vector kept in results


@dataclass(frozen=True)
class Embedded:
    vector: np.ndarray
    task: str = "embedding"

    def record(self) -> dict:
        return {"dim": int(self.vector.size), "l2_norm": round(float(np.linalg.norm(self.vector)), 6),
                "first": [round(float(v), 6) for v in self.vector[:SHOWN]]}


class Embedding(ImageInputs):
    name = "embedding"
    geometry = "crop"
    threshold_text = f"agrees = cosine similarity >= {MIN_COSINE} with the float reference's vector"

    def problem(self, inputs, outputs):
        return photo_task_problem(inputs, outputs, one_output(class_count), "one feature vector")

    def classes(self, outputs):
        return None

    def decode(self, outputs, specs, context):
        return Embedded(dequantized(np.asarray(outputs[0])[:1], specs[0]).reshape(-1))

    def agreement(self, answer, reference):
        value = cosine(answer.vector, reference.vector)
        return Agreement("cosine similarity", value, MIN_COSINE, value >= MIN_COSINE)

    def score(self, answer, label) -> float:
        """Cosine similarity with a known vector for this input."""
        return max(0.0, cosine(answer.vector, np.asarray(label)))

    def summary(self, answer):
        return f"{answer.vector.size}-d vector, norm {np.linalg.norm(answer.vector):.3g}"

    def overlay(self, answer):
        return {"kind": "embedding", **answer.record()}

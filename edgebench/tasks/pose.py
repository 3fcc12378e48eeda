"""Keypoints / pose: [1, K, 3] or [1, 1, K, 3] outputs of (y, x, score) per keypoint, MoveNet's
layout. Agreement: PCK, the share of keypoints within 5% of the image diagonal of the float
reference's, with the mean distance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebench.tasks.base import Agreement
from edgebench.tasks.inputs import ImageInputs, one_output, photo_task_problem
from edgebench.tensors import dequantized

PCK_RADIUS = 0.05     # of the image diagonal
MIN_PCK = 0.8
# COCO's 17 keypoints and the bones the preview draws between them.
COCO_KEYPOINTS = ("nose", "left eye", "right eye", "left ear", "right ear", "left shoulder",
                  "right shoulder", "left elbow", "right elbow", "left wrist", "right wrist", "left hip",
                  "right hip", "left knee", "right knee", "left ankle", "right ankle")
COCO_SKELETON = ((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11),
                 (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16))


def keypoint_count(spec) -> int | None:
    dims = [d for d in spec.shape if d != 1]
    if len(dims) == 2 and dims[1] == 3 and 4 <= dims[0] <= 256:
        return dims[0]
    return None


@dataclass(frozen=True)
class Posed:
    keypoints: np.ndarray          # (K, 3): y, x relative to the image, score
    photo_size: tuple[int, int] | None = None   # (width, height): distances in its pixels
    task: str = "pose"

    def record(self) -> dict:
        return {"keypoints": [[round(float(v), 5) for v in row] for row in self.keypoints],
                "layout": "y, x (relative to the image), score"}


def distances(a: np.ndarray, b: np.ndarray, photo_size: tuple[int, int] | None) -> np.ndarray:
    """Distance of each keypoint pair as a share of the image diagonal."""
    width, height = photo_size or (1, 1)
    dy, dx = (a[:, 0] - b[:, 0]) * height, (a[:, 1] - b[:, 1]) * width
    return np.hypot(dy, dx) / np.hypot(width, height)


class Pose(ImageInputs):
    name = "pose"
    geometry = "stretch"
    threshold_text = (f"agrees = PCK@{PCK_RADIUS} >= {MIN_PCK}: that share of keypoints within "
                      f"{PCK_RADIUS:.0%} of the image diagonal of the float reference's")

    def problem(self, inputs, outputs):
        return photo_task_problem(inputs, outputs, one_output(keypoint_count), "one [1, K, 3] / [1, 1, K, 3] set of (y, x, score) keypoints")

    def classes(self, outputs):
        return None

    def decode(self, outputs, specs, context):
        points = dequantized(outputs[0], specs[0]).reshape(-1, 3).copy()
        if points[:, :2].max() > 2.0 and context.input_size:   # pixels of the input
            points[:, 0] /= context.input_size[0]
            points[:, 1] /= context.input_size[1]
        return Posed(points, context.photo_size)

    def agreement(self, answer, reference):
        if answer.keypoints.shape != reference.keypoints.shape:
            return Agreement(f"PCK@{PCK_RADIUS}", 0.0, MIN_PCK, False)
        d = distances(answer.keypoints, reference.keypoints, answer.photo_size)
        pck = float(np.mean(d <= PCK_RADIUS))
        return Agreement(f"PCK@{PCK_RADIUS}", pck, MIN_PCK, pck >= MIN_PCK, {"mean_distance": float(d.mean())})

    def score(self, answer, label) -> float:
        """PCK against ground-truth keypoints: (K, 2+) rows of y, x relative to the image."""
        truth = np.asarray(label, np.float64)[:, :2]
        d = distances(answer.keypoints[:, :2], truth, answer.photo_size)
        return float(np.mean(d <= PCK_RADIUS))

    def summary(self, answer):
        return f"{len(answer.keypoints)} keypoints, mean score {answer.keypoints[:, 2].mean():.2f}"

    def overlay(self, answer):
        skeleton = COCO_SKELETON if len(answer.keypoints) == 17 else ()
        return {"kind": "pose", "keypoints": answer.record()["keypoints"], "skeleton": [list(b) for b in skeleton]}

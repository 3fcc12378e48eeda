"""Semantic segmentation: a class per pixel, from a [1, H, W] class map or [1, H, W, C] /
[1, C, H, W] logits. Agreement: the share of pixels given the same class as the float
reference's map, with the mean IoU over the classes either map holds."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from edgebench.tasks.base import Agreement
from edgebench.tasks.inputs import ImageInputs, one_output, photo_task_problem
from edgebench.tensors import dequantized

MIN_PIXEL_AGREEMENT = 0.95
MIN_SIDE = 8
IGNORE = 255          # PASCAL VOC's "not scored" pixels in ground-truth masks
OVERLAY_SIDE = 128    # the class map the preview draws, at most this many pixels a side


def map_layout(spec) -> str | None:
    """'map' for [1, H, W] class indices, 'nhwc'/'nchw' for per-class logits, else None."""
    shape = tuple(spec.shape)
    if len(shape) == 3 and shape[0] == 1 and min(shape[1:]) >= MIN_SIDE:
        return "map"
    if len(shape) == 4 and shape[0] == 1:
        if min(shape[1:3]) >= MIN_SIDE and 2 <= shape[3] < min(shape[1:3]):
            return "nhwc"
        if min(shape[2:4]) >= MIN_SIDE and 2 <= shape[1] < min(shape[2:4]):
            return "nchw"
    return None


@dataclass(frozen=True)
class Segmented:
    classes: np.ndarray                   # (H, W) class index per pixel
    names: tuple[str, ...]                # label per class index present (by index)
    task: str = "segmentation"

    def fractions(self) -> list[tuple[int, str, float]]:
        """(index, label, share of pixels) per class present, largest first."""
        values, counts = np.unique(self.classes, return_counts=True)
        total = self.classes.size
        rows = [(int(v), self.names[int(v)] if 0 <= v < len(self.names) and self.names[int(v)] else f"class {int(v)}",
                 c / total) for v, c in zip(values, counts)]
        return sorted(rows, key=lambda row: -row[2])

    def record(self) -> dict:
        """Class shares, and the map itself at most OVERLAY_SIDE pixels a side (what a report
        draws over the photo)."""
        return {"shape": list(self.classes.shape),
                "classes": [{"index": i, "label": label, "fraction": round(f, 6)}
                            for i, label, f in self.fractions()[:32]],
                "map": small_map(self.classes)}


def small_map(classes: np.ndarray) -> dict:
    """The class map subsampled to at most OVERLAY_SIDE pixels a side, one byte a pixel, base64."""
    height, width = classes.shape
    step = max(1, -(-max(height, width) // OVERLAY_SIDE))
    small = np.clip(classes[::step, ::step], 0, 255).astype(np.uint8)
    return {"shape": list(small.shape), "classes": base64.b64encode(small.tobytes()).decode()}


def resized(classes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A class map brought to another (H, W) by nearest neighbour (no new classes appear)."""
    if classes.shape == tuple(shape):
        return classes
    rows = (np.arange(shape[0]) * classes.shape[0] / shape[0]).astype(int)
    cols = (np.arange(shape[1]) * classes.shape[1] / shape[1]).astype(int)
    return classes[rows][:, cols]


def iou_per_class(predicted: np.ndarray, truth: np.ndarray) -> dict[int, float]:
    """IoU of each class present in either map (pixels marked IGNORE in truth left out)."""
    predicted = resized(predicted, truth.shape)
    scored = truth != IGNORE
    result = {}
    for cls in np.union1d(np.unique(predicted[scored]), np.unique(truth[scored])):
        p, t = (predicted == cls) & scored, (truth == cls) & scored
        union = np.count_nonzero(p | t)
        result[int(cls)] = np.count_nonzero(p & t) / union if union else 1.0
    return result


class Segmentation(ImageInputs):
    name = "segmentation"
    geometry = "stretch"
    threshold_text = (f"agrees = at least {MIN_PIXEL_AGREEMENT:.0%} of pixels in the float reference's "
                      "class (mIoU against its map shown beside)")

    def problem(self, inputs, outputs):
        return photo_task_problem(inputs, outputs, one_output(map_layout), "one [1, H, W] class map or [1, H, W, C] / [1, C, H, W] logits")

    def classes(self, outputs):
        """Logits name their class count; a class map does not."""
        layout = map_layout(outputs[0]) if len(outputs) == 1 else None
        return {"nhwc": outputs[0].shape[-1], "nchw": outputs[0].shape[1]}.get(layout) if layout else None

    def decode(self, outputs, specs, context):
        layout = map_layout(specs[0])
        y = np.asarray(outputs[0])[0]
        if layout == "map":
            classes = y.astype(np.int64)
        else:
            logits = dequantized(y, specs[0])
            classes = logits.argmax(axis=-1 if layout == "nhwc" else 0)
        return Segmented(classes, context.labels.names)

    def agreement(self, answer, reference):
        mine = resized(answer.classes, reference.classes.shape)
        pixels = float(np.mean(mine == reference.classes))
        ious = iou_per_class(mine, reference.classes)
        return Agreement("pixel agreement", pixels, MIN_PIXEL_AGREEMENT, pixels >= MIN_PIXEL_AGREEMENT,
                         {"miou": float(np.mean(list(ious.values())))})

    def score(self, answer, label) -> float:
        """Mean IoU against a ground-truth class map (IGNORE pixels left out)."""
        ious = iou_per_class(answer.classes, np.asarray(label))
        return float(np.mean(list(ious.values()))) if ious else 0.0

    def summary(self, answer):
        return ", ".join(f"{label} {f:.0%}" for _, label, f in answer.fractions()[:3])

    def overlay(self, answer):
        return {"kind": "segmentation", **small_map(answer.classes),
                "labels": {str(i): label for i, label, _ in answer.fractions()}}


def confusion(predicted: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) pixel counts, rows the true class, columns the predicted one, over the
    pixels of `truth` that are not IGNORE; the prediction is brought to the mask's size by nearest
    neighbour. A true class outside 0..classes-1 is a ValueError (the mask does not fit the model)."""
    predicted = resized(np.asarray(predicted), truth.shape).astype(np.int64)
    truth = np.asarray(truth).astype(np.int64)
    scored = truth != IGNORE
    t, p = truth[scored], predicted[scored]
    if t.size and (t.min() < 0 or t.max() >= classes):
        raise ValueError(f"mask class {int(t.max() if t.max() >= classes else t.min())} is outside the model's "
                         f"0..{classes - 1}")
    p = np.clip(p, 0, classes - 1)
    return np.bincount(t * classes + p, minlength=classes * classes).reshape(classes, classes)


def miou_and_pixel_accuracy(matrix: np.ndarray) -> tuple[float, float, dict[int, float]]:
    """From a summed confusion matrix: mean IoU over the classes that occur (in the masks or the
    predictions: a class neither holds has no IoU and is left out, as PASCAL VOC's and mmseg's
    evaluations do), pixel accuracy, and the IoU of each class that occurs."""
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp
    ious = {int(c): float(tp[c] / union[c]) for c in np.flatnonzero(union)}
    total = matrix.sum()
    return (float(np.mean(list(ious.values()))) if ious else 0.0,
            float(tp.sum() / total) if total else 0.0, ious)

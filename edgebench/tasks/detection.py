"""Object detection: boxes with classes and scores, from TFLite's detection post-processing
(boxes, classes, scores, count) or from a raw YOLO-style head decoded here with per-class NMS.

Agreement with the reference: boxes matched per class at IoU >= 0.5; F1 of the matches, and
their mean IoU. A box counts when its score is >= SCORE; a box of one side found by the other at
a lower score (>= FOUND) is still a match, so a score moving across the threshold is not a miss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebench.tasks.base import Agreement
from edgebench.tasks.inputs import ImageInputs, photo_task_problem
from edgebench.tensors import dequantized

SCORE = 0.4          # an object is reported from this score (pycoral detect_image.py's default)
FOUND = 0.25         # ... and counts as found by the other side from this one
IOU = 0.5            # a match
MIN_F1 = 0.8         # agreement threshold
MAX_BOXES = 100      # kept per answer (after NMS)
POSTPROCESS = "TFLite_Detection_PostProcess"


@dataclass(frozen=True)
class Box:
    """Corners relative to the image, (ymin, xmin, ymax, xmax) in [0, 1]."""

    ymin: float
    xmin: float
    ymax: float
    xmax: float
    index: int
    label: str
    score: float

    def record(self) -> dict:
        return {"box": [round(v, 5) for v in (self.ymin, self.xmin, self.ymax, self.xmax)],
                "index": self.index, "label": self.label, "score": round(self.score, 5)}


@dataclass(frozen=True)
class Detected:
    boxes: list[Box]          # every box down to FOUND, most confident first
    decoder: str
    task: str = "detection"

    @property
    def objects(self) -> list[Box]:
        return [b for b in self.boxes if b.score >= SCORE]

    def record(self) -> dict:
        return {"objects": len(self.objects), "boxes": [b.record() for b in self.boxes],
                "min_score": SCORE, "decoder": self.decoder}


def postprocess_outputs(specs) -> list[int] | None:
    """Indices of (boxes, classes, scores, count) when the model ends in TFLite's detection
    post-processing (named outputs in their conventional order, or shapes [1,N,4],[1,N],[1,N],[1])."""
    named = sorted((s.name.partition(":")[2] or "0", i) for i, s in enumerate(specs) if POSTPROCESS in s.name)
    if len(named) == 4:
        return [i for _, i in named]
    for start in range(0, max(0, len(specs) - 3)):
        four = specs[start:start + 4]
        shapes = [tuple(s.shape) for s in four]
        if (len(shapes[0]) == 3 and shapes[0][2] == 4 and shapes[1] == shapes[2] == shapes[0][:2]
                and shapes[3] in ((1,), (shapes[0][0],))):
            return list(range(start, start + 4))
    return None


def raw_head(specs) -> tuple[int, str] | None:
    """(index, layout) of a raw YOLO-style output: [1, N, 4+1+C] ("anchors-first", with an
    objectness score) or [1, 4+C, N] ("channels-first", YOLOv8-style, no objectness)."""
    for i, spec in enumerate(specs):
        if len(spec.shape) != 3 or spec.shape[0] != 1:
            continue
        a, b = spec.shape[1], spec.shape[2]   # 0: an open dimension (the anchor count, usually)
        if (a == 0 or a >= 64) and 6 <= b < (a or 1 << 30):
            return i, "anchors-first"
        if (b == 0 or b >= 64) and 5 <= a < (b or 1 << 30):
            return i, "channels-first"
    return None


def _probabilities(scores: np.ndarray) -> np.ndarray:
    """Scores as probabilities: a head that outputs logits (values outside [0, 1]) gets a sigmoid."""
    if scores.size and (scores.min() < 0 or scores.max() > 1):
        return 1 / (1 + np.exp(-np.clip(scores, -60, 60)))
    return scores


def _floor(context) -> float:
    """The lowest score kept: FOUND, unless the context asks for another (accuracy's AP)."""
    return FOUND if context.min_score is None else context.min_score


def _sane_class(value) -> bool:
    """A class id a label can be looked up by: a whole number from 0 (post-processing outputs are floats)."""
    return bool(np.isfinite(value)) and 0 <= value < 2**31 and float(value).is_integer()


def _has_area(corners) -> bool:
    return corners[2] > corners[0] and corners[3] > corners[1]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (n, 4) against every box in b (m, 4), corners y0, x0, y1, x1."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    y0 = np.maximum(a[:, None, 0], b[None, :, 0])
    x0 = np.maximum(a[:, None, 1], b[None, :, 1])
    y1 = np.minimum(a[:, None, 2], b[None, :, 2])
    x1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area = lambda z: np.clip(z[:, 2] - z[:, 0], 0, None) * np.clip(z[:, 3] - z[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(corners: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float = 0.45) -> list[int]:
    """Greedy non-maximum suppression per class; indices kept, most confident first."""
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if len(keep) >= MAX_BOXES:
            break
        same = [k for k in keep if classes[k] == classes[i]]
        if same and iou_matrix(corners[i:i + 1], corners[same]).max() > iou:
            continue
        keep.append(int(i))
    return keep


class Detection(ImageInputs):
    name = "detection"
    geometry = "stretch"
    threshold_text = (f"agrees = F1 >= {MIN_F1} of boxes matched per class at IoU >= {IOU} against the "
                      f"float reference (objects from score {SCORE}; found by the other side from {FOUND})")

    def problem(self, inputs, outputs):
        return photo_task_problem(inputs, outputs, lambda o: postprocess_outputs(o) is not None or raw_head(o) is not None,
                                  "TFLite's detection post-processing (boxes, classes, scores, count) or a raw "
                                  "[1, N, 4+1+C] / [1, 4+C, N] detection head")

    def classes(self, outputs):
        """A raw head's class count (its width less the box and objectness); post-processing
        outputs do not say."""
        if postprocess_outputs(outputs) is not None or (head := raw_head(outputs)) is None:
            return None
        index, layout = head
        shape = outputs[index].shape
        return shape[2] - 5 if layout == "anchors-first" else shape[1] - 4

    def decode(self, outputs, specs, context):
        post = postprocess_outputs(specs)
        if post is not None:
            return self._postprocessed([dequantized(outputs[i], specs[i]) for i in post], context)
        index, layout = raw_head(specs)
        return self._raw(dequantized(outputs[index], specs[index])[0], layout, context)

    def _postprocessed(self, arrays, context) -> Detected:
        boxes, classes, scores, count = (a.reshape(-1) if k else a.reshape(-1, 4) for k, a in enumerate(arrays))
        n = max(0, min(int(count[0]), len(scores), len(boxes)))
        corners = np.clip(boxes[:n], 0, 1)
        floor = _floor(context)
        kept = [i for i in range(n) if scores[i] >= floor and _sane_class(classes[i]) and _has_area(corners[i])]
        found = [Box(*corners[i].tolist(), int(classes[i]), context.labels.name(int(classes[i])),
                     min(1.0, float(scores[i]))) for i in kept]
        return Detected(sorted(found, key=lambda b: -b.score), POSTPROCESS)

    def _raw(self, head: np.ndarray, layout: str, context) -> Detected:
        rows = head if layout == "anchors-first" else head.T
        if layout == "anchors-first":   # x, y, w, h, objectness, class scores
            class_scores = _probabilities(rows[:, 5:]) * _probabilities(rows[:, 4:5])
        else:                           # x, y, w, h, class scores
            class_scores = _probabilities(rows[:, 4:])
        classes = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(rows)), classes]
        chosen = (scores >= _floor(context)) & (rows[:, 2] > 0) & (rows[:, 3] > 0)   # boxes with an area
        xywh, classes, scores = rows[chosen, :4], classes[chosen], scores[chosen]
        height, width = context.input_size or (1, 1)
        if xywh.size and xywh.max() <= 2.0:   # already relative to the image
            height = width = 1
        corners = np.stack([(xywh[:, 1] - xywh[:, 3] / 2) / height, (xywh[:, 0] - xywh[:, 2] / 2) / width,
                            (xywh[:, 1] + xywh[:, 3] / 2) / height, (xywh[:, 0] + xywh[:, 2] / 2) / width], axis=1)
        corners = np.clip(corners, 0, 1)
        inside = np.array([_has_area(c) for c in corners], dtype=bool)   # wholly off the image: gone
        corners, scores, classes = corners[inside], scores[inside], classes[inside]
        kept = nms(corners, scores, classes)
        return Detected([Box(*corners[i].tolist(), int(classes[i]), context.labels.name(int(classes[i])),
                             float(scores[i])) for i in kept], f"raw {layout} head, per-class NMS at IoU 0.45")

    def agreement(self, answer, reference):
        precision_hits, ious = _matches(answer.objects, reference.boxes)
        recall_hits, _ = _matches(reference.objects, answer.boxes)
        p = precision_hits / len(answer.objects) if answer.objects else 1.0
        r = recall_hits / len(reference.objects) if reference.objects else 1.0
        f1 = 0.0 if p + r == 0 else 2 * p * r / (p + r)
        figures = {"precision": p, "recall": r, "mean_iou": float(np.mean(ious)) if ious else 1.0,
                   "objects": len(answer.objects), "reference_objects": len(reference.objects)}
        return Agreement(f"F1 of boxes at IoU {IOU}", f1, MIN_F1, f1 >= MIN_F1, figures)

    def score(self, answer, label) -> float:
        """F1 at IoU 0.5 against ground-truth boxes: a list of (ymin, xmin, ymax, xmax, class)."""
        truth = [Box(*map(float, row[:4]), int(row[4]), "", 1.0) for row in label]
        return self.agreement(answer, Detected(truth, "ground truth")).value

    def summary(self, answer):
        objects = answer.objects
        if not objects:
            return f"no objects (score >= {SCORE})"
        shown = ", ".join(f"{b.label} {b.score:.2f}" for b in objects[:3])
        more = ", ..." if len(objects) > 3 else ""
        return f"{len(objects)} object{'s' if len(objects) != 1 else ''}: {shown}{more}"

    def overlay(self, answer):
        return {"kind": "detection", "boxes": [b.record() for b in answer.objects[:MAX_BOXES]]}


def _matches(boxes: list[Box], others: list[Box]) -> tuple[int, list[float]]:
    """How many of `boxes` have a same-class box among `others` at IoU >= IOU (each used once)."""
    used: set[int] = set()
    hits, ious = 0, []
    for box in boxes:
        candidates = [j for j, o in enumerate(others) if o.index == box.index and j not in used]
        if not candidates:
            continue
        corners = np.array([[box.ymin, box.xmin, box.ymax, box.xmax]])
        overlap = iou_matrix(corners, np.array([[others[j].ymin, others[j].xmin, others[j].ymax, others[j].xmax]
                                                for j in candidates]))[0]
        best = int(np.argmax(overlap))
        if overlap[best] >= IOU:
            used.add(candidates[best])
            hits += 1
            ious.append(float(overlap[best]))
    return hits, ious

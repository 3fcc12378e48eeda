"""COCO-style average precision through pycocotools, the reference implementation that every
published COCO figure (TensorFlow's and Coral's model pages among them) was computed with: box
mAP@[.5:.95] and AP50 for detection, OKS-based AP for keypoints. Nothing here recomputes AP by
hand: the point figures are pycocotools' summarize() and the bootstrap's are its accumulate().

The 95% interval comes from a bootstrap over images: image ids are drawn with replacement and
the set scored again. Matching detections to ground truth is per image (evaluateImg), so each
resample reuses the per-image matches and only re-accumulates them; this equals evaluating a
set in which the drawn images are repeated under new ids (tests/test_accuracy_tasks.py checks it).
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import dataclass

import numpy as np

# Each resample costs one accumulate() over the scored categories: about 18 ms for 40 images x 3
# classes x 100 boxes on this project's 2-core machine, seconds for COCO val's 5000 x 80. 200 keep
# a small set's evaluation to seconds; the ends of a 200-draw percentile interval move by about a
# tenth of its width from seed to seed (--bootstrap 2000 for steadier ends, 0 for none).
RESAMPLES = 200
SEED = 0


@dataclass(frozen=True)
class CocoFigures:
    """AP@[.5:.95] and AP at IoU (or OKS) 0.5, all object sizes, pycocotools' detection limit
    (100 boxes, 20 poses), with 95% bootstrap intervals (None: no resamples asked for)."""

    ap: float
    ap50: float
    ap_interval: tuple[float, float] | None
    ap50_interval: tuple[float, float] | None
    resamples: int
    stats: tuple[float, ...]          # pycocotools' summarize() figures (12 for boxes, 10 for poses)


@contextlib.contextmanager
def _quiet():
    """pycocotools prints progress on stdout; the CLI's output is ours."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _ground_truth(truth: dict):
    from pycocotools.coco import COCO

    with _quiet():
        gt = COCO()
        gt.dataset = copy.deepcopy(truth)
        gt.createIndex()
    return gt


def _detections(gt, results: list[dict]):
    """The results as pycocotools' COCO object; loadRes cannot take an empty list, so a model
    that found nothing gets an empty set built the same way (AP 0 where there are objects)."""
    from pycocotools.coco import COCO

    with _quiet():
        if results:
            return gt.loadRes(copy.deepcopy(results))
        empty = COCO()
        empty.dataset = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]),
                         "annotations": []}
        empty.createIndex()
        return empty


def evaluator(truth: dict, results: list[dict], kind: str, category_ids: list[int]):
    """pycocotools' COCOeval over every image of `truth`, scored on `category_ids` only, after
    evaluate(), accumulate() and summarize(). kind: "bbox" or "keypoints"."""
    from pycocotools.cocoeval import COCOeval

    gt = _ground_truth(truth)
    with _quiet():
        e = COCOeval(gt, _detections(gt, results), kind)
        e.params.imgIds = sorted(gt.getImgIds())
        e.params.catIds = sorted(category_ids)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e


def evaluate(truth: dict, results: list[dict], kind: str, category_ids: list[int],
             resamples: int = RESAMPLES, seed: int = SEED) -> CocoFigures:
    """AP and AP50 of `results` (COCO result format: image_id, category_id, bbox [x, y, w, h]
    or keypoints [x, y, v] * K, score) against `truth` (a COCO annotations dict)."""
    e = evaluator(truth, results, kind, category_ids)
    ap, ap50 = max(0.0, float(e.stats[0])), max(0.0, float(e.stats[1]))   # -1: nothing to score
    ap_interval = ap50_interval = None
    if resamples > 0 and len(e._paramsEval.imgIds) > 1:   # one image cannot vary
        rng = np.random.default_rng(seed)
        images = len(e._paramsEval.imgIds)
        draws = np.array([resampled(e, rng.integers(0, images, images)) for _ in range(resamples)])
        ap_interval, ap50_interval = (_percentiles(draws[:, 0]), _percentiles(draws[:, 1]))
    return CocoFigures(ap, ap50, ap_interval, ap50_interval, resamples, tuple(float(s) for s in e.stats))


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(max(0.0, low)), float(min(1.0, high))


def resampled(e, picks: np.ndarray) -> tuple[float, float]:
    """(AP, AP50) of the images at positions `picks` of e's image list (repeats allowed), all
    object sizes, the largest detection limit: summarize()'s first two figures for that set."""
    pe = e._paramsEval
    images, areas = len(pe.imgIds), len(pe.areaRng)
    params = copy.deepcopy(pe)
    params.imgIds = list(range(len(picks)))      # positions stand for images: repeats stay apart
    params.areaRng, params.areaRngLbl = [pe.areaRng[0]], [pe.areaRngLbl[0]]   # "all"
    params.maxDets = [pe.maxDets[-1]]
    boot = copy.copy(e)
    boot._paramsEval, boot.params = params, copy.deepcopy(params)
    # evalImgs is laid out category-major, then area range, then image (COCOeval.evaluate)
    boot.evalImgs = [e.evalImgs[k * areas * images + int(i)] for k in range(len(pe.catIds)) for i in picks]
    with _quiet():
        boot.accumulate()
    precision = boot.eval["precision"][:, :, :, 0, 0]    # iou threshold, recall, category
    return _mean_precision(precision), _mean_precision(precision[0])


def _mean_precision(precision: np.ndarray) -> float:
    """summarize()'s reduction: the mean over entries that exist (-1 marks a category with no
    ground truth in the set), 0 when none does."""
    present = precision[precision > -1]
    return float(np.mean(present)) if present.size else 0.0

"""Accuracy beyond classification: every planned target answers each annotated image once
(untimed), and the answers are scored against the ground truth as the task's own community
scores them: COCO box mAP@[.5:.95] and AP50 (pycocotools), segmentation mIoU and pixel accuracy
(a confusion matrix, 255 not scored), pose OKS AP (pycocotools) and PCK@0.2. Each figure has a
95% bootstrap interval over images (seeded, so a rerun prints the same interval).

Planned and isolated exactly as a run: a target that cannot load is listed with its reason and
the others are still scored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgebench.bench.config import RunConfig
from edgebench.bench.plan import Plan, PlannedTarget, attempt, make_plan
from edgebench.errors import UserError
from edgebench.results.schema import AccuracyFigure, AccuracyResult, ConfidenceInterval, TargetAccuracy

ProgressCallback = Callable[[str, int, int], None]
# Boxes are kept from this score for AP (the run screen's answer keeps them from 0.25): COCO's
# AP integrates precision down to the least confident box, and pycocotools keeps 100 per image.
MIN_SCORE = 0.01
FEW_IMAGES = 30
COCO_KEYPOINTS = 17
PCK_FRACTION = 0.2     # of the longer side of the person's ground-truth box
# The int8 rule for figures on labelled data (mAP, mIoU, OKS AP): an int8 target may lose at most
# one point of its task's headline figure against the float model, as MLPerf's closed division
# holds detectors and segmenters to ~1% of fp32.
INT8_LOSS_POINTS = 1.0
TASK_OF_DATA = {"classification": "image labels (file names, class folders or labels.csv)",
                "detection": "COCO boxes (--annotations)", "pose": "COCO keypoints (--annotations)",
                "segmentation": "masks (--masks)"}


def evaluate_set(config: RunConfig, data, on_progress: ProgressCallback | None = None,
                 resamples: int | None = None) -> AccuracyResult:
    """Score every planned target on `data` (models.annotated.CocoSet or MaskSet)."""
    from edgebench.models.source import open_source
    from edgebench.system import device_info
    from edgebench.tasks import coco

    resamples = coco.RESAMPLES if resamples is None else resamples
    kind = data_task(data)
    source = open_source(config.model, config.allow_download)
    plan = make_plan(config, source=source)
    check_task(plan, data)
    notes: list[str] = []
    results = [_target(planned, plan, data, kind, resamples, notes, on_progress) for planned in plan.targets]
    images = [str(p) for p, _ in data.pairs] if kind == "segmentation" else [str(i.path) for i in data.images]
    if 1 < len(images) < FEW_IMAGES:
        notes.append(f"{len(images)} images: a bootstrap interval over so few shows only the variation they hold "
                     f"(about {FEW_IMAGES} or more make it mean something)")
    elif len(images) == 1:
        notes.append("1 image: no interval (a bootstrap over one image cannot vary)")
    warnings = int8_losses([(r.target, r.precision, r.figures) for r in results if r.status == "ok"])
    return AccuracyResult(model=source.name, image_dir=str(data.image_dir), task=kind, warnings=warnings,
                          images=[{"path": p} for p in images], reference_target=None,
                          device=device_info().model_dump(mode="json"), results=results,
                          dataset=data.fingerprint(), notes=list(dict.fromkeys(notes)))


def data_task(data) -> str:
    """The task a labelled set scores: "classification" (models.labelled.ClassSet), "detection"
    or "pose" (COCO), "segmentation" (masks)."""
    return getattr(data, "kind", "segmentation")


def check_task(plan: Plan, data) -> None:
    """A one-line error when the model's task is not the one the ground truth scores."""
    kind = data_task(data)
    if plan.task.name != kind and kind == "classification":
        truth = {"segmentation": "give its ground truth with --masks DIR",
                 "detection": "give its ground truth with --annotations FILE (COCO)",
                 "pose": "give its ground truth with --annotations FILE (COCO keypoints)"}.get(
            plan.task.name, f"edgebench scores no labelled data for {plan.task.name} models")
        raise UserError(f"{plan.source.name} is read as a {plan.task.name} model ({plan.task.why}): labelled "
                        f"images alone score a classifier; {truth}", "accuracy_images")
    if plan.task.name != kind:
        raise UserError(f"{plan.source.name} is read as a {plan.task.name} model ({plan.task.why}), but the ground "
                        f"truth given is {TASK_OF_DATA[kind]}: give a {kind} model or --task {kind}")


def score_targets(plan: Plan, results: list, data, resamples: int | None = None,
                  loadgen_logs: Callable[[PlannedTarget], Path] | None = None) -> tuple[list[str], list[str]]:
    """A run's second pass: each target timed without error answers every labelled image once
    (untimed, after all timing), and its figures go on its result (`accuracy`, stored with the
    run). The notes to print under the figures are returned, then the int8 targets' losses
    beyond the rule (printed in red). loadgen_logs(planned): where that target's LoadGen
    accuracy-mode logs go, when the answers come through LoadGen (a --loadgen run). A target
    the labelled set cannot score (a detector naming no classes, an accuracy log too big) gets
    a note, not an error: the timed run it follows is kept and printed."""
    from edgebench.results.schema import TaskAccuracy
    from edgebench.tasks import coco

    resamples = coco.RESAMPLES if resamples is None else resamples
    kind, notes, fingerprint = data_task(data), [], data.fingerprint()
    for planned, result in zip(plan.targets, results):   # one result per planned target, in order
        if result.status != "ok":
            continue
        logs = loadgen_logs(planned) if loadgen_logs else None
        try:
            scored = _target(planned, plan, data, kind, resamples, notes, None, logs)
        except UserError as exc:
            notes.append(f"no accuracy figures: {exc}")
            continue
        if scored.status == "ok":
            result.accuracy = TaskAccuracy(task=kind, images=scored.images, figures=scored.figures,
                                           dataset=fingerprint)
            if logs is not None and result.loadgen is not None:
                result.loadgen.accuracy = _loadgen_accuracy_record(scored, logs)
        else:
            notes.append(f"{planned.name}: no accuracy ({scored.status}: {scored.error})")
    losses = int8_losses([(r.target, r.precision, r.accuracy.figures) for r in results if r.accuracy])
    return [note[:400] for note in dict.fromkeys(notes)], [line[:400] for line in losses]


def _overlap(fp32: AccuracyFigure, int8: AccuracyFigure) -> str:
    """A caution when the two figures' 95% intervals overlap: the loss may be the images' chance."""
    a, b = fp32.interval, int8.interval
    if a is None or b is None or a.high < b.low or b.high < a.low:
        return ""
    return (f" (their 95% intervals overlap, {a.percent()}% and {b.percent()}%: on these images the loss may be "
            "chance; more images would tell)")


def _loadgen_accuracy_record(scored: TargetAccuracy, logs: Path) -> dict:
    """What TargetResult.loadgen keeps of its accuracy test: how, the headline figure, the log."""
    from edgebench.bench.loadgen_accuracy import ACCURACY_LOG, METHOD

    head = scored.figures[0]
    return {"mode": "AccuracyOnly", "method": METHOD, "samples": scored.images, "figure": head.name,
            "value": head.value, "logs_dir": str(logs), "accuracy_log": str(logs / ACCURACY_LOG)}


def int8_losses(scored: list[tuple[str, str, list[AccuracyFigure]]]) -> list[str]:
    """Each int8 target whose headline figure (the task's first: mAP@[.5:.95], mIoU, OKS AP) lies
    more than INT8_LOSS_POINTS under the float one, in a line. `scored`: (target, precision,
    figures) of the targets that were scored; an int8 target is held against the fp32 target of
    the same runtime ("litert-int8" against "litert-fp32"), else against the first fp32 one."""
    floats = {target: figures for target, precision, figures in scored if precision == "fp32" and figures}
    if not floats:
        return []
    lines = []
    for target, precision, figures in scored:
        if precision != "int8" or not figures:
            continue
        twin = target.rsplit("-", 1)[0] + "-fp32"
        against = twin if twin in floats else next(iter(floats))
        fp32, int8 = floats[against][0], figures[0]
        lost = (fp32.value - int8.value) * 100
        if round(lost, 6) > INT8_LOSS_POINTS:   # 0.50 - 0.49 is 1.0000000000000009 points
            lines.append(f"{target} loses {lost:.1f} points of {int8.name} against {against} "
                         f"({fp32.value * 100:.1f} -> {int8.value * 100:.1f}%): more than the "
                         f"{INT8_LOSS_POINTS:g}-point rule for int8" + _overlap(fp32, int8))
    return lines


def _target(planned: PlannedTarget, plan: Plan, data, kind: str, resamples: int, notes: list[str],
            on_progress, loadgen_logs: Path | None = None) -> TargetAccuracy:
    """One target's figures on the labelled set: its answers from a plain loop over the images,
    or (loadgen_logs given) from LoadGen's accuracy mode, its logs kept there."""
    images = LabelledImages(plan, data, kind)
    if loadgen_logs is None:
        work = lambda session: images.answer_each(session, planned.name, on_progress)  # noqa: E731
    else:
        work = lambda session: images.answer_through_loadgen(session, loadgen_logs)  # noqa: E731
    outcome = attempt(planned, work, plan.task.task)
    acc = TargetAccuracy(
        target=planned.name, precision=planned.target.precision, device=planned.target.device,
        runtime_version=planned.runtime.version() if planned.status == "ok" else None,
        artifact_format=planned.artifact.format if planned.artifact else None,
        status=outcome.status, error=outcome.error, task=kind, images=len(images.paths))
    if outcome.value is not None:
        answers, labels = outcome.value
        score = {"classification": _classification, "detection": _detection, "pose": _pose,
                 "segmentation": _segmentation}[kind]
        acc.figures, acc.details, note = score(answers, labels, images.sizes, data, resamples)
        notes.extend(note)
    return acc


class LabelledImages:
    """What a labelled set feeds a session, image by image, and what is read back: a
    classifier's top-k tally (as `edgebench accuracy` counts it), or each image's decoded answer."""

    def __init__(self, plan: Plan, data, kind: str):
        self.plan, self.data, self.kind = plan, data, kind
        self.paths = ([i.path for i in data.items] if kind == "classification"
                      else [p for p, _ in data.pairs] if kind == "segmentation" else [i.path for i in data.images])
        self.sizes: list[tuple[int, int] | None] = [None] * len(self.paths)

    def input(self, session, i: int):
        from edgebench.bench.accuracy import classifier_input
        from edgebench.bench.execute import Photo, feed_inputs

        if self.kind == "classification":
            return classifier_input(session, self.plan, self.data.items[i])
        photo = Photo(self.paths[i])
        self.sizes[i] = photo.pil.size
        return feed_inputs(self.plan, session, photo).x

    def answer(self, session, i: int, output):
        """Image i's answer from its outputs: a classifier's scores (tallied in order at the end),
        else the task's decoded answer."""
        from edgebench.bench.execute import decode
        from edgebench.tasks.base import Broken
        from edgebench.tensors import as_tuple

        if self.kind == "classification":
            return np.array(as_tuple(output)[0], copy=True)
        answer = decode(self.plan, session, output, self.sizes[i], MIN_SCORE)[0]
        if isinstance(answer, Broken):   # no figure may come out of NaN
            raise RuntimeError(f"{self.paths[i].name}: {answer.summary()}")
        return answer

    def answer_each(self, session, name: str, on_progress):
        """(answers in the images' order, the class names read) from one inference per image."""
        answers = []
        for i in range(len(self.paths)):
            session.set_input(self.input(session, i))
            session.invoke()
            answers.append(self.answer(session, i, session.output()))
            if on_progress:
                on_progress(name, i + 1, len(self.paths))
        return self._finish(session, answers)

    def answer_through_loadgen(self, session, logs_dir: Path):
        """The same, from LoadGen's accuracy mode: each image a sample, its outputs read back
        from LoadGen's accuracy log."""
        from edgebench.bench import loadgen_accuracy

        first = self.input(session, 0)
        session.set_input(first)
        session.invoke()
        loadgen_accuracy.check_size(len(self.paths), len(loadgen_accuracy.encode(session.output())))
        answers: list = [None] * len(self.paths)
        for i, output in loadgen_accuracy.infer_all(session, lambda i: self.input(session, i), len(self.paths),
                                                    logs_dir):
            answers[i] = self.answer(session, i, output)
        return self._finish(session, answers)

    def _finish(self, session, answers: list):
        from edgebench.tensors import output_specs

        if self.kind != "classification":
            return answers, self.plan.labels_for(output_specs(session))
        from edgebench.bench.accuracy import Tally

        tally = Tally(session, self.plan)
        for item, scores in zip(self.data.items, answers):
            tally.add(item, scores)
        return tally, None


def _interval(bounds) -> ConfidenceInterval | None:
    return None if bounds is None else ConfidenceInterval(low=bounds[0], high=bounds[1], method="bootstrap")


# -- classification ------------------------------------------------------------------------------

def _classification(tally, labels, sizes, data, resamples):
    """Top-1 (and top-5, for more than 5 classes) with 95% Wilson intervals, counted as
    `edgebench accuracy` counts them (bench.accuracy.Tally)."""
    from edgebench.bench.accuracy import ROUGH_WIDTH, TOP_K, too_few_images, wilson_interval

    n = len(tally.predictions)
    how = "95% CI: Wilson score interval over the images"
    figures = [AccuracyFigure(name="top-1", value=tally.top1 / n, interval=wilson_interval(tally.top1, n), note=how)]
    if tally.classes > TOP_K:   # with 5 classes or fewer every image is trivially in the top 5
        figures.append(AccuracyFigure(name="top-5", value=tally.top5 / n, interval=wilson_interval(tally.top5, n),
                                      note=how))
    # One sentence for every target alike (the notes are printed once each): the interval's
    # width is in each figure.
    few = too_few_images(n, [f.interval for f in figures]) and (
        f"{n} images are too few for these figures to mean much: 95% intervals over "
        f"{ROUGH_WIDTH * 100:.0f} points wide; about 400 images narrow any to +-5 points")
    return figures, {"classes": tally.classes, "top1_hits": tally.top1, "top5_hits": tally.top5}, [few] if few else []


# -- detection -----------------------------------------------------------------------------------

def category_match(labels, categories: dict[int, str]) -> tuple[dict[str, int], list[int]]:
    """(model class name -> category id, the category ids scored): by name, case and spaces
    aside, so a 90-id TF detector, an 80-class YOLO and a one-class person detector all meet
    COCO's ids. Only categories the model can name are scored."""
    def key(text: str) -> str:
        return " ".join(text.lower().replace("_", " ").split())

    by_name = {key(n): cid for cid, n in categories.items()}
    mapping = {name: by_name[key(name)] for name in labels.names if name and key(name) in by_name}
    return mapping, sorted(set(mapping.values()))


def _detection(answers, labels, sizes, data, resamples):
    from edgebench.tasks import coco

    mapping, scored = category_match(labels, data.categories)
    if not any(labels.names):
        raise UserError(f"the model names no classes, so its boxes cannot be matched to the categories of "
                        f"{data.annotations_file.name}: give its class names, one per line as the annotations "
                        "name them (run --labels FILE, accuracy --class-names FILE)")
    if not scored:
        raise UserError(f"none of the model's {len(labels.names)} class names ({', '.join(labels.names[:5])}"
                        f"{', ...' if len(labels.names) > 5 else ''}) is a category of "
                        f"{data.annotations_file.name} ({', '.join(list(data.categories.values())[:5])}, ...): "
                        "nothing to score (name the model's classes as the annotations do: accuracy --class-names FILE, "
                        "run --labels FILE)")
    results, unscored = [], 0
    for image, answer in zip(data.images, answers):
        for box in answer.boxes:
            cid = mapping.get(box.label)
            if cid is None:
                unscored += 1
                continue
            results.append({"image_id": image.id, "category_id": cid, "score": float(box.score),
                            "bbox": [box.xmin * image.width, box.ymin * image.height,
                                     (box.xmax - box.xmin) * image.width, (box.ymax - box.ymin) * image.height]})
    figures = coco.evaluate(data.truth, results, "bbox", scored, resamples)
    names = [data.categories[c] for c in scored]
    present = {a["category_id"] for a in data.truth["annotations"]} & set(scored)
    note = [f"scored on {len(scored)} of the {len(data.categories)} annotated categories, those the model "
            f"can name: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}"
            + ("" if len(present) == len(scored) else f" ({len(scored) - len(present)} without objects in these "
               "images: no AP, left out of the mean)")]
    how = f"pycocotools, boxes from score {MIN_SCORE}, at most 100 per image; 95% CI: {resamples} bootstrap resamples of the images"
    return ([AccuracyFigure(name="mAP@[.5:.95]", value=figures.ap, interval=_interval(figures.ap_interval), note=how),
             AccuracyFigure(name="AP50", value=figures.ap50, interval=_interval(figures.ap50_interval), note=how)],
            {"categories_scored": names, "boxes": len(results), "boxes_of_other_classes": unscored,
             "coco_stats": [round(s, 6) for s in figures.stats]}, note)


# -- segmentation --------------------------------------------------------------------------------

def _segmentation(answers, labels, sizes, data, resamples):
    from edgebench.models.annotated import load_mask
    from edgebench.tasks.segmentation import confusion, miou_and_pixel_accuracy

    classes = max(256, *(int(a.classes.max()) + 1 for a in answers))
    matrices = []
    for (image, mask_path), answer, size in zip(data.pairs, answers, sizes):
        mask = load_mask(mask_path, data.map_for(mask_path), size)
        matrices.append(confusion(answer.classes, mask, classes))
    miou, pixels, ious = miou_and_pixel_accuracy(sum(matrices))
    miou_ci, pixel_ci = _bootstrap(matrices, lambda m: miou_and_pixel_accuracy(m)[:2], resamples)
    names = {c: labels.name(c) for c in ious}
    how = f"confusion matrix over every scored pixel (255 ignored); 95% CI: {resamples} bootstrap resamples of the images"
    note = [f"mask values of {'every mask' if name == '*' else name} read as: "
            f"{', '.join(f'{k}={v}' for k, v in sorted(mapping.items()))}" for name, mapping in data.mask_maps.items()]
    if data.left_out:
        note.append(f"{data.left_out} image(s) without a mask left out")
    return ([AccuracyFigure(name="mIoU", value=miou, interval=_interval(miou_ci),
                            note=how + f"; mean over the {len(ious)} classes in the masks or the predictions"),
             AccuracyFigure(name="pixel accuracy", value=pixels, interval=_interval(pixel_ci), note=how)],
            {"iou_per_class": {names[c]: round(v, 6) for c, v in sorted(ious.items())}}, note)


def _bootstrap(per_image: list, figure, resamples: int, seed: int = 0):
    """95% percentile intervals of figure(sum of a resample of per_image) for each figure it
    returns; None each when no resamples are asked for."""
    if resamples <= 0 or len(per_image) < 2:   # one image cannot vary
        return None, None
    rng = np.random.default_rng(seed)
    stacked = np.stack(per_image)
    draws = np.array([figure(stacked[rng.integers(0, len(per_image), len(per_image))].sum(axis=0))
                      for _ in range(resamples)])
    return tuple((float(np.percentile(draws[:, i], 2.5)), float(np.percentile(draws[:, i], 97.5)))
                 for i in range(draws.shape[1]))


# -- pose ----------------------------------------------------------------------------------------

def _pose(answers, labels, sizes, data, resamples):
    from edgebench.tasks import coco

    person = _person_category(data)
    results, hits = [], []
    for image, answer in zip(data.images, answers):
        points = answer.keypoints
        if len(points) != data.keypoints:
            raise UserError(f"the model gives {len(points)} keypoints, {data.annotations_file.name} has "
                            f"{data.keypoints}: they cannot be compared")
        xy = np.stack([points[:, 1] * image.width, points[:, 0] * image.height], axis=1)
        flat = np.concatenate([xy, np.full((len(xy), 1), 2.0)], axis=1).reshape(-1)
        results.append({"image_id": image.id, "category_id": person, "keypoints": flat.tolist(),
                        "score": float(np.mean(points[:, 2]))})
        hits.append(_pck_counts(xy, data, image.id))
    counts = np.array(hits, dtype=np.float64)
    pck = counts[:, 0].sum() / counts[:, 1].sum() if counts[:, 1].sum() else 0.0
    pck_ci = _bootstrap(list(counts), lambda c: (c[0] / c[1] if c[1] else 0.0,), resamples)[0]
    pck_figure = AccuracyFigure(name=f"PCK@{PCK_FRACTION}", value=float(pck), interval=_interval(pck_ci),
                                note=f"a visible keypoint within {PCK_FRACTION} x the longer side of the person's "
                                     "ground-truth box; one pose per image, scored against the largest person")
    details = {"keypoints_scored": int(counts[:, 1].sum())}
    notes = ["pose: one predicted person per image; PCK normaliser: the longer side of the largest annotated "
             "person's box"]
    if data.keypoints != COCO_KEYPOINTS:   # OKS weighs each keypoint by COCO's 17 sigmas: no others exist
        notes.append(f"no OKS AP: OKS needs COCO's 17 keypoints (their published sigmas), these poses have "
                     f"{data.keypoints}")
        return [pck_figure], details, notes
    figures = coco.evaluate(data.truth, results, "keypoints", [person], resamples)
    how = f"pycocotools OKS, COCO's keypoint sigmas; 95% CI: {resamples} bootstrap resamples of the images"
    return ([AccuracyFigure(name="OKS AP", value=figures.ap, interval=_interval(figures.ap_interval), note=how),
             AccuracyFigure(name="OKS AP50", value=figures.ap50, interval=_interval(figures.ap50_interval), note=how),
             pck_figure], {**details, "coco_stats": [round(s, 6) for s in figures.stats]}, notes)


def _person_category(data) -> int:
    used = sorted({a["category_id"] for a in data.truth["annotations"]})
    named = [c for c, n in data.categories.items() if n.lower() == "person"]
    return named[0] if named else (used[0] if used else min(data.categories))


def _pck_counts(xy: np.ndarray, data, image_id: int) -> tuple[int, int]:
    """(keypoints within reach, visible keypoints) against the image's largest person."""
    people = [a for a in data.truth["annotations"] if a["image_id"] == image_id and a.get("num_keypoints", 0) > 0]
    if not people:
        return 0, 0
    truth = max(people, key=lambda a: a["bbox"][2] * a["bbox"][3])
    gt = np.asarray(truth["keypoints"], np.float64).reshape(-1, 3)
    visible = gt[:, 2] > 0
    reach = PCK_FRACTION * max(truth["bbox"][2], truth["bbox"][3])
    distance = np.hypot(*(xy - gt[:, :2]).T)
    return int(np.count_nonzero(visible & (distance <= reach))), int(np.count_nonzero(visible))

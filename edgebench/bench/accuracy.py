"""Accuracy mode: top-1/top-5 per target over a labelled image folder, and how often each
target's top-1 agrees with the float reference. Planned and isolated exactly as a run is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgebench.bench.config import RunConfig
from edgebench.bench.plan import Plan, PlannedTarget, Traits, attempt, choose_reference, make_plan, prepare
from edgebench.models.labelled import LabelledImage, fingerprint, labelled_images
from edgebench.results.schema import AccuracyResult, ConfidenceInterval, ImagePrediction, TargetAccuracy

ProgressCallback = Callable[[str, int, int], None]   # (target, images done, total)
TOP_K = 5   # the second accuracy figure: top-5, given only for models of more than 5 classes
# A 95% interval wider than this (more than about +-10 points) means too few images for the
# figure to say much: 100% on 6 images is anywhere from 61% to 100%. About 400 images bring
# the widest interval (at 50%) down to +-5 points.
ROUGH_WIDTH = 0.2


def evaluate(config: RunConfig, directory: Path, labels_csv: Path | None = None,
             limit: int | None = None, on_progress: ProgressCallback | None = None) -> AccuracyResult:
    """Classify every labelled image on every planned target (one untimed inference each)."""
    from edgebench.models.source import open_source

    # The images are checked before anything is prepared: a wrong folder fails in a second,
    # not after minutes of conversion.
    source = open_source(config.model, config.allow_download)
    items = labelled_images(directory, labels_csv, limit, classes=source.own_labels())
    return evaluate_items(make_plan(config, source=source), items, directory, on_progress)


def evaluate_items(plan: Plan, items: list[LabelledImage], directory: Path,
                   on_progress: ProgressCallback | None = None) -> AccuracyResult:
    """evaluate() on images already labelled (e.g. a retrain's validation split)."""
    from edgebench.system import device_info

    accuracies = [_evaluate_target(planned, plan, items, on_progress) for planned in plan.targets]
    reference = _reference(plan, accuracies, items, on_progress)
    for acc in accuracies:
        if reference is not None and acc.status == "ok":
            same = sum(a.index == b.index for a, b in zip(acc.predictions, reference.predictions))
            acc.agreement_with_reference = same / len(items)
    return AccuracyResult(model=plan.source.name, image_dir=str(directory),
                          images=[{"path": str(i.path), "label_index": i.label_index} for i in items],
                          reference_target=reference.target if reference else None,
                          device=device_info().model_dump(mode="json"), results=accuracies,
                          dataset=fingerprint(items, directory))


def _traits(acc: TargetAccuracy) -> Traits:
    return acc.precision, acc.artifact_format, acc.device


def _reference(plan: Plan, accuracies: list[TargetAccuracy], items: list[LabelledImage],
               on_progress) -> TargetAccuracy | None:
    """The best evaluated float target, else the best float target that was not selected,
    evaluated too and listed as the reference."""
    ok = [a for a in accuracies if a.status == "ok"]
    reference = choose_reference(ok, plan.source.native_format, _traits)
    if reference is not None:
        return reference
    for candidate in plan.reference_candidates():
        prepare(candidate, plan.source)
        acc = _evaluate_target(candidate, plan, items, on_progress)
        if acc.status == "ok":
            acc.reference_only = True
            accuracies.append(acc)
            return acc
    return None


def _evaluate_target(planned: PlannedTarget, plan: Plan, items: list[LabelledImage],
                     on_progress) -> TargetAccuracy:
    outcome = attempt(planned, lambda session: _classify_all(session, planned.name, plan, items, on_progress))
    acc = TargetAccuracy(
        target=planned.name, precision=planned.target.precision, device=planned.target.device,
        runtime_version=planned.runtime.version() if planned.status == "ok" else None,
        artifact_format=planned.artifact.format if planned.artifact else None,
        status=outcome.status, error=outcome.error)
    if outcome.value is not None:
        acc.predictions, top1, top5, acc.classes = outcome.value
        acc.images = len(items)
        acc.top1_accuracy, acc.top1_interval = top1 / len(items), wilson_interval(top1, len(items))
        # With 5 classes or fewer every image is trivially "in the top 5": no figure at all.
        if acc.classes > TOP_K:
            acc.top5_accuracy, acc.top5_interval = top5 / len(items), wilson_interval(top5, len(items))
    return acc


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> ConfidenceInterval:
    """The Wilson score interval of successes/n: unlike the normal approximation it stays
    within [0, 1] and is not zero-width at 0% or 100%, which small image sets often give."""
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    # clamped: floating point may put an end a hair outside [0, 1]
    return ConfidenceInterval(low=min(1.0, max(0.0, float(ci.low))), high=min(1.0, max(0.0, float(ci.high))),
                              confidence=confidence)


def too_few_images(images: int, intervals) -> str | None:
    """A sentence when any of these intervals over `images` is too wide for its figure to mean
    much, else None."""
    widest = max((i for i in intervals if i is not None), key=lambda i: i.high - i.low, default=None)
    if widest is None or widest.high - widest.low <= ROUGH_WIDTH:
        return None
    return (f"{images} images are too few for these figures to mean much: the widest 95% interval is "
            f"{widest.percent()}% ({(widest.high - widest.low) * 100:.0f} points wide); about 400 images "
            "narrow any to +-5 points")


def _classify_all(session, name: str, plan: Plan, items: list[LabelledImage], on_progress):
    tally = Tally(session, plan)
    for n, item in enumerate(items, start=1):
        session.set_input(classifier_input(session, plan, item))
        session.invoke()
        tally.add(item, session.output())
        if on_progress:
            on_progress(name, n, len(items))
    return tally.predictions, tally.top1, tally.top5, tally.classes


def classifier_input(session, plan: Plan, item: LabelledImage):
    """The session's input for one labelled image: the source's preprocessing, centre crop."""
    from edgebench.models.images import load_image, to_float_nchw, to_input

    prep, _ = plan.source.preprocessing(session.input_spec, plan.config.preprocess)
    return to_input(to_float_nchw(load_image(item.path), prep), session.input_spec)


class Tally:
    """Top-1 and top-5 hits of a classifier's outputs, one labelled image at a time (in the
    images' order: the predictions are listed as added)."""

    def __init__(self, session, plan: Plan):
        self.output_spec, self.source = session.output_spec, plan.source
        self.predictions: list[ImagePrediction] = []
        self.top1 = self.top5 = self.classes = 0
        self.labels: tuple[str, ...] = ()

    def add(self, item: LabelledImage, output) -> None:
        import numpy as np

        from edgebench.bench.agreement import scores

        p = scores(output[:1], self.output_spec)
        self.labels = self.labels or self.source.labels(p.size)[0]   # the output's width is the same each time
        # 1001-class models put "background" first: shift to torchvision indices.
        offset = p.size - 1000 if p.size in (1000, 1001) else 0
        self.classes = p.size - offset
        order = np.argsort(-p, kind="stable")[:TOP_K]   # ties as run breaks them (top_k)
        self.predictions.append(_prediction(item, int(order[0]), p, offset, self.labels))
        self.top1 += int(self.predictions[-1].index == item.label_index)
        self.top5 += int(item.label_index + offset in order)


def _prediction(item: LabelledImage, raw_index: int, probabilities, offset: int,
                labels: tuple[str, ...]) -> ImagePrediction:
    """raw_index: in the output's own order (labels'); the indices recorded are the label
    files' (torchvision order: a 1001-class model's shifted by one)."""
    def label(i: int) -> str:
        return labels[i] if 0 <= i < len(labels) else f"class {i - offset}"

    return ImagePrediction(image=str(item.path), index=raw_index - offset, label=label(raw_index),
                           score=min(1.0, round(float(probabilities[raw_index]), 6)),
                           true_index=item.label_index, true_label=label(item.label_index + offset))

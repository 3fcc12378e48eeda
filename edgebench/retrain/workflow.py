"""`edgebench retrain`: images in class folders -> a new head on a pretrained backbone ->
all variants (int8 calibrated on the user's training images) -> validation accuracy per
target -> a registered model, usable wherever a zoo name is.

The model is built in a staging folder beside the registered ones and renamed into place
only after every step succeeded, so an error or Ctrl-C leaves nothing registered.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.errors import UserError
from edgebench.retrain.heads import TrainSettings

METHODS = ("head", "imprint", "finetune")
MAX_VIEWS = 16


class RetrainFailed(UserError):
    """A step after training failed (a variant would not build); nothing was registered."""


class Reporter:
    """What a retrain tells its user as it goes; the CLI draws it (rich), tests ignore it."""

    def step(self, text: str) -> None: ...
    def progress(self, task: str, done: int, total: int) -> None: ...


@dataclass(frozen=True)
class RetrainRequest:
    base: str
    images: Path
    name: str
    method: str = "head"
    unfreeze: int = 2
    val_split: float = 0.2
    val_dir: Path | None = None
    seed: int = 0
    views: int | None = None      # per training image; None: the method's default
    keep_classes: bool = False
    settings: TrainSettings = field(default_factory=TrainSettings)
    targets: tuple[str, ...] | None = None
    allow_download: bool = True

    def __post_init__(self) -> None:
        from edgebench.models.local import check_name

        check_name(self.name)
        if self.method not in METHODS:
            raise UserError(f"unknown method '{self.method}'; choose one of {', '.join(METHODS)}", "method")
        if self.keep_classes and self.method != "imprint":
            raise UserError("keeping the base's classes works with the imprint method (they are kept as "
                            "imprinted rows of a cosine classifier)", "keep_classes")
        if self.views is not None:
            _check_int("views", self.views, 1, MAX_VIEWS)
        _check_int("unfreeze", self.unfreeze, 1, 30)
        _check_int("epochs", self.settings.epochs, 1, 1000)
        _check_int("seed", self.settings.seed, 0, 2**31 - 1)
        if not (isinstance(self.settings.learning_rate, float) and 0 < self.settings.learning_rate <= 1):
            raise UserError(f"the learning rate must be in (0, 1], got {self.settings.learning_rate}", "learning_rate")
        if self.val_dir is None and not (isinstance(self.val_split, float) and 0 < self.val_split < 1):
            raise UserError(f"the validation split must be between 0 and 1 (exclusive), got {self.val_split}",
                            "val_split")

    @property
    def views_per_image(self) -> int:
        """Imprinting averages embeddings, so the image and its mirror suffice; a trained head
        sees two random crops more, against over-fitting a few dozen images."""
        return self.views or (2 if self.method == "imprint" else 4)

    def hyperparameters(self) -> dict:
        params = {"views_per_training_image": self.views_per_image, "seed": self.seed}
        if self.method == "imprint":
            from edgebench.retrain.heads import IMPRINT_SCALE

            from edgebench.retrain.heads import KEEP_PERCENTILE, KEEP_SLOPE

            params.update(keep_classes=self.keep_classes, **(
                {"slope": KEEP_SLOPE, "at_percentile": KEEP_PERCENTILE} if self.keep_classes
                else {"scale": IMPRINT_SCALE}))
        else:
            params.update(self.settings.describe())
        if self.method == "finetune":
            params["unfrozen_blocks"] = self.unfreeze
        return params


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UserError(f"{name} must be an integer from {low} to {high}, got {value!r}", name)


@dataclass
class Retrained:
    name: str
    home: Path
    manifest: dict
    accuracy: object               # AccuracyResult on the validation images
    timings_s: dict[str, float]


def retrain(request: RetrainRequest, report: Reporter | None = None) -> Retrained:
    from edgebench.models.local import local_spec, model_home, models_dir

    report = report or Reporter()
    if local_spec(request.name) is not None:
        raise UserError(f"a retrained model named '{request.name}' exists ({model_home(request.name)}); "
                        f"remove it first (edgebench models remove {request.name}) or choose another name", "name")
    data, train, val = _examples(request)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    from edgebench.retrain.base import resolve_base

    report.step(f"loading the base {request.base}")
    base = resolve_base(request.base, request.allow_download)
    if request.keep_classes and base.cannot_keep:
        raise UserError(f"cannot keep the classes of {request.base}: {base.cannot_keep}", "keep_classes")
    timings["load_base_s"] = time.perf_counter() - started
    model, labels, history, quick = _fit(request, base, data, train, val, report, timings)
    _remove_stale_staging(models_dir())
    staging = models_dir() / f".staging-{request.name}-{os.getpid()}"
    try:
        staging.mkdir(parents=True)
        manifest = _stage(staging, request, base, data, train, val, model, labels, history, quick)
        t = time.perf_counter()
        offset = len(labels) - len(data.classes)
        accuracy = _prepare_and_validate(staging, request, val, offset, report)
        timings["conversion_and_validation_s"] = time.perf_counter() - t
        manifest["lineage"]["validation"] = _validation_summary(accuracy, val, labels, offset)
        manifest["lineage"]["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
        from edgebench.models.local import write_manifest

        write_manifest(staging, manifest)
        final = model_home(request.name)
        try:
            os.rename(staging, final)   # atomic: the model appears whole, or not at all
        except OSError:
            raise UserError(f"a model named '{request.name}' appeared while retraining; choose another "
                            "name", "name") from None
    except RetrainFailed as exc:
        logs = _keep_logs(staging, request.name)
        raise RetrainFailed(f"{exc} - nothing was registered; build logs: {logs}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Retrained(request.name, final, manifest, accuracy, timings)


def _examples(request: RetrainRequest):
    from edgebench.retrain.dataset import scan, split

    data = scan(request.images)
    if request.val_dir is None:
        train, val = split(data, request.val_split, request.seed)
    else:
        train = data.examples
        val = scan(request.val_dir, "--val", classes=data.classes).examples
        if not val:
            raise UserError(f"the validation folder {request.val_dir} holds no images", "val_dir")
    return data, train, val


def _fit(request: RetrainRequest, base, data, train, val, report: Reporter, timings: dict):
    """Build the network, compute the cached activations, and train or imprint its head."""
    import numpy as np
    import torch

    from edgebench.retrain import heads
    from edgebench.retrain.features import activations
    from edgebench.retrain.model import RetrainedClassifier

    kept = base.labels if request.keep_classes else ()
    labels = (*kept, *data.classes)
    model = RetrainedClassifier(base.backbone_arch, len(labels), cosine=request.method == "imprint",
                                kept=len(kept)).eval()
    model.backbone.load_state_dict(base.backbone_state, strict=True)
    if kept:
        model.kept_head.weight.data = torch.from_numpy(base.classifier[0].copy())
        model.kept_head.bias.data = torch.from_numpy(base.classifier[1].copy())
    stages = model.backbone.feature_stages()
    cut = len(stages) - 1 - request.unfreeze if request.method == "finetune" else len(stages)
    if cut < 1:
        raise UserError(f"unfreezing {request.unfreeze} blocks: this backbone has {len(stages) - 2} to unfreeze",
                        "unfreeze")
    offset = len(kept)
    t = time.perf_counter()
    x, y = activations(stages[:cut], train, base.preprocessing, request.views_per_image, request.seed,
                       lambda d, n: report.progress("features", d, n))
    timings["feature_extraction_s"] = time.perf_counter() - t
    t = time.perf_counter()
    history: list[float] = []
    if request.method == "imprint":
        weight, bias = (heads.imprint_beside(x, y, len(data.classes), base.classifier) if kept
                        else heads.imprint(x, y, len(data.classes)))
        model.head.weight.data = torch.from_numpy(weight)
        model.head.bias.data = torch.from_numpy(bias)
    else:
        tail = torch.nn.Sequential(*stages[cut:]) if cut < len(stages) else None
        settings = TrainSettings(**{**request.settings.__dict__, "seed": request.seed})
        history = heads.train(tail, model.head, x, y + offset, settings,
                              lambda e, n, loss: report.progress("epochs", e, n))
    model.eval()
    timings["training_s"] = time.perf_counter() - t
    # The float model's validation top-1 right away, before any conversion: the figure that
    # says whether the head is any good.
    xv, yv = activations(stages, val, base.preprocessing, 1, request.seed)
    with torch.inference_mode():
        predicted = model.classify(torch.from_numpy(xv)).argmax(1).numpy()
    right = int(np.sum(predicted == yv + offset))
    quick = right / len(val)
    timings["head_ready_s"] = sum(timings.values())
    report.step(f"head ready after {timings['head_ready_s']:.1f} s: validation top-1 (torch, in process) "
                f"{_top1_text(right, len(val))}")
    return model, labels, history, quick


def _top1_text(right: int, images: int) -> str:
    """'100.0% (95% CI 61.0-100.0%) on 6 images', and a warning when that says little."""
    from edgebench.bench.accuracy import too_few_images, wilson_interval

    interval = wilson_interval(right, images)
    text = f"{right / images:.1%} (95% CI {interval.percent()}%) on {images} images"
    return text + (" - too few to mean much" if too_few_images(images, [interval]) else "")


def _stage(staging: Path, request, base, data, train, val, model, labels, history, quick) -> dict:
    """Write weights and manifest (the lineage's validation figures come later)."""
    import torch

    from edgebench.models.artifact import sha256_of
    from edgebench.models.calibration import calibration_set_of
    from edgebench.models.local import WEIGHTS, write_manifest
    from edgebench.retrain.model import ARCH

    torch.save(model.state_dict(), staging / WEIGHTS)
    cal = calibration_set_of([e.path.resolve() for e in train], [e.path.resolve() for e in val], request.name)
    p = base.preprocessing
    manifest = {
        "name": request.name,
        "description": f"{request.base} retrained on {len(data.classes)} classes ({request.method})",
        "arch": ARCH,
        "arch_kwargs": {"base_arch": base.backbone_arch, "num_classes": len(labels),
                        "cosine": request.method == "imprint", "kept": len(labels) - len(data.classes)},
        "weights_sha256": sha256_of(staging / WEIGHTS),
        "preprocessing": {"resize": p.resize, "crop": p.crop, "mean": list(p.mean), "std": list(p.std),
                          "name": p.name},
        "labels": list(labels), "input_shape": [1, 3, p.crop, p.crop],
        "variants": [["torch", "fp32"], ["onnx", "fp32"], ["tflite", "fp32"], ["tflite", "int8"],
                     ["onnx", "int8"]],
        "license": base.license,
        "calibration": {"images": [str(p) for p in cal.images], "check_images": [str(p) for p in cal.check_only],
                        "key": cal.key()},
        "lineage": {
            "base": base.lineage, "method": request.method, "hyperparameters": request.hyperparameters(),
            "dataset": {**data.fingerprint(), "root": str(Path(request.images).resolve()),
                        "train_images": len(train), "validation_images": len(val),
                        "validation": "--val folder" if request.val_dir else
                                      f"seeded split {request.val_split:g} (seed {request.seed})"},
            "classes": list(data.classes), "kept_base_classes": len(labels) - len(data.classes),
            "training_loss": [round(v, 5) for v in history[-5:]],
            "validation_top1_in_process": quick,
            "validation_top1_in_process_interval": _interval_of(quick, len(val)),
        },
    }
    write_manifest(staging, manifest)
    return manifest


def _prepare_and_validate(staging: Path, request: RetrainRequest, val, offset: int, report: Reporter):
    """Build every variant with the zoo's recipes (int8 calibrated on the training images),
    then classify the validation images on every target."""
    from edgebench.bench.accuracy import evaluate_items
    from edgebench.bench.config import RunConfig
    from edgebench.bench.plan import make_plan
    from edgebench.models.labelled import LabelledImage

    _build_every_variant(staging, report)
    config = RunConfig(model=str(staging), targets=request.targets, allow_download=False)
    plan = make_plan(config, on_step=report.step)
    broken = [p for p in plan.targets if p.status == "failed"]
    if broken:
        raise RetrainFailed(f"{broken[0].name}: {broken[0].error}")
    items = [LabelledImage(e.path, e.label + offset) for e in val]
    return evaluate_items(plan, items, Path(request.images),
                          lambda target, d, n: report.progress(f"validating {target}", d, n))


def _build_every_variant(staging: Path, report: Reporter) -> None:
    """All variants, whichever targets are validated: the registered model is whole. A
    variant whose converter is not installed is left out (it is built when one is); one
    whose build fails stops the retrain."""
    from edgebench.errors import TargetUnavailable
    from edgebench.models.local import MANIFEST, spec_from_manifest
    from edgebench.models.prepare import PrepareFailed, Preparer

    spec = spec_from_manifest(staging / MANIFEST)
    preparer = Preparer(spec, allow_download=False, on_step=report.step)
    preparer.plan_builds(spec.variants)
    for variant in spec.variants:
        try:
            preparer.get(variant)
        except TargetUnavailable as exc:
            report.step(f"{variant[0]}-{variant[1]} not built: {exc}")
        except PrepareFailed as exc:   # the model would not be whole: it is not registered
            raise RetrainFailed(str(exc)) from None


def _validation_summary(accuracy, val, labels: tuple[str, ...], offset: int) -> dict:
    """Per target: top-1 on the validation images and its most frequent confusions
    (true class -> predicted class). offset: model index of the first new class."""
    from collections import Counter

    truth = [e.label + offset for e in val]
    summary = {}
    for acc in accuracy.results:
        if acc.status != "ok":
            summary[acc.target] = {"status": acc.status, "error": acc.error}
            continue
        predicted = [p.index for p in acc.predictions]
        confusions = Counter((labels[t], labels[p] if 0 <= p < len(labels) else f"class {p}")
                             for t, p in zip(truth, predicted) if t != p)
        summary[acc.target] = {"status": "ok", "top1": acc.top1_accuracy, "images": acc.images,
                               "top1_interval": acc.top1_interval.model_dump(mode="json"),
                               "reference_only": acc.reference_only,
                               "confusions": [{"true": a, "predicted": b, "count": n}
                                              for (a, b), n in confusions.most_common(5)]}
    return summary


def _interval_of(fraction: float, images: int) -> dict:
    """The 95% Wilson interval of a fraction of `images`, as the manifest stores it."""
    from edgebench.bench.accuracy import wilson_interval

    return wilson_interval(round(fraction * images), images).model_dump(mode="json")


def _keep_logs(staging: Path, name: str) -> Path:
    """Copy the converters' logs out of the staging folder before it is removed."""
    from edgebench.paths import cache_dir

    kept = cache_dir() / "retrain-logs" / name
    kept.mkdir(parents=True, exist_ok=True)
    for log in staging.glob("*.log"):
        shutil.copy2(log, kept / log.name)
    return kept


def _remove_stale_staging(root: Path) -> None:
    """Staging folders of retrains whose process is gone (killed with -9)."""
    import psutil

    for folder in root.glob(".staging-*") if root.is_dir() else ():
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)

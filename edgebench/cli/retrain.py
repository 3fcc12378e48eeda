"""`edgebench retrain`: a new classifier on a zoo (or hub) backbone, from the user's images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.markup import escape
from rich.table import Table

from edgebench.cli.common import console, user_errors

METHOD_HELP = ("head: train a new linear head (Adam, light augmentation) on cached backbone features; "
               "imprint: Coral-style weight imprinting (normalised mean embeddings, no training); "
               "finetune: also train the last --unfreeze blocks.")


def retrain_command(
    base: Annotated[str, typer.Option("--base", help="mobilenet_v2, efficientnet_lite0, a retrained model, or hub://owner/name@version.")],
    images: Annotated[Path, typer.Option("--images", help="DIR/<class>/*.jpg: one folder of images per class.")],
    name: Annotated[str, typer.Option("--name", help="Name of the new model (lower-case letters, digits, _ . -).")],
    method: Annotated[Literal["head", "imprint", "finetune"], typer.Option("--method", help=METHOD_HELP)] = "head",
    unfreeze: Annotated[int, typer.Option(min=1, max=30, help="finetune: how many of the backbone's last blocks to train.")] = 2,
    val_split: Annotated[float, typer.Option("--val-split", help="Fraction of each class held out for validation (seeded).")] = 0.2,
    val: Annotated[Optional[Path], typer.Option("--val", help="A separate DIR/<class>/ validation folder instead of a split.")] = None,
    keep_classes: Annotated[bool, typer.Option("--keep-classes", help="imprint: keep the base's classes beside the new ones.")] = False,
    epochs: Annotated[int, typer.Option(min=1, max=1000, help="head/finetune: passes over the training views.")] = 40,
    lr: Annotated[float, typer.Option("--lr", help="head/finetune: Adam's learning rate.")] = 1e-3,
    views: Annotated[Optional[int], typer.Option(min=1, max=16, help="Views per training image (default: 2 for imprint, 4 otherwise).")] = None,
    seed: Annotated[int, typer.Option(min=0, max=2**31 - 1, help="Seed of the split, the augmentation and training.")] = 0,
    targets: Annotated[Optional[str], typer.Option("--targets", "-t", help="Targets to validate on (default: every available one).")] = None,
    offline: Annotated[bool, typer.Option(help="Never download weights.")] = False,
) -> None:
    """Retrain a classifier on your images, build its variants, and check them on held-out images.

    Example: edgebench retrain --base mobilenet_v2 --images ~/parts --name parts --method imprint
    """
    with user_errors():
        from edgebench.cli.run import split_targets
        from edgebench.retrain.heads import TrainSettings
        from edgebench.retrain.workflow import RetrainRequest, retrain

        request = RetrainRequest(
            base=base, images=images, name=name, method=method, unfreeze=unfreeze, val_split=val_split,
            val_dir=val, seed=seed, views=views, keep_classes=keep_classes,
            settings=TrainSettings(epochs=epochs, learning_rate=float(lr), seed=seed),
            targets=split_targets(targets), allow_download=not offline)
        reporter = _RichReporter()
        try:
            result = retrain(request, reporter)
        finally:
            reporter.stop()
        _print_result(result)


class _RichReporter:
    """Steps as one updating line; feature extraction, epochs and validation as bars."""

    def __init__(self):
        from edgebench.cli.progress import live_progress

        self.display = live_progress()
        self.bars: dict[str, int] = {}
        self.line = None
        self.started = False

    def _start(self):
        if not self.started:   # an error found before any work leaves the terminal as it was
            self.display.start()
            self.started = True

    def stop(self):
        if self.started:
            self.display.stop()

    def step(self, text: str) -> None:
        self._start()
        if text.startswith("head ready"):
            self.display.console.print(text, markup=False)
            return
        if self.line is None:
            self.line = self.display.add_task(escape(text), total=None, count="")
        self.display.update(self.line, description=escape(text))

    def progress(self, task: str, done: int, total: int) -> None:
        self._start()
        if task not in self.bars:
            self.bars[task] = self.display.add_task(escape(task), total=total, count="")
        self.display.update(self.bars[task], completed=done, total=total, count=f"{done}/{total}")


def _print_result(result) -> None:
    from edgebench.bench.accuracy import too_few_images
    from edgebench.cli.accuracy import with_interval
    from edgebench.results.schema import ConfidenceInterval

    lineage = result.manifest["lineage"]
    validation = lineage["validation"]
    n = lineage["dataset"]["validation_images"]
    table = Table(title=escape(f"{result.name}: validation top-1 on {n} held-out images, per target"),
                  caption=escape("Measured: one inference per validation image per target (never trained or "
                                 "calibrated on); (95% CI): Wilson score interval. int8 variants calibrated "
                                 "on the training images."))
    for col, justify in (("target", "left"), ("top-1 % (95% CI)", "right"),
                         ("most frequent confusions (true -> predicted)", "left")):
        table.add_column(col, justify=justify)
    intervals = []
    for target, v in validation.items():
        if v["status"] != "ok":
            table.add_row(escape(target), "-", escape(f"{v['status']}: {v.get('error') or ''}"))
            continue
        confusions = ", ".join(f"{c['true']} -> {c['predicted']} x{c['count']}" for c in v["confusions"]) or "none"
        name = target + (" (reference, not selected)" if v.get("reference_only") else "")
        interval = ConfidenceInterval(**v["top1_interval"])
        intervals.append(interval)
        table.add_row(escape(name), with_interval(v["top1"], interval), escape(confusions))
    console.print(table)
    note = too_few_images(n, intervals)
    if note:
        console.print(f"note: {note} (pass a larger --val folder or --val-split)", markup=False)
    t = result.timings_s
    console.print(f"timings: features {t['feature_extraction_s']:.1f} s, training {t['training_s']:.2f} s, "
                  f"head ready {t['head_ready_s']:.1f} s, variants + validation "
                  f"{t['conversion_and_validation_s']:.1f} s", markup=False)
    console.print(f"registered {result.name} ({len(result.manifest['labels'])} classes) in {result.home}; "
                  f"run it with: edgebench run --model {result.name}", markup=False)

"""`edgebench accuracy`: per target, top-1/top-5 over a folder of labelled images, or a task's
own figures over annotated data: COCO boxes or keypoints (--annotations), segmentation masks
(--masks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from edgebench.cli.common import check_writable, console, user_errors, write_text_atomically
from edgebench.runtimes.options import MAX_THREADS


def accuracy_command(
    images: Annotated[Path, typer.Option("--images", help="Folder of labelled images (CSV, class folders or synset names).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo model name, a .tflite/.onnx file, or hub://owner/name[@version].")] = "mobilenet_v2",
    targets: Annotated[Optional[str], typer.Option("--targets", "-t", help="Comma-separated targets (default: all that apply).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, max=10_000_000, help="Use at most N images.")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="CSV of file,label_index (default: DIR/labels.csv if present).")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, max=MAX_THREADS, help="CPU threads per runtime.")] = None,
    offline: Annotated[bool, typer.Option(help="Never download weights; fail if they are not installed.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the results as JSON here.")] = None,
    input_shape: Annotated[Optional[list[str]], typer.Option(
        "--input-shape", help="Shape for an input with open dimensions, NAME=1x3x224x224 (repeatable).")] = None,
    annotations: Annotated[Optional[Path], typer.Option(
        "--annotations", help="COCO-format JSON for the images in --images: instances.json (detection: mAP@[.5:.95], "
                              "AP50) or person_keypoints.json (pose: OKS AP, PCK@0.2).")] = None,
    masks: Annotated[Optional[Path], typer.Option(
        "--masks", help="Segmentation: folder of class-index masks (PNG/BMP, palette PNGs read as indices, 255 not "
                        "scored) named after their images (NAME.png, or NAME_mask.png beside the images).")] = None,
    mask_map: Annotated[Optional[list[str]], typer.Option(
        "--mask-map", help="Segmentation: read mask values as other classes, [MASK-FILE:]VALUE=CLASS,... e.g. "
                           "dog_mask.png:0=12,1=0,2=255 for an Oxford-IIIT Pet trimap of a dog (255: not scored); "
                           "without MASK-FILE it applies to every mask (repeatable).")] = None,
    class_names: Annotated[Optional[Path], typer.Option(
        "--class-names", help="The model's class names, one per line (matched to the annotation's category "
                              "names; default: the model's own, or COCO's / PASCAL VOC's).")] = None,
    bootstrap: Annotated[Optional[int], typer.Option(
        min=0, max=100_000, help="Bootstrap resamples of the images for the 95% intervals of detection, "
                                 "segmentation and pose figures (default 200; 0: no interval).")] = None,
) -> None:
    """Accuracy per target: top-1/top-5 for classifiers; mAP, mIoU or OKS AP with --annotations / --masks.

    Example: edgebench accuracy --images ~/imagenet-val-subset --targets litert-int8,torch-fp32

    Example: edgebench accuracy -m detector.tflite --images val2017 --annotations instances_val2017.json
    """
    if annotations is not None or masks is not None or mask_map is not None:
        with user_errors():
            _task_accuracy(images, model, targets, limit, threads, offline, out, input_shape, annotations,
                           masks, mask_map, class_names, bootstrap)
        return
    with user_errors():
        from edgebench.bench.accuracy import evaluate
        from edgebench.bench.config import RunConfig
        from edgebench.cli.run import split_targets

        if out is not None:
            check_writable(out)   # before the run, not after it

        from edgebench.cli.options import parse_shapes

        config = RunConfig(model=model, targets=split_targets(targets), threads=threads,
                           input_shapes=parse_shapes(input_shape),
                           allow_download=not offline)
        result = evaluate(config, images, labels, limit)
        if not any(r.status == "ok" for r in result.results):
            # Nothing was classified (e.g. an input size that cannot be resolved): one line with
            # every target's reason and exit 2, not an empty table and success.
            from edgebench.errors import UserError

            reasons = "; ".join(f"{r.target}: {r.error}" for r in result.results) or "no target applies"
            raise UserError(f"no target ran - {reasons}")
        console.print(_table(result, images))
        _say_if_too_few(result)
        for r in result.results:
            if r.status != "ok":
                console.print(f"[yellow]{escape(r.target)} {r.status}:[/] {escape(r.error or '')}")
        if out is not None:
            write_text_atomically(out, result.model_dump_json(indent=2))
            console.print(f"results written to {out}", markup=False)


def _table(result, images: Path) -> Table:
    reference = result.reference_target or "none: no float target ran"
    table = Table(title=escape(f"{result.model}: accuracy on {len(result.images)} labelled images in {images}"),
                  caption=escape("Measured: one inference per image per target; (95% CI): Wilson score "
                                 "interval over the images; agreement = fraction of images whose top-1 "
                                 f"equals the float reference's ({reference})."))
    for col, justify in (("target", "left"), ("runtime version", "left"), ("precision", "left"),
                         ("top-1 % (95% CI)", "right"), ("top-5 % (95% CI)", "right"),
                         ("agrees with ref %", "right")):
        table.add_column(col, justify=justify)
    for r in result.results:
        if r.status != "ok":
            continue
        name = r.target + (" (reference, not selected)" if r.reference_only else "")
        agreement = "-" if r.agreement_with_reference is None else f"{r.agreement_with_reference * 100:.1f}"
        table.add_row(escape(name), escape(r.runtime_version or "-"), r.precision,
                      with_interval(r.top1_accuracy, r.top1_interval), _top5(r), agreement)
    return table


def _top5(r) -> str:
    if r.top5_accuracy is None:   # 5 classes or fewer: every image would be "in the top 5"
        return f"n/a ({r.classes} classes)"
    return with_interval(r.top5_accuracy, r.top5_interval)


def with_interval(fraction: float, interval) -> str:
    """'100.0 (61.0-100.0)': a percentage and its confidence interval."""
    return f"{fraction * 100:.1f}" + (f" ({interval.percent()})" if interval is not None else "")


def _say_if_too_few(result) -> None:
    from edgebench.bench.accuracy import too_few_images

    ok = [r for r in result.results if r.status == "ok"]
    note = too_few_images(len(result.images), [i for r in ok for i in (r.top1_interval, r.top5_interval)])
    if note:
        console.print(f"note: {note}", markup=False)


def _task_accuracy(images, model, targets, limit, threads, offline, out, input_shape, annotations, masks,
                   mask_map, class_names, bootstrap) -> None:
    from edgebench.bench.config import RunConfig
    from edgebench.bench.scored import data_task, evaluate_set
    from edgebench.cli.options import parse_shapes
    from edgebench.cli.run import split_targets
    from edgebench.errors import UserError

    if out is not None:
        check_writable(out)
    data = read_ground_truth(images, annotations, masks, mask_map, limit)
    task = data_task(data)
    config = RunConfig(model=model, targets=split_targets(targets), threads=threads, task=task,
                       labels=class_names, input_shapes=parse_shapes(input_shape), allow_download=not offline)
    result = evaluate_set(config, data, resamples=bootstrap)
    if not any(r.status == "ok" for r in result.results):
        reasons = "; ".join(f"{r.target}: {r.error}" for r in result.results) or "no target applies"
        raise UserError(f"no target ran - {reasons}")
    console.print(task_table(result))
    for r in result.results:
        per_class = r.details.get("iou_per_class") if r.status == "ok" else None
        if per_class:   # what a mean hides: a class of a few mask pixels scores 0 and weighs as much as any
            shown = ", ".join(f"{name} {value * 100:.1f}" for name, value in per_class.items())
            console.print(f"{r.target} IoU % per class: {shown}", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    for warning in result.warnings:
        console.print(f"[bold red]warning:[/] {escape(warning)}")
    for r in result.results:
        if r.status != "ok":
            console.print(f"[yellow]{escape(r.target)} {r.status}:[/] {escape(r.error or '')}")
    if out is not None:
        write_text_atomically(out, result.model_dump_json(indent=2))
        console.print(f"results written to {out}", markup=False)


def read_ground_truth(images: Path, annotations: Path | None, masks: Path | None, mask_map: list[str] | None,
                      limit: int | None = None):
    """The labelled set the options name, read and checked before anything is prepared."""
    from edgebench.errors import UserError
    from edgebench.models.annotated import parse_mask_maps, read_coco, read_masks

    if annotations is not None and (masks is not None or mask_map):
        raise UserError("--annotations (boxes, keypoints) and --masks/--mask-map (segmentation) are two "
                        "kinds of ground truth: give one")
    if annotations is not None:
        return read_coco(annotations, images, "auto", limit)
    try:
        mapping = parse_mask_maps(mask_map)
    except UserError as exc:
        raise UserError(f"--mask-map: {exc}") from None
    return read_masks(images, masks, mapping, limit)


def task_table(result) -> Table:
    """Detection, segmentation or pose figures per target, each with its 95% interval."""
    ok = [r for r in result.results if r.status == "ok"]
    names = [f.name for f in ok[0].figures] if ok else []
    data = result.dataset or {}
    fingerprint = data.get("annotations_sha256") or data.get("sha256") or ""
    count = len(result.images)
    table = Table(title=escape(f"{result.model}: {result.task} accuracy on {count} image{'s' if count != 1 else ''} "
                               f"in {result.image_dir}"),
                  caption=escape("Measured: one untimed inference per image per target. " +
                                 (ok[0].figures[0].note or "" if ok else "") +
                                 (f". Data set sha256 {fingerprint[:12]}." if fingerprint else "")))
    for col, justify in (("target", "left"), ("runtime version", "left"), ("precision", "left")):
        table.add_column(col, justify=justify)
    for name in names:
        table.add_column(f"{name} % (95% CI)", justify="right")
    for r in ok:
        table.add_row(escape(r.target), escape(r.runtime_version or "-"), r.precision,
                      *(with_interval(f.value, f.interval) for f in r.figures))
    return table

"""`edgebench accuracy`: top-1/top-5 per target over a folder of labelled images."""

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
) -> None:
    """Top-1 and top-5 accuracy per target, and how often each agrees with the float reference.

    Example: edgebench accuracy --images ~/imagenet-val-subset --targets litert-int8,torch-fp32
    """
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

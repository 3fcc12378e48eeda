"""`edgebench run`: benchmark a model on every available target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgebench.cli.common import (check_writable, console, err_console, signals_as_interrupts, user_errors,
                                  write_text_atomically)
from edgebench.cli.options import BenchOptions, bench_options, runtime_settings, split_targets
from edgebench.cli.progress import RichEvents, live_progress
from edgebench.cli.run_screen import print_run
from edgebench.protocol import sustained

# split_targets and runtime_settings are imported from here by other commands.
__all__ = ["print_run", "run_command", "runtime_settings", "split_targets"]


MAX_DURATION_S = 24 * 3600
WIDE_HINT = "--wide shows every column"


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1.5h' -> seconds (1 s to 24 h)."""
    from edgebench.errors import UserError

    units = {"s": 1, "m": 60, "h": 3600}
    value = text.strip().lower()
    scale = units.get(value[-1:], None)
    number = value[:-1] if scale else value
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise UserError(f"--duration takes a time such as 90s, 5m or 1h, got {text!r}") from None
    if not 1 <= seconds <= MAX_DURATION_S:   # also refuses nan and inf
        raise UserError(f"--duration must be from 1 s to 24 h, got {text!r}")
    return seconds


@bench_options
def run_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo model name, a .tflite/.onnx/.pt2 file (a float .onnx or .pt2 gets every variant built: int8 too), or hub://owner/name[@version].")] = "mobilenet_v2",
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="JPEG/PNG/BMP to classify (default: scikit-image's coffee-cup photo, 'espresso').")] = None,
    targets: Annotated[Optional[str], typer.Option("--targets", "-t", help="Comma-separated targets, e.g. litert-int8,onnxruntime-fp32 (default: all that apply; `edgebench targets` lists them).")] = None,
    options: BenchOptions = BenchOptions(),   # --protocol ... --save: the options `fleet run` takes too
    streams: Annotated[Optional[int], typer.Option(min=1, max=64, help="Offline: inferences in flight - a throughput mode's streams (OpenVINO NUM_STREAMS; default: its own choice), else parallel sessions (default: the CPU's cores, 1 thread each).")] = None,
    duration: Annotated[Optional[str], typer.Option(help="Sustained run: time each target for this long (e.g. 90s, 5m, 1h; 1 s to 24 h), with fps, CPU clock and temperatures per second, and a throttling verdict.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the results as JSON here.")] = None,
    calibration: Annotated[Optional[Path], typer.Option("--calibration", help="Your own model (.onnx/.pt2): a folder of your images (JPEG/PNG/BMP, at least 10) to calibrate its int8 variants on; every 5th is held back to check them. Default: edgebench's built-in photos, with a warning.")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="Show every column of the results table, however wide the table (by default columns are left out to fit the terminal, the least needed first, and the screen names them).")] = False,
    accuracy_images: Annotated[Optional[Path], typer.Option("--accuracy-images", help="Also score every target on these labelled images, after timing: a classifier's labelled as `edgebench accuracy` reads them (top-1, top-5), a detector's or pose model's with --annotations (COCO), a segmenter's with --masks. With --loadgen, through LoadGen's accuracy mode.")] = None,
    annotations: Annotated[Optional[Path], typer.Option("--annotations", help="COCO-format JSON for --accuracy-images (detection: mAP@[.5:.95], AP50; pose: OKS AP, PCK@0.2).")] = None,
    masks: Annotated[Optional[Path], typer.Option("--masks", help="Class-index masks for --accuracy-images (segmentation: mIoU, pixel accuracy; default: beside the images).")] = None,
    mask_map: Annotated[Optional[list[str]], typer.Option("--mask-map", help="Read mask values as other classes, [MASK-FILE:]VALUE=CLASS,... (repeatable).")] = None,
) -> None:
    """Benchmark a model on every available runtime with the article's protocol.

    Example: edgebench run --image bird.bmp --targets litert-int8,onnxruntime-fp32 --out r.json
    """
    with user_errors():
        from edgebench.bench.config import RunConfig
        from edgebench.errors import UserError

        if out is not None:
            check_writable(out)   # before the run, not after it

        labelled = _labelled(accuracy_images, annotations, masks, mask_map)
        chosen = sustained(parse_duration(duration)) if duration else None
        config = RunConfig(model=model, image=image, targets=split_targets(targets),
                           streams=streams, calibration=calibration, **options.config_fields(chosen))
        warn_builtin_calibration(model, calibration, config.targets)
        recorder = _store(options.store) if options.save else None
        screen = {"meter_off": options.meter == "none", "wide": wide, "wide_hint": WIDE_HINT, "saved": options.save}
        result = _run_live(config, recorder, out, screen, labelled)
        if not any(r.status == "ok" for r in result.results):
            # Nothing was measured: one line with every target's reason, no empty table.
            reasons = "; ".join(f"{r.target}: {r.error}" for r in result.results) or "no target applies"
            raise UserError(f"no target ran - {reasons}")
        print_run(result, **screen)
        if recorder is not None:  # first: if writing --out fails below, the run is still found
            console.print(f"saved as run {result.run_id[:12]} in {recorder.engine_url_safe()}", markup=False)
        if out is not None:
            write_text_atomically(out, result.model_dump_json(indent=2))
            console.print(f"results written to {out}", markup=False)


def warn_builtin_calibration(model: str, calibration: Path | None, targets: tuple[str, ...] | None = None) -> None:
    """Your own model's int8 variants calibrated on the built-in photos: said before the run.
    Not for a file that gets no calibrated variant: an already quantized .onnx (it runs as it
    is) or a float model whose task or input gets no int8 variant (the int8 targets say why);
    nor, given the run's targets (None: every target), when none of them runs an int8 variant
    of this file."""
    from edgebench.models.own.source import CALIBRATION_WARNING, OwnModelSource, is_own_model, open_own_model
    from edgebench.runtimes.base import TARGETS, load_runtime

    if calibration is not None or not is_own_model(model):
        return
    source = open_own_model(Path(model))   # a file it cannot read is one line here, as in the run
    if not isinstance(source, OwnModelSource) or source.no_int8 is not None:
        return
    chosen = [TARGETS[name] for name in (TARGETS if targets is None else targets) if name in TARGETS]
    if any(t.source_precision == "int8" and source.applies("int8", load_runtime(t.runtime_key).formats)
           for t in chosen):
        console.print(f"[yellow]warning:[/] {CALIBRATION_WARNING}")


def _store(url: str | None):
    from edgebench.results.store import Store

    return Store(url)


def _labelled(images: Path | None, annotations: Path | None, masks: Path | None, mask_map: list[str] | None):
    """The ground truth to score every target on, or None; read before anything is prepared."""
    from edgebench.errors import UserError

    if images is None:
        if annotations is not None or masks is not None or mask_map:
            raise UserError("--annotations, --masks and --mask-map score the images of --accuracy-images: give it too")
        return None
    if annotations is None and masks is None and not mask_map:
        from edgebench.models.labelled import ClassSet

        return ClassSet(images)   # a classifier's: labels.csv, class folders or synset-prefixed names
    from edgebench.cli.accuracy import read_ground_truth

    return read_ground_truth(images, annotations, masks, mask_map)


def _run_live(config, recorder, out: Path | None, screen: dict, labelled=None):
    """The run under a live progress display; Ctrl-C prints what finished and exits 130."""
    from edgebench.bench.execute import RunInterrupted, run

    events = RichEvents(live_progress())
    try:
        try:
            with signals_as_interrupts():
                return run(config, events, recorder, labelled)
        finally:
            events.stop()
    except RunInterrupted as interrupted:
        result = interrupted.result
        print_run(result, **screen)
        if out is not None:
            write_text_atomically(out, result.model_dump_json(indent=2))
        done = sum(r.status == "ok" for r in result.results)
        saved = f"; saved as run {result.run_id[:12]} (interrupted)" if recorder else ""
        err_console.print(f"{result.error or 'interrupted'}: {done} target(s) finished{saved}", markup=False)
        if config.loadgen is not None:
            from edgebench.bench.loadgen import exit_at_once_if_a_test_runs

            exit_at_once_if_a_test_runs(128 + interrupted.signum)
        raise typer.Exit(128 + interrupted.signum) from None

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
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo model name, a .tflite/.onnx file, or hub://owner/name[@version].")] = "mobilenet_v2",
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="JPEG/PNG/BMP to classify (default: scikit-image's coffee-cup photo, 'espresso').")] = None,
    targets: Annotated[Optional[str], typer.Option("--targets", "-t", help="Comma-separated targets, e.g. litert-int8,onnxruntime-fp32 (default: all that apply; `edgebench targets` lists them).")] = None,
    options: BenchOptions = BenchOptions(),   # --protocol ... --save: the options `fleet run` takes too
    streams: Annotated[Optional[int], typer.Option(min=1, max=64, help="Offline: inferences in flight - a throughput mode's streams (OpenVINO NUM_STREAMS; default: its own choice), else parallel sessions (default: the CPU's cores, 1 thread each).")] = None,
    duration: Annotated[Optional[str], typer.Option(help="Sustained run: time each target for this long (e.g. 90s, 5m, 1h; 1 s to 24 h), with fps, CPU clock and temperatures per second, and a throttling verdict.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the results as JSON here.")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="Show every column of the results table, however wide the table (by default columns are left out to fit the terminal, the least needed first, and the screen names them).")] = False,
) -> None:
    """Benchmark a model on every available runtime with the article's protocol.

    Example: edgebench run --image bird.bmp --targets litert-int8,onnxruntime-fp32 --out r.json
    """
    with user_errors():
        from edgebench.bench.config import RunConfig
        from edgebench.errors import UserError

        if out is not None:
            check_writable(out)   # before the run, not after it

        chosen = sustained(parse_duration(duration)) if duration else None
        config = RunConfig(model=model, image=image, targets=split_targets(targets),
                           streams=streams, **options.config_fields(chosen))
        recorder = _store(options.store) if options.save else None
        screen = {"meter_off": options.meter == "none", "wide": wide, "wide_hint": WIDE_HINT}
        result = _run_live(config, recorder, out, screen)
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


def _store(url: str | None):
    from edgebench.results.store import Store

    return Store(url)


def _run_live(config, recorder, out: Path | None, screen: dict):
    """The run under a live progress display; Ctrl-C prints what finished and exits 130."""
    from edgebench.bench.execute import RunInterrupted, run

    events = RichEvents(live_progress())
    try:
        try:
            with signals_as_interrupts():
                return run(config, events, recorder)
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
        raise typer.Exit(128 + interrupted.signum) from None

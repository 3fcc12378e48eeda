"""`edgebench run`: benchmark a model on every available target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

from typing import Literal

import typer

from edgebench.bench.config import METER_CHOICES, PREPROCESS_CHOICES, SCENARIOS
from edgebench.cli.common import (check_writable, console, err_console, signals_as_interrupts, user_errors,
                                  write_text_atomically)
from edgebench.cli.progress import RichEvents, live_progress
from edgebench.cli.run_screen import print_run
from edgebench.protocol import PROTOCOLS, sustained
from edgebench.runtimes.options import CUDA_INPUTS, MAX_BATCH, MAX_THREADS, TORCH_MODES

__all__ = ["print_run", "run_command", "split_targets"]


def split_targets(value: str | None) -> tuple[str, ...] | None:
    """None (every target that applies) when not given; a given list keeps what it names, so
    `--targets ,` is an empty selection that RunConfig refuses."""
    if value is None:
        return None
    return tuple(n.strip() for n in value.split(",") if n.strip())


MAX_DURATION_S = 24 * 3600


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


def parse_counts(option: str, text: str | None) -> tuple[int, ...]:
    """'4' -> (4,); '1,2,4' -> (1, 2, 4) (a sweep); None -> (). Ranges are RunConfig's to check."""
    from edgebench.errors import UserError

    if text is None:
        return ()
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise UserError(f"{option} takes a whole number or a list such as 1,2,4, got {text!r}")
    return tuple(int(p) for p in parts)


def runtime_settings(torch_mode: str, cuda_input: str, options: list[str] | None) -> dict[str, dict[str, str]]:
    """--torch-mode/--cuda-input are shorthands for --runtime-option torch.mode=... etc."""
    from edgebench.errors import UserError

    settings: dict[str, dict[str, str]] = {}
    if torch_mode != "auto":
        settings.setdefault("torch", {})["mode"] = torch_mode
    if cuda_input != "auto":
        settings.setdefault("torch", {})["cuda_input"] = cuda_input
    for item in options or []:
        key, sep, value = item.partition("=")
        runtime, dot, name = key.partition(".")
        if not (sep and dot and runtime.strip() and name.strip()):
            raise UserError(f"--runtime-option takes RUNTIME.NAME=VALUE (e.g. torch.cuda_layout=contiguous), got {item!r}")
        settings.setdefault(runtime.strip(), {})[name.strip()] = value.strip()
    return settings


def run_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo model name, a .tflite/.onnx file, or hub://owner/name[@version].")] = "mobilenet_v2",
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="JPEG/PNG/BMP to classify (default: scikit-image's coffee-cup photo, 'espresso').")] = None,
    targets: Annotated[Optional[str], typer.Option("--targets", "-t", help="Comma-separated targets, e.g. litert-int8,onnxruntime-fp32 (default: all that apply; `edgebench targets` lists them).")] = None,
    protocol: Annotated[Literal[tuple(PROTOCOLS)], typer.Option(help="classic (the 2019 article: 1 warm-up, 1 s pause, 250 runs) or rigorous (>= 50 runs and 2 s warm-up; 3 x >= 1000 runs and 10 s).")] = "classic",
    runs: Annotated[Optional[int], typer.Option(min=1, max=10_000_000, help="Timed runs (overrides the protocol).")] = None,
    warmup: Annotated[Optional[int], typer.Option(min=0, max=1_000_000, help="Warm-up runs (overrides the protocol).")] = None,
    settle: Annotated[Optional[float], typer.Option(min=0.0, max=3600.0, help="Seconds to pause after warm-up (overrides the protocol).")] = None,
    scenario: Annotated[Literal[SCENARIOS], typer.Option(help="MLPerf scenario: single-stream (one frame at a time, the article's loop) or offline (several sessions at once for maximum images/s).")] = "single-stream",
    streams: Annotated[Optional[int], typer.Option(min=1, max=64, help="Offline: sessions inferring at once (default: the CPU's cores, 1 thread each).")] = None,
    duration: Annotated[Optional[str], typer.Option(help="Sustained run: time each target for this long (e.g. 90s, 5m, 1h; 1 s to 24 h), with fps, CPU clock and temperatures per second, and a throttling verdict.")] = None,
    threads: Annotated[Optional[str], typer.Option(help=f"CPU threads per runtime (default: all cores; 1 to {MAX_THREADS}); a list such as 1,2,4 sweeps them.")] = None,
    preprocess: Annotated[Literal[PREPROCESS_CHOICES], typer.Option(help="Normalisation for your own model (auto reads a quantized input's range).")] = "auto",
    torch_mode: Annotated[Literal[TORCH_MODES], typer.Option(help="torch mode: auto (CPU: frozen TorchScript; CUDA: graph at batch 1, compile for batches).")] = "auto",
    batch: Annotated[str, typer.Option(help=f"Images per inference (1 to {MAX_BATCH}): throughput, reported as images/s (runtimes that batch: torch, OpenVINO); a list such as 1,8,32 sweeps them.")] = "1",
    cuda_input: Annotated[Literal[CUDA_INPUTS], typer.Option(help="CUDA targets: host (copy every frame to the GPU inside the timed loop), device (stage once), auto (host at batch 1).")] = "auto",
    runtime_option: Annotated[Optional[list[str]], typer.Option("--runtime-option", help="A runtime's own option, RUNTIME.NAME=VALUE (repeatable), e.g. torch.cuda_layout=contiguous.")] = None,
    offline: Annotated[bool, typer.Option(help="Never download weights; fail if they are not installed.")] = False,
    meter: Annotated[Literal[METER_CHOICES], typer.Option(help="Energy meter: auto (a measuring meter where readable: Jetson rails, RAPL, NVML), none, rated (needs --power-w), or one by name.")] = "auto",
    power_w: Annotated[Optional[float], typer.Option(min=0.001, max=10_000.0, help="Rated power in W for the rated meter, the article's method (e.g. 2.5 for a Coral).")] = None,
    store: Annotated[Optional[str], typer.Option(help="Results store: SQLite file or SQLAlchemy URL (default: user data dir).")] = None,
    save: Annotated[bool, typer.Option(help="Save the run in the results store.")] = True,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the results as JSON here.")] = None,
) -> None:
    """Benchmark a model on every available runtime with the article's protocol.

    Example: edgebench run --image bird.bmp --targets litert-int8,onnxruntime-fp32 --out r.json
    """
    with user_errors():
        from edgebench.bench.config import RunConfig
        from edgebench.errors import UserError

        if out is not None:
            check_writable(out)   # before the run, not after it

        chosen = sustained(parse_duration(duration)) if duration else PROTOCOLS[protocol]
        thread_counts, batch_sizes = parse_counts("--threads", threads), parse_counts("--batch", batch)
        config = RunConfig(
            model=model, image=image, targets=split_targets(targets),
            protocol=chosen.with_overrides(warmup=warmup, settle_s=settle, runs=runs),
            threads=thread_counts[0] if len(thread_counts) == 1 else None,
            batch=batch_sizes[0] if len(batch_sizes) == 1 else 1,
            thread_counts=thread_counts if len(thread_counts) > 1 else (),
            batch_sizes=batch_sizes if len(batch_sizes) > 1 else (),
            preprocess=preprocess, allow_download=not offline, scenario=scenario, streams=streams,
            meter=meter, power_w=power_w,
            runtime_settings=runtime_settings(torch_mode, cuda_input, runtime_option))
        recorder = _store(store) if save else None
        result = _run_live(config, recorder, out)
        if not any(r.status == "ok" for r in result.results):
            # Nothing was measured: one line with every target's reason, no empty table.
            reasons = "; ".join(f"{r.target}: {r.error}" for r in result.results) or "no target applies"
            raise UserError(f"no target ran - {reasons}")
        print_run(result)
        if recorder is not None:  # first: if writing --out fails below, the run is still found
            console.print(f"saved as run {result.run_id[:12]} in {recorder.engine_url_safe()}", markup=False)
        if out is not None:
            write_text_atomically(out, result.model_dump_json(indent=2))
            console.print(f"results written to {out}", markup=False)


def _store(url: str | None):
    from edgebench.results.store import Store

    return Store(url)


def _run_live(config, recorder, out: Path | None):
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
        print_run(result)
        if out is not None:
            write_text_atomically(out, result.model_dump_json(indent=2))
        done = sum(r.status == "ok" for r in result.results)
        saved = f"; saved as run {result.run_id[:12]} (interrupted)" if recorder else ""
        err_console.print(f"{result.error or 'interrupted'}: {done} target(s) finished{saved}", markup=False)
        raise typer.Exit(128 + interrupted.signum) from None

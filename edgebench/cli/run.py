"""`edgebench run`: benchmark a model on every available target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from edgebench.cli.common import console, user_errors, write_json_atomically


class RichEvents:
    """Shows prepare steps as a spinner line and each target's timed runs as a bar."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self._tasks: dict[str, int] = {}
        self._prepare_task: int | None = None

    def prepare_step(self, message: str) -> None:
        if message == "models prepared":
            self._finish_prepare()
            return
        if self._prepare_task is None:
            self._prepare_task = self.progress.add_task(message, total=None)
        self.progress.update(self._prepare_task, description=message)

    def target_started(self, target: str, runs: int) -> None:
        self._tasks[target] = self.progress.add_task(target, total=runs)

    def target_progress(self, target: str, done: int) -> None:
        self.progress.update(self._tasks[target], completed=done)

    def target_finished(self, result) -> None:
        if result.status != "ok":
            self.progress.console.print(f"[yellow]{result.target}: {result.status}[/] - {result.error}")

    def _finish_prepare(self) -> None:
        if self._prepare_task is not None:
            self.progress.update(self._prepare_task, description="models prepared", total=1, completed=1)
            self._prepare_task = None


def _split_targets(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    return names or None


def run_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo model name or a .tflite/.onnx file.")] = "mobilenet_v2",
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="JPEG/PNG/BMP to classify (default: scikit-image's coffee-cup photo, 'espresso').")] = None,
    targets: Annotated[Optional[str], typer.Option("--targets", "-t", help="Comma-separated targets, e.g. litert-int8,onnxruntime-fp32 (default: all that apply).")] = None,
    protocol: Annotated[str, typer.Option(help="Measurement protocol: classic (the 2019 article).")] = "classic",
    runs: Annotated[Optional[int], typer.Option(min=1, help="Timed runs (overrides the protocol).")] = None,
    warmup: Annotated[Optional[int], typer.Option(min=0, help="Warm-up runs (overrides the protocol).")] = None,
    settle: Annotated[Optional[float], typer.Option(min=0.0, help="Seconds to pause after warm-up (overrides the protocol).")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads per runtime (default: all cores).")] = None,
    preprocess: Annotated[str, typer.Option(help="Normalisation for your own model: auto, torchvision, inception, unit, raw.")] = "auto",
    torch_mode: Annotated[str, typer.Option(help="torch execution mode: frozen (TorchScript, fastest on CPU), eager, compile.")] = "frozen",
    offline: Annotated[bool, typer.Option(help="Never download weights; fail if they are not installed.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the results as JSON here.")] = None,
) -> None:
    """Benchmark a model on every available runtime with the article's protocol.

    Example: edgebench run --image bird.bmp --targets litert-int8,onnxruntime-fp32 --out r.json
    """
    with user_errors():
        from edgebench.benchmark import RunConfig, run
        from edgebench.errors import UserError
        from edgebench.models.zoo import NORMALISATIONS
        from edgebench.protocol import PROTOCOLS

        if protocol not in PROTOCOLS:
            raise UserError(f"unknown protocol '{protocol}'; known: {', '.join(PROTOCOLS)}")
        if out is not None and not out.parent.is_dir():
            raise UserError(f"cannot write {out}: directory {out.parent} does not exist")
        if preprocess != "auto" and preprocess not in NORMALISATIONS:
            raise UserError(f"unknown preprocessing '{preprocess}'; known: auto, {', '.join(NORMALISATIONS)}")
        config = RunConfig(
            model=model, image=image, targets=_split_targets(targets),
            protocol=PROTOCOLS[protocol].with_overrides(warmup=warmup, settle_s=settle, runs=runs),
            threads=threads, preprocess=preprocess, torch_mode=torch_mode, allow_download=not offline)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), console=console, transient=False) as progress:
            result = run(config, RichEvents(progress))
        console.print(results_table(result))
        if out is not None:
            write_json_atomically(out, result.model_dump_json(indent=2))
            console.print(f"results written to {out}")
        if not any(r.status == "ok" for r in result.results):
            raise UserError("no target ran; see the reasons above (`edgebench targets`)")


def results_table(result) -> Table:
    protocol = result.results[0].protocol if result.results else None
    title = f"{result.model['name']} on {result.device.cpu_model}"
    if protocol:
        title += (f" - protocol {protocol.name}: {protocol.warmup} warm-up, "
                  f"{protocol.settle_s:g} s pause, {protocol.runs} timed runs")
    table = Table(title=title, caption="median: per-inference latency, perf_counter around "
                  "set_input+invoke+output; fps: timed runs / elapsed wall-clock s (the article's "
                  "method); preprocessing runs once, outside the timed loop. All figures measured.")
    for col, justify in (("target", "left"), ("runtime version", "left"), ("precision", "left"),
                         ("median ms", "right"), ("fps", "right"), ("top-1 label", "left"),
                         ("score", "right"), ("agrees", "left")):
        table.add_column(col, justify=justify)
    for r in result.results:
        if r.status != "ok":
            table.add_row(r.target, r.runtime_version or "-", r.precision, "-", "-",
                          f"[yellow]{r.status}: {r.error}[/]", "-", "-")
            continue
        agrees = "ref" if r.is_reference else ("[green]yes[/]" if r.agrees_with_reference
                                               else "[bold red]NO[/]")
        table.add_row(r.target, r.runtime_version or "-", r.precision, f"{r.latency_ms.median:.2f}",
                      f"{r.fps:.1f}", r.top1.label, f"{r.top1.score:.3f}", agrees)
    return table

"""`edgebench run`: benchmark a model on every available target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from edgebench.cli.common import console, err_console, user_errors, write_text_atomically


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

    def target_progress(self, target: str, done: int, total: int) -> None:
        self.progress.update(self._tasks[target], completed=done, total=total)

    def target_finished(self, result) -> None:
        """Statuses are shown once, in the results table (or the error line)."""

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
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo model name, a .tflite/.onnx file, or hub://owner/name[@version].")] = "mobilenet_v2",
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="JPEG/PNG/BMP to classify (default: scikit-image's coffee-cup photo, 'espresso').")] = None,
    targets: Annotated[Optional[str], typer.Option("--targets", "-t", help="Comma-separated targets, e.g. litert-int8,onnxruntime-fp32 (default: all that apply).")] = None,
    protocol: Annotated[str, typer.Option(help="classic (the 2019 article: 1 warm-up, 1 s pause, 250 runs) or rigorous (>= 50 runs and 2 s warm-up; 3 x >= 1000 runs and 10 s).")] = "classic",
    runs: Annotated[Optional[int], typer.Option(min=1, help="Timed runs (overrides the protocol).")] = None,
    warmup: Annotated[Optional[int], typer.Option(min=0, help="Warm-up runs (overrides the protocol).")] = None,
    settle: Annotated[Optional[float], typer.Option(min=0.0, help="Seconds to pause after warm-up (overrides the protocol).")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads per runtime (default: all cores).")] = None,
    preprocess: Annotated[str, typer.Option(help="Normalisation for your own model: auto, torchvision, inception, unit, raw.")] = "auto",
    torch_mode: Annotated[str, typer.Option(help="torch mode: auto (CPU: frozen TorchScript; CUDA: graph), frozen, graph, compile, eager (a naive loop).")] = "auto",
    batch: Annotated[int, typer.Option(min=1, help="Images per inference: throughput mode, reported as images/s (torch targets).")] = 1,
    cuda_input: Annotated[str, typer.Option(help="CUDA targets: host (copy every frame to the GPU inside the timed loop), device (stage once), auto (host at batch 1, device for batches).")] = "auto",
    offline: Annotated[bool, typer.Option(help="Never download weights; fail if they are not installed.")] = False,
    meter: Annotated[str, typer.Option(help="Energy meter: auto (RAPL where readable), none, rated (needs --power-w), rapl.")] = "auto",
    power_w: Annotated[Optional[float], typer.Option(min=0.001, help="Rated power in W for the rated meter, the article's method (e.g. 2.5 for a Coral).")] = None,
    store: Annotated[Optional[str], typer.Option(help="Results store: SQLite file or SQLAlchemy URL (default: user data dir).")] = None,
    save: Annotated[bool, typer.Option(help="Save the run in the results store.")] = True,
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
            threads=threads, preprocess=preprocess, torch_mode=torch_mode, allow_download=not offline,
            meter=meter, power_w=power_w, batch=batch, cuda_input=cuda_input)
        recorder = None
        if save:
            from edgebench.results.store import Store

            recorder = Store(store)
        from edgebench.benchmark import RunInterrupted

        try:
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                          MofNCompleteColumn(), console=console, transient=True) as progress:
                result = run(config, RichEvents(progress), recorder)
        except RunInterrupted as interrupted:
            result = interrupted.result
            print_run(result)
            if out is not None:
                write_text_atomically(out, result.model_dump_json(indent=2))
            done = sum(r.status == "ok" for r in result.results)
            saved = f"; saved as run {result.run_id[:12]} (interrupted)" if recorder else ""
            err_console.print(f"interrupted: {done} target(s) finished{saved}")
            raise typer.Exit(130) from None
        if not any(r.status == "ok" for r in result.results):
            # Nothing was measured: one line with every target's reason, no empty table.
            reasons = "; ".join(f"{r.target}: {r.error}" for r in result.results) or "no target applies"
            raise UserError(f"no target ran - {reasons}")
        print_run(result)
        if out is not None:
            write_text_atomically(out, result.model_dump_json(indent=2))
            console.print(f"results written to {out}")
        if recorder is not None:
            console.print(f"saved as run {result.run_id[:12]} in {recorder.engine_url_safe()}")


def print_run(result, detail: bool = False) -> None:
    """The results table, plus fingerprint and harness overhead when detail is asked for."""
    console.print(results_table(result))
    if result.harness_overhead:
        h = result.harness_overhead
        console.print(f"harness overhead (NullRuntime, measured): median {h.median_us:.2f} us, "
                      f"p99 {h.p99_us:.2f} us per inference")
    if detail:
        d = result.device
        console.print(f"run {result.run_id} ({result.status}) {result.created} - image {result.image.get('path')}")
        console.print(f"device: {d.hostname}, {d.cpu_model}, {d.cores_physical} physical / "
                      f"{d.cores_logical} logical cores, {d.memory_gb} GiB, {d.os}, Python {d.python}")
        if d.cpu_governor or d.cpu_freq_mhz:
            console.print(f"cpu governor {d.cpu_governor}, frequency {d.cpu_freq_mhz} MHz")
        for label, value in (("board", d.board), ("gpus", d.gpus), ("edge tpus", d.edgetpus)):
            if value:
                console.print(f"{label}: {value}")
        if d.thermal_c or result.thermal_after_c:
            console.print(f"thermal before {d.thermal_c} C, after {result.thermal_after_c} C")
        versions = ", ".join(f"{k} {v}" for k, v in d.toolchain.items() if v)
        console.print(f"toolchain: {versions}")


def results_table(result) -> Table:
    protocol = result.results[0].protocol if result.results else None
    title = f"{result.model['name']} on {result.device.cpu_model}"
    if protocol:
        title += f" - protocol {protocol.name}: " + _describe_protocol(protocol)
    energy = next((r.energy for r in result.results if r.energy), None)
    caption = ("median/p99: per-inference latency, perf_counter around set_input+invoke+output; "
               "fps: timed runs / elapsed wall-clock s (the article's method); preprocessing runs "
               "once, outside the timed loop. Latency and fps are measured.")
    if energy:
        caption += f" Energy: {energy.method}."
    table = Table(title=title, caption=caption)
    batched = any(r.batch > 1 for r in result.results)
    columns = [("target", "left"), ("runtime version", "left"), ("precision", "left"),
               ("median ms", "right"), ("p99 ms", "right"), ("CV %", "right"), ("fps", "right")]
    if batched:
        columns += [("batch", "right"), ("images/s", "right")]
    if energy:
        columns += [("mJ/inference", "right"), ("inferences/J", "right"), ("avg W", "right")]
    columns += [("top-1 label", "left"), ("score", "right"), ("agrees", "left")]
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for r in result.results:
        if r.status != "ok":
            filler = ["-"] * (len(columns) - 6)
            table.add_row(r.target, r.runtime_version or "-", r.precision, *filler[:-2],
                          f"[yellow]{r.status}: {r.error}[/]", "-", "-")
            continue
        agrees = "ref" if r.is_reference else ("[green]yes[/]" if r.agrees_with_reference
                                               else "[bold red]NO[/]")
        lat = r.latency_ms
        row = [r.target, r.runtime_version or "-", r.precision, f"{lat.median:.3f}", f"{lat.p99:.3f}",
               f"{lat.cv * 100:.1f}", f"{r.fps:.1f}"]
        if batched:
            row += [str(r.batch), f"{r.images_per_s:,.0f}"]
        if energy:
            e = r.energy
            row += ([f"{e.j_per_inference * 1e3:.2f}", f"{e.inferences_per_j:.1f}", f"{e.avg_power_w:.2f}"]
                    if e else ["-", "-", "-"])
        row += [r.top1.label, f"{r.top1.score:.3f}", agrees]
        table.add_row(*row)
    return table


def _describe_protocol(p) -> str:
    if p.repetitions == 1 and not p.min_duration_s and not p.warmup_s:
        return f"{p.warmup} warm-up, {p.settle_s:g} s pause, {p.runs} timed runs"
    return (f"warm-up >= {p.warmup} runs and {p.warmup_s:g} s, {p.settle_s:g} s pause, "
            f"{p.repetitions} x (>= {p.runs} runs and {p.min_duration_s:g} s)")

"""The options of a benchmark that `edgebench run` and `edgebench fleet run` both take, declared
once (BenchOptions' fields): both commands show the same help and refuse a bad value with the same
one line (threads and batch sizes are checked by RunConfig, not by a range of the option's own).
This module imports nothing heavy: the CLI builds `--help` from it. No `from __future__ import
annotations` here: typer reads BenchOptions' annotations as objects."""

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from edgebench.bench.config import LOADGEN_SCENARIOS, METER_CHOICES, PREPROCESS_CHOICES
from edgebench.protocol import PROTOCOLS, Protocol
from edgebench.runtimes.options import CUDA_INPUTS, MAX_BATCH, MAX_THREADS, TORCH_MODES
from edgebench.tasks import TASK_CHOICES


@dataclass(frozen=True)
class BenchOptions:
    """The shared options, as given. A command takes them as one parameter, `options:
    BenchOptions`, which `@bench_options` spreads into the options below."""

    protocol: Annotated[Literal[tuple(PROTOCOLS)], typer.Option(
        "--protocol", help="classic (the 2019 article: 1 warm-up, 1 s pause, 250 runs) or rigorous "
                           "(>= 50 runs and 2 s warm-up; 3 x >= 1000 runs and 10 s).")] = "classic"
    runs: Annotated[Optional[int], typer.Option(
        "--runs", min=1, max=10_000_000, help="Timed runs (overrides the protocol).")] = None
    warmup: Annotated[Optional[int], typer.Option(
        "--warmup", min=0, max=1_000_000, help="Warm-up runs (overrides the protocol).")] = None
    settle: Annotated[Optional[float], typer.Option(
        "--settle", min=0.0, max=3600.0, help="Seconds to pause after warm-up (overrides the protocol).")] = None
    threads: Annotated[Optional[str], typer.Option(
        "--threads", help=f"CPU threads per runtime (default: all of the device's cores; 1 to {MAX_THREADS}); "
                          "a list such as 1,2,4 sweeps them.")] = None
    batch: Annotated[str, typer.Option(
        "--batch", help=f"Images per inference (1 to {MAX_BATCH}): throughput, reported as images/s "
                        "(runtimes that batch: torch, OpenVINO); a list such as 1,8,32 sweeps them.")] = "1"
    preprocess: Annotated[Literal[PREPROCESS_CHOICES], typer.Option(
        "--preprocess", help="Normalisation for your own model (auto reads a quantized input's range).")] = "auto"
    task: Annotated[Literal[TASK_CHOICES], typer.Option(
        "--task", help="What the model does: auto (its zoo entry or hub card, else inferred from the file's "
                       "outputs, said on screen), classification, detection, segmentation, pose, embedding, "
                       "or generic (seeded random inputs, raw outputs compared).")] = "auto"
    labels: Annotated[Optional[Path], typer.Option(
        "--labels", help="Class names: one per line (a blank line ends the list), or JSON (a list, or "
                         "index -> name). ImageNet, COCO and PASCAL VOC are built in.")] = None
    input_shape: Annotated[Optional[list[str]], typer.Option(
        "--input-shape", help="Shape for an input with open dimensions, NAME=1x3x320x320 (repeatable; "
                              "no NAME= for the first input).")] = None
    torch_mode: Annotated[Literal[TORCH_MODES], typer.Option(
        "--torch-mode", help="torch mode: auto (CPU: frozen TorchScript; CUDA: graph at batch 1, compile "
                             "for batches).")] = "auto"
    cuda_input: Annotated[Literal[CUDA_INPUTS], typer.Option(
        "--cuda-input", help="CUDA targets: host (copy every frame to the GPU inside the timed loop), "
                             "device (stage once), auto (host at batch 1).")] = "auto"
    runtime_option: Annotated[Optional[list[str]], typer.Option(
        "--runtime-option", help="A runtime's own option, RUNTIME.NAME=VALUE (repeatable), e.g. "
                                 "torch.cuda_layout=contiguous.")] = None
    offline: Annotated[bool, typer.Option(
        "--offline/--no-offline", help="Never download weights; fail if they are not installed.")] = False
    meter: Annotated[Literal[METER_CHOICES], typer.Option(
        "--meter", help="Energy meter: auto (a measuring meter where readable: Jetson rails, RAPL, NVML), "
                        "none, rated (needs --power-w), or one by name.")] = "auto"
    power_w: Annotated[Optional[float], typer.Option(
        "--power-w", min=0.001, max=10_000.0,
        help="Rated power in W for the rated meter, the article's method (e.g. 2.5 for a Coral).")] = None
    store: Annotated[Optional[str], typer.Option(
        "--store", help="Results store: SQLite file or SQLAlchemy URL (default: $EDGEBENCH_STORE, else results.db in $EDGEBENCH_DATA_DIR or the user data dir).")] = None
    save: Annotated[bool, typer.Option(
        "--save/--no-save", help="Save each run in the results store as it finishes.")] = True
    scenario: Annotated[Literal[LOADGEN_SCENARIOS], typer.Option(
        "--scenario", help="MLPerf scenario: single-stream (one frame at a time, the article's loop) or offline "
                           "(maximum images/s: the runtime's own throughput mode where it has one, else several "
                           "sessions at once); with --loadgen also multi-stream and server.")] = "single-stream"
    loadgen: Annotated[bool, typer.Option(
        "--loadgen/--no-loadgen", help="MLPerf's LoadGen issues the queries and gives a VALID/INVALID verdict "
                                       "with its reasons (pip install 'edgebench[loadgen]').")] = False
    target_qps: Annotated[Optional[float], typer.Option(
        "--target-qps", help="LoadGen server: one test at this rate instead of searching for the highest "
                             "rate that meets --latency-bound; offline: the expected rate.")] = None
    latency_bound: Annotated[Optional[float], typer.Option(
        "--latency-bound", help="LoadGen server: the latency bound in ms (default 10, mlperf.conf's) at "
                                "--latency-percentile.")] = None
    latency_percentile: Annotated[Optional[float], typer.Option(
        "--latency-percentile", help="LoadGen server: the percentile the bound applies to (default 99).")] = None
    samples: Annotated[Optional[int], typer.Option(
        "--samples", help="LoadGen: the query sample library's size (default 1024; up to 100000).")] = None
    loadgen_duration: Annotated[Optional[float], typer.Option(
        "--loadgen-duration", help="LoadGen: each test's minimum duration in s (default 10; MLPerf's 600).")] = None
    min_queries: Annotated[Optional[int], typer.Option(
        "--min-queries", help="LoadGen: each test's minimum query count (default: mlperf.conf's).")] = None

    def config_fields(self, protocol: Protocol | None = None) -> dict:
        """RunConfig's fields for these options: the protocol with its overrides (protocol: one
        instead of --protocol's preset, e.g. a sustained run), one thread count and batch size or
        a sweep of them, and every runtime's own settings."""
        chosen = protocol or PROTOCOLS[self.protocol]
        thread_counts = parse_counts("--threads", self.threads)
        batch_sizes = parse_counts("--batch", self.batch)
        return dict(
            protocol=chosen.with_overrides(warmup=self.warmup, settle_s=self.settle, runs=self.runs),
            threads=thread_counts[0] if len(thread_counts) == 1 else None,
            batch=batch_sizes[0] if len(batch_sizes) == 1 else 1,
            thread_counts=thread_counts if len(thread_counts) > 1 else (),
            batch_sizes=batch_sizes if len(batch_sizes) > 1 else (),
            preprocess=self.preprocess, allow_download=not self.offline, meter=self.meter,
            power_w=self.power_w, task=self.task, labels=self.labels,
            input_shapes=parse_shapes(self.input_shape),
            runtime_settings=runtime_settings(self.torch_mode, self.cuda_input, self.runtime_option),
            scenario=self.scenario, loadgen=self.loadgen_settings())

    def loadgen_settings(self):
        """LoadGenSettings when --loadgen, else None; a LoadGen option without it is refused."""
        from edgebench.bench.config import LoadGenSettings
        from edgebench.errors import UserError

        given = {"--target-qps": self.target_qps, "--latency-bound": self.latency_bound,
                 "--latency-percentile": self.latency_percentile, "--samples": self.samples,
                 "--loadgen-duration": self.loadgen_duration, "--min-queries": self.min_queries}
        if not self.loadgen:
            named = [name for name, value in given.items() if value is not None]
            if named:
                raise UserError(f"{named[0]} is a LoadGen option: add --loadgen")
            return None
        return LoadGenSettings(target_qps=self.target_qps, latency_bound_ms=self.latency_bound,
                               latency_percentile=self.latency_percentile, samples=self.samples,
                               min_duration_s=self.loadgen_duration, min_query_count=self.min_queries)


def bench_options(command: Callable) -> Callable:
    """A command with an `options: BenchOptions` parameter, as typer sees it: that parameter
    spread into BenchOptions' fields, in its place; the command is called with them gathered
    back into one BenchOptions."""
    hints = typing.get_type_hints(BenchOptions, include_extras=True)
    shared = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                annotation=hints[f.name]) for f in dataclasses.fields(BenchOptions)]
    signature = inspect.signature(command, eval_str=True)
    if "options" not in signature.parameters:
        raise TypeError(f"{command.__name__} has no 'options: BenchOptions' parameter")
    parameters = []
    for p in signature.parameters.values():
        parameters.extend(shared if p.name == "options" else [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)])

    @functools.wraps(command)
    def spread(**values):
        options = BenchOptions(**{p.name: values.pop(p.name) for p in shared})
        return command(**values, options=options)

    spread.__signature__ = signature.replace(parameters=parameters)
    spread.__annotations__ = {p.name: p.annotation for p in parameters}
    return spread


def split_targets(value: str | None) -> tuple[str, ...] | None:
    """None (every target that applies) when not given; a given list keeps what it names, so
    `--targets ,` is an empty selection that RunConfig refuses."""
    if value is None:
        return None
    return tuple(n.strip() for n in value.split(",") if n.strip())


def parse_counts(option: str, text: str | None) -> tuple[int, ...]:
    """'4' -> (4,); '1,2,4' -> (1, 2, 4) (a sweep); None -> (). Ranges are RunConfig's to check."""
    from edgebench.errors import UserError

    if text is None:
        return ()
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise UserError(f"{option} takes a whole number or a list such as 1,2,4, got {text!r}")
    return tuple(int(p) for p in parts)


def parse_shapes(items: list[str] | None) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """['images=1x3x320x320', '1x3x224x224'] -> (('images', (1, 3, 320, 320)), ('', (1, 3, 224, 224)))."""
    from edgebench.errors import UserError

    shapes = []
    for item in items or []:
        name, sep, dims = item.rpartition("=")
        parts = dims.lower().split("x")
        if not parts or not all(p.strip().isdigit() for p in parts) or len(parts) > 8:
            raise UserError(f"--input-shape takes NAME=1x3x320x320 (whole numbers joined by x), got {item!r}")
        shapes.append((name.strip() if sep else "", tuple(int(p) for p in parts)))
    return tuple(shapes)


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

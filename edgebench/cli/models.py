"""`edgebench models list|info|prepare`: the zoo and its prepared variants."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from edgebench.cli.common import console, user_errors

app = typer.Typer(help="The model zoo and its prepared (converted, quantized) variants.",
                  no_args_is_help=True)


@app.command("list")
def list_command(pattern: Annotated[str, typer.Argument(help="Glob over model names.")] = "*") -> None:
    """List zoo models and which variants are prepared."""
    with user_errors():
        from edgebench.models.prepare import Preparer
        from edgebench.models.zoo import get_model, list_models

        table = Table(title="edgebench models")
        for col in ("model", "task", "variants (prepared = *)", "description"):
            table.add_column(col)
        for name in list_models(pattern):
            spec = get_model(name)
            preparer = Preparer(spec, allow_download=False)
            marks = [f"{fmt}-{prec}{'*' if _is_cached(preparer, (fmt, prec)) else ''}"
                     for fmt, prec in spec.variants]
            table.add_row(name, spec.task, ", ".join(marks), spec.description)
        console.print(table)


@app.command("info")
def info_command(name: Annotated[str, typer.Argument(help="Zoo model name.")]) -> None:
    """Show a model's source weights, preprocessing and each variant's cache state."""
    with user_errors():
        from edgebench.models.prepare import Preparer
        from edgebench.models.sources import cached_path, installed_path
        from edgebench.models.zoo import get_model

        spec = get_model(name)
        console.print(f"[bold]{spec.name}[/]: {spec.description}")
        console.print(f"task: {spec.task}   license: {spec.license}   input (NCHW): {spec.input_shape}")
        sources = ([("weights", spec.weights)] if spec.weights else []) + [
            (f"{fmt}-{precision} (published file)", src) for (fmt, precision), src in spec.prebuilt]
        for label, w in sources:
            found = installed_path(w) or (cached_path(w) if cached_path(w).is_file() else None)
            console.print(f"{label}: {w.filename} sha256 {w.sha256}")
            console.print(f"  found at: {found or 'not downloaded (' + (w.pip_hint or w.url) + ')'}")
        p = spec.preprocessing
        console.print(f"preprocessing: resize {p.resize}, centre-crop {p.crop}, mean {p.mean}, std {p.std}")
        preparer = Preparer(spec, allow_download=False)
        table = Table(title="variants")
        for col in ("format", "precision", "state", "path"):
            table.add_column(col)
        for variant in spec.variants:
            try:
                artifact = preparer.cached(variant)
                state = "prepared" if artifact else "not prepared"
                path = str(artifact.path) if artifact else str(preparer.path(variant))
            except Exception as exc:  # noqa: BLE001 - toolchain missing, weights absent
                state, path = "unavailable", str(exc)
            table.add_row(variant[0], variant[1], state, path)
        console.print(table)


@app.command("prepare")
def prepare_command(
    name: Annotated[str, typer.Argument(help="Zoo model name.")] = "mobilenet_v2",
    offline: Annotated[bool, typer.Option(help="Never download weights.")] = False,
) -> None:
    """Build and cache every variant of a model (ONNX/TFLite, fp32/int8)."""
    with user_errors():
        from rich.progress import Progress, SpinnerColumn, TextColumn

        from edgebench.errors import TargetUnavailable
        from edgebench.models.prepare import Preparer
        from edgebench.models.zoo import get_model

        spec = get_model(name)
        failures = 0
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console) as progress:
            task = progress.add_task(f"preparing {name}", total=len(spec.variants))
            preparer = Preparer(spec, allow_download=not offline,
                                on_step=lambda msg: progress.update(task, description=msg))
            for variant in spec.variants:
                try:
                    artifact = preparer.get(variant)
                    progress.console.print(f"[green]ready[/] {variant[0]}-{variant[1]}: {artifact.path}")
                except TargetUnavailable as exc:
                    failures += 1
                    progress.console.print(f"[yellow]skipped[/] {variant[0]}-{variant[1]}: {exc}")
                progress.advance(task)
        if failures:
            raise typer.Exit(1)


def _is_cached(preparer, variant) -> bool:
    try:
        return preparer.cached(variant) is not None
    except Exception:  # noqa: BLE001 - missing toolchain or weights: simply not prepared
        return False

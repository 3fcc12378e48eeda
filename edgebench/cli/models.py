"""`edgebench models list|info|prepare`: the zoo and its prepared variants."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
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
            table.add_row(escape(name), spec.task, ", ".join(marks), escape(spec.description))
        console.print(table)


@app.command("info")
def info_command(name: Annotated[str, typer.Argument(help="Zoo model name.")]) -> None:
    """Show a model's source weights, preprocessing and each variant's cache state."""
    with user_errors():
        from edgebench.models.prepare import Preparer
        from edgebench.models.sources import cached_path, installed_path
        from edgebench.models.zoo import get_model

        spec = get_model(name)
        console.print(f"[bold]{escape(spec.name)}[/]: {escape(spec.description)}")
        console.print(f"task: {spec.task}   license: {spec.license}   input (NCHW): {spec.input_shape}",
                      markup=False)
        sources = ([("weights", spec.weights)] if spec.weights else []) + [
            (f"{fmt}-{precision} (published file)", src) for (fmt, precision), src in spec.prebuilt]
        for label, w in sources:
            found = installed_path(w) or (cached_path(w) if cached_path(w).is_file() else None)
            console.print(f"{label}: {w.filename} sha256 {w.sha256}", markup=False)
            console.print(f"  found at: {found or 'not downloaded (' + (w.pip_hint or w.url) + ')'}",
                          markup=False)
        p = spec.preprocessing
        console.print(f"preprocessing: {p.name}, resize {p.resize}, centre-crop {p.crop}, mean {p.mean}, "
                      f"std {p.std}", markup=False)
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
            table.add_row(variant[0], variant[1], state, escape(path))
        console.print(table)


@app.command("prepare")
def prepare_command(
    name: Annotated[str, typer.Argument(help="Zoo model name.")] = "mobilenet_v2",
    offline: Annotated[bool, typer.Option(help="Never download weights.")] = False,
) -> None:
    """Build and cache every variant of a model (ONNX/TFLite/Keras, fp32/int8)."""
    with user_errors():
        from rich.markup import escape

        from edgebench.cli.progress import live_progress
        from edgebench.errors import TargetUnavailable
        from edgebench.models.prepare import PrepareFailed, Preparer
        from edgebench.models.zoo import get_model

        spec = get_model(name)
        failures = 0
        with live_progress() as progress:
            task = progress.add_task(escape(f"preparing {name}"), total=None, count="")
            preparer = Preparer(spec, allow_download=not offline,
                                on_step=lambda msg: progress.update(task, description=escape(msg)))
            preparer.plan_builds(spec.variants)
            for variant in spec.variants:
                label = f"{variant[0]}-{variant[1]}"
                try:
                    artifact = preparer.get(variant)
                    progress.console.print(f"[green]ready[/] {escape(label)}: {escape(str(artifact.path))}")
                except (TargetUnavailable, PrepareFailed) as exc:
                    failures += 1
                    progress.console.print(f"[yellow]not prepared[/] {escape(label)}: {escape(str(exc))}")
        if failures:
            raise typer.Exit(1)


def _is_cached(preparer, variant) -> bool:
    try:
        return preparer.cached(variant) is not None
    except Exception:  # noqa: BLE001 - missing toolchain or weights: simply not prepared
        return False

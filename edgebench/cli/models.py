"""`edgebench models list|info|prepare`: the zoo and its prepared variants."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from edgebench.cli.common import console, user_errors
from edgebench.errors import UserError

app = typer.Typer(help="The model zoo and its prepared (converted, quantized) variants.",
                  no_args_is_help=True)


@app.command("list")
def list_command(pattern: Annotated[str, typer.Argument(help="Glob over model names.")] = "*") -> None:
    """List zoo and retrained models and which variants are prepared."""
    with user_errors():
        from edgebench.models.prepare import Preparer
        from edgebench.models.zoo import get_model, list_models

        table = Table(title="edgebench models")
        for col in ("model", "task", "files", "variants (prepared = *)", "description"):
            table.add_column(col)
        for name in list_models(pattern):
            spec = get_model(name)
            preparer = Preparer(spec, allow_download=False)
            marks = [f"{fmt}-{prec}{'*' if _is_cached(preparer, (fmt, prec)) else ''}"
                     for fmt, prec in spec.variants]
            table.add_row(escape(name), spec.task, files_state(spec), ", ".join(marks), escape(spec.description))
        console.print(table)
        _list_own_models()


def _list_own_models() -> None:
    """Your own .onnx/.pt2 models whose variants are cached (`models prepare FILE`, `run --model FILE`)."""
    from edgebench.models.own.builder import list_built

    built = list_built()
    if not built:
        return
    table = Table(title="your own models (variants built from your file)")
    for col in ("model", "task", "variants prepared", "built from"):
        table.add_column(col)
    for entry in built:
        table.add_row(escape(str(entry["model"])), escape(str(entry["task"])), ", ".join(entry["variants"]),
                      escape(f"{entry['path']} (sha256 {str(entry['sha256'])[:12]}...)"))
    console.print(table)


def files_state(spec) -> str:
    """Whether a model's files are here: "needs download" (with how much, where known) when any
    is missing, else where they are ("installed", "cached", "local")."""
    from edgebench.models.weights import available_path, cached_path

    sources = ([spec.weights] if spec.weights else []) + [source for _, source in spec.prebuilt]
    sources += [spec.label_file] if spec.label_file else []
    missing = [source for source in sources if available_path(source) is None]
    if missing:
        sizes = [source.size for source in missing]
        amount = f", {sum(sizes) / 1e6:.1f} MB" if all(sizes) else ""
        return f"needs download ({len(missing)} file{'s' if len(missing) > 1 else ''}{amount})"
    places = {"local" if source.local_path else "cached" if available_path(source) == cached_path(source)
              else "installed" for source in sources}
    return "+".join(sorted(places)) or "built-in"


@app.command("info")
def info_command(name: Annotated[str, typer.Argument(help="Zoo or retrained model name.")]) -> None:
    """Show a model's source weights, preprocessing and each variant's cache state."""
    with user_errors():
        from edgebench.models.prepare import Preparer
        from edgebench.models.weights import cached_path, installed_path
        from edgebench.models.zoo import get_model

        spec = get_model(name)
        console.print(f"[bold]{escape(spec.name)}[/]: {escape(spec.description)}")
        console.print(f"task: {spec.task}   license: {spec.license}   input (NCHW): {spec.input_shape}",
                      markup=False)
        sources = ([("weights", spec.weights)] if spec.weights else []) + [
            (f"{fmt}-{precision} (published file)", src) for (fmt, precision), src in spec.prebuilt] + (
            [("labels", spec.label_file)] if spec.label_file else [])
        for label, w in sources:
            local = Path(w.local_path) if w.local_path and Path(w.local_path).is_file() else None
            found = local or installed_path(w) or (cached_path(w) if cached_path(w).is_file() else None)
            missing = f"not downloaded ({w.pip_hint or w.url})" if (w.pip_hint or w.url) else "missing"
            pins = ", ".join(f"{n} {v}" for n, v in (("sha256", w.sha256), ("git blob", w.git_blob)) if v)
            console.print(f"{label}: {w.filename} {pins}", markup=False)
            console.print(f"  found at: {found or missing}", markup=False)
        p = spec.preprocessing
        console.print(f"preprocessing: {p.name}, resize {p.resize}, centre-crop {p.crop}, mean {p.mean}, "
                      f"std {p.std}", markup=False)
        preparer = Preparer(spec, allow_download=False)
        table = Table(title="variants")
        for col in ("format", "precision", "state", "path"):
            table.add_column(col)
        checks: list[str] = []
        for variant in spec.variants:
            try:
                artifact = preparer.cached(variant)
                state = "prepared" if artifact else "not prepared"
                path = str(artifact.path) if artifact else str(preparer.path(variant))
            except Exception as exc:  # noqa: BLE001 - toolchain missing, weights absent
                state, path = "unavailable", str(exc)
            table.add_row(variant[0], variant[1], state, escape(path))
            if state == "prepared" and artifact.int8_check:
                checks += [f"{variant[0]}-{variant[1]} int8 check:", *_check_lines(artifact.int8_check)]
        console.print(table)
        for line in checks:
            console.print(line)
        _print_lineage(name)


def _print_lineage(name: str) -> None:
    """What a retrained model records of where it came from and how well it validated."""
    from edgebench.models.local import lineage_of

    lineage = lineage_of(name)
    if not lineage:
        return
    base, data = lineage["base"], lineage["dataset"]
    origin = base.get("ref") or base.get("name")
    console.print(f"retrained from {origin} (weights sha256 {str(base.get('weights_sha256'))[:16]}...) "
                  f"by {lineage['method']}: {json_line(lineage['hyperparameters'])}", markup=False)
    console.print(f"dataset: {data['files']} images in {data['classes']} classes ({data['root']}), sha256 "
                  f"{data['sha256'][:16]}..., {data['train_images']} trained on, {data['validation_images']} "
                  f"validated on ({data['validation']}); {data['skipped']} files skipped", markup=False)
    console.print("classes: " + ", ".join(lineage["classes"]), markup=False)
    for target, v in lineage.get("validation", {}).items():
        figure = f"{v['top1']:.1%}" if v["status"] == "ok" else f"{v['status']}: {v.get('error')}"
        interval = v.get("top1_interval") if v["status"] == "ok" else None
        if interval:   # stored by retraining since it computes one
            figure += f" (95% CI {interval['low']:.1%}-{interval['high']:.1%})"
        console.print(f"  validation top-1 on {target}: {figure}", markup=False)


def json_line(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


@app.command("remove")
def remove_command(name: Annotated[str, typer.Argument(help="A retrained model's name.")]) -> None:
    """Delete a retrained model (its weights, manifest and variants). Zoo models cannot be removed."""
    with user_errors():
        import shutil

        from edgebench.models.local import local_spec, model_home, models_dir
        from edgebench.models.zoo import ZOO

        if name in ZOO:
            raise UserError(f"{name} is a zoo model; only retrained models can be removed")
        if local_spec(name) is None:
            raise UserError(f"no retrained model named '{name}'")
        # Renamed out of sight first, so a reader never sees half a model.
        doomed = models_dir() / f".removing-{name}"
        shutil.rmtree(doomed, ignore_errors=True)
        model_home(name).rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        console.print(f"removed {name}", markup=False)


@app.command("prepare")
def prepare_command(
    name: Annotated[str, typer.Argument(help="Zoo model name, or your own float .onnx / .pt2 file.")] = "mobilenet_v2",
    offline: Annotated[bool, typer.Option(help="Never download weights.")] = False,
    calibration: Annotated[Optional[Path], typer.Option(
        "--calibration", help="Folder of your own images (JPEG/PNG/BMP, at least 10; a few hundred "
        "is best) to calibrate the int8 variants on, instead of the shipped photos. Every 5th is "
        "held back to check them.")] = None,
) -> None:
    """Build and cache every variant of a model (ONNX/TFLite/Keras, fp32/int8).

    Each int8 variant is checked as it is built: on calibration images held back from
    calibration, against the float variant it was quantized from (top-1 agreement, mean
    |logit error|, per runtime that runs it).

    Your own float model (.onnx, or a torch.export .pt2) gets every variant that applies to it,
    built with the zoo's recipes and checked the same way.

    Example: edgebench models prepare mobilenet_v2 --calibration ~/photos/calibration
    """
    with user_errors():
        from edgebench.models.own.source import is_own_model

        if is_own_model(name):
            _prepare_own(Path(name), calibration)
            return
        from rich.markup import escape

        from edgebench.cli.progress import live_progress
        from edgebench.errors import TargetUnavailable
        from edgebench.models.prepare import PrepareFailed, Preparer
        from edgebench.models.zoo import get_model

        spec = get_model(name)
        if calibration is not None and not _calibrated_variants(spec):
            raise UserError(f"{name} has no int8 variant that edgebench quantizes: --calibration does not apply")
        preparer = Preparer(spec, allow_download=not offline, calibration=calibration)
        if calibration is not None:
            cal = preparer.calibration_set   # checked here, before anything is built or cached
            console.print(f"calibration: {cal.size} images in {cal.source} (sha256 {cal.sha256[:16]}...), "
                          f"{len(cal.held_back)} held back to check the int8 variants", markup=False)
        failures = 0
        with live_progress() as progress:
            task = progress.add_task(escape(f"preparing {name}"), total=None, count="")
            preparer.on_step = lambda msg: progress.update(task, description=escape(msg))
            preparer.plan_builds(spec.variants)
            for variant in spec.variants:
                label = f"{variant[0]}-{variant[1]}"
                try:
                    artifact = preparer.get(variant)
                    progress.console.print(f"[green]ready[/] {escape(label)}: {escape(str(artifact.path))}")
                    for line in _check_lines(artifact.int8_check):
                        progress.console.print(line)
                except (TargetUnavailable, PrepareFailed) as exc:
                    failures += 1
                    progress.console.print(f"[yellow]not prepared[/] {escape(label)}: {escape(str(exc))}")
        if failures:
            raise typer.Exit(1)


def _prepare_own(path: Path, calibration: Path | None) -> None:
    """Build every variant of a user's .onnx/.pt2; a variant that cannot be built is one line
    with the converter's reason, and the others are still built (exit 1 if any failed)."""
    from edgebench.cli.progress import live_progress
    from edgebench.errors import TargetUnavailable
    from edgebench.models.own.source import CALIBRATION_WARNING, OwnModelSource, open_own_model

    source = open_own_model(path, calibration)
    if not isinstance(source, OwnModelSource):
        console.print(f"{escape(path.name)} is already quantized: it runs as it is, nothing to prepare")
        return
    if source.no_int8:
        console.print(f"[yellow]{escape(source.no_int8)}[/]")
    elif calibration is None:
        console.print(f"[yellow]warning:[/] {escape(CALIBRATION_WARNING)}")
    else:
        cal = source.builder.calibration_set   # checked here: too few or unreadable images, one line
        console.print(f"calibration: {cal.size} images in {cal.source} (sha256 {cal.sha256[:16]}...), "
                      f"{len(cal.held_back)} held back to check the int8 variants", markup=False)
    failures = 0
    with live_progress() as progress:
        task = progress.add_task(escape(f"preparing {path.name}"), total=None, count="")
        source.builder.on_step = lambda msg: progress.update(task, description=escape(msg))
        for variant in source.variants():
            label = f"{variant[0]}-{variant[1]}"
            try:
                artifact = source.builder.get(variant)
                progress.console.print(f"[green]ready[/] {escape(label)}: {escape(str(artifact.path))}")
                for line in _check_lines(artifact.int8_check):
                    progress.console.print(line)
            except TargetUnavailable as exc:
                failures += 1
                progress.console.print(f"[yellow]not prepared[/] {escape(label)}: {escape(str(exc))}")
    if failures:
        raise typer.Exit(1)


def _calibrated_variants(spec) -> list:
    """The variants edgebench quantizes on calibration images (not published ready-made)."""
    from edgebench.models.prepare import RECIPES

    return [v for v in spec.variants if v in RECIPES and RECIPES[v].calibrated and not spec.prebuilt_source(v)]


def _check_lines(check: dict | None) -> list[str]:
    """The int8 check recorded when the variant was built, one line per runtime."""
    from edgebench.models.int8_check import AGREEMENT_GOAL, agreement_interval, assess, detection_line

    if not check:
        return []
    lines = []
    for runtime, entry in check.get("by_runtime", {}).items():
        if "error" in entry:
            lines.append(f"  check on {escape(runtime)}: [yellow]could not run[/] ({escape(entry['error'])})")
            continue
        found = assess(check, runtime)
        if check.get("task") == "detection":
            mark = "[green]ok[/]" if found is None else "[bold red]below the goal[/]"
            lines.append(f"  check on {escape(runtime)}: {escape(detection_line(check, entry))} - {mark}")
            continue
        mark = ("[green]ok[/]" if found is None else
                f"[bold red]below the {AGREEMENT_GOAL:.0%} goal[/]" if found[0] == "warning" else
                f"[yellow]below the {AGREEMENT_GOAL:.0%} goal, within sampling noise[/]")
        if "agreement" in entry:   # a user's model of another task: its own agreement figure
            lines.append(f"  check on {escape(runtime)}: {escape(check.get('metric', 'agreement'))} passes against "
                         f"{escape(check['against'])} on {entry['agreement']:.0%} of the {check['samples']} held-back "
                         f"samples (95% CI {entry['agreement_ci95'][0]:.0%}-{entry['agreement_ci95'][1]:.0%}), mean "
                         f"{entry['mean_figure']:.3f} - {mark}")
            continue
        if "top1_agreement" not in entry:
            lines.append(f"  check on {escape(runtime)}: none of {check['samples']} held-back samples is one "
                         f"the float model is sure of; mean |logit error| {entry['mean_abs_logit_error']:.3f}")
            continue
        counted = check.get("decisive_samples", check["samples"])
        low, high = entry.get("top1_agreement_ci95") or agreement_interval(
            round(entry["top1_agreement"] * counted), counted)
        lines.append(f"  check on {escape(runtime)}: top-1 agrees with {escape(check['against'])} on "
                     f"{entry['top1_agreement']:.0%} of the {counted} held-back samples it is sure of (of "
                     f"{check['samples']}; 95% CI {low:.0%}-{high:.0%}), mean |logit error| "
                     f"{entry['mean_abs_logit_error']:.3f} - {mark}")
    return lines


def _is_cached(preparer, variant) -> bool:
    try:
        return preparer.cached(variant) is not None
    except Exception:  # noqa: BLE001 - missing toolchain or weights: simply not prepared
        return False

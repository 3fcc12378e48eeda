"""`edgebench report` and `edgebench compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.table import Table

from edgebench.cli.common import console, user_errors
from edgebench.cli.results import StoreOption, open_store, say, warn
from edgebench.results.run_ids import RUN_ID_RULE


def report_command(
    run_ids: Annotated[Optional[list[str]], typer.Option("--run", help=(
        f"Run to show (repeatable): {RUN_ID_RULE}. Default: the latest complete run of every "
        "device and model in the store."))] = None,
    reference: Annotated[bool, typer.Option("--reference", help="Show the published figures (2019 article, Coral's table) beside yours.")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="The self-contained HTML file to write.")] = Path("report.html"),
    fmt: Annotated[Optional[Literal["png", "svg"]], typer.Option(
        "--format", help="Also write each chart as png or svg.")] = None,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Folder for --format charts.")] = None,
    profile: Annotated[Optional[list[Path]], typer.Option("--profile", help="An op profile (`edgebench profile --out`) to draw as a bar chart (repeatable).")] = None,
    compare: Annotated[Optional[list[Path]], typer.Option("--compare", help="A comparison (`edgebench compare --out`) to show as a table with its verdicts and warnings (repeatable).")] = None,
    store: StoreOption = None,
) -> None:
    """Write one self-contained HTML report: fps charts (linear and log), energy per inference,
    latency distributions, and every number with its unit, method, protocol and device.

    Without --run it shows the latest complete run of each device and model: a later run of a
    model replaces an earlier one of that model on that device, whatever targets either ran.

    Example: edgebench report --reference --out report.html --format png --outdir charts
    """
    with user_errors():
        from edgebench.cli.common import (check_folder_writable, check_writable, make_folder,
                                          write_bytes_atomically, write_text_atomically)
        from edgebench.errors import UserError
        from edgebench.report.charts import render, report_charts
        from edgebench.report.html import build_report
        from edgebench.results.query import runs_for_report
        from edgebench.results.reference import published

        if outdir is not None and fmt is None:
            raise UserError("--outdir is the folder for --format charts: give --format png or svg too")
        # Every output is checked before anything is read or written: a chart folder that
        # cannot be written must not be found out after the HTML was.
        check_writable(out)
        folder = (outdir or out.parent) if fmt is not None else None
        if folder is not None:
            check_folder_writable(folder)
        profiles = [_load_profile(p) for p in profile or []]
        comparisons = [_load_comparison(p) for p in compare or []]
        selection = runs_for_report(open_store(store), run_ids, warn)
        runs = selection.runs
        figures = published() if reference else []
        write_text_atomically(out, build_report(runs, figures, left_out=selection.left_out, profiles=profiles,
                                                comparisons=comparisons))
        older = (f"; left out {len(selection.left_out)} older run(s) of the same device and model "
                 "(--run picks runs)" if selection.left_out else "")
        say(f"report written to {out}: {len(runs)} run(s)"
            f"{', with published figures' if reference else ''}{older}")
        if folder is not None:
            make_folder(folder)   # only now: a report refused above leaves no empty folders behind
            for name, fig in report_charts(runs, figures, profiles).items():
                path = folder / f"{name}.{fmt}"
                write_bytes_atomically(path, render(fig, fmt))
                say(f"chart written to {path}")


def _load_profile(path: Path):
    """An `edgebench profile --out` file, or one line saying what is wrong with it."""
    from pydantic import ValidationError

    from edgebench.errors import UserError
    from edgebench.fileio import read_text
    from edgebench.results.schema import OpProfile

    try:
        return OpProfile.model_validate_json(read_text(path, "profile file", max_bytes=64 << 20))
    except ValidationError as exc:
        raise UserError(f"{path} is not an edgebench profile: {exc.errors()[0]['msg']}") from None


def _finite(check):
    """A typer callback running one of report.compare's checks: one line naming the option."""
    def callback(value: float) -> float:
        try:
            return check(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return callback


def _check_threshold(value: float) -> float:
    from edgebench.report.compare import check_threshold

    return check_threshold(value)


def _check_alpha(value: float) -> float:
    from edgebench.report.compare import check_alpha

    return check_alpha(value)


def _load_comparison(path: Path):
    """An `edgebench compare --out` file, or one line saying what is wrong with it."""
    import json

    from edgebench.errors import UserError
    from edgebench.fileio import read_text, shown
    from edgebench.report.compare import load_comparison

    try:
        return load_comparison(read_text(path, "comparison file", max_bytes=16 << 20))
    except json.JSONDecodeError as exc:
        raise UserError(f"{shown(path)}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{shown(path)} is not an edgebench comparison: {str(exc)[:300]}") from None


def compare_command(
    baseline: Annotated[str, typer.Argument(help=(
        f"Baseline: a results file, a run id ({RUN_ID_RULE}), or a device's host name "
        "(its latest complete run of the other side's model)."))],
    candidate: Annotated[str, typer.Argument(help="Candidate: the same choices as the baseline.")],
    threshold: Annotated[float, typer.Option(callback=_finite(_check_threshold), help=(
        "Smallest relative change called a difference (0.10 = 10%; a finite number from 0 to 10)."))] = 0.10,
    alpha: Annotated[float, typer.Option(callback=_finite(_check_alpha), help=(
        "Significance level of the Mann-Whitney U test (1e-9 to 0.5)."))] = 0.01,
    fail_on_regression: Annotated[bool, typer.Option(help="Exit 1 if any target is significantly slower.")] = False,
    allow_different_models: Annotated[bool, typer.Option(help=(
        "Compare runs of different models (refused by default: their ratios are about two models, "
        "not a change); the difference is then a warning."))] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help=(
        "Also write the comparison as JSON (every figure, verdict and warning) for CI, or for "
        "`report --compare`."))] = None,
    store: StoreOption = None,
) -> None:
    """Compare two runs target by target: ratio of medians and a Mann-Whitney U test on the raw
    samples. A target is slower/faster only if p < alpha and the ratio is beyond the threshold.
    Runs of different models are refused; another device, image, protocol or model version is
    compared with a warning line for each.

    Example: edgebench compare 3ee78a52 results-from-pi.json --fail-on-regression --out compare.json
    """
    with user_errors():
        from edgebench.cli.common import check_writable, write_text_atomically
        from edgebench.errors import UserError
        from edgebench.report.compare import compare_runs
        from edgebench.results.query import compare_sides

        if out is not None:
            check_writable(out)
        opened = []

        def the_store():   # opened only if a side is not a results file
            if not opened:
                opened.append(open_store(store))
            return opened[0]

        (a, a_label), (b, b_label) = compare_sides(the_store, baseline, candidate, warn)
        result = compare_runs(a, b, alpha, threshold, a_label, b_label)
        for difference in result.differences:
            if difference.refused and not allow_different_models:
                raise UserError(f"{difference.text}: compare measures a change of one model "
                                "(--allow-different-models compares them anyway)")
            warn(difference.text)
        if not result.targets:
            raise UserError("the two runs have no successful target in common")
        _print_comparison(result)
        if out is not None:
            write_text_atomically(out, result.to_json())
            say(f"comparison written to {out}")
        if fail_on_regression and result.regressions:
            from rich.markup import escape

            console.print(f"[bold red]regression[/]: {escape(', '.join(t.target for t in result.regressions))}",
                          soft_wrap=True)
            raise typer.Exit(1)


def _print_comparison(result) -> None:
    from rich.markup import escape

    table = Table(title=escape(f"{result.candidate} vs baseline {result.baseline}"),
                  caption=f"ratio = candidate / baseline median latency (> 1: slower). {result.method}; "
                          f"a difference needs p < {result.alpha:g} and |ratio - 1| > {result.threshold:.0%}.")
    for col, justify in (("target", "left"), ("baseline median ms", "right"), ("candidate median ms", "right"),
                         ("ratio", "right"), ("p-value", "right"), ("verdict", "left")):
        table.add_column(col, justify=justify)
    styles = {"slower": "[bold red]slower[/]", "faster": "[green]faster[/]"}
    for t in result.targets:
        table.add_row(escape(t.target), f"{t.baseline_median_ms:.3f}", f"{t.candidate_median_ms:.3f}",
                      f"{t.ratio:.3f}", f"{t.p_value:.2g}", styles.get(t.verdict, t.verdict))
    console.print(table)
    for s in result.server:   # LoadGen's server scenario: a rate, compared as one
        figure = lambda qps, p99: f"{qps:.1f} QPS (p99 {p99:.2f} ms)" if qps is not None else "no VALID rate"  # noqa: E731
        ratio = f", ratio {s.ratio:.3f}" if s.ratio is not None else ""
        console.print(f"server (LoadGen) {s.target}: {figure(s.candidate_qps, s.candidate_p99_ms or 0)} vs baseline "
                      f"{figure(s.baseline_qps, s.baseline_p99_ms or 0)}{ratio}", markup=False)
    for side, names in (("baseline", result.only_in_baseline), ("candidate", result.only_in_candidate)):
        if names:
            say(f"only in the {side}: {', '.join(names)}")

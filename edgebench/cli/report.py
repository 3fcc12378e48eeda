"""`edgebench report` and `edgebench compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edgebench.cli.common import console, user_errors
from edgebench.cli.results import StoreOption, open_store


def select_runs(store, run_ids: list[str] | None) -> list:
    """The given runs, or else the latest complete run of every device in the store."""
    from edgebench.errors import UserError

    if run_ids:
        return [store.get(i) for i in run_ids]
    latest: dict[str, object] = {}
    for run in store.all_runs():  # oldest first, so later runs replace earlier ones
        if run.status == "complete":
            latest[run.device.fingerprint()] = run
    if not latest:
        raise UserError("the store has no complete runs; run `edgebench run` or import results first")
    return list(latest.values())


def report_command(
    run_ids: Annotated[Optional[list[str]], typer.Option("--run", help="Run id (repeatable; default: latest run of each device).")] = None,
    reference: Annotated[bool, typer.Option("--reference", help="Show the published figures (2019 article, Coral's table) beside yours.")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="The self-contained HTML file to write.")] = Path("report.html"),
    fmt: Annotated[Optional[str], typer.Option("--format", help="Also write each chart as png or svg.")] = None,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Folder for --format charts.")] = None,
    store: StoreOption = None,
) -> None:
    """Write one self-contained HTML report: fps charts (linear and log), fps per watt,
    latency distributions, and every number with its unit, method, protocol and device.

    Example: edgebench report --reference --out report.html --format png --outdir charts
    """
    with user_errors():
        from edgebench.cli.common import write_text_atomically
        from edgebench.errors import UserError
        from edgebench.report.charts import render, report_charts
        from edgebench.report.html import build_report
        from edgebench.results.reference import published

        if fmt is not None and fmt not in ("png", "svg"):
            raise UserError(f"unknown chart format '{fmt}'; choose png or svg")
        if not out.parent.is_dir():
            raise UserError(f"cannot write {out}: directory {out.parent} does not exist")
        runs = select_runs(open_store(store), run_ids)
        figures = published() if reference else []
        write_text_atomically(out, build_report(runs, figures))
        console.print(f"report written to {out} ({len(runs)} run(s){', with published figures' if reference else ''})")
        if fmt is not None:
            folder = outdir or out.parent
            folder.mkdir(parents=True, exist_ok=True)
            for name, fig in report_charts(runs, figures).items():
                path = folder / f"{name}.{fmt}"
                path.write_bytes(render(fig, fmt))
                console.print(f"chart written to {path}")


def resolve_run(spec: str, store):
    """A run from a results file, a run id (or prefix), or a device name (its latest complete run)."""
    from edgebench.errors import UserError
    from edgebench.results.exchange import load_runs

    if Path(spec).is_file():
        runs = load_runs(Path(spec))
        return runs[-1], f"{spec}"
    try:
        run = store.get(spec)
        return run, run.run_id[:12]
    except UserError as missing:
        on_device = [r for r in store.all_runs() if r.status == "complete"
                     and spec in (r.device.hostname, r.device.fingerprint())]
        if not on_device:
            raise UserError(f"'{spec}' is not a results file, a stored run id or a device name") from missing
        return on_device[-1], f"{spec} (run {on_device[-1].run_id[:12]})"


def compare_command(
    baseline: Annotated[str, typer.Argument(help="Baseline: run id, device name, or results file.")],
    candidate: Annotated[str, typer.Argument(help="Candidate: run id, device name, or results file.")],
    threshold: Annotated[float, typer.Option(min=0.0, help="Smallest relative change called a difference (0.10 = 10%).")] = 0.10,
    alpha: Annotated[float, typer.Option(min=1e-9, max=0.5, help="Significance level of the Mann-Whitney U test.")] = 0.01,
    fail_on_regression: Annotated[bool, typer.Option(help="Exit 1 if any target is significantly slower.")] = False,
    store: StoreOption = None,
) -> None:
    """Compare two runs target by target: ratio of medians and a Mann-Whitney U test on the raw
    samples. A target is slower/faster only if p < alpha and the ratio is beyond the threshold.

    Example: edgebench compare 3ee78a52 results-from-pi.json --fail-on-regression
    """
    with user_errors():
        from edgebench.errors import UserError
        from edgebench.report.compare import compare_runs

        s = open_store(store)
        (a, a_label), (b, b_label) = resolve_run(baseline, s), resolve_run(candidate, s)
        result = compare_runs(a, b, alpha, threshold, a_label, b_label)
        if not result.targets:
            raise UserError("the two runs have no successful target in common")
        table = Table(title=f"{result.candidate} vs baseline {result.baseline}",
                      caption=f"ratio = candidate / baseline median latency (> 1: slower). {result.method}; "
                              f"a difference needs p < {alpha:g} and |ratio - 1| > {threshold:.0%}.")
        for col, justify in (("target", "left"), ("baseline median ms", "right"), ("candidate median ms", "right"),
                             ("ratio", "right"), ("p-value", "right"), ("verdict", "left")):
            table.add_column(col, justify=justify)
        styles = {"slower": "[bold red]slower[/]", "faster": "[green]faster[/]"}
        for t in result.targets:
            table.add_row(t.target, f"{t.baseline_median_ms:.3f}", f"{t.candidate_median_ms:.3f}",
                          f"{t.ratio:.3f}", f"{t.p_value:.2g}", styles.get(t.verdict, t.verdict))
        console.print(table)
        for side, names in (("baseline", result.only_in_baseline), ("candidate", result.only_in_candidate)):
            if names:
                console.print(f"only in the {side}: {', '.join(names)}")
        if fail_on_regression and result.regressions:
            console.print(f"[bold red]regression[/]: {', '.join(t.target for t in result.regressions)}")
            raise typer.Exit(1)

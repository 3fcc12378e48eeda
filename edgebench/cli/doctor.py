"""`edgebench doctor` (the conditions this machine would benchmark under) and `edgebench explain
RUN_ID` (a stored run's gap to the published figures, cause by cause)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from edgebench.cli.common import console, user_errors
from edgebench.cli.results import StoreOption, open_store
from edgebench.results.run_ids import RUN_ID_HELP

STYLE = {"ok": "green", "warn": "yellow", "unavailable": "dim", "applies": "yellow",
         "does not apply": "green", "not checked": "dim"}


def doctor_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check what can make this machine's figures differ from published ones: CPU governor,
    frequency limits and turbo, thermal zones, a Pi's throttling, a Jetson's power mode and
    clocks, NVIDIA clocks, the Coral's USB link, memory, usable cores, other processes' CPU use.

    Example: edgebench doctor --json
    """
    with user_errors():
        from edgebench.conditions import check_all
        from edgebench.conditions.base import Probe
        from edgebench.conditions.processes import sampled_now

        conditions = [*check_all(), sampled_now(Probe())]
        if as_json:
            console.print_json(json.dumps([c.model_dump(mode="json") for c in conditions]))
            return
        _print_conditions(conditions)


def _print_conditions(conditions) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="conditions on this machine (edgebench doctor)")
    for col in ("check", "status", "found", "what it means for the figures", "what was read, from where"):
        table.add_column(col, overflow="fold")
    for c in conditions:
        table.add_row(escape(c.check), f"[{STYLE[c.status]}]{c.status}[/]", escape(c.value or "-"),
                      escape(c.meaning), escape(f"{c.read}: {c.source}"))
    console.print(table)
    warned = sum(c.status == "warn" for c in conditions)
    console.print(f"{warned} warning(s); {sum(c.status == 'unavailable' for c in conditions)} check(s) "
                  "cannot run on this machine", markup=False)


def explain_command(
    run_id: Annotated[str, typer.Argument(help=RUN_ID_HELP)],
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
    hub_model: Annotated[str | None, typer.Option("--hub-model", help=(
        "Also compare with the hub's results for this model (hub://owner/name; the hub at "
        "$EDGEBENCH_HUB_URL): each target against other runs of the same target."))] = None,
) -> None:
    """Why a run's figures differ from the published ones: for each target with a published
    figure of the same model and setup class, measured/published and the causes that apply, each
    with its evidence from the conditions stored with the run ("not checked" where there is none).

    Example: edgebench explain 3f2a
    """
    with user_errors():
        from edgebench.conditions.explain import explain

        run = open_store(store).get(run_id)
        explanation = explain(run, _hub_figures(hub_model) if hub_model else ())
        if as_json:
            console.print_json(json.dumps(explanation.as_dict()))
            return
        print_explanation(run, explanation)


def _hub_figures(ref_text: str):
    from edgebench.conditions.explain import hub_figures
    from edgebench.hub.client import HubClient
    from edgebench.refs import parse_ref

    ref = parse_ref(ref_text)
    with HubClient() as client:
        return hub_figures(client.results(ref), f"hub {client.url} {ref.path}")


def print_explanation(run, explanation) -> None:
    from rich.markup import escape
    from rich.table import Table

    status = f" ({run.status}: {run.error})" if run.status != "complete" and run.error else ""
    console.print(f"run {run.run_id[:12]}: {explanation.model} on {run.device.hostname}{status}", markup=False)
    if not run.conditions:
        console.print("no conditions were stored with this run (recorded before edgebench checked them): "
                      "causes read from them are 'not checked'", markup=False, style="dim")
    for gap in explanation.gaps:
        where = "on the hub" if gap.kind == "hub" else "published"
        table = Table(title=escape(f"{gap.target}: {gap.measured_fps:.1f} fps measured vs {gap.published_fps:g} fps "
                                   f"{where} ({gap.figure}, {gap.source}): {gap.ratio:.2f}x"))
        for col in ("cause", "verdict", "evidence", "estimate"):
            table.add_column(col, overflow="fold")
        for cause in gap.causes:
            table.add_row(escape(cause.name), f"[{STYLE[cause.verdict]}]{cause.verdict}[/]",
                          escape(cause.evidence), escape(cause.estimate or "-"))
        console.print(table)
    for note in explanation.notes:
        console.print(note, markup=False)
    if not explanation.gaps:
        console.print("nothing to explain: no target of this run has a published counterpart", markup=False)

"""`edgebench results list|show|export|import|delete`: the results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edgebench.cli.common import console, user_errors, write_text_atomically

app = typer.Typer(help="Stored results: list, show, export, import, delete.", no_args_is_help=True)

StoreOption = Annotated[Optional[str], typer.Option(
    "--store", help="SQLite file or SQLAlchemy URL (default: the user data dir, or $EDGEBENCH_STORE).")]


def open_store(store: str | None):
    from edgebench.results.store import Store

    return Store(store)


@app.command("list")
def list_command(store: StoreOption = None,
                 limit: Annotated[int, typer.Option(min=1, help="Newest N runs.")] = 50) -> None:
    """List stored runs, newest first."""
    with user_errors():
        s = open_store(store)
        table = Table(title=f"runs in {s.engine_url_safe()}")
        for col in ("run id", "created (UTC)", "status", "model", "protocol", "device", "targets"):
            table.add_column(col)
        for r in s.list_runs(limit):
            status = r["status"] if r["status"] == "complete" else f"[yellow]{r['status']}[/]"
            table.add_row(r["run_id"][:12], r["created"], status, r["model"], r["protocol"],
                          r["device"], str(r["targets"]))
        console.print(table)


@app.command("show")
def show_command(run_id: Annotated[str, typer.Argument(help="Run id or unique prefix.")],
                 store: StoreOption = None) -> None:
    """Show one run: its table, device fingerprint and harness overhead."""
    with user_errors():
        from edgebench.cli.run import print_run

        print_run(open_store(store).get(run_id), detail=True)


@app.command("export")
def export_command(
    run_ids: Annotated[Optional[list[str]], typer.Argument(help="Runs to export (default: all).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
    store: StoreOption = None,
) -> None:
    """Export runs as JSON (lossless bundle) or CSV (one row per target)."""
    with user_errors():
        from edgebench.errors import UserError
        from edgebench.results.exchange import dump_csv, dump_json

        if fmt not in ("json", "csv"):
            raise UserError(f"unknown format '{fmt}'; choose json or csv")
        s = open_store(store)
        runs = [s.get(i) for i in run_ids] if run_ids else s.all_runs()
        text = dump_json(runs) if fmt == "json" else dump_csv(runs)
        if out is None:
            typer.echo(text, nl=False)
        else:
            write_text_atomically(out, text)
            console.print(f"exported {len(runs)} run(s) to {out}")


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="A results JSON (run --out, export) or CSV export.")],
    skip_existing: Annotated[bool, typer.Option(help="Skip runs already stored instead of refusing.")] = False,
    store: StoreOption = None,
) -> None:
    """Import results from another machine. The file is validated whole: all runs land or none."""
    with user_errors():
        from edgebench.results.exchange import load_runs

        runs = load_runs(path)
        imported, skipped = open_store(store).import_runs(runs, skip_existing=skip_existing)
        console.print(f"imported {imported} run(s)" + (f", skipped {skipped} already stored" if skipped else ""))


@app.command("delete")
def delete_command(run_ids: Annotated[list[str], typer.Argument(help="Run ids or unique prefixes.")],
                   store: StoreOption = None) -> None:
    """Delete runs and their target results."""
    with user_errors():
        s = open_store(store)
        for run_id in run_ids:
            console.print(f"deleted run {s.delete(run_id)}")


@app.command("push")
def push_command(
    run_ids: Annotated[Optional[list[str]], typer.Argument(
        help="Runs to push (default: every stored run of a hub:// model).")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="owner/name@version the runs measured (default: the hub model each run ran).")] = None,
    store: StoreOption = None,
) -> None:
    """Upload runs to the hub (EDGEBENCH_HUB_URL, EDGEBENCH_HUB_TOKEN), linked to the model version
    and this device's fingerprint. Only targets that ran one of the version's own files count.

    Example: edgebench run --model hub://alice/mobilenet_v2@1 && edgebench results push
    """
    with user_errors():
        from rich.markup import escape

        from edgebench.errors import UserError
        from edgebench.hub.client import HubClient
        from edgebench.hub.names import parse_ref

        s = open_store(store)
        override = parse_ref(model) if model else None
        if override is not None and override.version is None:
            raise UserError("--model needs a version: owner/name@version")
        with HubClient() as client:
            # By default: the runs of models pulled from this hub (not from another one).
            runs = [s.get(i) for i in run_ids] if run_ids else [
                r for r in s.all_runs() if r.model.get("source") == "hub" and r.model.get("hub") == client.url]
            if not runs:
                raise UserError(f"no runs to push to {client.url}: run a model from it first "
                                "(edgebench run --model hub://owner/name@version) or name run ids")
            for run in runs:
                ref = override or _hub_ref_of(run)
                answer = client.push_results(ref, run)
                skipped = "".join(f"; skipped {x['target']} ({x['reason']})" for x in answer["skipped"])
                console.print(escape(f"{run.run_id[:12]} -> {ref}: {answer['added']} result(s) added, "
                                     f"{answer['already_present']} already there{skipped}"))


def _hub_ref_of(run):
    from edgebench.errors import UserError
    from edgebench.hub.names import parse_ref

    if run.model.get("source") != "hub":
        raise UserError(f"run {run.run_id[:12]} measured {run.model.get('name')}, not a hub model: "
                        "say which version it measured with --model owner/name@version")
    return parse_ref(run.model["name"])

"""`edgebench results list|show|export|import|delete`: the results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edgebench.cli.common import console, err_console, user_errors, write_text_atomically
from edgebench.results.run_ids import RUN_ID_HELP, RUN_IDS_HELP

app = typer.Typer(help="Stored results: list, show, export, import, delete.", no_args_is_help=True)

StoreOption = Annotated[Optional[str], typer.Option(
    "--store", help="SQLite file or SQLAlchemy URL (default: $EDGEBENCH_STORE, else results.db in $EDGEBENCH_DATA_DIR or the user data dir).")]


def say(message: str) -> None:
    """One message line: escaped (rich markup would eat "[...]" in paths and names) and never
    wrapped (a wrapped path cannot be copied)."""
    from rich.markup import escape

    console.print(escape(message), soft_wrap=True)


MAX_LIST = 1_000_000


def open_store(store: str | None, create: bool = False):
    """The store a command names. Only commands that write runs create one (create=True); the
    others refuse a missing store with one line rather than leave an empty one behind."""
    from edgebench.results.store import Store

    return Store(store, create=create)


def warn(message: str) -> None:
    """A problem that does not stop the command (a stored run that cannot be read): one line on
    stderr, escaped and never wrapped."""
    from rich.markup import escape

    err_console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


@app.command("list")
def list_command(store: StoreOption = None,
                 limit: Annotated[int, typer.Option(min=1, max=MAX_LIST, help="Newest N runs.")] = 50) -> None:
    """List stored runs, newest first. A run stored as running whose process is gone (killed
    with -9, a power cut) is listed as abandoned."""
    with user_errors():
        from rich.markup import escape

        s = open_store(store)
        table = Table(title=escape(f"runs in {s.engine_url_safe()}"))
        for col in ("run id", "created (UTC)", "status", "model", "protocol", "device", "targets"):
            table.add_column(col)
        for r in s.list_runs(limit, warn=warn):
            status = escape(r["status"]) if r["status"] == "complete" else f"[yellow]{escape(r['status'])}[/]"
            table.add_row(*(escape(str(v)) for v in (r["run_id"][:12], r["created"])), status,
                          *(escape(str(v)) for v in (r["model"], r["protocol"], r["device"], r["targets"])))
        console.print(table)


@app.command("show")
def show_command(run_id: Annotated[str, typer.Argument(help=RUN_ID_HELP)],
                 store: StoreOption = None,
                 logs: Annotated[bool, typer.Option("--logs", help="Print each LoadGen target's summary log and where its detail log is.")] = False) -> None:
    """Show one run: its table, device fingerprint and harness overhead.

    Example: edgebench results show 3f2a --logs
    """
    with user_errors():
        from edgebench.cli.run_screen import print_run

        run = open_store(store).get(run_id)
        if logs:
            from edgebench.cli.loadgen_screen import print_logs

            print_logs(run)
            return
        print_run(run, detail=True)


@app.command("export")
def export_command(
    run_ids: Annotated[Optional[list[str]], typer.Argument(help=f"Runs to export (default: all). {RUN_IDS_HELP}")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="File to write; - or none: stdout.")] = None,
    store: StoreOption = None,
) -> None:
    """Export runs as JSON (lossless bundle) or CSV (one row per target).

    Example: edgebench results export 3ee78a52 --format csv --out - | head
    """
    with user_errors():
        from edgebench.cli.common import check_writable
        from edgebench.errors import UserError
        from edgebench.results.exchange import dump_csv, dump_json
        from edgebench.results.query import runs_for_export

        if fmt not in ("json", "csv"):
            raise UserError(f"unknown format '{fmt}'; choose json or csv")
        to_stdout = out is None or str(out) == "-"
        if not to_stdout:
            check_writable(out)
        runs = runs_for_export(open_store(store), run_ids, warn)
        text = dump_json(runs) if fmt == "json" else dump_csv(runs)
        if to_stdout:
            typer.echo(text, nl=False)
        else:
            write_text_atomically(out, text)
            say(f"exported {len(runs)} run(s) to {out}")


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="A results JSON (run --out, export) or CSV export.")],
    skip_existing: Annotated[bool, typer.Option(help="Skip runs already stored instead of refusing.")] = False,
    store: StoreOption = None,
) -> None:
    """Import results from another machine. The file is validated whole: all runs land or none.
    An imported run is final: one the file records as running or abandoned is stored as
    interrupted, saying so."""
    with user_errors():
        from edgebench.results.exchange import load_runs
        from edgebench.results.store import UNFINISHED

        runs = load_runs(path)
        imported, skipped = open_store(store, create=True).import_runs(runs, skip_existing=skip_existing)
        unfinished = sum(run.status in UNFINISHED for run in runs)
        counted = f"{unfinished} " if not skipped else "those "   # skipped ones were not stored now
        finals = (f"; {counted}recorded as running or abandoned, stored as interrupted (an imported "
                  "run is final)" if unfinished else "")
        say(f"imported {imported} run(s)" + (f", skipped {skipped} already stored" if skipped else "") + finals)


@app.command("delete")
def delete_command(run_ids: Annotated[list[str], typer.Argument(help=RUN_IDS_HELP)],
                   store: StoreOption = None) -> None:
    """Delete runs and their target results, all or none: if any id does not name exactly one
    run, nothing is deleted.

    Example: edgebench results delete 3ee78a52 9c01d4e7
    """
    with user_errors():
        for full_id in open_store(store).delete_runs(run_ids):
            say(f"deleted run {full_id}")


@app.command("push")
def push_command(
    run_ids: Annotated[Optional[list[str]], typer.Argument(
        help=f"Runs to push (default: every stored run of a model from this hub). {RUN_IDS_HELP}")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="owner/name@version the runs measured (default: the hub model each run ran).")] = None,
    store: StoreOption = None,
) -> None:
    """Upload runs to the hub (EDGEBENCH_HUB_URL, EDGEBENCH_HUB_TOKEN), linked to the model version
    and this device's fingerprint. Only targets that ran one of the version's own files count.

    Example: edgebench run --model hub://alice/mobilenet_v2@1 && edgebench results push
    """
    with user_errors():
        from edgebench.errors import UserError
        from edgebench.hub.client import HubClient
        from edgebench.refs import parse_ref
        from edgebench.results.query import hub_version_of, runs_to_push

        s = open_store(store)
        override = parse_ref(model) if model else None
        if override is not None and override.version is None:
            raise UserError("--model needs a version: owner/name@version")
        with HubClient() as client:
            runs = runs_to_push(s, run_ids, client.url, warn)
            refs = [hub_version_of(run, override) for run in runs]  # every run checked before any upload
            for run, ref in zip(runs, refs):
                answer = client.push_results(ref, run)
                skipped = "".join(f"; skipped {x['target']} ({x['reason']})" for x in answer["skipped"])
                say(f"{run.run_id[:12]} -> {ref}: {answer['added']} result(s) added, "
                    f"{answer['already_present']} already there{skipped}")


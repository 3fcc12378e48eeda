"""Root of the `edgebench` command: one sub-command or sub-app per noun."""

from __future__ import annotations

import typer

from edgebench.cli import accuracy, hub, models, report, results, run, targets

app = typer.Typer(
    name="edgebench",
    help="Which hardware and runtime runs my model fastest, and does it still give the right answer?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("run")(run.run_command)
app.command("targets")(targets.targets_command)
app.command("accuracy")(accuracy.accuracy_command)
app.command("report")(report.report_command)
app.command("compare")(report.compare_command)
app.add_typer(models.app, name="models")
app.add_typer(results.app, name="results")
app.add_typer(hub.app, name="hub")


def _version(value: bool) -> None:
    if value:
        from edgebench import __version__

        typer.echo(f"edgebench {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """edgebench: benchmark a model on every runtime this machine has."""


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        # Ctrl-C outside a run's timing loop (prepare, import): nothing half-written is kept.
        from edgebench.cli.common import err_console

        err_console.print("interrupted")
        raise SystemExit(130) from None

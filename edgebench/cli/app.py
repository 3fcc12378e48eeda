"""Root of the `edgebench` command: one sub-command or sub-app per noun."""

from __future__ import annotations

import typer

from edgebench.cli import (accuracy, doctor, fleet, hub, models, preview, profile, report, results, retrain,
                           run, targets)

app = typer.Typer(
    name="edgebench",
    help="Which hardware and runtime runs my model fastest, and does it still give the right answer?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts are plain text: "hub://owner/name[@version]" must not be read as rich markup.
    rich_markup_mode=None,
    add_completion=False,
)
app.command("run")(run.run_command)
app.command("targets")(targets.targets_command)
app.command("accuracy")(accuracy.accuracy_command)
app.command("profile")(profile.profile_command)
app.command("report")(report.report_command)
app.command("compare")(report.compare_command)
app.command("preview")(preview.preview_command)
app.command("retrain")(retrain.retrain_command)
app.command("doctor")(doctor.doctor_command)
app.command("explain")(doctor.explain_command)
app.add_typer(models.app, name="models")
app.add_typer(results.app, name="results")
app.add_typer(hub.app, name="hub")
app.add_typer(fleet.app, name="fleet")


def _version(value: bool) -> None:
    if value:
        from edgebench import __version__

        typer.echo(f"edgebench {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """edgebench: benchmark a model on every runtime this machine has."""


def _click_exceptions():
    """Typer >= 0.2x vendors its own click; older versions use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


def main() -> None:
    from rich.markup import escape

    from edgebench.cli.common import USER_ERROR_EXIT, console, err_console, interrupt_exit_code

    errors = _click_exceptions()
    try:
        # Not standalone: a usage error (unknown option, a value outside its choices or range)
        # comes back here and is printed as one line, like every other user error.
        code = app(standalone_mode=False)
    except errors.NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help(), markup=False)
        raise SystemExit(0) from None
    except errors.UsageError as exc:
        where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        err_console.print(f"[bold red]error:[/] {escape(exc.format_message() + where)}", soft_wrap=True)
        raise SystemExit(USER_ERROR_EXIT) from None
    except errors.ClickException as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.format_message())}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except (KeyboardInterrupt, typer.Abort) as exc:
        # Ctrl-C outside a run's timing loop (prepare, import): nothing half-written is kept.
        err_console.print(str(exc) or "interrupted", markup=False)
        raise SystemExit(interrupt_exit_code(exc)) from None
    raise SystemExit(code if isinstance(code, int) else 0)

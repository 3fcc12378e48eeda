"""Shared CLI plumbing: consoles and turning user errors into one line + exit code 2."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console

# Piped output gets a wide fixed width so tables are not squeezed to 80 columns in logs.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True, highlight=False)

USER_ERROR_EXIT = 2


def fail(message: str, code: int = USER_ERROR_EXIT) -> typer.Exit:
    from rich.markup import escape

    # The message is plain text: "[@version]" in it must not be taken for rich markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Run a command body; a UserError becomes one line on stderr and exit 2."""
    from edgebench.errors import UserError

    try:
        yield
    except UserError as exc:
        raise fail(str(exc)) from None


def write_text_atomically(path: Path, text: str) -> None:
    from edgebench.errors import UserError

    path = Path(path)
    if not path.parent.exists():
        raise UserError(f"cannot write {path}: directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror}") from None

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
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
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


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP end a command the way Ctrl-C does (a stored run is marked
    interrupted, not left 'running'); the previous handlers come back afterwards."""
    import signal

    from edgebench.errors import Terminated

    def terminate(signum, _frame):
        raise Terminated(signum)

    wanted = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, terminate) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def interrupt_exit_code(exc: BaseException) -> int:
    """128 + the signal number, as shells report a process ended by a signal (Ctrl-C: 130)."""
    return 128 + getattr(exc, "signum", 2)


def check_writable(path: Path) -> None:
    """Before any work: can `path` be written? A missing or read-only directory, a directory in
    the file's place: one line now rather than a lost result later."""
    from edgebench.errors import UserError

    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: directory {path.parent} does not exist")
    if path.exists() and not path.is_file():
        return  # a device or pipe (/dev/null, a FIFO): written in place, see below
    import tempfile

    try:  # a real probe: permissions alone do not tell a read-only file system (or root) apart
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.probe-"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_text_atomically(path: Path, text: str) -> None:
    """Write a whole file or nothing (a temporary file renamed into place). A special file such
    as /dev/null or a FIFO is written directly: it cannot be replaced."""
    from edgebench.errors import UserError

    path = Path(path)
    check_writable(path)
    try:
        if path.exists() and not path.is_file():
            with open(path, "w") as special:
                special.write(text)
            return
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None

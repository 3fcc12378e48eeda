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
    """Run a command body; a UserError becomes one line on stderr and exit 2. So does a file
    error no check foresaw (OSError: the file and the reason), rather than a traceback."""
    from edgebench.errors import UserError
    from edgebench.fileio import reason, shown

    try:
        yield
    except UserError as exc:
        raise fail(str(exc)) from None
    except BrokenPipeError:   # `... | head` closed the pipe: nothing more to say to anyone
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None
    except OSError as exc:
        where = f"{shown(exc.filename)}: " if exc.filename else ""
        raise fail(f"{where}{reason(exc)}") from None


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

    import stat

    from edgebench.fileio import shown, stat_or_none

    path = Path(path)
    found = stat_or_none(path, "output file")
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise UserError(f"cannot write {shown(path)}: it is a directory")
    parent = stat_or_none(path.parent, "output directory")
    if parent is None or not stat.S_ISDIR(parent.st_mode):
        raise UserError(f"cannot write {shown(path)}: directory {shown(path.parent)} does not exist")
    if found is not None and not stat.S_ISREG(found.st_mode):
        return  # a device or pipe (/dev/null, a FIFO): written in place, see below
    import tempfile

    try:  # a real probe: permissions alone do not tell a read-only file system (or root) apart
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.probe-"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise UserError(f"cannot write {shown(path)}: {exc.strerror or exc}") from None


def check_folder_writable(folder: Path) -> None:
    """Before any work: `folder` is (or is now made) a directory files can be created in. An
    existing file in its place, a read-only or immutable directory: one line now."""
    import stat

    from edgebench.errors import UserError
    from edgebench.fileio import reason, shown, stat_or_none

    folder = Path(folder)
    found = stat_or_none(folder, "output directory")
    if found is not None and not stat.S_ISDIR(found.st_mode):
        raise UserError(f"cannot write into {shown(folder)}: it exists and is not a directory")
    if found is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create directory {shown(folder)}: {reason(exc)}") from None
    import tempfile

    try:  # a real probe: read-only file systems, immutable directories and root all differ
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".edgebench-probe-"):
            pass
    except OSError as exc:
        raise UserError(f"cannot write into {shown(folder)}: {reason(exc)}") from None


def write_text_atomically(path: Path, text: str) -> None:
    """Write a whole file or nothing (a temporary file renamed into place). A special file such
    as /dev/null or a FIFO is written directly: it cannot be replaced."""
    write_bytes_atomically(path, text.encode())


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """write_text_atomically for bytes (charts)."""
    from edgebench.errors import UserError
    from edgebench.fileio import shown

    path = Path(path)
    check_writable(path)
    try:
        if path.exists() and not path.is_file():
            with open(path, "wb") as special:
                special.write(data)
            return
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write {shown(path)}: {exc.strerror or exc}") from None

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
    from edgebench.errors import printable

    err_console.print(f"[bold red]error:[/] {escape(printable(message))}", markup=True, soft_wrap=True)
    return typer.Exit(code)


# The library names the setting at fault in its own terms (UserError.setting); these are the flags
# whose names differ from that setting's. Any other setting's flag is the name with dashes.
FLAG_OF_SETTING = {"duration_s": "--duration", "input_shapes": "--input-shape", "learning_rate": "--lr",
                   "val_dir": "--val",
                   "latency_bound_ms": "--latency-bound",
                   "min_duration_s": "--loadgen-duration", "allow_download": "--offline", "min_query_count": "--min-queries"}


def with_flag(exc) -> str:
    """A library error's message, led by the flag of the setting it is about (when it names one)."""
    message = str(exc)
    setting = getattr(exc, "setting", None)
    if not setting:
        return message
    flag = FLAG_OF_SETTING.get(setting, "--" + setting.replace("_", "-"))
    return f"{flag}: {message}"


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Run a command body; a UserError becomes one line on stderr and exit 2. So does a file
    error no check foresaw (OSError: the file and the reason), rather than a traceback."""
    from edgebench.errors import UserError
    from edgebench.fileio import reason, shown

    try:
        yield
    except UserError as exc:
        raise fail(with_flag(exc)) from None
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


def landing(path: Path) -> Path:
    """The file a write to `path` really lands on: a symlink's target, so that writing updates
    that file and the link stays a link (a dangling link's target is created, as a shell's `>`
    would). A symlink loop is left unresolved: checking it then names the loop."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):   # an embedded NUL: the checks below say so in one line
        return Path(path)


def _hidden_name(name: str) -> str:
    """The start of a hidden temporary name beside `name`: cut short, so that a target whose
    name is near the file system's limit (255 bytes) still gets a temporary file that fits. Cut
    in bytes, not characters: 100 characters of "é" are 200 bytes."""
    return f".{os.fsdecode(os.fsencode(name)[:100])}."


def check_writable(path: Path) -> Path:
    """Before any work: can `path` be written? A missing or read-only directory, a directory in
    the file's place: one line now rather than a lost result later. Returns the file a write
    lands on (see landing)."""
    import stat

    from edgebench.errors import UserError
    from edgebench.fileio import shown, stat_or_none

    path = Path(path)
    target = landing(path)
    found = stat_or_none(target, "output file")
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise UserError(f"cannot write {shown(path)}: it is a directory")
    parent = stat_or_none(target.parent, "output directory")
    if parent is None or not stat.S_ISDIR(parent.st_mode):
        raise UserError(f"cannot write {shown(path)}: directory {shown(target.parent)} does not exist")
    if found is not None and not stat.S_ISREG(found.st_mode):
        return target  # a device or pipe (/dev/null, a FIFO): written in place, see below
    _probe_file_in(target.parent, _hidden_name(target.name) + "probe-", f"cannot write {shown(path)}")
    if found is not None and not os.access(target, os.W_OK):
        raise UserError(f"cannot write {shown(path)}: Permission denied")
    return target


def _probe_file_in(folder: Path, prefix: str, failure: str) -> None:
    """Create and remove a file in `folder`: permissions alone do not tell a read-only file
    system, an immutable directory or root apart. A failure is one line: `failure`: why."""
    import tempfile

    from edgebench.errors import UserError
    from edgebench.fileio import reason

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=prefix):
            pass
    except OSError as exc:
        raise UserError(f"{failure}: {reason(exc)}") from None


def check_folder_writable(folder: Path) -> None:
    """Before any work: files can be created in `folder`, or `folder` can be made. Nothing is
    created here (make_folder does that once there is something to put in it): a command that
    fails later must not leave empty directories behind. An existing file in its place, a
    read-only or immutable directory: one line now."""
    import stat

    from edgebench.errors import UserError
    from edgebench.fileio import shown, stat_or_none

    folder = Path(folder)
    found = stat_or_none(folder, "output directory")
    if found is not None and not stat.S_ISDIR(found.st_mode):
        raise UserError(f"cannot write into {shown(folder)}: it exists and is not a directory")
    if found is not None:
        _probe_file_in(folder, ".edgebench-probe-", f"cannot write into {shown(folder)}")
        return
    _probe_folder_in(_nearest_existing(folder), folder)


def _nearest_existing(folder: Path) -> Path:
    """The closest existing ancestor of a missing `folder`; a file on the way is one line."""
    import errno
    import stat

    from edgebench.errors import UserError
    from edgebench.fileio import shown, stat_or_none

    # Path.parents, not abspath: `a/link/../b` must go through the link as the kernel will.
    for ancestor in Path(folder).parents:
        found = stat_or_none(ancestor, "output directory")
        if found is None:
            continue
        if not stat.S_ISDIR(found.st_mode):
            raise UserError(f"cannot write into {shown(folder)}: {os.strerror(errno.ENOTDIR)} "
                            f"({shown(ancestor)} is in the way)")
        return ancestor
    return Path(".")


def _probe_folder_in(ancestor: Path, folder: Path) -> None:
    """Make and remove a directory in `ancestor`: what make_folder will need to do there."""
    import tempfile

    from edgebench.errors import UserError
    from edgebench.fileio import reason, shown

    try:
        os.rmdir(tempfile.mkdtemp(dir=ancestor, prefix=".edgebench-probe-"))
    except OSError as exc:
        raise UserError(f"cannot create directory {shown(folder)}: {reason(exc)}") from None


def make_folder(folder: Path) -> None:
    """Create `folder` (and its parents) once there is something to write into it."""
    from edgebench.errors import UserError
    from edgebench.fileio import reason, shown

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create directory {shown(folder)}: {reason(exc)}") from None


def write_text_atomically(path: Path, text: str) -> None:
    """Write a whole file or nothing (a temporary file renamed into place). A special file such
    as /dev/null or a FIFO is written directly: it cannot be replaced."""
    write_bytes_atomically(path, text.encode())


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """write_text_atomically for bytes (charts). A symlink's target is written, not the link."""
    from edgebench.errors import UserError
    from edgebench.fileio import reason, shown

    path = Path(path)
    target = check_writable(path)
    try:
        if not _wrote_in_place(target, data):
            _replace(target, data)
    except OSError as exc:
        raise UserError(f"cannot write {shown(path)}: {reason(exc)}") from None


def _wrote_in_place(target: Path, data: bytes) -> bool:
    """Write a device or FIFO that is already there (it cannot be renamed over) and say True;
    False for a regular file or nothing. Opened without O_CREAT or O_TRUNC and checked again
    once open, so a regular file put there meanwhile is never truncated in place."""
    import stat

    try:
        found = os.stat(target).st_mode
        if stat.S_ISREG(found):
            return False
        fd = _open_special(target, stat.S_ISFIFO(found))
    except FileNotFoundError:
        return False
    with open(fd, "wb") as f:   # closing flushes: a full device (/dev/full) fails here, loudly
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        f.write(data)
    return True


def _open_special(target: Path, fifo: bool) -> int:
    """Open a device or FIFO for writing. Opening a FIFO waits for a reader, as it must for
    `mkfifo p; edgebench run --out p & cat p`; when none is there yet, say so first instead of
    hanging in silence (Ctrl-C ends the wait)."""
    import errno

    flags = os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC
    if not fifo:
        return os.open(target, flags)
    try:
        fd = os.open(target, flags | os.O_NONBLOCK)   # with a reader there: opens at once
        os.set_blocking(fd, True)   # then writes wait for a slow reader instead of failing
        return fd
    except OSError as exc:
        if exc.errno != errno.ENXIO:   # ENXIO: no process has the FIFO open for reading
            raise
    from edgebench.fileio import shown

    print(f"waiting for a process to read the FIFO {shown(target)} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    return os.open(target, flags)


def _replace(target: Path, data: bytes) -> None:
    """A new file with a unique name beside `target` (mkstemp: created exclusively, so neither a
    symlink planted at a guessable name nor a second writer can be followed or collided with),
    written, synced, then renamed over `target`. On any failure the temporary file is removed."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_hidden_name(target.name), suffix=".tmp")
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(fd, _mode_for(target))
            os.fsync(fd)
        os.replace(tmp, target)
    except BaseException:   # Ctrl-C too: no stray temporary file
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(target.parent)


def _mode_for(target: Path) -> int:
    """The permissions the new file gets: those of the file it replaces, else what a plain
    open() would give (0666 less the umask; mkstemp alone would give 0600)."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; a file system that cannot sync a directory is no error."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

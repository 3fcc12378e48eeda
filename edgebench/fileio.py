"""Reading the files a user names, with one clear line for every way that can fail.

`os.stat` and `open` fail in more ways than "not found": a path too long for the file system
(ENAMETOOLONG), a symlink loop (ELOOP), a component that is a file (ENOTDIR), no permission, a
FIFO that would block a reader forever, a directory. Each becomes a UserError naming the file and
the reason, never a traceback, and never a misleading "not found".
"""

from __future__ import annotations

import errno
import os
import stat
from edgebench.errors import UserError

MAX_SHOWN = 160   # characters of a path shown in a message: a 5000-character path stays one line


def shown(path) -> str:
    """A path as a message shows it: whole, or its start and end when it is very long."""
    text = str(path)
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[:60]}...{text[-60:]} ({len(text)} characters)"


def reason(exc: OSError) -> str:
    """An OSError's reason without its file name (the message names the file itself)."""
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links (a symlink loop?)"
    return (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")


def stat_or_none(path, what: str = "file") -> os.stat_result | None:
    """os.stat(path), or None if nothing is there; any other failure is one line."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None   # a parent is a file: nothing can be at this path
    except OSError as exc:
        raise UserError(f"cannot use {what} {shown(path)}: {reason(exc)}") from None
    except ValueError as exc:  # an embedded NUL
        raise UserError(f"cannot use {what} {shown(path)!r}: {exc}") from None


def regular_file(path, what: str = "file") -> os.stat_result:
    """The stat of an existing regular file; missing files, directories, FIFOs and devices are
    refused (reading a FIFO or a device could block or never end)."""
    st = stat_or_none(path, what)
    if st is None:
        raise UserError(f"{what} not found: {shown(path)}")
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UserError(f"{what} {shown(path)} is {kind}")
    return st


def read_bytes(path, what: str = "file", max_bytes: int = 1 << 30) -> bytes:
    """A regular file's bytes, refused past max_bytes."""
    st = regular_file(path, what)
    if st.st_size > max_bytes:
        raise UserError(f"{what} {shown(path)} is {st.st_size / 2**20:.0f} MiB, over the limit of "
                        f"{max_bytes / 2**20:.0f} MiB")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise UserError(f"cannot read {what} {shown(path)}: {reason(exc)}") from None
    if len(data) > max_bytes:   # it grew while being read
        raise UserError(f"{what} {shown(path)} is over the limit of {max_bytes / 2**20:.0f} MiB")
    return data


def read_text(path, what: str = "file", max_bytes: int = 1 << 30) -> str:
    """A regular file as UTF-8 text (a byte-order mark is dropped); binary files are refused."""
    data = read_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} {shown(path)} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                        f"offset {exc.start}): is it the right file?") from None

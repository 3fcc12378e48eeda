"""What every check reads through: a root for /sys and /proc, a PATH for commands, a timeout,
and the NVML module. Tests point all four at stand-ins (a tmp_path tree, a folder of scripts,
a fake pynvml object).

Reads never trust the file: a FIFO, a socket or a device node is refused without opening it for
long (O_NONBLOCK), a file is read up to a bound, and an unreadable one is a reason, not an error.
Commands run in their own session and are killed with their children when they overrun.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.results.schema import Condition

MAX_READ_BYTES = 64 * 1024      # sysfs/procfs files are small; anything bigger is not what we expect
MAX_COMMAND_CHARS = 64 * 1024


@dataclass(frozen=True)
class Probe:
    """Where the checks look. root: the filesystem root holding sys/ and proc/ ("/" for real);
    path: the PATH commands are found on (None: this process's); nvml: a pynvml-like module
    (None: import pynvml if installed)."""

    root: Path = Path("/")
    path: str | None = None
    timeout_s: float = 3.0
    nvml: object | None = field(default=None, compare=False)

    @property
    def real(self) -> bool:
        return Path(self.root).resolve() == Path("/")

    def file(self, relative: str) -> Path:
        return Path(self.root) / relative

    def shown(self, relative: str) -> str:
        """The path as the user knows it (/sys/...), whatever the root."""
        return "/" + relative.lstrip("/")

    def read(self, relative: str) -> tuple[str | None, str | None]:
        """(text, None) or (None, why it could not be read)."""
        return read_small(self.file(relative))

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self.path if self.path is not None else os.environ.get("PATH", ""))

    def command(self, argv: list[str]) -> tuple[str | None, str | None]:
        """(stdout, None), or (None, why not): not on PATH, failed, timed out, said nothing."""
        found = self.which(argv[0])
        if found is None:
            return None, f"{argv[0]} is not on PATH"
        return run_bounded([found, *argv[1:]], self.timeout_s)


def read_small(path: Path) -> tuple[str | None, str | None]:
    """A small regular file's text (NULs dropped, stripped), or (None, why not)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, "absent"
    except OSError as exc:
        return None, exc.strerror or type(exc).__name__
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return None, "not a regular file"
        data = os.read(fd, MAX_READ_BYTES + 1)
    except OSError as exc:
        return None, exc.strerror or type(exc).__name__
    finally:
        os.close(fd)
    if len(data) > MAX_READ_BYTES:
        return None, f"larger than {MAX_READ_BYTES // 1024} KiB (not a sysfs value)"
    return data.decode(errors="replace").replace("\x00", "").strip(), None


def run_bounded(argv: list[str], timeout_s: float) -> tuple[str | None, str | None]:
    """Run a command with a deadline; on overrun kill its whole process group (a stand-in that
    forks `sleep` must not keep our pipe open)."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        return None, f"{Path(argv[0]).name} could not start: {exc.strerror or exc}"
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return None, f"{Path(argv[0]).name} did not answer within {timeout_s:g} s (killed)"
    text = out[:MAX_COMMAND_CHARS].decode(errors="replace").replace("\x00", "")
    if proc.returncode != 0:
        return None, f"{Path(argv[0]).name} exited with status {proc.returncode}"
    if not text.strip():
        return None, f"{Path(argv[0]).name} printed nothing"
    return text, None


def printable(text: str, limit: int = 300) -> str:
    """Text from a file or command, safe for the schema (no control characters) and bounded."""
    cleaned = "".join(c if c.isprintable() else " " for c in str(text))
    return cleaned[:limit]


def condition(check: str, family: str, status: str, read: str, source: str, meaning: str,
              value: str | None = None, **data) -> Condition:
    return Condition(check=check, family=family, status=status, read=printable(read, 400),
                     source=printable(source, 400), value=printable(value, 400) if value is not None else None,
                     meaning=printable(meaning, 600), data=data)


def unavailable(check: str, family: str, read: str, source: str, why: str) -> Condition:
    """A check that cannot run here: one line saying why."""
    return condition(check, family, "unavailable", read, source, why)

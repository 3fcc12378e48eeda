"""Memory a target needs: the process's peak resident set while loading and while running.

On Linux the kernel keeps the peak (VmHWM in /proc/self/status) and lets a process reset it to
the current RSS (writing 5 to /proc/self/clear_refs): an exact peak, with no sampling thread
to disturb the timed loop. Elsewhere only the resident set before and after is known (psutil),
and the method says so.

Targets run one after another in one process, and the C allocator keeps the pages an earlier
target freed: a later target that loads into them adds nothing to the resident set, and its
figure read 0 (onnxruntime-int8 after onnxruntime-fp32: 0.2 MiB instead of 13). So each phase
starts by handing freed memory back to the OS (a garbage collection, then glibc's malloc_trim);
where that cannot be done, the method says that later targets' figures may be low.
"""

from __future__ import annotations

import ctypes
import gc
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MIB = 1024 * 1024


class PeakMemory:
    """Brackets a phase: reset() before it, peak_bytes() after."""

    def __init__(self) -> None:
        self.exact = self._can_reset()
        self._trim = _malloc_trim()
        self.method = ("peak resident set (Linux VmHWM, reset before each phase) minus the resident "
                       "set before it" if self.exact else
                       "resident set after minus before (psutil; no peak available on this OS)")
        self.method += ("; memory freed by earlier targets is returned to the OS first (malloc_trim)"
                        if self._trim else
                        "; after the first target a figure may be low: memory an earlier target freed "
                        "stays with the process and is reused")

    @staticmethod
    def _can_reset() -> bool:
        try:
            _CLEAR_REFS.write_text("5")
            return "VmHWM" in _STATUS.read_text()
        except OSError:
            return False

    def rss_bytes(self) -> int:
        import psutil

        return psutil.Process().memory_info().rss

    def release_freed(self) -> None:
        """Give pages freed so far back to the OS, so that what a phase allocates shows as growth."""
        gc.collect()
        if self._trim is not None:
            self._trim(0)

    def reset(self) -> int:
        """Start a phase; returns the resident set now (after freed memory went back to the OS)."""
        self.release_freed()
        if self.exact:
            _CLEAR_REFS.write_text("5")
        return self.rss_bytes()

    def peak_bytes(self) -> int:
        """The highest resident set since reset() (or the current one, without a kernel peak)."""
        if self.exact:
            for line in _STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return self.rss_bytes()


def _malloc_trim():
    """glibc's malloc_trim(pad), or None on other C libraries (musl, macOS, Windows)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim   # the process's own symbols: no library search
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim

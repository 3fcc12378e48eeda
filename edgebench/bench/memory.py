"""Memory a target needs: the process's peak resident set while loading and while running.

On Linux the kernel keeps the peak (VmHWM in /proc/self/status) and lets a process reset it to
the current RSS (writing 5 to /proc/self/clear_refs): an exact peak, with no sampling thread
to disturb the timed loop. Elsewhere only the resident set before and after is known (psutil),
and the method says so.
"""

from __future__ import annotations

from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MIB = 1024 * 1024


class PeakMemory:
    """Brackets a phase: reset() before it, peak_bytes() after."""

    def __init__(self) -> None:
        self.exact = self._can_reset()
        self.method = ("peak resident set (Linux VmHWM, reset before each phase) minus the resident "
                       "set before it" if self.exact else
                       "resident set after minus before (psutil; no peak available on this OS)")

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

    def reset(self) -> int:
        """Start a phase; returns the resident set now."""
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

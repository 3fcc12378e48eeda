"""Memory pressure: how much memory is available (/proc/meminfo) and how long tasks stalled
waiting for it (pressure stall information, /proc/pressure/memory)."""

from __future__ import annotations

import re

from edgebench.conditions.base import Probe, condition, unavailable

LOW_AVAILABLE_SHARE = 0.10
LOW_AVAILABLE_MIB = 256
STALL_PERCENT = 5.0   # "some" avg10: share of the last 10 s in which a task waited for memory


def meminfo(text: str) -> dict[str, int]:
    """{field: KiB} from /proc/meminfo text (malformed lines skipped)."""
    fields = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(\w+):\s+(\d{1,15})(?:\s+kB)?", line.strip())
        if m:
            fields[m.group(1)] = int(m.group(2))
    return fields


def pressure(probe: Probe):
    text, why = probe.read("proc/meminfo")
    fields = meminfo(text or "")
    total, available = fields.get("MemTotal"), fields.get("MemAvailable")
    if not total or available is None:
        return unavailable("memory pressure", "memory", "MemTotal, MemAvailable", "/proc/meminfo",
                           f"/proc/meminfo unreadable or without MemAvailable ({why or 'fields missing'})")
    stall = None
    psi, _ = probe.read("proc/pressure/memory")
    m = re.search(r"some avg10=([\d.]+)", psi or "")
    if m:
        stall = float(m.group(1))
    share = available / total
    value = f"{available / 1024:,.0f} of {total / 1024:,.0f} MiB available" + (
        f", stalled {stall:.1f}% of the last 10 s" if stall is not None else "")
    low = share < LOW_AVAILABLE_SHARE or available / 1024 < LOW_AVAILABLE_MIB
    stalled = stall is not None and stall >= STALL_PERCENT
    source = "/proc/meminfo" + (", /proc/pressure/memory" if stall is not None else "")
    data = {"available_mib": available / 1024, "total_mib": total / 1024, "stall_avg10": stall}
    if low or stalled:
        return condition("memory pressure", "memory", "warn", "available memory and memory stalls", source,
                         "little memory left: the kernel reclaims pages (and may swap) while timing, so "
                         "latencies grow and wander", "memory low: " + value, **data)
    return condition("memory pressure", "memory", "ok", "available memory and memory stalls", source,
                     "enough memory: no reclaim while timing", value, **data)


CHECKS = (pressure,)

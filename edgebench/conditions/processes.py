"""Other processes' CPU use while edgebench times: the machine's busy time (/proc/stat) minus
this process's own (/proc/self/stat), in cores, over each timed loop. A background thread takes
a sample every SAMPLE_S so a burst shows as the peak; the start and stop samples give the mean.
Where psutil is installed (and the root is the real one) the busiest other processes are named.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from edgebench.conditions.base import Probe, condition, unavailable

SAMPLE_S = 0.5
BUSY_CORES = 0.5    # others keeping half a core busy or more is a cause worth naming
TOP = 3


@dataclass(frozen=True)
class Counters:
    busy: int          # jiffies the machine was busy (user, nice, system, irq, softirq, steal)
    total: int         # all jiffies, idle included
    cpus: int
    own: int           # this process's user + system jiffies


def read_counters(probe: Probe) -> Counters | None:
    stat, _ = probe.read("proc/stat")
    own_text, _ = probe.read("proc/self/stat")
    if not stat or not own_text:
        return None
    lines = stat.splitlines()
    fields = lines[0].split()
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    # /proc/self/stat: the command name is in parentheses and may hold spaces
    after = own_text.rpartition(")")[2].split()
    try:
        values = [int(v) for v in fields[1:9]]
        own = int(after[11]) + int(after[12])    # utime, stime (fields 14 and 15)
    except (ValueError, IndexError):
        return None
    if fields[0] != "cpu" or len(values) < 8 or not cpus:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = values
    busy = user + nice + system + irq + softirq + steal
    return Counters(busy, busy + idle + iowait, cpus, own)


def others_cores(before: Counters, after: Counters) -> float | None:
    """Cores other processes kept busy between two samples (None: too short to tell)."""
    total = after.total - before.total
    if total <= 0:
        return None
    others = (after.busy - before.busy) - (after.own - before.own)
    return max(0.0, others / total * after.cpus)


class OtherProcesses:
    """Start before a timed loop, stop after it: {'cores', 'peak_cores', 'seconds', 'top'}."""

    def __init__(self, probe: Probe | None = None, interval_s: float = SAMPLE_S):
        self.probe, self.interval_s = probe or Probe(), interval_s
        self._stop = threading.Event()
        self._thread = None
        self._first = self._last = None
        self._peak = 0.0
        self._started = 0.0
        self._procs: dict = {}

    def start(self) -> OtherProcesses:
        self._first = self._last = read_counters(self.probe)
        self._started = time.monotonic()
        self._procs = _process_times() if self.probe.real else {}
        if self._first is not None:
            self._thread = threading.Thread(target=self._sample, name="edgebench-others", daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            now = read_counters(self.probe)
            if now is not None and self._last is not None:
                cores = others_cores(self._last, now)
                self._peak = max(self._peak, cores or 0.0)
                self._last = now

    def stop(self) -> dict | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        end = read_counters(self.probe)
        if self._first is None or end is None:
            return None
        cores = others_cores(self._first, end)
        if cores is None:
            return None
        seconds = time.monotonic() - self._started
        tail = others_cores(self._last, end) if self._last is not None else None
        top = _busiest(self._procs, _process_times(), seconds) if self.probe.real else []
        return {"cores": round(cores, 2), "peak_cores": round(max(self._peak, tail or 0.0, cores), 2),
                "seconds": round(seconds, 3), "cpus": end.cpus, "top": top}


def _process_times() -> dict:
    """{pid: (name, CPU seconds)} of every other process, where psutil is installed."""
    try:
        import psutil
    except ImportError:
        return {}
    me = os.getpid()
    found = {}
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info.get("cpu_times")
        if proc.pid != me and times is not None:
            found[proc.pid] = (proc.info.get("name") or "?", times.user + times.system)
    return found


def _busiest(before: dict, after: dict, seconds: float) -> list[dict]:
    if seconds <= 0:
        return []
    used = []
    for pid, (name, cpu) in after.items():
        if pid in before and before[pid][0] == name:
            cores = (cpu - before[pid][1]) / seconds
            if cores >= 0.05:
                used.append({"pid": pid, "name": str(name)[:40], "cores": round(cores, 2)})
    return sorted(used, key=lambda u: -u["cores"])[:TOP]


def describe(usage: dict) -> str:
    """'other processes used 1.2 cores (python (pid 42) 1.0)'; stored data read back (an
    imported run) may be anything, so only well-formed entries are named."""
    top = ", ".join(f"{u['name']} (pid {u['pid']}) {u['cores']:.1f}" for u in usage.get("top") or []
                    if isinstance(u, dict) and isinstance(u.get("cores"), (int, float)))
    return f"other processes used {usage['cores']:.1f} cores" + (f" ({top})" if top else "")


def sampled_now(probe: Probe, seconds: float = 0.5):
    """The doctor's check: other processes' CPU over a short sample now."""
    sampler = OtherProcesses(probe).start()
    time.sleep(seconds)
    return during_run(sampler.stop(), f"over {seconds:g} s now")


def during_run(usage: dict | None, when: str, by_target: list | None = None):
    """The condition recorded for a run (or the doctor's sample)."""
    read, source = "CPU time of other processes", "/proc/stat minus /proc/self/stat"
    if usage is None:
        return unavailable("other processes", "processes", read, source,
                           "/proc/stat or /proc/self/stat unreadable (not Linux?)")
    busy = usage["cores"] >= BUSY_CORES
    meaning = (f"{describe(usage)} {when} (peak {usage['peak_cores']:.1f}): they compete with the benchmark "
               "for cores and caches, so the figures are low" if busy else
               f"other processes used {usage['cores']:.1f} cores {when}: little competition for the CPU")
    data = {**usage}
    if by_target is not None:
        data["by_target"] = by_target
    return condition("other processes", "processes", "warn" if busy else "ok", read, source, meaning,
                     f"others used {usage['cores']:.1f} cores", **data)


CHECKS = ()   # the doctor samples with sampled_now; a run samples each timed loop

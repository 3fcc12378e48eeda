"""Cores this process may use: the CPUs online, the affinity mask (taskset, a container's
cpuset) and a cgroup CPU quota (docker --cpus). A runtime told to use every core gets fewer
when either is narrower; published CPU figures used the whole machine."""

from __future__ import annotations

import re

from edgebench.conditions.base import Probe, condition, unavailable


def cpu_list(text: str) -> int | None:
    """How many CPUs a list such as '0-3,6' names (None: not such a list)."""
    count = 0
    for part in text.strip().split(","):
        m = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", part.strip())
        if not m:
            return None
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        if high < low:
            return None
        count += high - low + 1
    return count or None


def cgroup_quota(text: str) -> float | None:
    """cgroup v2 cpu.max ('150000 100000' -> 1.5 CPUs; 'max 100000' -> None)."""
    parts = text.split()
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit() and int(parts[1]) > 0:
        return int(parts[0]) / int(parts[1])
    return None


def usable_cores(probe: Probe):
    online_text, why = probe.read("sys/devices/system/cpu/online")
    online = cpu_list(online_text) if online_text else None
    if online is None:
        return unavailable("usable cores", "threads", "CPUs online, affinity, cgroup quota",
                           "/sys/devices/system/cpu/online", f"CPUs online unreadable ({why or 'not a CPU list'})")
    status, _ = probe.read("proc/self/status")
    m = re.search(r"^Cpus_allowed_list:\s*(\S+)", status or "", re.MULTILINE)
    allowed = cpu_list(m.group(1)) if m else None
    quota_text, _ = probe.read("sys/fs/cgroup/cpu.max")
    quota = cgroup_quota(quota_text) if quota_text else None
    usable = min(x for x in (online, allowed, quota) if x is not None)
    source = "/sys/devices/system/cpu/online, /proc/self/status, /sys/fs/cgroup/cpu.max"
    value = f"{usable:g} of {online} cores usable" if usable < online else f"all {online} cores usable"
    data = {"online": online, "allowed": allowed, "quota": quota, "usable": usable}
    if usable < online:
        narrower = "a CPU affinity mask" if allowed is not None and allowed == usable else "a cgroup CPU quota"
        return condition("usable cores", "threads", "warn", "CPUs online, affinity, cgroup quota", source,
                         f"{narrower} leaves {usable:g} of {online} cores: runtimes using all cores get fewer "
                         "than the machine has", value, **data)
    return condition("usable cores", "threads", "ok", "CPUs online, affinity, cgroup quota", source,
                     "every online core may run the benchmark's threads", value, **data)


CHECKS = (usable_cores,)

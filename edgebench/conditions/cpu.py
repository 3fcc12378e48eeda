"""CPU frequency scaling: governor, frequency limits and turbo (Linux cpufreq in sysfs)."""

from __future__ import annotations

import re

from edgebench.conditions.base import Probe, condition, unavailable

CPU_DIR = "sys/devices/system/cpu"
# Governors that hold the clock low (or raise it slowly) under a benchmark's load.
SLOW_GOVERNORS = {"powersave", "conservative"}
# Drivers whose "powersave" still lets the hardware raise the clock under load (HWP/EPP).
HARDWARE_MANAGED = {"intel_pstate", "amd-pstate-epp", "amd-pstate"}


def _cpus(probe: Probe) -> list[str]:
    base = probe.file(CPU_DIR)
    if not base.is_dir():
        return []
    names = [p.name for p in base.iterdir() if re.fullmatch(r"cpu\d+", p.name)]
    return sorted(names, key=lambda n: int(n[3:]))


def governor(probe: Probe):
    cpus = _cpus(probe)
    where = f"/{CPU_DIR}/cpu*/cpufreq/scaling_governor"
    found = {}
    for cpu in cpus:
        text, _ = probe.read(f"{CPU_DIR}/{cpu}/cpufreq/scaling_governor")
        if text and re.fullmatch(r"[A-Za-z0-9_-]{1,32}", text):
            found[cpu] = text
    if not found:
        why = "no cpufreq in sysfs (a VM or a kernel without cpufreq: the host sets the clock)" if cpus \
            else f"no /{CPU_DIR} (not Linux, or /sys not mounted)"
        return unavailable("cpu governor", "cpu", "scaling_governor of each CPU", where, why)
    driver, _ = probe.read(f"{CPU_DIR}/{next(iter(found))}/cpufreq/scaling_driver")
    kinds = sorted(set(found.values()))
    slow = [g for g in kinds if g in SLOW_GOVERNORS]
    value = ", ".join(f"{g} ({sum(v == g for v in found.values())} CPUs)" for g in kinds) if len(kinds) > 1 \
        else kinds[0]
    if not slow:
        meaning = f"{value}: the clock rises with the load, as published benchmarks assume"
        return condition("cpu governor", "cpu", "ok", "scaling_governor of each CPU", where, meaning, value,
                         governors=found, driver=driver)
    if driver in HARDWARE_MANAGED:
        meaning = (f"{slow[0]} under {driver}: the hardware still raises the clock under load, but it "
                   "favours saving energy; set 'performance' for the published figures' conditions")
    else:
        meaning = (f"{slow[0]}: the CPU stays at (or climbs slowly from) its lowest clock, so CPU targets "
                   "run slower than published; `sudo cpupower frequency-set -g performance`")
    return condition("cpu governor", "cpu", "warn", "scaling_governor of each CPU", where, meaning,
                     f"governor {slow[0]}", governors=found, driver=driver)


def frequency_limits(probe: Probe):
    where = f"/{CPU_DIR}/cpu*/cpufreq/scaling_max_freq, cpuinfo_max_freq"
    capped, seen = {}, 0
    for cpu in _cpus(probe):
        base = f"{CPU_DIR}/{cpu}/cpufreq"
        limit, _ = probe.read(f"{base}/scaling_max_freq")
        hardware, _ = probe.read(f"{base}/cpuinfo_max_freq")
        if not (limit and hardware and limit.isdigit() and hardware.isdigit()):
            continue
        seen += 1
        if int(limit) < int(hardware):
            capped[cpu] = (int(limit) / 1000, int(hardware) / 1000)
    if not seen:
        return unavailable("cpu frequency limit", "cpu", "scaling_max_freq vs cpuinfo_max_freq", where,
                           "no readable cpufreq limits in sysfs")
    if not capped:
        return condition("cpu frequency limit", "cpu", "ok", "scaling_max_freq vs cpuinfo_max_freq", where,
                         "every CPU may reach its highest clock", f"uncapped ({seen} CPUs)")
    cpu, (limit_mhz, max_mhz) = next(iter(capped.items()))
    return condition("cpu frequency limit", "cpu", "warn", "scaling_max_freq vs cpuinfo_max_freq", where,
                     f"{len(capped)} CPU(s) capped below their highest clock: CPU targets run at most "
                     f"{limit_mhz / max_mhz:.0%} of full speed", f"capped at {limit_mhz:.0f} of {max_mhz:.0f} MHz",
                     capped_ratio=limit_mhz / max_mhz, capped_cpus=len(capped))


def turbo(probe: Probe):
    for relative, off_when, what in ((f"{CPU_DIR}/intel_pstate/no_turbo", "1", "intel_pstate no_turbo"),
                                     (f"{CPU_DIR}/cpufreq/boost", "0", "cpufreq boost")):
        text, _ = probe.read(relative)
        if text in ("0", "1"):
            off = text == off_when
            return condition("turbo", "cpu", "warn" if off else "ok", what, probe.shown(relative),
                             "turbo/boost is off: the CPU stays at its base clock, below the published "
                             "figures' boosted one" if off else "turbo/boost is allowed",
                             "off" if off else "on", turbo_off=off)
    return unavailable("turbo", "cpu", "intel_pstate/no_turbo or cpufreq/boost", f"/{CPU_DIR}",
                       "no turbo switch in sysfs (the CPU or the VM does not expose one)")


CHECKS = (governor, frequency_limits, turbo)

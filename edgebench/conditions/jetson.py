"""NVIDIA Jetson: the power mode (`nvpmodel -q`) and whether clocks are pinned (`jetson_clocks --show`)."""

from __future__ import annotations

import re

from edgebench.conditions.base import Probe, condition, unavailable


def _is_jetson(probe: Probe) -> bool:
    return probe.file("etc/nv_tegra_release").exists() or probe.which("nvpmodel") is not None


def power_mode(probe: Probe):
    if not _is_jetson(probe):
        return unavailable("jetson power mode", "jetson", "nvpmodel -q", "nvpmodel",
                           "not a Jetson (no /etc/nv_tegra_release, no nvpmodel on PATH)")
    out, why = probe.command(["nvpmodel", "-q"])
    if out is None:
        return unavailable("jetson power mode", "jetson", "nvpmodel -q", "nvpmodel", why)
    m = re.search(r"NV Power Mode:\s*(\S+)", out)
    if not m:
        return unavailable("jetson power mode", "jetson", "nvpmodel -q", "nvpmodel",
                           f"nvpmodel printed no 'NV Power Mode:' line: {out.strip()[:60]!r}")
    mode = m.group(1)
    top = "MAXN" in mode.upper()
    meaning = ("the maximum power mode, as NVIDIA's jetson_benchmarks set before timing" if top else
               f"{mode} limits the CPU/GPU clocks or cores: published Jetson figures use MAXN "
               "(`sudo nvpmodel -m 0`)")
    return condition("jetson power mode", "jetson", "ok" if top else "warn", "nvpmodel -q", "nvpmodel",
                     meaning, f"power mode {mode}", mode=mode, max_mode=top)


def clocks(probe: Probe):
    if not _is_jetson(probe):
        return unavailable("jetson clocks", "jetson", "jetson_clocks --show", "jetson_clocks",
                           "not a Jetson (no /etc/nv_tegra_release, no nvpmodel on PATH)")
    out, why = probe.command(["jetson_clocks", "--show"])
    if out is None:
        return unavailable("jetson clocks", "jetson", "jetson_clocks --show", "jetson_clocks",
                           f"{why} (it needs root)")
    ranges = re.findall(r"^(\S+?):?\s.*?MinFreq=(\d+)\s+MaxFreq=(\d+)", out, re.MULTILINE)
    if not ranges:
        return unavailable("jetson clocks", "jetson", "jetson_clocks --show", "jetson_clocks",
                           f"no MinFreq/MaxFreq lines in its output: {out.strip()[:60]!r}")
    loose = [name for name, low, high in ranges if int(low) < int(high)]
    if loose:
        return condition("jetson clocks", "jetson", "warn", "jetson_clocks --show", "jetson_clocks",
                         f"{len(loose)} of {len(ranges)} clocks float between min and max ({', '.join(loose[:4])}): "
                         "the first inferences run slow while they ramp; `sudo jetson_clocks` pins them",
                         "clocks not pinned", unpinned=loose)
    return condition("jetson clocks", "jetson", "ok", "jetson_clocks --show", "jetson_clocks",
                     "every clock pinned at its maximum", "clocks pinned")


CHECKS = (power_mode, clocks)

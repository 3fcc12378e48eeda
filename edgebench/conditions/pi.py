"""Raspberry Pi: the firmware's throttling flags (`vcgencmd get_throttled`)."""

from __future__ import annotations

import re

from edgebench.conditions.base import Probe, condition, unavailable

# Bits of get_throttled (Raspberry Pi documentation, "vcgencmd": get_throttled).
NOW = {0: "under-voltage", 1: "ARM frequency capped", 2: "throttled", 3: "soft temperature limit"}
SINCE_BOOT = {16: "under-voltage", 17: "ARM frequency capping", 18: "throttling",
              19: "soft temperature limit"}


def decode(value: int) -> tuple[list[str], list[str]]:
    """(flags set now, flags that have occurred since boot)."""
    return ([name for bit, name in NOW.items() if value >> bit & 1],
            [name for bit, name in SINCE_BOOT.items() if value >> bit & 1])


def throttled(probe: Probe):
    model, _ = probe.read("proc/device-tree/model")
    is_pi = bool(model and model.startswith("Raspberry Pi"))
    if not is_pi and probe.which("vcgencmd") is None:
        return unavailable("pi throttling", "pi", "vcgencmd get_throttled", "vcgencmd",
                           "not a Raspberry Pi (no /proc/device-tree/model naming one, no vcgencmd on PATH)")
    out, why = probe.command(["vcgencmd", "get_throttled"])
    if out is None:
        return unavailable("pi throttling", "pi", "vcgencmd get_throttled", "vcgencmd", why)
    m = re.search(r"throttled=(0x[0-9a-fA-F]{1,8})\b", out)
    if not m:
        return unavailable("pi throttling", "pi", "vcgencmd get_throttled", "vcgencmd",
                           f"vcgencmd printed no throttled=0x... value: {out.strip()[:60]!r}")
    value = int(m.group(1), 16)
    now, before = decode(value)
    if now:
        meaning = (f"now: {', '.join(now)}: the firmware is holding the ARM clock down, so every CPU figure "
                   "is low (a 5 V/3 A supply, a heatsink or fan)")
    elif before:
        meaning = (f"since boot: {', '.join(before)} (not now): figures taken while it happened were low; "
                   "check the supply and cooling")
    else:
        meaning = "no under-voltage, capping or throttling now or since boot"
    return condition("pi throttling", "pi", "warn" if now or before else "ok", "vcgencmd get_throttled",
                     "vcgencmd", meaning, f"throttled={m.group(1)}" + (f" ({', '.join(now)})" if now else ""),
                     raw=value, now=now, since_boot=before)


CHECKS = (throttled,)

"""The conditions a benchmark runs under, checked before it (and stored with its result): CPU
governor, frequency limits and turbo, thermal zones, a Pi's throttling flags, a Jetson's power
mode and clocks, NVIDIA clocks and throttle reasons, the Coral's USB link, memory pressure, the
cores this process may use, and other processes' CPU use during the timed loops.

Every check reads through a `Probe` (a root for /sys and /proc, a PATH for commands, a timeout,
an NVML module) and returns `Condition`s; a check that cannot run here returns one saying why.
"""

from __future__ import annotations

import importlib

from edgebench.conditions.base import Probe, unavailable
from edgebench.results.schema import Condition

# One module per family, in the order they are shown.
FAMILIES = {"cpu": "edgebench.conditions.cpu", "thermal": "edgebench.conditions.thermal",
            "pi": "edgebench.conditions.pi", "jetson": "edgebench.conditions.jetson",
            "nvml": "edgebench.conditions.nvml", "coral": "edgebench.conditions.coral",
            "memory": "edgebench.conditions.memory", "threads": "edgebench.conditions.threads"}

__all__ = ["FAMILIES", "Probe", "check_all", "warnings_of"]


def check_all(probe: Probe | None = None, families=None) -> list[Condition]:
    """Every check of the named families (default all) through `probe` (default: this machine).
    A check that breaks is recorded as unavailable with its error: a check never stops a run."""
    probe = probe or Probe()
    found: list[Condition] = []
    for family in families or FAMILIES:
        module = importlib.import_module(FAMILIES[family])
        for check in module.CHECKS:
            try:
                result = check(probe)
            except Exception as exc:   # a probe's own bug must not cost the user their run
                result = unavailable(check.__name__.replace("_", " "), family, "-", FAMILIES[family],
                                     f"the check failed: {type(exc).__name__}: {exc}")
            found.extend(result if isinstance(result, list) else [result])
    return found


def warnings_of(conditions) -> list[Condition]:
    return [c for c in conditions if c.status == "warn"]


def short(conditions, limit: int = 3) -> str:
    """'governor powersave; Coral on USB 2.0 (480 Mb/s)': the warnings in a few words."""
    return "; ".join(c.value or c.check for c in warnings_of(conditions)[:limit])

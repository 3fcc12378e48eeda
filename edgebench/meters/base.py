"""The Meter protocol and the energy figures derived from a reading.

A meter brackets a timed loop: start() just before it, stop() just after. Meters that read
a cumulative counter (RAPL, NVML, Jetson rails) and meters that multiply a power by time
(rated) look the same to the runner; every reading carries the method that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from edgebench.results.schema import Energy


@dataclass(frozen=True)
class EnergyReading:
    joules: float
    seconds: float
    method: str


class Meter(Protocol):
    """min_window_s: the shortest timed loop the meter can measure meaningfully (0 if any)."""

    name: str
    min_window_s: float

    def available(self) -> tuple[bool, str]: ...
    def start(self) -> None: ...
    def stop(self) -> EnergyReading: ...


def energy_from(readings: list[EnergyReading], inferences: int) -> Energy:
    joules = sum(r.joules for r in readings)
    seconds = sum(r.seconds for r in readings)
    return Energy(method=readings[0].method, joules=joules, seconds=seconds, inferences=inferences,
                  j_per_inference=joules / inferences,
                  inferences_per_j=inferences / joules if joules > 0 else 0.0,
                  avg_power_w=joules / seconds if seconds > 0 else 0.0)


# name -> import path: choosing a meter never imports another's dependencies.
METERS: dict[str, str] = {
    "rated": "edgebench.meters.rated:RatedMeter",
    "rapl": "edgebench.meters.rapl:RaplMeter",
    "nvml": "edgebench.meters.nvml:NvmlMeter",
    "jetson": "edgebench.meters.jetson:JetsonRailsMeter",
}

# What `--meter auto` tries for a target on each device, first available wins. A Jetson's
# INA3221 rails see the whole module (CPU and GPU), so they come first on both.
AUTO_METERS: dict[str, tuple[str, ...]] = {
    "cpu": ("jetson", "rapl"),
    "cuda": ("jetson", "nvml"),
    "tensorrt": ("jetson", "nvml"),
}


def select_meter(name: str, power_w: float | None, device: str = "cpu"):
    """The energy meter for a target on `device`: None when energy is not measured there."""
    from edgebench.errors import UserError
    from edgebench.packages import load_object

    if power_w is not None and name in ("auto", "rated"):
        return load_object(METERS["rated"])(power_w)
    if name == "rated":
        raise UserError("the rated meter needs the device's rated power in W", "power_w")
    if name == "none":
        return None
    if name != "auto" and name not in METERS:
        raise UserError(f"unknown meter '{name}'; known: auto, none, {', '.join(METERS)}")
    for candidate in ([name] if name != "auto" else AUTO_METERS.get(device, ())):
        meter = load_object(METERS[candidate])()
        ok, reason = meter.available()
        if ok:
            return meter
        if name != "auto":
            raise UserError(f"meter '{name}' is not available here: {reason}")
    return None

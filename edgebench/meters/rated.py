"""Rated power x elapsed time: the 2019 article's method. An estimate, never a measurement."""

from __future__ import annotations

import time

from edgebench.meters.base import EnergyReading


class RatedMeter:
    name = "rated"
    min_window_s = 0.0

    def __init__(self, power_w: float):
        if power_w <= 0:
            raise ValueError("rated power must be > 0 W")
        self.power_w = power_w
        self._started: float | None = None

    def available(self) -> tuple[bool, str]:
        return True, f"rated {self.power_w:g} W x elapsed time (not measured)"

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._started
        return EnergyReading(self.power_w * seconds, seconds,
                             f"rated: {self.power_w:g} W x elapsed s (not measured)")

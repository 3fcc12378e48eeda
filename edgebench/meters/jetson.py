"""NVIDIA Jetson board power from its INA3221 monitors (sysfs), and tegrastats output.

Two sysfs layouts exist: L4T 32 (Jetson Nano, TX2) exposes iio rails
(`in_power<N>_input` in mW with `rail_name_<N>`); L4T 34+ exposes hwmon channels
(`in<N>_label`, `in<N>_input` in mV, `curr<N>_input` in mA). The meter samples the module's
input rail (POM_5V_IN / VDD_IN: the whole board) in a thread and integrates power over time.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from edgebench.meters.base import EnergyReading

INPUT_RAILS = ("POM_5V_IN", "VDD_IN")
SAMPLE_PERIOD_S = 0.01


class Rail:
    """One power channel: name and how to read its power in W."""

    def __init__(self, name: str, power_mw: Path | None = None, voltage_mv: Path | None = None,
                 current_ma: Path | None = None):
        self.name, self._power, self._voltage, self._current = name, power_mw, voltage_mv, current_ma

    def watts(self) -> float:
        if self._power is not None:
            return int(self._power.read_text()) / 1000.0
        return int(self._voltage.read_text()) * int(self._current.read_text()) / 1e6


def find_rails(root: Path = Path("/")) -> list[Rail]:
    rails = []
    for name_file in sorted((root / "sys/bus/i2c/drivers").glob("ina3221*/*/iio:device*/rail_name_*")):
        channel = name_file.name.rsplit("_", 1)[1]
        power = name_file.parent / f"in_power{channel}_input"
        if power.exists():
            rails.append(Rail(name_file.read_text().strip(), power_mw=power))
    for label in sorted((root / "sys/bus/i2c/drivers").glob("ina3221*/*/hwmon/hwmon*/in*_label")):
        channel = re.match(r"in(\d+)_label", label.name).group(1)
        voltage, current = label.parent / f"in{channel}_input", label.parent / f"curr{channel}_input"
        if voltage.exists() and current.exists():
            rails.append(Rail(label.read_text().strip(), voltage_mv=voltage, current_ma=current))
    return rails


def parse_tegrastats(line: str) -> dict[str, int]:
    """Rail -> current mW from one tegrastats line, old ('POM_5V_IN 3421/3421') or new
    ('VDD_IN 5432mW/5432mW') format."""
    return {name: int(mw) for name, mw in re.findall(r"\b((?:POM|VDD)_[A-Z0-9_]+) (\d+)(?:mW)?/\d+(?:mW)?", line)}


class JetsonRailsMeter:
    name = "jetson"
    min_window_s = 1.0

    def __init__(self, root: Path = Path("/")):
        self.root = Path(root)
        self._rail: Rail | None = None
        self._samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _input_rail(self) -> Rail | None:
        for rail in find_rails(self.root):
            if rail.name in INPUT_RAILS:
                return rail
        return None

    def available(self) -> tuple[bool, str]:
        rail = self._input_rail()
        if rail is None:
            return False, "no Jetson INA3221 input rail (POM_5V_IN / VDD_IN) in sysfs"
        try:
            rail.watts()
        except (OSError, ValueError) as exc:
            return False, f"Jetson rail {rail.name} unreadable: {exc}"
        return True, f"Jetson INA3221 rail {rail.name}"

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._samples.append((time.perf_counter(), self._rail.watts()))
            self._stop.wait(SAMPLE_PERIOD_S)

    def start(self) -> None:
        self._rail = self._input_rail()
        self._samples = [(time.perf_counter(), self._rail.watts())]
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> EnergyReading:
        end = time.perf_counter()
        self._stop.set()
        self._thread.join()
        samples = self._samples + [(end, self._rail.watts())]
        joules = sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(samples, samples[1:]))
        return EnergyReading(joules, end - samples[0][0],
                             f"jetson: INA3221 {self._rail.name} (whole board) sampled every "
                             f"{SAMPLE_PERIOD_S * 1000:g} ms, measured")

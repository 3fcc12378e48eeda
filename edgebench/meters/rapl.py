"""Intel/AMD RAPL package energy from /sys/class/powercap (cumulative microjoule counters)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from edgebench.meters.base import EnergyReading

POWERCAP = Path("/sys/class/powercap")
# Top-level package zones only (intel-rapl:0, intel-rapl:1); sub-zones (intel-rapl:0:0, core,
# dram) are already counted inside their package.
_PACKAGE_ZONE = re.compile(r"^(intel-rapl|amd-rapl):\d+$")


class RaplMeter:
    name = "rapl"
    min_window_s = 0.0

    def __init__(self, root: Path = POWERCAP):
        self.root = Path(root)
        self._start: dict[Path, int] = {}
        self._t0 = 0.0

    def zones(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if _PACKAGE_ZONE.match(p.name)
                      and (p / "energy_uj").exists())

    def available(self) -> tuple[bool, str]:
        zones = self.zones()
        if not zones:
            return False, f"no RAPL package zones under {self.root}"
        try:
            for zone in zones:
                int((zone / "energy_uj").read_text())
        except PermissionError:
            return False, "RAPL energy counters are not readable (root only on this kernel)"
        except (OSError, ValueError) as exc:
            return False, f"RAPL counter unreadable: {exc}"
        names = [(z / "name").read_text().strip() if (z / "name").exists() else z.name for z in zones]
        return True, f"RAPL {', '.join(names)}"

    def start(self) -> None:
        self._start = {zone: int((zone / "energy_uj").read_text()) for zone in self.zones()}
        self._t0 = time.perf_counter()

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._t0
        microjoules = 0
        for zone, begin in self._start.items():
            end = int((zone / "energy_uj").read_text())
            if end < begin:  # the counter wrapped at max_energy_range_uj
                end += int((zone / "max_energy_range_uj").read_text()) + 1
            microjoules += end - begin
        return EnergyReading(microjoules / 1e6, seconds,
                             f"rapl: package energy counters ({len(self._start)} zone(s)), measured")

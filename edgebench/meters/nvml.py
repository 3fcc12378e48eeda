"""NVIDIA GPU energy from NVML's total-energy counter (nvidia-ml-py), in millijoules.

The counter advances about every 100 ms, so a window shorter than about a second mostly
measures the counter's granularity: the meter asks the runner for at least MIN_WINDOW_S.
"""

from __future__ import annotations

import time

from edgebench.meters.base import EnergyReading
from edgebench.packages import module_importable

MIN_WINDOW_S = 2.0


class NvmlMeter:
    name = "nvml"
    min_window_s = MIN_WINDOW_S

    def __init__(self, index: int = 0):
        self.index = index
        self._handle = None
        self._start_mj = 0
        self._t0 = 0.0

    def available(self) -> tuple[bool, str]:
        if not module_importable("pynvml"):
            return False, "nvidia-ml-py not installed (pip install nvidia-ml-py)"
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            name = pynvml.nvmlDeviceGetName(handle)
        except Exception as exc:  # noqa: BLE001 - NVMLError subclasses per cause
            return False, f"NVML energy counter unavailable: {exc}"
        return True, f"NVML total energy counter of GPU {self.index} ({name})"

    def _read_mj(self) -> int:
        import pynvml

        if self._handle is None:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
        return pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)

    def start(self) -> None:
        self._start_mj = self._read_mj()
        self._t0 = time.perf_counter()

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._t0
        joules = (self._read_mj() - self._start_mj) / 1000.0
        return EnergyReading(joules, seconds, f"nvml: GPU {self.index} total-energy counter (board power), "
                                              "measured")

"""Device fingerprint stored with every result."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path

from edgebench.results.schema import DeviceInfo
from edgebench.packages import package_version

# Distributions whose versions make a result reproducible.
TOOLCHAIN = ("edgebench", "numpy", "scipy", "torch", "ai-edge-litert", "litert-torch",
             "ai-edge-quantizer", "onnx", "onnxscript", "onnxruntime", "openvino", "pillow",
             "sqlalchemy")


def parse_cpuinfo(text: str) -> tuple[str, int | None]:
    """(model name, physical cores) from /proc/cpuinfo text."""
    model, cores, physical_id = "", set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in ("model name", "Model", "Hardware") and not model:
            model = value
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            cores.add((physical_id, value))
    return model, (len(cores) or None)


def parse_meminfo(text: str) -> float | None:
    """Total memory in GiB from /proc/meminfo text."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def device_info() -> DeviceInfo:
    """Fingerprint of this machine, including its temperatures now (call it before a run)."""
    from edgebench import hardware

    model, physical = parse_cpuinfo(_read("/proc/cpuinfo"))
    governor, freq = hardware.cpu_frequency()
    return DeviceInfo(
        cpu_governor=governor,
        cpu_freq_mhz=freq,
        gpus=hardware.gpus(),
        board=hardware.board(),
        edgetpus=hardware.edgetpus(),
        thermal_c=hardware.thermal_zones(),
        hostname=socket.gethostname(),
        cpu_model=model or platform.processor() or "unknown",
        cores_physical=physical,
        cores_logical=os.cpu_count(),
        arch=platform.machine(),
        os=platform.platform(terse=True),
        kernel=platform.release(),
        memory_gb=parse_meminfo(_read("/proc/meminfo")),
        python=platform.python_version(),
        toolchain={dist: package_version(dist) for dist in TOOLCHAIN},
    )

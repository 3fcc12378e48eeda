"""Probes of the hardware around the CPU, each reading files under a root directory.

Every probe takes `root` (default "/") so tests can point it at recorded sysfs/procfs trees.
A probe that finds nothing returns an empty value; none raises for a missing file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# Coral USB Accelerator: Global Unichip before its firmware loads, Google after.
EDGETPU_USB_IDS = {("1a6e", "089a"): "Coral USB Accelerator (no firmware loaded)",
                   ("18d1", "9302"): "Coral USB Accelerator"}
# The link speed decides the Edge TPU's throughput: the article's Raspberry Pi 3B+ (USB 2.0)
# ran ~3x slower than a USB 3 host.
USB_SPEED_NAMES = {"1.5": "USB 1.0 low speed", "12": "USB 1.1 full speed", "480": "USB 2.0 high speed",
                   "5000": "USB 3.0 SuperSpeed", "10000": "USB 3.1 SuperSpeed+", "20000": "USB 3.2 2x2"}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").replace("\x00", "").strip()
    except OSError:
        return None


def cpu_frequency(root: Path = Path("/")) -> tuple[str | None, dict[str, float]]:
    """(governor, {"current": MHz, "max": MHz}) of cpu0, where cpufreq exposes them."""
    base = root / "sys/devices/system/cpu/cpu0/cpufreq"
    freq = {}
    for key, name in (("current", "scaling_cur_freq"), ("max", "cpuinfo_max_freq")):
        value = _read(base / name)
        if value and value.isdigit():
            freq[key] = int(value) / 1000.0  # kHz -> MHz
    return _read(base / "scaling_governor"), freq


def thermal_zones(root: Path = Path("/")) -> dict[str, float]:
    """{zone type: degrees C} for every readable thermal zone."""
    temps: dict[str, float] = {}
    base = root / "sys/class/thermal"
    if not base.is_dir():
        return temps
    for zone in sorted(base.glob("thermal_zone*")):
        kind, value = _read(zone / "type"), _read(zone / "temp")
        if value and value.lstrip("-").isdigit():
            name = kind or zone.name
            if name in temps:
                name = f"{name}:{zone.name}"
            temps[name] = int(value) / 1000.0  # millidegrees
    return temps


def board(root: Path = Path("/"), run=subprocess.run) -> dict | None:
    """A Raspberry Pi (device-tree model, throttling) or Jetson (L4T release, nvpmodel) board."""
    model = _read(root / "proc/device-tree/model")
    tegra = _read(root / "etc/nv_tegra_release")
    if tegra is not None:
        info = {"kind": "jetson", "model": model or "NVIDIA Jetson", "l4t": parse_tegra_release(tegra)}
        nvpmodel = _command(run, ["nvpmodel", "-q"])
        if nvpmodel:
            info["nvpmodel"] = parse_nvpmodel(nvpmodel)
        return info
    if model and model.startswith("Raspberry Pi"):
        info = {"kind": "raspberry-pi", "model": model}
        throttled = _command(run, ["vcgencmd", "get_throttled"])
        if throttled:
            info["throttled"] = parse_throttled(throttled)
        return info
    return {"kind": "other", "model": model} if model else None


def parse_tegra_release(text: str) -> str:
    """'# R32 (release), REVISION: 7.1, ...' -> 'R32.7.1'."""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"R{m.group(1)}.{m.group(2)}" if m else text.splitlines()[0]


def parse_nvpmodel(text: str) -> str:
    """`nvpmodel -q` -> 'MAXN (mode 0)'."""
    mode = re.search(r"NV Power Mode:\s*(\S+)", text)
    number = re.search(r"^\s*(\d+)\s*$", text, re.MULTILINE)
    if not mode:
        return text.strip().splitlines()[0] if text.strip() else ""
    return f"{mode.group(1)} (mode {number.group(1)})" if number else mode.group(1)


_THROTTLE_BITS = {0: "under-voltage", 1: "arm frequency capped", 2: "throttled",
                  3: "soft temperature limit", 16: "under-voltage has occurred",
                  17: "frequency capping has occurred", 18: "throttling has occurred",
                  19: "soft temperature limit has occurred"}


def parse_throttled(text: str) -> dict:
    """`vcgencmd get_throttled` ('throttled=0x50005') -> raw value and decoded flags."""
    m = re.search(r"throttled=(0x[0-9a-fA-F]+)", text)
    if not m:
        return {"raw": text.strip(), "flags": []}
    value = int(m.group(1), 16)
    return {"raw": m.group(1), "flags": [name for bit, name in _THROTTLE_BITS.items() if value >> bit & 1]}


def edgetpus(root: Path = Path("/")) -> list[dict]:
    """Coral USB Accelerators with their negotiated link speed, and PCIe/M.2 Edge TPUs (apex)."""
    found = []
    usb = root / "sys/bus/usb/devices"
    if usb.is_dir():
        for dev in sorted(usb.iterdir()):
            ids = (_read(dev / "idVendor"), _read(dev / "idProduct"))
            if ids in EDGETPU_USB_IDS:
                speed = _read(dev / "speed")
                found.append({"kind": "usb", "name": EDGETPU_USB_IDS[ids], "bus_path": dev.name,
                              "usb_id": ":".join(ids), "link_speed_mbps": _number(speed),
                              "link": USB_SPEED_NAMES.get(speed or "", f"{speed} Mb/s" if speed else "unknown"),
                              "usb_version": _read(dev / "version")})
    apex = root / "sys/class/apex"
    if apex.is_dir():
        for dev in sorted(apex.iterdir()):
            found.append({"kind": "pcie", "name": "Coral PCIe/M.2 Edge TPU", "device": f"/dev/{dev.name}"})
    return found


def gpus(root: Path = Path("/"), run=subprocess.run) -> list[dict]:
    """NVIDIA GPUs from nvidia-smi where it runs, else from the driver's /proc files."""
    out = _command(run, ["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                         "--format=csv,noheader,nounits"])
    if out:
        return [parse_nvidia_smi_line(line) for line in out.splitlines() if line.strip()]
    found = []
    proc = root / "proc/driver/nvidia/gpus"
    if proc.is_dir():
        for gpu in sorted(proc.iterdir()):
            info = _read(gpu / "information") or ""
            m = re.search(r"Model:\s*(.+)", info)
            found.append({"vendor": "nvidia", "name": m.group(1).strip() if m else gpu.name})
    return found


def parse_nvidia_smi_line(line: str) -> dict:
    name, memory, driver = (part.strip() for part in line.split(","))
    return {"vendor": "nvidia", "name": name, "memory_mib": _number(memory), "driver": driver}


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _command(run, argv: list[str]) -> str | None:
    try:
        proc = run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 and proc.stdout.strip() else None

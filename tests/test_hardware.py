"""Device fingerprint probes on recorded sysfs/procfs trees and command outputs."""

import subprocess
from pathlib import Path

from edgebench import hardware


def put(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_run(outputs: dict):
    def run(argv, **_kwargs):
        if argv[0] not in outputs:
            raise FileNotFoundError(argv[0])
        return subprocess.CompletedProcess(argv, 0, stdout=outputs[argv[0]], stderr="")
    return run


def test_empty_machine_yields_empty_values(tmp_path):
    assert hardware.cpu_frequency(tmp_path) == (None, {})
    assert hardware.thermal_zones(tmp_path) == {}
    assert hardware.board(tmp_path, run=fake_run({})) is None
    assert hardware.edgetpus(tmp_path) == []
    assert hardware.gpus(tmp_path, run=fake_run({})) == []


def test_cpufreq_and_thermal(tmp_path):
    put(tmp_path, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "ondemand\n")
    put(tmp_path, "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "600000\n")
    put(tmp_path, "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "1400000\n")
    put(tmp_path, "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n")
    put(tmp_path, "sys/class/thermal/thermal_zone0/temp", "48312\n")
    put(tmp_path, "sys/class/thermal/thermal_zone1/type", "GPU-therm\n")
    put(tmp_path, "sys/class/thermal/thermal_zone1/temp", "-1500\n")
    assert hardware.cpu_frequency(tmp_path) == ("ondemand", {"current": 600.0, "max": 1400.0})
    assert hardware.thermal_zones(tmp_path) == {"cpu-thermal": 48.312, "GPU-therm": -1.5}


def test_raspberry_pi_3b_plus_with_throttling(tmp_path):
    put(tmp_path, "proc/device-tree/model", "Raspberry Pi 3 Model B Plus Rev 1.3\x00")
    info = hardware.board(tmp_path, run=fake_run({"vcgencmd": "throttled=0x50005\n"}))
    assert info["kind"] == "raspberry-pi" and info["model"] == "Raspberry Pi 3 Model B Plus Rev 1.3"
    assert info["throttled"]["raw"] == "0x50005"
    assert set(info["throttled"]["flags"]) == {"under-voltage", "throttled", "under-voltage has occurred",
                                               "throttling has occurred"}


def test_jetson_nano_release_and_power_mode(tmp_path):
    put(tmp_path, "proc/device-tree/model", "NVIDIA Jetson Nano Developer Kit\x00")
    put(tmp_path, "etc/nv_tegra_release",
        "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19\n")
    info = hardware.board(tmp_path, run=fake_run({"nvpmodel": "NV Fan Mode:quiet\nNV Power Mode: 5W\n1\n"}))
    assert info == {"kind": "jetson", "model": "NVIDIA Jetson Nano Developer Kit", "l4t": "R32.7.1",
                    "nvpmodel": "5W (mode 1)"}


def test_coral_usb_accelerators_and_their_link_speed(tmp_path):
    # One on a Raspberry Pi-style USB 2.0 port (before firmware load), one on USB 3.
    for dev, vendor, product, speed, version in (("1-1.2", "1a6e", "089a", "480", " 2.10"),
                                                 ("2-1", "18d1", "9302", "5000", " 3.10")):
        put(tmp_path, f"sys/bus/usb/devices/{dev}/idVendor", vendor + "\n")
        put(tmp_path, f"sys/bus/usb/devices/{dev}/idProduct", product + "\n")
        put(tmp_path, f"sys/bus/usb/devices/{dev}/speed", speed + "\n")
        put(tmp_path, f"sys/bus/usb/devices/{dev}/version", version + "\n")
    put(tmp_path, "sys/bus/usb/devices/1-1/idVendor", "0424\n")   # a hub: not an Edge TPU
    put(tmp_path, "sys/bus/usb/devices/1-1/idProduct", "2514\n")
    found = hardware.edgetpus(tmp_path)
    assert [(d["usb_id"], d["link_speed_mbps"], d["link"]) for d in found] == [
        ("1a6e:089a", 480.0, "USB 2.0 high speed"), ("18d1:9302", 5000.0, "USB 3.0 SuperSpeed")]


def test_pcie_edgetpu(tmp_path):
    (tmp_path / "sys/class/apex/apex_0").mkdir(parents=True)
    assert hardware.edgetpus(tmp_path) == [{"kind": "pcie", "name": "Coral PCIe/M.2 Edge TPU",
                                            "device": "/dev/apex_0"}]


def test_gpus_from_nvidia_smi_or_proc(tmp_path):
    smi = "NVIDIA H100 80GB HBM3, 81559, 570.86.15\n"
    assert hardware.gpus(tmp_path, run=fake_run({"nvidia-smi": smi})) == [
        {"vendor": "nvidia", "name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559.0, "driver": "570.86.15"}]
    put(tmp_path, "proc/driver/nvidia/gpus/0000:01:00.0/information",
        "Model: \t\t NVIDIA GeForce GTX 1080\nIRQ: 130\n")
    assert hardware.gpus(tmp_path, run=fake_run({})) == [{"vendor": "nvidia", "name": "NVIDIA GeForce GTX 1080"}]

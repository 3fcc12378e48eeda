"""Jetson power rails (both sysfs layouts), tegrastats lines, and the NVML meter's availability."""

import time

import pytest

from edgebench.meters.jetson import JetsonRailsMeter, find_rails, parse_tegrastats
from edgebench.meters.nvml import NvmlMeter


def put(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def nano_tree(root):
    """Jetson Nano, L4T 32: iio rails in mW."""
    base = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    for channel, (name, mw) in enumerate((("POM_5V_IN", 4000), ("POM_5V_GPU", 800), ("POM_5V_CPU", 1500))):
        put(root, f"{base}/rail_name_{channel}", name + "\n")
        put(root, f"{base}/in_power{channel}_input", f"{mw}\n")


def orin_tree(root):
    """Jetson Orin, L4T 35: hwmon channels in mV and mA."""
    base = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    for channel, (name, mv, ma) in enumerate((("VDD_IN", 5000, 1200), ("VDD_CPU_GPU_CV", 5000, 300)), start=1):
        put(root, f"{base}/in{channel}_label", name + "\n")
        put(root, f"{base}/in{channel}_input", f"{mv}\n")
        put(root, f"{base}/curr{channel}_input", f"{ma}\n")


@pytest.mark.parametrize("tree, watts, rail", [(nano_tree, 4.0, "POM_5V_IN"), (orin_tree, 6.0, "VDD_IN")])
def test_rails_and_energy(tmp_path, tree, watts, rail):
    tree(tmp_path)
    rails = {r.name: r.watts() for r in find_rails(tmp_path)}
    assert rails[rail] == pytest.approx(watts)
    meter = JetsonRailsMeter(tmp_path)
    ok, detail = meter.available()
    assert ok and rail in detail
    meter.start()
    time.sleep(0.2)
    reading = meter.stop()
    assert reading.joules == pytest.approx(watts * reading.seconds, rel=1e-6)
    assert reading.seconds >= 0.2 and reading.method.startswith("jetson")


def test_no_jetson(tmp_path):
    assert find_rails(tmp_path) == []
    assert JetsonRailsMeter(tmp_path).available()[0] is False


def test_tegrastats_old_and_new_formats():
    nano = ("RAM 1889/3964MB (lfb 89x4MB) SWAP 0/1982MB CPU [12%@1479,3%@1479,off,off] EMC_FREQ 0% "
            "GR3D_FREQ 0% PLL@26C CPU@29C PMIC@100C GPU@27.5C AO@35C thermal@28.25C "
            "POM_5V_IN 2521/2521 POM_5V_GPU 0/0 POM_5V_CPU 479/479")
    assert parse_tegrastats(nano) == {"POM_5V_IN": 2521, "POM_5V_GPU": 0, "POM_5V_CPU": 479}
    orin = ("RAM 2488/30536MB CPU [0%@729,0%@729] GR3D_FREQ 0% cpu@45.1C VDD_GPU_SOC 2389mW/2389mW "
            "VDD_CPU_CV 398mW/398mW VIN_SYS_5V0 2619mW/2619mW VDD_IN 5432mW/5432mW")
    assert parse_tegrastats(orin) == {"VDD_GPU_SOC": 2389, "VDD_CPU_CV": 398, "VDD_IN": 5432}


def test_nvml_meter_says_why_not_here():
    ok, reason = NvmlMeter().available()
    if ok:
        pytest.skip("an NVIDIA GPU is present")
    assert "nvidia-ml-py" in reason or "NVML" in reason

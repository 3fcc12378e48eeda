"""Energy meters: rated power, RAPL on a fake powercap tree, and meter selection."""

import pytest

from edgebench.errors import UserError
from edgebench.meters import rated as rated_module
from edgebench.meters.base import EnergyReading, energy_from, select_meter
from edgebench.meters.rapl import RaplMeter
from edgebench.meters.rated import RatedMeter


def write_zone(root, name, energy_uj, max_uj=262143328850, label="package-0"):
    zone = root / name
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    (zone / "name").write_text(f"{label}\n")
    return zone


def test_rated_meter_is_power_times_time_and_says_so(monkeypatch):
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(rated_module.time, "perf_counter", lambda: next(clock))
    meter = RatedMeter(2.5)
    meter.start()
    reading = meter.stop()
    assert reading.joules == pytest.approx(5.0) and reading.seconds == pytest.approx(2.0)
    assert "rated" in reading.method and "not measured" in reading.method


def test_energy_figures():
    e = energy_from([EnergyReading(3.0, 1.0, "rapl"), EnergyReading(1.0, 1.0, "rapl")], inferences=400)
    assert e.joules == 4.0 and e.j_per_inference == pytest.approx(0.01)
    assert e.inferences_per_j == pytest.approx(100.0) and e.avg_power_w == pytest.approx(2.0)


def test_rapl_sums_packages_ignores_subzones_and_handles_wraparound(tmp_path):
    pkg0 = write_zone(tmp_path, "intel-rapl:0", 1_000_000)
    pkg1 = write_zone(tmp_path, "intel-rapl:1", 999_000, max_uj=1_000_000, label="package-1")
    write_zone(tmp_path, "intel-rapl:0:0", 5, label="core")       # counted inside package 0
    meter = RaplMeter(tmp_path)
    ok, detail = meter.available()
    assert ok and "package-0" in detail and "package-1" in detail
    meter.start()
    (pkg0 / "energy_uj").write_text("3500000\n")                   # +2.5 J
    (pkg1 / "energy_uj").write_text("499000\n")                    # wrapped: +0.500001 J
    reading = meter.stop()
    assert reading.joules == pytest.approx(2.5 + 0.500001)
    assert reading.method.startswith("rapl") and "measured" in reading.method


def test_rapl_absent_or_unreadable(tmp_path):
    assert RaplMeter(tmp_path / "nothing").available()[0] is False
    zone = write_zone(tmp_path, "intel-rapl:0", 1)
    (zone / "energy_uj").write_text("not a number")
    ok, reason = RaplMeter(tmp_path).available()
    assert not ok and "unreadable" in reason


def test_meter_selection(monkeypatch, tmp_path):
    monkeypatch.setattr("edgebench.meters.rapl.POWERCAP", tmp_path / "none")
    monkeypatch.setattr(RaplMeter.__init__, "__defaults__", (tmp_path / "none",))
    assert select_meter("auto", None) is None                      # nothing measurable here
    assert isinstance(select_meter("auto", 2.5), RatedMeter)
    assert select_meter("none", None) is None
    with pytest.raises(UserError, match="the rated meter needs the device's rated power in W"):
        select_meter("rated", None)
    with pytest.raises(UserError, match="not available"):
        select_meter("rapl", None)
    with pytest.raises(UserError, match="unknown meter"):
        select_meter("wattmeter", None)
    write_zone(tmp_path / "none", "intel-rapl:0", 1)
    assert isinstance(select_meter("auto", None), RaplMeter)

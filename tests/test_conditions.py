"""The conditions checks (edgebench.conditions) on faked sysfs/procfs trees, stand-in commands on
PATH and an NVML stand-in; the real checks on this machine; conditions stored with a run and
carried by export/import, the store, the fleet's matrix row and the hub's per-device results."""

from __future__ import annotations

import os
import stat
import time
import types
from pathlib import Path

import pytest

from edgebench.conditions import (
    check_all,
    coral,
    cpu,
    jetson,
    memory,
    nvml,
    pi,
    thermal,
    threads,
)
from edgebench.conditions.base import Probe
from edgebench.conditions.processes import OtherProcesses, during_run
from tests.conftest import make_run


def put(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def probe(root: Path, bin_dir: Path | None = None, **kw) -> Probe:
    return Probe(root=root, path=str(bin_dir) if bin_dir else "", **kw)


def governors(root: Path, *names: str, driver: str = "acpi-cpufreq") -> None:
    for i, name in enumerate(names):
        put(root, f"sys/devices/system/cpu/cpu{i}/cpufreq/scaling_governor", name + "\n")
        put(root, f"sys/devices/system/cpu/cpu{i}/cpufreq/scaling_driver", driver)


# -- CPU ----------------------------------------------------------------------------------------
def test_a_powersave_governor_is_a_warning_that_names_it(tmp_path):
    governors(tmp_path, "powersave", "powersave")
    c = cpu.governor(probe(tmp_path))
    assert c.status == "warn" and c.value == "governor powersave"
    assert c.source == "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"
    assert "lowest clock" in c.meaning and c.data["governors"] == {"cpu0": "powersave", "cpu1": "powersave"}


@pytest.mark.parametrize("names, driver, status, words", [
    (("performance", "performance"), "acpi-cpufreq", "ok", "rises with the load"),
    (("schedutil", "powersave"), "acpi-cpufreq", "warn", "lowest clock"),       # one core is enough
    (("conservative",), "cpufreq-dt", "warn", "lowest clock"),
    (("powersave",), "intel_pstate", "warn", "hardware still raises"),           # HWP: said differently
])
def test_governor_neighbours(tmp_path, names, driver, status, words):
    governors(tmp_path, *names, driver=driver)
    c = cpu.governor(probe(tmp_path))
    assert c.status == status and words in c.meaning


def test_a_governor_file_that_is_a_fifo_huge_or_garbage_is_not_read_as_a_governor(tmp_path):
    base = tmp_path / "sys/devices/system/cpu/cpu0/cpufreq"
    base.mkdir(parents=True)
    os.mkfifo(base / "scaling_governor")          # opening it for reading would block forever
    put(tmp_path, "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "x" * (1 << 20))
    put(tmp_path, "sys/devices/system/cpu/cpu2/cpufreq/scaling_governor", "\x00\x01garbage governor!!")
    (tmp_path / "sys/devices/system/cpu/cpu3/cpufreq/scaling_governor").mkdir(parents=True)   # unreadable as text
    c = cpu.governor(probe(tmp_path))
    assert c.status == "unavailable" and "no cpufreq" in c.meaning


def test_an_unreadable_governor_file_is_unavailable(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = put(tmp_path, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "powersave")
    path.chmod(0)
    assert cpu.governor(probe(tmp_path)).status == "unavailable"


def test_frequency_cap_and_turbo(tmp_path):
    base = "sys/devices/system/cpu/cpu0/cpufreq"
    put(tmp_path, f"{base}/scaling_max_freq", "600000")
    put(tmp_path, f"{base}/cpuinfo_max_freq", "1500000")
    capped = cpu.frequency_limits(probe(tmp_path))
    assert capped.status == "warn" and capped.value == "capped at 600 of 1500 MHz"
    put(tmp_path, f"{base}/scaling_max_freq", "1500000")
    assert cpu.frequency_limits(probe(tmp_path)).status == "ok"
    put(tmp_path, "sys/devices/system/cpu/intel_pstate/no_turbo", "1")
    assert cpu.turbo(probe(tmp_path)).status == "warn"
    put(tmp_path, "sys/devices/system/cpu/intel_pstate/no_turbo", "0")
    assert cpu.turbo(probe(tmp_path)).status == "ok"


def test_without_sys_every_check_says_so_in_one_line(tmp_path):
    found = check_all(probe(tmp_path, nvml=None))
    assert {c.family for c in found} == {"cpu", "thermal", "pi", "jetson", "nvml", "coral", "memory", "threads"}
    for c in found:
        if c.family != "nvml":     # NVML does not read files
            assert c.status == "unavailable", c
        assert c.meaning and "\n" not in c.meaning


# -- thermal ------------------------------------------------------------------------------------
def zone(root: Path, n: int, kind: str, temp_mc: str, passive_mc: str | None = None) -> None:
    put(root, f"sys/class/thermal/thermal_zone{n}/type", kind)
    put(root, f"sys/class/thermal/thermal_zone{n}/temp", temp_mc)
    if passive_mc:
        put(root, f"sys/class/thermal/thermal_zone{n}/trip_point_0_type", "passive")
        put(root, f"sys/class/thermal/thermal_zone{n}/trip_point_0_temp", passive_mc)


def test_a_zone_at_its_passive_trip_point_is_a_warning(tmp_path):
    zone(tmp_path, 0, "cpu-thermal", "84000", "85000")
    zone(tmp_path, 1, "gpu-thermal", "41000", "85000")
    c = thermal.zones(probe(tmp_path))
    assert c.status == "warn" and "cpu-thermal 84 C (throttles at 85 C)" in c.meaning
    assert c.data["zones_c"] == {"cpu-thermal": 84.0, "gpu-thermal": 41.0}


def test_cool_zones_garbage_temperatures_and_no_trip_points(tmp_path):
    zone(tmp_path, 0, "x86_pkg_temp", "45000")                # no trip: 80 C is the rule
    zone(tmp_path, 1, "acpitz", "hot!")                       # garbage: skipped
    c = thermal.zones(probe(tmp_path))
    assert c.status == "ok" and c.data["zones_c"] == {"x86_pkg_temp": 45.0}
    zone(tmp_path, 0, "x86_pkg_temp", "79000")
    assert thermal.zones(probe(tmp_path)).status == "warn"


# -- Raspberry Pi (a stand-in vcgencmd on PATH) -------------------------------------------------
def test_pi_throttle_flags_from_a_stand_in_vcgencmd(tmp_path):
    put(tmp_path, "proc/device-tree/model", "Raspberry Pi 4 Model B Rev 1.4\x00")
    script(tmp_path / "bin", "vcgencmd", 'echo "throttled=0x50005"')
    c = pi.throttled(probe(tmp_path, tmp_path / "bin"))
    assert c.status == "warn" and c.value == "throttled=0x50005 (under-voltage, throttled)"
    assert c.data["now"] == ["under-voltage", "throttled"]
    assert c.data["since_boot"] == ["under-voltage", "throttling"]


@pytest.mark.parametrize("body, status, words", [
    ('echo "throttled=0x0"', "ok", "no under-voltage"),
    ('echo "throttled=0x50000"', "warn", "since boot"),            # happened, not now
    ('echo "\x01\x02 garbage"', "unavailable", "no throttled=0x"),
    ("exit 3", "unavailable", "status 3"),
    ("sleep 30 & wait", "unavailable", "did not answer"),           # hangs, with a child holding the pipe
])
def test_vcgencmd_neighbours(tmp_path, body, status, words):
    put(tmp_path, "proc/device-tree/model", "Raspberry Pi 3 Model B Plus Rev 1.3")
    script(tmp_path / "bin", "vcgencmd", body)
    c = pi.throttled(probe(tmp_path, tmp_path / "bin", timeout_s=0.5))
    assert c.status == status and words in c.meaning


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")        # a zombie has ended; only its parent has not reaped it


def test_a_hanging_command_is_killed_with_its_children(tmp_path):
    """The stand-in leaves a child that does not hold the pipe: killing only the shell would
    leave that child running for 10 minutes."""
    put(tmp_path, "proc/device-tree/model", "Raspberry Pi 4 Model B")
    pid_file = tmp_path / "child.pid"
    script(tmp_path / "bin", "vcgencmd", f"sleep 600 >/dev/null 2>&1 &\necho $! > {pid_file}\nwait")
    c = pi.throttled(probe(tmp_path, tmp_path / "bin", timeout_s=0.5))
    child = int(pid_file.read_text())
    try:
        assert c.status == "unavailable" and "did not answer within 0.5 s" in c.meaning
        for _ in range(50):                # SIGKILL is delivered asynchronously
            if not _alive(child):
                break
            time.sleep(0.02)
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, 9)


def test_not_a_pi_without_vcgencmd(tmp_path):
    c = pi.throttled(probe(tmp_path))
    assert c.status == "unavailable" and "not a Raspberry Pi" in c.meaning


# -- Jetson (stand-in nvpmodel and jetson_clocks) -----------------------------------------------
def test_jetson_power_mode_and_clocks(tmp_path):
    put(tmp_path, "etc/nv_tegra_release", "# R32 (release), REVISION: 7.1")
    bin_dir = tmp_path / "bin"
    script(bin_dir, "nvpmodel", 'printf "NV Power Mode: 5W\\n1\\n"')
    script(bin_dir, "jetson_clocks", 'printf "cpu0: Online=1 Governor=schedutil MinFreq=102000 MaxFreq=1479000 '
           'CurrentFreq=102000\\nGPU MinFreq=76800000 MaxFreq=921600000 CurrentFreq=76800000\\n"')
    mode = jetson.power_mode(probe(tmp_path, bin_dir))
    assert mode.status == "warn" and mode.value == "power mode 5W" and "MAXN" in mode.meaning
    clocks = jetson.clocks(probe(tmp_path, bin_dir))
    assert clocks.status == "warn" and clocks.data["unpinned"] == ["cpu0", "GPU"]
    script(bin_dir, "nvpmodel", 'printf "NV Power Mode: MAXN\\n0\\n"')
    script(bin_dir, "jetson_clocks", 'printf "cpu0: Online=1 MinFreq=1479000 MaxFreq=1479000 CurrentFreq=1479000\\n"')
    assert jetson.power_mode(probe(tmp_path, bin_dir)).status == "ok"
    assert jetson.clocks(probe(tmp_path, bin_dir)).status == "ok"
    script(bin_dir, "jetson_clocks", "exit 1")                 # not root
    assert "needs root" in jetson.clocks(probe(tmp_path, bin_dir)).meaning


# -- NVML stand-in ------------------------------------------------------------------------------
def fake_nvml(reasons: int, sm: int = 1410, init_error: Exception | None = None, count: int = 1):
    def init():
        if init_error:
            raise init_error
    return types.SimpleNamespace(
        nvmlInit=init, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: count,
        nvmlDeviceGetHandleByIndex=lambda i: f"gpu{i}", nvmlDeviceGetName=lambda h: b"NVIDIA H100",
        nvmlDeviceGetClockInfo=lambda h, kind: sm, nvmlDeviceGetMaxClockInfo=lambda h, kind: 1980,
        nvmlDeviceGetCurrentClocksThrottleReasons=lambda h: reasons)


def test_nvml_throttle_reasons_from_a_stand_in(tmp_path):
    [c] = nvml.gpus(probe(tmp_path, nvml=fake_nvml(0x40 | 0x4, sm=900)))
    assert c.status == "warn" and c.value == "SM 900/1980 MHz, software power cap, hardware thermal slowdown"
    [idle] = nvml.gpus(probe(tmp_path, nvml=fake_nvml(0x1)))
    assert idle.status == "ok" and idle.data["slowing"] == []
    [broken] = nvml.gpus(probe(tmp_path, nvml=fake_nvml(0, init_error=RuntimeError("Driver Not Loaded"))))
    assert broken.status == "unavailable" and "Driver Not Loaded" in broken.meaning
    [none] = nvml.gpus(probe(tmp_path, nvml=fake_nvml(0, count=0)))
    assert none.status == "unavailable" and "no GPU" in none.meaning


# -- Coral USB link -----------------------------------------------------------------------------
def usb(root: Path, name: str, vendor: str, product: str, speed: str) -> None:
    for key, value in (("idVendor", vendor), ("idProduct", product), ("speed", speed)):
        put(root, f"sys/bus/usb/devices/{name}/{key}", value + "\n")


@pytest.mark.parametrize("vendor, product", [("18d1", "9302"), ("1a6e", "089a")])
def test_a_coral_on_usb_2_is_a_warning(tmp_path, vendor, product):
    usb(tmp_path, "1-1", "1d6b", "0002", "480")             # a hub at 480: not a Coral
    usb(tmp_path, "2-1", vendor, product, "480")
    [c] = coral.usb_link(probe(tmp_path))
    assert c.status == "warn" and c.value == "Coral on USB 2.0 (480 Mb/s)"
    assert c.source == "/sys/bus/usb/devices/2-1/speed" and "74 fps" in c.meaning


@pytest.mark.parametrize("speed, status", [("5000", "ok"), ("10000", "ok"), ("12", "warn"),
                                           ("fast", "unavailable"), ("", "unavailable")])
def test_coral_speed_neighbours(tmp_path, speed, status):
    usb(tmp_path, "2-1", "18d1", "9302", speed)
    assert coral.usb_link(probe(tmp_path))[0].status == status


def test_another_google_usb_device_is_not_a_coral(tmp_path):
    usb(tmp_path, "2-1", "18d1", "4ee7", "480")              # a Pixel phone
    [c] = coral.usb_link(probe(tmp_path))
    assert c.status == "unavailable" and "no Coral" in c.meaning


# -- memory, cores ------------------------------------------------------------------------------
@pytest.mark.parametrize("available_kb, psi, status", [
    (8_000_000, "some avg10=0.00 avg60=0.00 avg300=0.00 total=0", "ok"),
    (150_000, None, "warn"),                                         # 150 MiB left
    (8_000_000, "some avg10=22.50 avg60=3.00 avg300=1.00 total=9", "warn"),
])
def test_memory_pressure(tmp_path, available_kb, psi, status):
    put(tmp_path, "proc/meminfo", f"MemTotal: 16000000 kB\nMemFree: 1 kB\nMemAvailable: {available_kb} kB\n")
    if psi:
        put(tmp_path, "proc/pressure/memory", psi + "\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    assert memory.pressure(probe(tmp_path)).status == status


def test_garbage_meminfo_is_unavailable(tmp_path):
    put(tmp_path, "proc/meminfo", "MemTotal: lots\n\x00\x00")
    assert memory.pressure(probe(tmp_path)).status == "unavailable"


def test_usable_cores_narrowed_by_affinity_or_quota(tmp_path):
    put(tmp_path, "sys/devices/system/cpu/online", "0-3")
    put(tmp_path, "proc/self/status", "Name:\tpython\nCpus_allowed_list:\t0-1\n")
    c = threads.usable_cores(probe(tmp_path))
    assert c.status == "warn" and c.value == "2 of 4 cores usable" and "affinity" in c.meaning
    put(tmp_path, "proc/self/status", "Cpus_allowed_list:\t0-3\n")
    put(tmp_path, "sys/fs/cgroup/cpu.max", "150000 100000\n")
    c = threads.usable_cores(probe(tmp_path))
    assert c.status == "warn" and c.value == "1.5 of 4 cores usable" and "quota" in c.meaning
    put(tmp_path, "sys/fs/cgroup/cpu.max", "max 100000\n")
    assert threads.usable_cores(probe(tmp_path)).status == "ok"
    assert threads.cpu_list("3-1") is None and threads.cpu_list("0,2-3") == 3


# -- other processes ----------------------------------------------------------------------------
def proc_stat(root: Path, busy: int, idle: int, own: int) -> None:
    put(root, "proc/stat", f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0\n")
    put(root, "proc/self/stat", f"42 (python (x)) R 1 1 1 0 -1 0 0 0 0 0 {own} 0 0 0\n")


def test_other_processes_from_faked_proc_counters(tmp_path):
    proc_stat(tmp_path, busy=1000, idle=1000, own=100)
    sampler = OtherProcesses(probe(tmp_path), interval_s=60).start()
    proc_stat(tmp_path, busy=1150, idle=1050, own=150)       # 200 jiffies on 2 CPUs: 150 busy, 50 ours
    usage = sampler.stop()
    assert usage["cores"] == 1.0 and usage["cpus"] == 2
    assert during_run(usage, "during the timed loops").status == "warn"
    proc_stat(tmp_path, busy=1000, idle=1000, own=100)
    sampler = OtherProcesses(probe(tmp_path), interval_s=60).start()
    proc_stat(tmp_path, busy=1060, idle=1140, own=150)       # all but 10 busy jiffies are ours
    quiet = sampler.stop()
    assert quiet["cores"] == 0.1 and during_run(quiet, "now").status == "ok"


def test_other_processes_without_proc_is_unavailable(tmp_path):
    assert OtherProcesses(probe(tmp_path)).start().stop() is None
    assert during_run(None, "now").status == "unavailable"


# -- this machine -------------------------------------------------------------------------------
def test_the_real_checks_run_here_and_say_what_they_found(capsys):
    found = check_all()
    families = {c.family for c in found}
    assert families == {"cpu", "thermal", "pi", "jetson", "nvml", "coral", "memory", "threads"}
    with capsys.disabled():
        for c in found:
            print(f"\n  {c.check}: {c.status}: {c.value or '-'}: {c.meaning} [{c.source}]", end="")
    memory_check = next(c for c in found if c.check == "memory pressure")
    assert memory_check.status in ("ok", "warn") and memory_check.data["total_mib"] > 0   # Linux CI


def test_a_check_that_breaks_is_recorded_not_raised(tmp_path, monkeypatch):
    def broken(_probe):
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(memory, "CHECKS", (broken,))
    [c] = check_all(probe(tmp_path), families=("memory",))
    assert c.status == "unavailable" and "ZeroDivisionError: boom" in c.meaning


# -- stored with the result ---------------------------------------------------------------------
def powersave_run(tmp_path):
    governors(tmp_path / "root", "powersave")
    run = make_run()
    run.conditions = check_all(probe(tmp_path / "root"), families=("cpu",))
    return run


def test_a_schema_2_run_without_conditions_still_reads():
    from edgebench.results.schema import RunResult

    document = make_run().model_dump(mode="json")
    document.pop("conditions")
    assert document["schema_version"] == 2
    assert RunResult.model_validate(document).conditions == []


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_conditions_travel_through_export_import_and_the_store(tmp_path, fmt):
    from edgebench.results.exchange import dump_csv, dump_json, load_runs
    from edgebench.results.store import Store

    run = powersave_run(tmp_path)
    path = tmp_path / f"runs.{fmt}"
    path.write_text((dump_json if fmt == "json" else dump_csv)([run]))
    [back] = load_runs(path)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.import_runs([back])
    stored = store.get(run.run_id)
    assert [c.value for c in stored.conditions if c.status == "warn"] == ["governor powersave"]
    assert stored.conditions == run.conditions


def test_the_fleet_matrix_row_names_the_device_and_its_warnings(tmp_path):
    from edgebench.cli.fleet import conditions_cell

    assert conditions_cell("board-b", powersave_run(tmp_path)) == "board-b: governor powersave"
    assert conditions_cell("board-a", make_run()) == "-"
    assert conditions_cell("board-c", None) == "-"


def test_the_hubs_per_device_results_carry_the_warnings(tmp_path):
    from edgebench.hub.db import result_out
    from edgebench.hub.routes.results import result_rows
    from edgebench.hub.schema import DeviceResult

    run = powersave_run(tmp_path)
    for r in run.results:
        r.artifact = {"sha256": "a" * 64}
    [row, _] = result_rows(run.model_dump(mode="json"), {"a" * 64})[0]
    stored = types.SimpleNamespace(**{k: v for k, v in row.items() if k != "document"},
                                   created=run.created, document=row["document"])
    out = DeviceResult.model_validate(result_out(stored, "1"))
    assert out.conditions == "governor powersave"
    row["document"].pop("conditions")                     # pushed before conditions were recorded
    assert result_out(stored, "1")["conditions"] is None

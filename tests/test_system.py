from edgebench.system import device_info, parse_cpuinfo, parse_meminfo

CPUINFO_2CORE = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480C
physical id\t: 0
core id\t\t: 0

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480C
physical id\t: 0
core id\t\t: 1
"""

CPUINFO_RPI = """processor\t: 0
BogoMIPS\t: 38.40
processor\t: 1
Hardware\t: BCM2835
Model\t\t: Raspberry Pi 3 Model B Plus Rev 1.3
"""


def test_cpuinfo_x86():
    assert parse_cpuinfo(CPUINFO_2CORE) == ("Intel(R) Xeon(R) Platinum 8480C", 2)


def test_cpuinfo_arm_board_without_core_ids():
    model, cores = parse_cpuinfo(CPUINFO_RPI)
    assert model == "BCM2835" and cores is None


def test_meminfo():
    assert parse_meminfo("MemTotal:       25165824 kB\nMemFree: 1 kB\n") == 24.0
    assert parse_meminfo("garbage") is None


def test_device_info_has_toolchain_versions():
    info = device_info()
    assert info.cores_logical >= 1 and info.python.startswith("3.")
    assert "numpy" in info.toolchain and info.toolchain["numpy"]

"""Shared fixtures. The prepared-model cache is shared by the whole session so the real
conversions run once; tests that must see an empty cache make their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORAL = REPO.parent / "shared" / "fixtures" / "coral"


def _environment(name: str, value: str):
    """Set an environment variable for the test session, restoring it afterwards."""
    previous = os.environ.get(name)
    os.environ[name] = value
    yield
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """One prepared-model cache for the whole test session: real conversions run once."""
    path = tmp_path_factory.mktemp("edgebench-cache")
    yield from (path for _ in _environment("EDGEBENCH_CACHE_DIR", str(path)))


@pytest.fixture(scope="session", autouse=True)
def session_data(tmp_path_factory) -> Path:
    """Retrained models made by tests go to a temporary data dir, never the user's."""
    path = tmp_path_factory.mktemp("edgebench-data")
    yield from (path for _ in _environment("EDGEBENCH_DATA_DIR", str(path)))


def retrained_manifest(name: str) -> dict:
    """The manifest of a model retrained in this session (in its temporary data dir)."""
    import json

    return json.loads((Path(os.environ["EDGEBENCH_DATA_DIR"]) / "models" / name / "model.json").read_text())


def retrain_cli(name: str, train: Path, *extra, timeout: float = 900) -> dict:
    """`edgebench retrain --base mobilenet_v2 --images train --name name ...`, which must register
    the model; its manifest."""
    done = run_cli("retrain", "--base", "mobilenet_v2", "--images", train, "--name", name, *extra,
                   timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"registered {name}" in done.stdout
    return retrained_manifest(name)


@pytest.fixture(scope="session")
def photo_set(tmp_path_factory) -> tuple[Path, Path]:
    """(train, val) folders of tests/retrain_photos.py's labelled set, made once per session."""
    from tests.retrain_photos import make_photo_classes

    return make_photo_classes(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
def imprint_model(photo_set) -> dict:
    """`retrain --method imprint` of mobilenet_v2 on photo_set, registered once per session as
    photos-imprint (a retrain builds and validates every variant: over a minute here). Read-only
    for its users: test_retrain checks it, publishes it to a hub and retrains from it; test_fleet
    sends it to a device as a bundle."""
    train, val = photo_set
    return retrain_cli("photos-imprint", train, "--val", val, "--method", "imprint")


@pytest.fixture
def coral() -> Path:
    """Coral's fixtures from ../shared; tests using them skip where they are absent."""
    if not (CORAL / "bird.bmp").is_file():
        pytest.skip("../shared/fixtures/coral is not present")
    return CORAL


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 900,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real `edgebench` entry point in a child process (env: variables to add)."""
    return subprocess.run([sys.executable, "-m", "edgebench", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=timeout, env={**os.environ, **(env or {})})


def cpu_seconds() -> tuple[float, float, float]:
    """(wall s, busy CPU s of the whole machine, CPU s of this process's finished children)."""
    import resource
    import time

    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic(), (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), children.ru_utime + children.ru_stime


def others_cores(measure):
    """Run measure(); how many cores other processes kept busy meanwhile (machine busy time
    minus this process's children's), and measure()'s value."""
    wall0, busy0, ours0 = cpu_seconds()
    value = measure()
    wall1, busy1, ours1 = cpu_seconds()
    return max(0.0, (busy1 - busy0) - (ours1 - ours0)) / max(wall1 - wall0, 1e-9), value


def start_hub(data: Path, log: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """A real `edgebench hub serve --data DATA` on a free loopback port, its output in log,
    returned once /api/health answers: (process, url)."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(log, "w") as log_file:
        server = subprocess.Popen([sys.executable, "-m", "edgebench", "hub", "serve", "--host", "127.0.0.1",
                                   "--port", str(port), "--data", str(data), *args],
                                  cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


@pytest.fixture(scope="session", autouse=True)
def session_store(tmp_path_factory) -> Path:
    """Runs made by tests go to a temporary store, never the user's."""
    path = tmp_path_factory.mktemp("edgebench-store") / "results.db"
    yield from (path for _ in _environment("EDGEBENCH_STORE", str(path)))


def _postgres_bin() -> Path | None:
    import glob
    import shutil

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1, in a throw-away cluster, for the whole session.

    scripts/test.sh installs it from Debian; where it is absent the tests skip, unless
    EDGEBENCH_REQUIRE_POSTGRES=1 (CI), where its absence is a failure.
    """
    import shutil
    import socket
    import tempfile

    bindir = _postgres_bin()
    if bindir is None:
        if os.environ.get("EDGEBENCH_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (EDGEBENCH_REQUIRE_POSTGRES=1) but initdb was not found")
        pytest.skip("PostgreSQL server binaries are not installed")
    as_user: list[str] = []
    datadir = Path(tempfile.mkdtemp(prefix="edgebench-pg-", dir="/tmp"))
    if os.geteuid() == 0:  # the server refuses to run as root
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(datadir, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(datadir / "data"), "-A", "trust",
                    "-U", "postgres", "--no-sync"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(datadir / "data"), "-w", "-l",
                    str(datadir / "server.log"), "-o", f"-p {port} -h 127.0.0.1 -k {datadir} -F",
                    "start"], check=True, capture_output=True)
    try:
        yield {"host": "127.0.0.1", "port": port}
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(datadir / "data"), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """A fresh, empty database on the session's server."""
    import re

    return fresh_postgres_database(postgres_server, "t_" + re.sub(r"\W", "_", request.node.name.lower())[:50])


def fresh_postgres_database(postgres_server, name: str) -> str:
    """Create (or re-create) an empty database; returns its SQLAlchemy URL."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(
        f"postgresql+psycopg://postgres@{postgres_server['host']}:{postgres_server['port']}/postgres",
        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@{postgres_server['host']}:{postgres_server['port']}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """Every store test runs on embedded SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


def make_run(targets=("litert-int8", "torch-fp32"), label="espresso", run_id=None, status="complete"):
    """A complete, valid RunResult built from real types (no runtime involved)."""
    import uuid

    from edgebench.results.schema import (LatencyStats, Prediction, ProtocolInfo, RunResult,
                                          TargetResult)
    from edgebench.system import device_info

    protocol = ProtocolInfo(name="classic", warmup=1, settle_s=1.0, runs=3)
    results = []
    for i, name in enumerate(targets):
        runtime, precision = name.rsplit("-", 1)
        top1 = Prediction(index=967, label=label, score=0.9)
        results.append(TargetResult(
            target=name, runtime=runtime, runtime_version="1.0", precision=precision, model="mobilenet_v2",
            status="ok", protocol=protocol, samples_ms=[1.0 + i, 1.1 + i, 1.2 + i],
            latency_ms=LatencyStats(median=1.1 + i, mean=1.1 + i, p90=1.18 + i, p99=1.2 + i,
                                    min=1.0 + i, max=1.2 + i),
            fps=900.0 / (1 + i), top1=top1, top5=[top1], agrees_with_reference=True))
    return RunResult(run_id=run_id or uuid.uuid4().hex, created="2026-11-23T12:00:00+00:00",
                     status=status, edgebench_version="0.1.0", device=device_info(),
                     model={"name": "mobilenet_v2", "source": "zoo"}, image={"path": "x.jpg"},
                     results=results)


@pytest.fixture
def chromium():
    """Headless Chromium through selenium (Debian's chromium + chromium-driver)."""
    import shutil

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/test.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1300,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(driver))
    yield browser
    browser.quit()


def in_terminal(*args: str, columns: int = 200, env: dict[str, str] | None = None,
                timeout: float = 600) -> tuple[int, str]:
    """Run the real CLI under a pseudo-terminal of `columns` x 50, as a user sees it (live
    displays render for real): (exit code, everything it wrote, escapes and all)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "edgebench", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=REPO, env={**os.environ, "COLUMNS": str(columns), "LINES": "50", **(env or {})})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:   # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=timeout)
    os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="session")
def rigorous_run(tmp_path_factory) -> dict:
    """One real `run --protocol rigorous` (the preset as it is: 3 x >= 1000 runs and >= 10 s per
    target) of onnxruntime-fp32 and litert-int8, under a 140-column pseudo-terminal, stored and
    written as JSON. Over half a minute per target, so made once: test_end_to_end checks its
    numbers, test_run_table_width its screen. {"code", "text" (all it wrote, escapes and all),
    "store" (URL), "data" (the JSON, None if the run failed)}."""
    import json

    tmp = tmp_path_factory.mktemp("rigorous")
    store, out = f"sqlite:///{tmp / 'r.db'}", tmp / "r.json"
    code, text = in_terminal("run", "--targets", "onnxruntime-fp32,litert-int8", "--settle", "0", "--meter", "none",
                             "--protocol", "rigorous", "--store", store, "--out", str(out), columns=140)
    return {"code": code, "text": text, "store": store,
            "data": json.loads(out.read_text()) if out.is_file() else None}

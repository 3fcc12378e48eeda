"""The fleet end to end: a real `dask scheduler` and `edgebench fleet worker` processes on
127.0.0.1, each named as a different device, driven through the real CLI with the real
mobilenet_v2 on litert-int8 and onnxruntime-fp32 (tiny protocols: --runs 5 --settle 0)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

DEVICES = ("dev-a", "dev-b", "dev-c")
TINY = ("--runs", "5", "--settle", "0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], log: Path) -> subprocess.Popen:
    """A background process whose output goes to a log file (inherits the test's environment:
    EDGEBENCH_CACHE_DIR, EDGEBENCH_STORE)."""
    return subprocess.Popen(args, cwd=REPO, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            env=dict(os.environ))


def start_worker(address: str, name: str, tmp: Path, *extra: str) -> subprocess.Popen:
    return start([sys.executable, "-m", "edgebench", "fleet", "worker", "--scheduler", address,
                  "--name", name, *extra], tmp / f"worker-{name}.log")


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fleet_status(address: str, *extra: str) -> list[dict]:
    done = run_cli("fleet", "status", "--scheduler", address, "--json", *extra, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def states(address: str, certs: Path | None = None) -> dict[str, str]:
    """device -> idle/busy, through the library (polling through the CLI would start a process
    per poll on a 2-core machine)."""
    from edgebench.fleet.client import connect, status
    from edgebench.fleet.security import parse_address

    client = connect(parse_address(address, certs is not None), certs, timeout_s=30)
    try:
        return {e.member.name: e.state for e in status(client)}
    finally:
        client.close()


def wait_for_devices(address: str, names: set[str], certs: Path | None = None, timeout: float = 120):
    wait_for(lambda: names <= set(states(address, certs)), timeout, f"devices {sorted(names)}")


class Output:
    """A process's output lines as they arrive, each with the time it arrived."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[tuple[float, str]] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc) -> None:
        for line in proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, text: str, timeout: float) -> float:
        return wait_for(lambda: next((t for t, ln in self.lines if text in ln), None), timeout, repr(text))

    @property
    def text(self) -> str:
        return "\n".join(ln for _, ln in self.lines)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A plain `dask scheduler` (default allowed-failures: the client must not depend on it) and
    three named edgebench workers, with mobilenet_v2's two variants prepared in the test cache."""
    from edgebench.models.prepare import Preparer
    from edgebench.models.zoo import MOBILENET_V2

    tmp = tmp_path_factory.mktemp("fleet")
    preparer = Preparer(MOBILENET_V2)
    artifacts = {v: preparer.get(v) for v in (("tflite", "int8"), ("onnx", "fp32"))}
    address = f"tcp://127.0.0.1:{free_port()}"
    dask_cli = Path(sys.executable).parent / "dask"
    scheduler = start([str(dask_cli), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                       "--no-dashboard"], tmp / "scheduler.log")
    workers = {name: start_worker(address, name, tmp) for name in DEVICES}
    procs = [*workers.values(), scheduler]
    try:
        wait_for_devices(address, set(DEVICES))
        yield {"address": address, "tmp": tmp, "workers": workers, "procs": procs, "artifacts": artifacts}
    finally:
        stop(procs)


def test_status_lists_three_devices(fleet):
    entries = fleet_status(fleet["address"])
    by_name = {e["device"]: e for e in entries}
    assert set(by_name) == set(DEVICES)
    for name, entry in by_name.items():
        profile = entry["profile"]
        assert entry["edgebench"] and entry["state"] == "idle" and entry["job"] is None
        assert {"litert-int8", "onnxruntime-fp32"} <= set(profile["targets"])
        assert "cpu" in profile["capabilities"] and profile["name"] == name
        assert "torch-fp32@cuda" in profile["unavailable"]
    assert len({e["profile"]["fingerprint"] for e in entries}) == 3      # three devices...
    assert len({e["profile"]["machine"] for e in entries}) == 1          # ...on one machine
    table = run_cli("fleet", "status", "--scheduler", fleet["address"])
    assert table.returncode == 0
    for name in DEVICES:
        assert name in table.stdout
    assert "dev-a, dev-b, dev-c run on one machine" in table.stdout


def test_matrix_stores_every_result_with_its_device(fleet, tmp_path):
    from edgebench.results.query import runs_for_report
    from edgebench.results.store import Store

    own_model = tmp_path / "coffee_int8.tflite"   # a user's file: it travels with the jobs
    own_model.write_bytes(fleet["artifacts"][("tflite", "int8")].path.read_bytes())
    store, out = tmp_path / "fleet.db", tmp_path / "fleet.json"
    done = run_cli("fleet", "run", "--scheduler", fleet["address"], "--models", f"mobilenet_v2,{own_model}",
                   "--targets", "litert-int8,onnxruntime-fp32", *TINY, "--store", store, "--out", out,
                   timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = Store(str(store)).all_runs()
    assert len(runs) == 6 and {r.status for r in runs} == {"complete"}

    zoo = [r for r in runs if r.model["name"] == "mobilenet_v2"]
    assert sorted(r.device.hostname for r in zoo) == list(DEVICES)
    ok = [(r.device.hostname, t.target) for r in zoo for t in r.results if t.status == "ok"]
    assert len(ok) == 6 and {t for _, t in ok} == {"litert-int8", "onnxruntime-fp32"}   # 6 results, 3 devices
    for r in zoo:
        assert all(t.top1.label == "espresso" and t.samples_ms for t in r.results)

    status = {e["device"]: e["profile"] for e in fleet_status(fleet["address"])}
    for r in runs:   # stored with the device's fingerprint, the one the worker published
        assert r.device.fingerprint() == status[r.device.hostname]["fingerprint"]
    files = [r for r in runs if r.model["name"] == "coffee_int8"]
    import hashlib

    assert {r.model["sha256"] for r in files} == {hashlib.sha256(own_model.read_bytes()).hexdigest()}
    assert {(t.target, t.status) for r in files for t in r.results} == {("litert-int8", "ok"),
                                                                        ("onnxruntime-fp32", "unavailable")}

    record = json.loads(out.read_text())
    jobs = record["fleet"]["jobs"]
    assert len(jobs) == 6 and {j["status"] for j in jobs} == {"ok"}
    for device in DEVICES:   # never two benchmarks on one device at the same time
        spans = sorted((j["started"], j["ended"]) for j in jobs if j["device"] == device)
        assert len(spans) == 2 and spans[0][1] <= spans[1][0], spans
    assert len(record["runs"]) == 6   # the file is also an import bundle

    shown = runs_for_report(Store(str(store))).runs   # what `edgebench report` shows: every device
    assert len({r.device.fingerprint() for r in shown}) == 3 and len(shown) == 6
    for device in DEVICES:
        assert f"[{device}] mobilenet_v2: litert-int8 median" in done.stdout


def test_targets_and_devices_nobody_has_fail_fast(fleet):
    started = time.monotonic()
    nobody = run_cli("fleet", "run", "--scheduler", fleet["address"], "--targets",
                     "litert-int8,torch-fp32@cuda", *TINY, "--no-save")
    assert nobody.returncode == 2
    assert nobody.stderr.count("\n") == 1 and "error: no device offers torch-fp32@cuda (dev-a: no CUDA" in nobody.stderr
    unknown = run_cli("fleet", "run", "--scheduler", fleet["address"], "--targets", "litert-int9", "--no-save")
    assert unknown.returncode == 2 and "unknown target 'litert-int9'" in unknown.stderr
    absent = run_cli("fleet", "run", "--scheduler", fleet["address"], "--devices", "dev-a,jetson", "--no-save")
    assert absent.returncode == 2
    assert "no device named 'jetson' in the fleet (devices: dev-a, dev-b, dev-c)" in absent.stderr
    assert time.monotonic() - started < 60
    assert set(states(fleet["address"]).values()) == {"idle"}   # nothing was submitted


def test_a_second_worker_cannot_take_a_device_name(fleet):
    done = run_cli("fleet", "worker", "--scheduler", fleet["address"], "--name", "dev-b", timeout=120)
    assert done.returncode == 2
    assert "already has a device named dev-b" in done.stderr and done.stderr.count("\n") == 1


def test_ctrl_c_cancels_and_keeps_what_finished(fleet, tmp_path):
    from edgebench.results.store import Store

    queued = tmp_path / "queued_int8.tflite"
    queued.write_bytes(fleet["artifacts"][("tflite", "int8")].path.read_bytes())
    store = tmp_path / "interrupted.db"
    proc = subprocess.Popen([sys.executable, "-m", "edgebench", "fleet", "run", "--scheduler", fleet["address"],
                             "--devices", "dev-a", "--models", f"mobilenet_v2,{queued}",
                             "--targets", "litert-int8,onnxruntime-fp32", "--runs", "200", "--settle", "0",
                             "--store", str(store)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(proc)
    output.first("litert-int8 median", timeout=180)   # one target finished (registry order); the next is timing
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130, output.text
    output.thread.join(5)
    assert "1 running job(s) stopped, keeping the targets they finished; 1 queued job(s) cancelled" in output.text
    (run,) = Store(str(store)).all_runs()
    assert run.status == "interrupted" and run.device.hostname == "dev-a"
    assert [(t.target, t.status) for t in run.results] == [("litert-int8", "ok")]
    wait_for(lambda: set(states(fleet["address"]).values()) == {"idle"}, 30, "idle devices")
    worker = fleet["workers"]["dev-a"]   # no benchmark left running on the device
    wait_for(lambda: not psutil.Process(worker.pid).children(), 15, "the benchmark process to end")


def test_kill_9_of_a_worker_fails_its_job_by_name_and_the_rest_completes(fleet, tmp_path):
    from edgebench.results.store import Store

    doomed = start_worker(fleet["address"], "doomed", fleet["tmp"])
    fleet["procs"].append(doomed)
    wait_for_devices(fleet["address"], {"doomed"})
    store = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-m", "edgebench", "fleet", "run", "--scheduler", fleet["address"],
                             "--devices", "dev-a,dev-b,doomed", "--targets", "litert-int8,onnxruntime-fp32",
                             "--runs", "60", "--settle", "0", "--store", str(store)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(proc)
    output.first("[doomed] mobilenet_v2: started", timeout=120)
    benchmark = wait_for(lambda: psutil.Process(doomed.pid).children(), 30, "doomed's benchmark process")[0]
    time.sleep(1.0)   # mid-job: preparing or timing
    os.kill(doomed.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    reported = output.first("[doomed] mobilenet_v2: FAILED", timeout=30)
    assert reported - killed_at < 5.0, "the failure must be reported within seconds"
    assert proc.wait(timeout=300) == 1, output.text
    output.thread.join(5)
    assert ("device doomed left the fleet during the job" in output.text
            or "the worker of device doomed went away during the job" in output.text)
    wait_for(lambda: not benchmark.is_running() or benchmark.status() == psutil.STATUS_ZOMBIE, 15,
             "the killed worker's benchmark process to end")
    runs = {r.device.hostname: r for r in Store(str(store)).all_runs()}
    assert runs["dev-a"].status == runs["dev-b"].status == "complete"
    assert all(t.status == "ok" for name in ("dev-a", "dev-b") for t in runs[name].results)
    assert "doomed" not in runs or runs["doomed"].status == "failed"


def test_hub_models_are_pulled_by_the_device_and_pushed_back(fleet, tmp_path):
    """A hub:// model: the device pulls it from the client's hub (the workers were started without
    one), and --push sends the run to the hub, which lists it for the model."""
    import httpx

    data = tmp_path / "hub"
    made = run_cli("hub", "token", "create", "alice", "--data", data)
    assert made.returncode == 0, made.stderr
    port = free_port()
    server = start([sys.executable, "-m", "edgebench", "hub", "serve", "--host", "127.0.0.1", "--port",
                    str(port), "--data", str(data)], tmp_path / "hub.log")
    url = f"http://127.0.0.1:{port}"
    env = {"EDGEBENCH_HUB_URL": url, "EDGEBENCH_HUB_TOKEN": made.stdout.strip()}
    try:
        def healthy():
            try:
                return httpx.get(url + "/api/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 60, "the hub")
        model = tmp_path / "birds_int8.tflite"
        model.write_bytes(fleet["artifacts"][("tflite", "int8")].path.read_bytes())
        published = run_cli("hub", "publish", model, "--name", "alice/birds", "--version", "1", env=env)
        assert published.returncode == 0, published.stderr
        done = run_cli("fleet", "run", "--scheduler", fleet["address"], "--devices", "dev-a", "--models",
                       "hub://alice/birds@1", "--targets", "litert-int8", *TINY, "--store", tmp_path / "hub.db",
                       "--push", env=env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "[dev-a] hub://alice/birds@1: pulling alice/birds@1 from the hub" in done.stdout
        assert "to alice/birds@1: 1 result(s) added" in done.stdout
        shown = run_cli("hub", "show", "alice/birds", env=env)
        assert shown.returncode == 0 and "litert-int8" in shown.stdout
    finally:
        stop([server])


@pytest.fixture
def tls_fleet(tmp_path):
    """`edgebench fleet scheduler` with TLS on every interface, and one worker with certificates."""
    from edgebench.fleet.security import make_certs

    certs, other = tmp_path / "certs", tmp_path / "other"
    done = run_cli("fleet", "certs", certs)
    assert done.returncode == 0, done.stderr
    make_certs(other, [])   # a second CA: its certificates must be refused
    port = free_port()
    scheduler = start([sys.executable, "-m", "edgebench", "fleet", "scheduler", "--host", "0.0.0.0",
                       "--port", str(port), "--tls", str(certs)], tmp_path / "scheduler.log")
    address = f"tls://127.0.0.1:{port}"
    wait_for(lambda: "listening at tls://" in (tmp_path / "scheduler.log").read_text(), 60, "the TLS scheduler")
    worker = start_worker(address, "secure", tmp_path, "--tls", str(certs))
    try:
        wait_for_devices(address, {"secure"}, certs)
        yield {"address": address, "port": port, "certs": certs, "other": other, "scheduler": scheduler}
    finally:
        stop([worker, scheduler])


def test_tls_refuses_clients_and_workers_without_fleet_certificates(tls_fleet, tmp_path):
    address, certs, other = tls_fleet["address"], tls_fleet["certs"], tls_fleet["other"]
    plain = run_cli("fleet", "status", "--scheduler", f"tcp://127.0.0.1:{tls_fleet['port']}",
                    "--connect-timeout", "3")
    assert plain.returncode == 2 and "cannot reach the fleet scheduler" in plain.stderr
    stranger = run_cli("fleet", "status", "--scheduler", address, "--tls", other, "--connect-timeout", "3")
    assert stranger.returncode == 2 and "cannot reach the fleet scheduler" in stranger.stderr
    # A TLS client that trusts the fleet's CA but shows no certificate of its own (Dask itself will
    # not even try without one): the scheduler ends the handshake.
    import ssl

    no_cert = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    no_cert.check_hostname = False
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", tls_fleet["port"]), timeout=10) as raw, \
                no_cert.wrap_socket(raw) as tls:
            tls.sendall(b"\0" * 8)
            tls.recv(1)   # TLS 1.3: the server's refusal of a missing certificate arrives here
    # Trusting the fleet's CA but holding certificates of another CA: the scheduler refuses them.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    for name in ("client.pem", "client-key.pem", "worker.pem", "worker-key.pem"):
        (mixed / name).write_bytes((other / name).read_bytes())
        (mixed / name).chmod(0o600)
    impostor = run_cli("fleet", "status", "--scheduler", address, "--tls", mixed, "--connect-timeout", "3")
    assert impostor.returncode == 2 and "cannot reach the fleet scheduler" in impostor.stderr
    for name, directory in (("intruder", other), ("impostor", mixed)):
        started = time.monotonic()
        refused = run_cli("fleet", "worker", "--scheduler", address, "--tls", directory, "--name", name,
                          "--connect-timeout", "3", timeout=120)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "could not reach the scheduler" in refused.stderr and "probing" not in refused.stdout
        assert time.monotonic() - started < 30
    assert list(states(address, certs)) == ["secure"]

    # With its certificates, a client runs a matrix over TLS; the scheduler fails jobs of dead
    # workers at once (allowed-failures 0) and listens unencrypted on nothing but loopback.
    from edgebench.fleet.client import connect
    from edgebench.fleet.security import parse_address

    client = connect(parse_address(address, True), certs)
    try:
        assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == 0
    finally:
        client.close()
    listening = [c.laddr for c in psutil.Process(tls_fleet["scheduler"].pid).net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN]
    assert any(a.port == tls_fleet["port"] and a.ip in ("0.0.0.0", "::") for a in listening)
    assert all(a.port == tls_fleet["port"] or a.ip in ("127.0.0.1", "::1") for a in listening), listening
    run = run_cli("fleet", "run", "--scheduler", address, "--tls", certs, "--targets", "litert-int8", *TINY,
                  "--store", tmp_path / "tls.db", timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[secure] mobilenet_v2: done" in run.stdout


def test_a_retrained_model_travels_to_the_device_as_a_bundle(fleet, imprint_model, photo_set, tmp_path):
    """A model retrained on the client exists only in the client's data dir: the job carries it
    (sha256-checked, unpacked under the worker's cache) and the device runs its variants. The
    model is the session's photos-imprint (tests/conftest.py: retrained once, shared with
    test_retrain)."""
    from edgebench.paths import cache_dir
    from edgebench.results.store import Store

    _, val = photo_set
    name = imprint_model["name"]
    image = sorted((val / "rocket").iterdir())[0]
    store = tmp_path / "retrained.db"
    done = run_cli("fleet", "run", "--scheduler", fleet["address"], "--devices", "dev-b", "--models",
                   name, "--targets", "onnxruntime-fp32,litert-int8", "--image", image, *TINY,
                   "--store", store, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = Store(str(store)).all_runs()
    assert run.model["name"] == name and run.device.hostname == "dev-b"
    assert {(t.target, t.status, t.top1.label) for t in run.results} == {
        ("onnxruntime-fp32", "ok", "rocket"), ("litert-int8", "ok", "rocket")}
    unpacked = list((cache_dir() / "fleet" / "models").glob(f"*/{name}/model.json"))
    assert len(unpacked) == 1


def test_a_worker_waits_for_its_scheduler_to_start(tmp_path):
    """A device started before its scheduler says it waits (where, for how long), then joins."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = tmp_path / "worker-early.log"
    worker = start([sys.executable, "-m", "edgebench", "fleet", "worker", "--scheduler", address, "--name",
                    "early", "--connect-timeout", "300"], log)
    procs = [worker]
    try:
        wait_for(lambda: f"waiting for the scheduler at {address} (connection refused" in log.read_text(),
                 120, "the worker's waiting line")
        procs.append(start([sys.executable, "-m", "edgebench", "fleet", "scheduler", "--port", str(port)],
                           tmp_path / "scheduler-late.log"))
        wait_for(lambda: "device early" in log.read_text() and f"joined {address}" in log.read_text(), 300,
                 "the worker to join")
        assert worker.poll() is None and "error" not in log.read_text()
    finally:
        stop(procs)

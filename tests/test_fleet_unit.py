"""The fleet's pieces without a cluster: names and addresses, the TLS rule and certificates (real
handshakes through Dask's own TLS contexts), the matrix, device profiles, status, and a fleet
run's bookkeeping driven through a scripted stand-in for the Dask client."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import threading
import time
from pathlib import Path

import pytest

from edgebench.bench.config import RunConfig
from edgebench.errors import UserError
from edgebench.fleet import names
from edgebench.fleet.device import DeviceProfile, hardware_label
from edgebench.fleet.matrix import (
    FilePayload,
    ModelChoice,
    jobs_for,
    resolve_models,
    select_devices,
    share_targets,
)
from edgebench.fleet.security import make_certs, parse_address, security_for
from tests.conftest import make_run, run_cli


def profile(name: str, targets=("litert-int8", "onnxruntime-fp32"), machine: str | None = None,
            unavailable: dict | None = None) -> DeviceProfile:
    return DeviceProfile(name=name, fingerprint=f"fp-{name}", machine=machine or f"m-{name}", host="h",
                         hardware="AMD EPYC", cpu_model="AMD EPYC", cores_logical=2, arch="x86_64",
                         memory_gb=8.0, targets={t: "rt 1.0" for t in targets},
                         unavailable=unavailable or {"torch-fp32@cuda": "no CUDA GPU visible"},
                         capabilities=("cpu",), edgebench_version="0.1.0")


# -- names and addresses ------------------------------------------------------------------------

@pytest.mark.parametrize("good", ["a", "pi4-coral", "jetson_nano.2", "X" * 63])
def test_device_names_accepted(good):
    assert names.check_device_name(good) == good


@pytest.mark.parametrize("bad", ["", "-a", ".a", "a b", "a,b", "a/b", "X" * 64, "ä", "a:b"])
def test_device_names_refused(bad):
    with pytest.raises(UserError, match="invalid device name"):
        names.check_device_name(bad)


def test_default_device_name_is_a_valid_name(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "My Laptop (2).local")
    assert names.default_device_name() == "My-Laptop--2"
    monkeypatch.setattr(socket, "gethostname", lambda: "###")
    assert names.default_device_name() == "device"
    assert names.device_resource("pi") == "device:pi"


@pytest.mark.parametrize("text,tls,expected", [
    ("tcp://127.0.0.1:8786", False, "tcp://127.0.0.1:8786"),
    ("127.0.0.1:9000", False, "tcp://127.0.0.1:9000"),
    ("localhost", False, "tcp://localhost:8786"),
    ("tcp://[::1]:8786", False, "tcp://[::1]:8786"),
    ("tls://10.0.0.5:8786", True, "tls://10.0.0.5:8786"),
    ("workstation.example:8786", True, "tls://workstation.example:8786"),
])
def test_scheduler_addresses(text, tls, expected):
    assert str(parse_address(text, tls)) == expected


@pytest.mark.parametrize("text,tls,message", [
    ("tcp://10.0.0.5:8786", False, "refusing tcp://10.0.0.5:8786 without TLS"),
    ("tcp://0.0.0.0:8786", False, "without TLS"),
    ("tls://127.0.0.1:8786", False, "give the certificates directory"),
    ("tcp://127.0.0.1:8786", True, "use tls://"),
    ("http://127.0.0.1:8786", False, "expected tcp://HOST:PORT"),
    ("tcp://127.0.0.1:99999", False, "invalid scheduler address"),
    ("tcp://127.0.0.1:0", False, "invalid scheduler address 'tcp://127.0.0.1:0': port 0"),
    ("tcp://no-such-host.invalid:8786", False, "cannot resolve the scheduler's host name 'no-such-host.invalid'"),
    ("  ", False, "no scheduler address"),
])
def test_scheduler_addresses_refused(text, tls, message):
    with pytest.raises(UserError, match=message):
        parse_address(text, tls)


def test_listening_beyond_loopback_needs_tls():
    from edgebench.fleet.security import check_listen_host, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("192.0.2.7")
    check_listen_host("127.0.0.1", tls=False, what="scheduler")
    check_listen_host("0.0.0.0", tls=True, what="scheduler")
    with pytest.raises(UserError, match="refusing to listen on 0.0.0.0 without TLS"):
        check_listen_host("0.0.0.0", tls=False, what="scheduler")
    with pytest.raises(UserError, match="every interface"):
        check_listen_host("", tls=False, what="worker")


# -- certificates: real handshakes through Dask's own TLS contexts ---------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    make_certs(directory, ["workstation.local", "10.0.0.5"], days=30)
    return directory


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("other-certs")
    make_certs(directory, [])
    return directory


def test_certs_files_and_permissions(certs):
    from cryptography import x509

    expected = {"ca.pem", "ca-key.pem", "scheduler.pem", "scheduler-key.pem", "worker.pem",
                "worker-key.pem", "client.pem", "client-key.pem"}
    assert {p.name for p in certs.iterdir()} == expected
    for key in certs.glob("*-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    cert = x509.load_pem_x509_certificate((certs / "scheduler.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "workstation.local" in sans.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} >= {"10.0.0.5", "127.0.0.1"}
    ca = x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)


def test_certs_refuse_to_overwrite_and_check_input(certs, tmp_path):
    with pytest.raises(UserError, match="refusing to overwrite"):
        make_certs(certs, [])
    with pytest.raises(UserError, match="neither an IP address nor a DNS name"):
        make_certs(tmp_path / "x", ["bad host!"])
    with pytest.raises(UserError, match="certificate days must be from 1"):
        make_certs(tmp_path / "y", [], days=0)
    first = (certs / "ca.pem").read_bytes()
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in certs.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    make_certs(copy, [], force=True)
    assert (copy / "ca.pem").read_bytes() != first


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> str | None:
    """A TLS handshake over loopback; None when it succeeds, else the error."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: dict[str, str] = {}

    def serve():
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError) as exc:
            errors["server"] = str(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with client_ctx.wrap_socket(raw) as tls:
                tls.sendall(b"x")
                tls.recv(1)   # the server's verdict on our certificate arrives here (TLS 1.3)
    except (ssl.SSLError, OSError) as exc:
        errors["client"] = str(exc)
    thread.join(10)
    listener.close()
    return errors.get("server") or errors.get("client")


def test_mutual_tls_accepts_only_certificates_of_the_fleet_ca(certs, other_certs, tmp_path):
    from distributed.security import Security

    server = security_for(certs, "scheduler").get_listen_args("scheduler")["ssl_context"]
    for role in ("client", "worker"):
        good = security_for(certs, role).get_connection_args(role)["ssl_context"]
        assert _handshake(server, good) is None
    stranger = security_for(other_certs, "client").get_connection_args("client")["ssl_context"]
    assert _handshake(server, stranger) is not None          # a certificate from another CA
    # Without a certificate of its own, Dask will not even make a client context; a plain TLS
    # client that trusts the CA but shows no certificate is refused by the server.
    assert Security(tls_ca_file=str(certs / "ca.pem")).get_connection_args("client")["ssl_context"] is None
    no_cert = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    no_cert.check_hostname = False
    refusal = _handshake(server, no_cert)
    assert refusal is not None and "certificate" in refusal.lower()


def test_tls_paths_name_what_is_missing(tmp_path):
    with pytest.raises(UserError, match="missing ca.pem, worker.pem, worker-key.pem"):
        security_for(tmp_path, "worker")


# -- device profiles ------------------------------------------------------------------------------

def test_profile_round_trip_and_resources():
    p = profile("pi4", targets=("litert-int8", "edgetpu-int8"))
    p = DeviceProfile.from_dict({**p.to_dict(), "capabilities": ["cpu", "edgetpu"], "future_field": 1})
    assert p.resources() == {"device:pi4": 1, "cpu": 1, "edgetpu": 1}
    import msgpack

    assert DeviceProfile.from_dict(msgpack.unpackb(msgpack.packb(p.to_dict()))) == p
    assert hardware_label("Intel(R) Xeon(R) CPU", {"model": "Raspberry Pi 4 Model B"}, [], ["Coral USB"]) == \
        "Raspberry Pi 4 Model B + Coral USB"
    assert hardware_label("Intel(R) Xeon(R)  Gold", None, ["NVIDIA H100"], []) == "Intel Xeon Gold + NVIDIA H100"


def test_profile_here_names_the_device_in_its_fingerprint():
    from edgebench.fleet.device import profile_here
    from edgebench.system import device_info

    here = profile_here("bench-a")
    info = device_info()
    assert here.fingerprint == info.model_copy(update={"hostname": "bench-a"}).fingerprint()
    assert here.machine == info.fingerprint() and here.fingerprint != here.machine
    assert "cpu" in here.capabilities and here.targets and "torch-fp32@cuda" in {*here.targets, *here.unavailable}


# -- the matrix ----------------------------------------------------------------------------------

def test_file_payload_limits(tmp_path):
    with pytest.raises(UserError, match="model file not found"):
        FilePayload.read(tmp_path / "absent.tflite", 1, "model file")
    with pytest.raises(UserError, match="not a regular file"):
        FilePayload.read(tmp_path, 1, "model file")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(UserError, match="is empty"):
        FilePayload.read(tmp_path / "empty.onnx", 1, "model file")
    big = tmp_path / "big.tflite"
    with open(big, "wb") as f:
        f.truncate(3 << 20)
    with pytest.raises(UserError, match=r"is 3.0 MB; .* at most 2 MB$"):
        FilePayload.read(big, 2, "model file")


def test_file_payload_is_checked_on_arrival(tmp_path):
    src = tmp_path / "odd name [1].tflite"
    src.write_bytes(b"abcd" * 10)
    payload = FilePayload.read(src, 1, "model file")
    saved = payload.save_under(tmp_path / "inbox")
    assert saved.name == "odd_name__1_.tflite" and saved.read_bytes() == src.read_bytes()
    assert saved.parent.name == payload.sha256
    assert payload.save_under(tmp_path / "inbox") == saved          # reused when intact
    tampered = FilePayload(payload.name, payload.sha256, payload.size, b"abcd" * 9 + b"abce")
    with pytest.raises(UserError, match="arrived damaged"):
        tampered.save_under(tmp_path / "inbox2")
    sneaky = FilePayload("../../etc/passwd", payload.sha256, payload.size, payload.data)
    assert sneaky.save_under(tmp_path / "inbox3") == tmp_path / "inbox3" / payload.sha256 / "passwd"


def test_resolve_models(tmp_path):
    assert resolve_models(("mobilenet_v2",))[0].kind == "zoo"
    assert resolve_models(("hub://alice/birds@2",))[0].kind == "hub"
    with pytest.raises(UserError, match="unknown model 'resnet9000'"):
        resolve_models(("resnet9000",))
    with pytest.raises(UserError, match="invalid model reference"):
        resolve_models(("hub://nobody",))
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(UserError, match="not a TFLite model"):
        resolve_models((str(corrupt),))
    with pytest.raises(UserError, match="no model named"):
        resolve_models(())


def test_select_devices_and_share_targets():
    a, b = profile("a"), profile("b", targets=("litert-int8",), unavailable={"onnxruntime-fp32": "not installed"})
    with pytest.raises(UserError, match="no edgebench devices are connected"):
        select_devices([], "all")
    assert [d.name for d in select_devices([b, a], "all")] == ["a", "b"]
    with pytest.raises(UserError, match=r"no device named 'c' in the fleet \(devices: a, b\)"):
        select_devices([a, b], ("a", "c"))
    with pytest.raises(UserError, match=r"no device offers torch-fp32@cuda \(a: no CUDA GPU visible; b: not offered\)"):
        share_targets(RunConfig(targets=("litert-int8", "torch-fp32@cuda")), [a, b])
    shares = share_targets(RunConfig(targets=("litert-int8", "onnxruntime-fp32")), [a, b])
    assert [s.targets for s in shares] == [("litert-int8", "onnxruntime-fp32"), ("litert-int8",)]
    assert shares[1].left_out == {"onnxruntime-fp32": "not installed"}
    assert [s.targets for s in share_targets(RunConfig(), [a, b])] == [None, None]


def test_jobs_for_one_device(tmp_path):
    model_file = tmp_path / "m.tflite"
    model_file.write_bytes(b"x" * 100)
    file_choice = ModelChoice(str(model_file), "file", FilePayload.read(model_file, 1, "model file"))
    models = [ModelChoice("mobilenet_v2", "zoo"), file_choice, ModelChoice("hub://a/b@1", "hub")]
    share = share_targets(RunConfig(targets=("litert-int8",)), [profile("a")])[0]
    jobs = jobs_for("f" * 32, RunConfig(targets=("litert-int8",)), models, share, 7, None, "http://hub:8765")
    assert [j.job_id for j in jobs] == ["7", "8", "9"]
    assert [j.config.model for j in jobs] == ["mobilenet_v2", "m.tflite", "hub://a/b@1"]
    assert [j.hub_url for j in jobs] == [None, None, "http://hub:8765"]
    assert jobs[0].key == "edgebench-job-ffffffff-7" and jobs[0].config.targets == ("litert-int8",)
    import pickle

    assert pickle.loads(pickle.dumps(jobs[1])) == jobs[1]   # Dask sends it to the worker
    from edgebench.fleet.matrix import DeviceShare

    assert jobs_for("f" * 32, RunConfig(), models, DeviceShare(profile("a"), ()), 0) == []


# -- status ----------------------------------------------------------------------------------------

class IdentityClient:
    """What members() uses of distributed.Client: sync() on the scheduler's identity RPC."""

    def sync(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    @property
    def scheduler(self):
        return self

    def scheduler_info(self, n_workers=-1):
        # The client's cached copy, as Dask's periodic refresh (n_workers=0) leaves it.
        return {"workers": {}, "n_workers": len(self.identity()["workers"])}


class StatusClient(IdentityClient):
    def __init__(self, workers, processing, events):
        self._workers, self._processing, self._events = workers, processing, events

    def identity(self, n_workers=-1):
        return {"workers": self._workers}

    def processing(self):
        return self._processing

    def get_events(self, topic):
        return self._events


def test_status_says_busy_since_and_queued():
    from edgebench.fleet.client import shared_machines, status

    a, b = profile("a", machine="m1"), profile("b", machine="m1")
    workers = {"tcp://1": {"name": "a", "edgebench": a.to_dict()},
               "tcp://2": {"name": "b", "edgebench": b.to_dict()},
               "tcp://3": {"name": "plain-dask"}}
    events = ((1.0, {"kind": "started", "key": "edgebench-job-x-0", "ts": 100.0, "model": "m", "fleet": "x"}),
              (2.0, {"kind": "started", "key": "edgebench-job-x-1", "ts": 101.0, "model": "m", "fleet": "x"}),
              (3.0, {"kind": "ended", "key": "edgebench-job-x-1"}),
              (4.0, "not ours"))
    processing = {"tcp://1": ("edgebench-job-x-0", "edgebench-job-x-2"), "tcp://2": (), "tcp://3": ("inc-123",)}
    by_name = {s.member.name: s for s in status(StatusClient(workers, processing, events))}
    assert by_name["a"].state == "busy" and by_name["a"].since == 100.0 and by_name["a"].queued == 1
    assert by_name["a"].job["model"] == "m"
    assert by_name["b"].state == "idle" and by_name["b"].job is None
    assert by_name["plain-dask"].member.profile is None and by_name["plain-dask"].other_tasks == ["inc-123"]
    assert shared_machines([a, b, profile("c")]) == [["a", "b"]]


def test_members_sees_every_worker_while_dask_refreshes_its_cache():
    """A real scheduler whose client refreshes its cached identity (without workers) every 2 ms:
    every answer of members() still lists both workers."""
    import dask
    from distributed import Client, LocalCluster

    from edgebench.fleet.client import members

    with dask.config.set({"distributed.client.scheduler-info-interval": "2ms"}):
        with LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster, set_as_default=False) as client:
            counts = {len(members(client)) for _ in range(300)}
    assert counts == {2}


# -- a fleet run's bookkeeping, through a scripted stand-in for the Dask client ----------------------

class FakeFuture:
    def __init__(self):
        self.status, self._result, self._exception = "pending", None, None

    def done(self):
        return self.status in ("finished", "error", "cancelled")

    def result(self):
        return self._result

    def exception(self):
        return self._exception

    def cancel(self):
        if not self.done():
            self.status = "cancelled"


class FakeClient(IdentityClient):
    """Answers like distributed.Client; each poll of the workers runs the next scripted step."""

    def __init__(self, devices, script):
        self.status = "running"
        self.workers = {f"tcp://{p.name}": p for p in devices}
        self.script = list(script)
        self.handlers, self.jobs, self.resources = {}, {}, {}
        self.cancelled = []
        self.drop_next: set[str] = set()

    def identity(self, n_workers=-1):
        if self.jobs and self.script:
            self.script.pop(0)(self)
        if self.drop_next:   # this one answer lacks these devices (a scheduler slow under load)
            hidden, self.drop_next = self.drop_next, set()
            return {"workers": {a: {"name": p.name, "edgebench": p.to_dict()}
                                for a, p in self.workers.items() if p.name not in hidden}}
        return {"workers": {a: {"name": p.name, "edgebench": p.to_dict()} for a, p in self.workers.items()}}

    def subscribe_topic(self, topic, handler):
        self.handlers[topic] = handler

    def unsubscribe_topic(self, topic):
        self.handlers.pop(topic, None)

    def submit(self, fn, job, key, pure, retries, resources):
        assert key == job.key and pure is False and retries == 0
        future = FakeFuture()
        self.jobs[job.job_id] = (job, future)
        self.resources[job.job_id] = resources
        return future

    def cancel(self, futures, force=False):
        self.cancelled.extend(futures)
        for f in futures:
            f.cancel()

    # script helpers
    def job(self, device, model="mobilenet_v2"):
        return next(j for j, _ in self.jobs.values() if j.device == device and j.model.label == model)

    def emit(self, topic, job, kind, **fields):
        self.handlers[topic]((time.time(), {"fleet": job.fleet_run, "job": job.job_id, "device": job.device,
                                            "kind": kind, **fields}))

    def start(self, device, worker=None):
        job = self.job(device)
        self.emit(names.JOBS_TOPIC, job, "started", ts=time.time(), worker=worker or f"tcp://{device}")
        return job

    def finish(self, device):
        job = self.job(device)
        future = self.jobs[job.job_id][1]
        run = make_run(targets=("litert-int8",))
        future._result = {"run": run.model_dump_json(), "started": 1.0, "ended": 2.0}
        future.status = "finished"

    def remove_worker(self, device):
        """Dask removes the device's worker: gone from the answers, and said so on "all"."""
        address = f"tcp://{device}"
        self.workers.pop(address)
        self.handlers["all"]((time.time(), {"action": "remove-worker", "worker": address}))

    def fail(self, device, exc):
        future = self.jobs[self.job(device).job_id][1]
        future._exception, future.status = exc, "error"


class FakeStore:
    def __init__(self):
        self.saved = []

    def save(self, run):
        self.saved.append(run)


class Recorder:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, args))


def fleet_run(client, devices="all", models=None, targets=("litert-int8",)):
    from edgebench.fleet.orchestrate import FleetRun

    store = FakeStore()
    run = FleetRun(client, RunConfig(targets=targets), models or [ModelChoice("mobilenet_v2", "zoo")],
                   devices, store=store, poll_s=0.001)
    return run, store


def states(summary):
    return {(s.device, s.job.model.label): s for s in summary.jobs}


def test_fleet_run_pins_each_job_and_stores_results():
    client = FakeClient([profile("a"), profile("b")],
                        [lambda c: (c.start("a"), c.start("b")), lambda c: (c.finish("a"), c.finish("b"))])
    run, store = fleet_run(client)
    events = Recorder()
    summary = run.run(events)
    assert {s.status for s in summary.jobs} == {"ok"} and len(store.saved) == 2
    assert all(client.resources[j.job_id] == {f"device:{j.device}": 1} for j, _ in client.jobs.values())
    assert sorted(j.device for j, _ in client.jobs.values()) == ["a", "b"]
    assert [c[0] for c in events.calls].count("job_done") == 2
    assert '"runs"' in summary.to_json() and summary.failed == []


def test_a_device_that_leaves_fails_its_job_by_name_and_keeps_what_finished():
    def b_reports_a_target(c):
        job = c.start("b")
        header = make_run(targets=()).model_dump(mode="json")
        c.emit(names.PROGRESS_TOPIC, job, "begin", run=header)
        target = make_run(targets=("litert-int8",)).results[0].model_dump(mode="json")
        c.emit(names.PROGRESS_TOPIC, job, "target", position=0, result=target)

    client = FakeClient([profile("a"), profile("b")],
                        [lambda c: c.start("a"), b_reports_a_target,
                         lambda c: c.remove_worker("b"), lambda c: None,   # the poll that reads the event
                         lambda c: failed_at_once.append(b_status()),
                         lambda c: c.finish("a")])
    run, _store = fleet_run(client)   # the default grace: only Dask's removal event fails b here
    failed_at_once = []

    def b_status():
        return next(s.status for s in run.states.values() if s.device == "b")

    events = Recorder()
    summary = run.run(events)
    by = states(summary)
    assert by[("a", "mobilenet_v2")].status == "ok"
    b = by[("b", "mobilenet_v2")]
    assert b.status == "failed" and b.error == "device b left the fleet during the job (worker stopped, killed or lost)"
    assert b.run.status == "failed" and [r.target for r in b.run.results] == ["litert-int8"] and b.saved
    assert ("device_left", ("b",)) in events.calls
    assert failed_at_once == ["failed"]   # at the poll after Dask's event, not after a grace period
    assert client.jobs[b.job.job_id][1].status == "cancelled"   # never left waiting for a device


def test_one_answer_without_the_devices_fails_nothing():
    """Under load one poll of the scheduler lacked both devices (the client's cached identity,
    overwritten by Dask's refresh): both jobs failed as 'left the fleet' while both workers ran."""
    def drop_both_once(c):
        c.drop_next = {"a", "b"}

    client = FakeClient([profile("a"), profile("b")],
                        [lambda c: (c.start("a"), c.start("b")), drop_both_once, drop_both_once,
                         lambda c: (c.finish("a"), c.finish("b"))])
    run, store = fleet_run(client)
    events = Recorder()
    summary = run.run(events)
    assert {s.status for s in summary.jobs} == {"ok"} and len(store.saved) == 2
    said = {name for name, _args in events.calls}
    assert "device_left" not in said and "device_joined" not in said
    assert len(client.jobs) == 2   # nothing submitted again for a device "coming back"


def test_a_device_missing_from_every_poll_past_the_grace_is_gone():
    """Without Dask's removal event (a scheduler that does not send it), a device missing from
    several polls for the grace period has left."""
    from edgebench.fleet.orchestrate import DEVICE_GRACE_POLLS, FleetRun

    client = FakeClient([profile("a")], [lambda c: c.start("a"), lambda c: c.workers.pop("tcp://a")])
    polls = []
    real_identity = client.identity
    client.identity = lambda n_workers=-1: polls.append(1) or real_identity(n_workers)
    run = FleetRun(client, RunConfig(targets=("litert-int8",)), [ModelChoice("mobilenet_v2", "zoo")],
                   poll_s=0.001, device_grace_s=0.05)
    events = Recorder()
    summary = run.run(events)
    assert summary.jobs[0].error == "device a left the fleet during the job (worker stopped, killed or lost)"
    assert len(polls) >= 2 + DEVICE_GRACE_POLLS   # plan, start, then the polls without it
    assert ("device_left", ("a",)) in events.calls


def test_killed_worker_and_job_errors_are_worded_with_the_device():
    from distributed import KilledWorker

    from edgebench.fleet.job import FleetJobError

    partial = make_run(targets=("litert-int8",), status="failed").model_dump_json()
    client = FakeClient([profile("a"), profile("b"), profile("c")],
                        [lambda c: c.start("a"),
                         lambda c: (c.fail("a", KilledWorker("k", None, 0)), c.fail("b", KilledWorker("k", None, 0)),
                                    c.fail("c", FleetJobError("no available target runs it", partial)))])
    summary = fleet_run(client)[0].run()
    by = states(summary)
    assert by[("a", "mobilenet_v2")].error == "the worker of device a went away during the job (stopped, killed or lost)"
    assert by[("b", "mobilenet_v2")].error == "the worker of device b went away before the job started (stopped, killed or lost)"
    c = by[("c", "mobilenet_v2")]
    assert c.error == "no available target runs it" and c.run.status == "failed" and c.saved


def test_a_job_started_twice_is_refused():
    client = FakeClient([profile("a")], [lambda c: c.start("a"), lambda c: c.start("a", worker="tcp://a2")])
    summary = fleet_run(client)[0].run()
    assert "started a second time on a" in summary.jobs[0].error


def test_a_replaced_worker_fails_the_job_it_was_running():
    def restart(c):
        c.workers["tcp://a-restarted"] = c.workers.pop("tcp://a")

    client = FakeClient([profile("a")], [lambda c: c.start("a"), restart])
    summary = fleet_run(client)[0].run()
    assert summary.jobs[0].error == "the worker of device a was replaced during the job (it restarted)"


def test_a_device_that_joins_an_all_devices_run_gets_the_matrix():
    late = profile("late", targets=("onnxruntime-fp32",))
    newcomer = profile("newcomer")

    def join(c):
        c.workers["tcp://late"] = late
        c.workers["tcp://newcomer"] = newcomer

    client = FakeClient([profile("a")], [join, lambda c: c.start("a"), lambda c: c.start("newcomer"),
                                         lambda c: (c.finish("a"), c.finish("newcomer"))])
    run, _store = fleet_run(client)
    events = Recorder()
    summary = run.run(events)
    assert sorted(s.device for s in summary.jobs) == ["a", "newcomer"]
    assert {s.status for s in summary.jobs} == {"ok"}
    notes = [args[0] for name, args in events.calls if name == "note"]
    assert any("late offers none of the requested targets" in n for n in notes)
    assert ("device_joined", (newcomer,)) in events.calls


def test_named_devices_ignore_newcomers():
    def join(c):
        c.workers["tcp://newcomer"] = profile("newcomer")

    client = FakeClient([profile("a"), profile("b")], [join, lambda c: c.finish("a")])
    summary = fleet_run(client, devices=("a",))[0].run()
    assert [s.device for s in summary.jobs] == ["a"]


def test_ctrl_c_cancels_queued_jobs_and_keeps_finished_targets():
    from edgebench.fleet.orchestrate import FleetInterrupted

    def begin_a(c):
        job = c.start("a")
        c.emit(names.PROGRESS_TOPIC, job, "begin", run=make_run(targets=()).model_dump(mode="json"))
        c.emit(names.PROGRESS_TOPIC, job, "target", position=0,
               result=make_run(targets=("litert-int8",)).results[0].model_dump(mode="json"))

    def ctrl_c(c):
        raise KeyboardInterrupt

    models = [ModelChoice("mobilenet_v2", "zoo"), ModelChoice("hub://x/y@1", "hub")]
    client = FakeClient([profile("a"), profile("b")], [begin_a, ctrl_c])
    run, store = fleet_run(client, models=models)
    with pytest.raises(FleetInterrupted) as stopped:
        run.run()
    by = states(stopped.value.summary)
    assert by[("a", "mobilenet_v2")].status == "interrupted"
    assert by[("a", "mobilenet_v2")].run.status == "interrupted"
    assert [r.target for r in by[("a", "mobilenet_v2")].run.results] == ["litert-int8"]
    assert {by[k].status for k in by if k != ("a", "mobilenet_v2")} == {"cancelled"}
    assert len(client.cancelled) == 4 and stopped.value.summary.interrupted
    assert [r.status for r in store.saved] == ["interrupted"]


def test_a_lost_scheduler_is_named():
    def lose(c):
        c.status = "connecting"
        for _, future in c.jobs.values():
            future.status = "cancelled"

    client = FakeClient([profile("a")], [lambda c: c.start("a"), lose])
    summary = fleet_run(client)[0].run()
    assert summary.jobs[0].error == "lost the connection to the fleet scheduler during the job on a"


def test_store_failures_do_not_stop_the_matrix():
    class BrokenStore:
        def save(self, run):
            raise UserError("store x: database is locked")

    from edgebench.fleet.orchestrate import FleetRun

    client = FakeClient([profile("a")], [lambda c: c.start("a"), lambda c: c.finish("a")])
    events = Recorder()
    summary = FleetRun(client, RunConfig(), [ModelChoice("mobilenet_v2", "zoo")], store=BrokenStore(),
                       poll_s=0.001).run(events)
    assert summary.jobs[0].status == "ok" and not summary.jobs[0].saved
    assert any("was not saved: store x: database is locked" in args[0] for n, args in events.calls if n == "note")


# -- the CLI without a cluster ----------------------------------------------------------------------

def test_help_imports_no_dask():
    import subprocess
    import sys

    code = ("import sys; from edgebench.cli.app import app; "
            "heavy = [m for m in ('distributed', 'dask', 'cryptography', 'numpy', 'torch') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    help_text = run_cli("fleet", "--help").stdout
    for command in ("scheduler", "worker", "certs", "status", "run"):
        assert command in help_text


@pytest.mark.parametrize("args,message", [
    (["fleet", "run", "--targets", "warp-int8"], "unknown target 'warp-int8'"),
    (["fleet", "run", "--scheduler", "tcp://192.0.2.7:8786"], "refusing tcp://192.0.2.7:8786 without TLS"),
    (["fleet", "run", "--models", "/nonexistent/m.tflite"], "model file not found: /nonexistent/m.tflite"),
    (["fleet", "run", "--devices", "a,,b c"], "invalid device name 'b c'"),
    (["fleet", "run", "--push"], "--push sends runs of hub models; mobilenet_v2 is not one"),
    (["fleet", "status", "--scheduler", "tls://127.0.0.1:1"], "uses TLS: give the certificates directory"),
    (["fleet", "worker", "--name", "-bad"], "invalid device name '-bad'"),
    (["fleet", "worker", "--host", "0.0.0.0", "--name", "x", "--scheduler", "tcp://127.0.0.1:1",
      "--connect-timeout", "1"], "refusing to listen on 0.0.0.0 without TLS"),
    (["fleet", "scheduler", "--host", "0.0.0.0"], "refusing to listen on 0.0.0.0 without TLS"),
    (["fleet", "scheduler", "--tls", "/nonexistent"], "missing ca.pem, scheduler.pem, scheduler-key.pem"),
])
def test_cli_refusals_are_one_line(args, message):
    done = run_cli(*args, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in " ".join(lines), done.stderr


def test_cli_unreachable_scheduler_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]   # nothing listens here once the socket closes
    done = run_cli("fleet", "status", "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "1")
    assert done.returncode == 2
    assert f"cannot reach the fleet scheduler at tcp://127.0.0.1:{port}" in done.stderr
    assert len([ln for ln in done.stderr.splitlines() if ln.strip()]) == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # nothing listens here once the socket closes


@pytest.mark.parametrize("command,tls", [(("fleet", "run", "--no-save"), False), (("fleet", "status"), False),
                                         (("fleet", "status"), True)])
def test_a_refused_connection_is_final(command, tls, certs):
    """Nothing listens on the scheduler's port: one line at once, not a wait for --connect-timeout
    (Dask retries a refused connection for its whole timeout)."""
    address = f"{'tls' if tls else 'tcp'}://127.0.0.1:{closed_port()}"
    extra = ("--tls", str(certs)) if tls else ()
    done = run_cli(*command, "--scheduler", address, *extra, "--connect-timeout", "3600", timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: cannot reach the fleet scheduler at {address} (connection refused: nothing "
                     f"listens there); is `edgebench fleet scheduler` (or `dask scheduler`) running there"
                     + (", and are these certificates from its CA?" if tls else "?")]


def test_a_scheduler_that_does_not_answer_is_waited_for():
    """A port that accepts but never answers (a scheduler busy or starting): not refused, so the
    client waits for --connect-timeout, and then gives up (Dask alone would wait forever)."""
    from edgebench.fleet.client import connect
    from edgebench.fleet.reach import refusal
    from edgebench.fleet.security import Address

    with socket.create_server(("127.0.0.1", 0)) as silent:   # accepts, never answers
        address = Address("tcp", "127.0.0.1", silent.getsockname()[1])
        assert refusal(address) is None
        outcome: list[BaseException] = []

        def attempt():
            try:
                connect(address, None, timeout_s=2.0)
            except BaseException as exc:  # noqa: BLE001 - examined below
                outcome.append(exc)

        waiting = threading.Thread(target=attempt, daemon=True)
        waiting.start()
        waiting.join(300)   # a regression hangs for ever: fail it, not the whole session
    assert not waiting.is_alive(), "connect() never gave up on a scheduler that does not answer"
    assert isinstance(outcome[0], UserError), outcome
    assert "(no answer within" in str(outcome[0]) and str(address) in str(outcome[0])


@pytest.mark.parametrize("args,tls", [
    (("fleet", "worker", "--name", "x", "--scheduler", "tls://no-such-host.invalid:8786"), True),
    (("fleet", "worker", "--name", "x", "--scheduler", "tcp://no-such-host.invalid"), False),
    (("fleet", "status", "--scheduler", "tls://no-such-host.invalid:8786"), True),
    (("fleet", "run", "--no-save", "--scheduler", "no-such-host.invalid:8786"), True),
])
def test_a_scheduler_name_that_does_not_resolve_is_one_line(args, tls, certs):
    """Resolved before Dask starts: Dask would try the name again and again for --connect-timeout."""
    extra = ("--tls", str(certs)) if tls else ()
    done = run_cli(*args, *extra, "--connect-timeout", "3600", timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot resolve the scheduler's host name 'no-such-host.invalid'" in lines[0]
    assert "probing" not in done.stdout


def test_a_worker_says_it_waits_for_an_unreachable_scheduler_then_gives_up():
    address = f"tcp://127.0.0.1:{closed_port()}"
    done = run_cli("fleet", "worker", "--name", "x", "--scheduler", address, "--connect-timeout", "2",
                   timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.startswith(f"waiting for the scheduler at {address} (connection refused: nothing "
                                  "listens there); giving up in "), done.stdout
    assert "(--connect-timeout; Ctrl-C stops)" in done.stdout and "probing" not in done.stdout
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: could not reach the scheduler at {address} within 2 s (connection refused: "
                     "nothing listens there)"]


def test_a_refused_certificate_is_one_line_without_a_wait(certs, other_certs, tmp_path):
    """A TLS scheduler that refuses the worker's certificate (another CA): no wait can change
    that, so no 'waiting' line; one line naming the certificates."""
    import subprocess
    import sys

    from tests.conftest import REPO

    port = closed_port()
    log = tmp_path / "scheduler.log"
    scheduler = subprocess.Popen([sys.executable, "-m", "edgebench", "fleet", "scheduler", "--port", str(port),
                                  "--tls", str(certs)], cwd=REPO, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            if "listening at" in log.read_text() or scheduler.poll() is not None:
                break
            time.sleep(0.1)
        assert "listening at" in log.read_text(), log.read_text()
        address = f"tls://127.0.0.1:{port}"
        done = run_cli("fleet", "worker", "--name", "x", "--scheduler", address, "--tls", other_certs,
                       "--connect-timeout", "3600", timeout=300)
    finally:
        scheduler.send_signal(2)
        scheduler.wait(30)
    assert done.returncode == 2 and "waiting" not in done.stdout, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: could not reach the scheduler at {address} (")
    assert lines[0].endswith("; are these certificates from its CA?")


@pytest.mark.parametrize("verbose", [False, True])
def test_quiet_dask_keeps_dasks_info_lines_off_stderr(tmp_path, verbose):
    """The line a worker printed after its predecessor was killed: `distributed.diskutils - INFO
    - Found stale lock file and directory ..., purging`. quiet_dask() ran before Dask was imported,
    and Dask's import set its loggers back to INFO."""
    import subprocess
    import sys

    leave_stale = ("import os, sys; from distributed.diskutils import WorkSpace; "
                   "kept = WorkSpace(sys.argv[1]).new_work_dir(prefix='worker-'); os._exit(0)")
    subprocess.run([sys.executable, "-c", leave_stale, str(tmp_path)], check=True)
    purge = ("import sys; from edgebench.fleet.worker import quiet_dask; "
             f"quiet_dask(verbose={verbose}); from distributed.diskutils import WorkSpace; "
             "WorkSpace(sys.argv[1]).new_work_dir(prefix='worker-')")
    done = subprocess.run([sys.executable, "-c", purge, str(tmp_path)], capture_output=True, text=True,
                          check=True)
    shown = "Found stale lock file and directory" in done.stderr
    assert shown == verbose, done.stderr


def test_certs_command(tmp_path):
    done = run_cli("fleet", "certs", str(tmp_path / "c"), "--host", "10.1.2.3", "--days", "7")
    assert done.returncode == 0 and "wrote 8 files" in done.stdout
    again = run_cli("fleet", "certs", str(tmp_path / "c"))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert os.stat(tmp_path / "c" / "client-key.pem").st_mode & 0o077 == 0

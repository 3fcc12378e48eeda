"""The preview end to end over its WebSocket: real `edgebench preview` processes running MobileNetV2
on litert-int8, driven by real clients. Several clients at once, refusals that leave the server
serving, a client hammering it (it drops, never queues), the token beyond loopback, HTTPS, and
the hub's figures for a hub model.

The server processes inherit EDGEBENCH_CACHE_DIR (the session's prepared models)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from edgebench.preview.client import PreviewClient, jpeg_frame, sustained_many
from tests.conftest import CORAL, REPO, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass
class Preview:
    """A running `edgebench preview` process and what it printed."""

    process: subprocess.Popen
    url: str                 # the first printed page URL (token included)
    port: int
    stdout: Path
    stderr: Path

    def printed(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def url_on(self, host: str) -> str:
        return re.sub(r"//[^/]+/", f"//{host}:{self.port}/", self.url, count=1)

    def stop(self) -> str:
        """SIGTERM, as a service manager would; the server shuts down cleanly and reports."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.printed()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_preview(tmp: Path, *args: str, env: dict | None = None, timeout_s: float = 240) -> Preview:
    """Start `edgebench preview` and wait until it listens (the printed URL answers)."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    out, err = tmp / f"preview-{port}.out", tmp / f"preview-{port}.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "edgebench", "preview", "--port", str(port), *args],
                                   stdout=stdout, stderr=stderr, cwd=REPO, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, f"preview exited {process.returncode}:\n{out.read_text()}{err.read_text()}"
        assert time.monotonic() < deadline, f"preview did not start:\n{out.read_text()}{err.read_text()}"
        urls = re.findall(r"https?://\S+", out.read_text())
        if urls and "Ctrl-C stops." in err.read_text():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return Preview(process, urls[0], port, out, err)
            except OSError:
                pass
        time.sleep(0.2)


@pytest.fixture(scope="session")
def prepared_int8(session_cache) -> Path:
    """MobileNetV2's int8 TFLite in the session's cache (converted once, on first use)."""
    from edgebench.bench.config import RunConfig
    from edgebench.bench.plan import make_plan

    planned = make_plan(RunConfig(targets=("litert-int8",))).targets[0]
    assert planned.runnable, planned.error
    return planned.artifact.path


@pytest.fixture(scope="session")
def photos():
    if not (CORAL / "parrot.jpg").is_file():
        pytest.skip("../shared/fixtures/coral is not present")
    return {"macaw": jpeg_frame(CORAL / "parrot.jpg")[0], "chickadee": jpeg_frame(CORAL / "bird.bmp")[0]}


@pytest.fixture(scope="module")
def local_preview(prepared_int8, tmp_path_factory):
    preview = start_preview(tmp_path_factory.mktemp("preview-local"))
    yield preview
    printed = preview.stop()
    # Everything the tests threw at it was answered, not crashed on.
    assert preview.process.returncode == 0 and "Traceback" not in printed, printed
    assert re.search(r"stopped: \d+ frame\(s\) classified for \d+ page\(s\), \d+ dropped", printed), printed


@pytest.fixture(scope="module")
def lan_preview(prepared_int8, tmp_path_factory):
    preview = start_preview(tmp_path_factory.mktemp("preview-lan"), "--host", "0.0.0.0")
    yield preview
    preview.stop()


def _lan_address() -> str | None:
    from edgebench.preview.access import lan_addresses

    v4 = [a for a in lan_addresses() if ":" not in a]
    return v4[0] if v4 else None


# -- one server, several clients ------------------------------------------------------------------
def test_real_photos_get_the_right_label(local_preview, photos):
    assert "Open http://127.0.0.1:" in local_preview.printed() and "token" not in local_preview.url
    with PreviewClient(local_preview.url) as client:
        hello = client.hello
        assert hello["target"] == "litert-int8" and hello["model"]["name"] == "mobilenet_v2"
        assert hello["session"]["labels"].startswith("ImageNet") and hello["hub"] is None
        for label, image in photos.items():
            answer = client.classify(image)
            assert answer["type"] == "result" and answer["top5"][0]["label"] == label, answer
            assert answer["image"] == [640, 480]
            assert all(answer["ms"][k] > 0 for k in ("decode", "preprocess", "inference", "server"))
            assert answer["ms"]["server"] >= answer["ms"]["inference"]


def test_several_clients_share_the_session_fairly(local_preview, photos):
    runs = sustained_many(local_preview.url, photos["macaw"], seconds=4, clients=3)
    frames = [r.frames for r in runs]
    assert min(frames) > 10, frames
    assert min(frames) >= 0.6 * max(frames), f"unfair shares: {frames}"
    assert all(r.errors == 0 and set(r.top1) == {"macaw"} for r in runs)


def test_refusals_leave_the_connection_and_the_server_serving(local_preview, photos):
    limit = 1024 * 1024
    with PreviewClient(local_preview.url) as client:
        assert client.hello["limits"]["max_frame_bytes"] == limit
        answers = []
        client.send_frame(b"\xff\xd8\xff" + b"\0" * limit, frame_id=11)        # 1 MiB + 3 bytes
        answers.append(client.answer(11))
        client.send_raw(os.urandom(5000))                                     # not a frame at all
        answers.append(client.receive())
        client.send_frame(b"\xff\xd8\xff\xe0" + os.urandom(3000), frame_id=12)  # a JPEG in name only
        answers.append(client.answer(12))
        client.send_frame(b"\x89PNG\r\n\x1a\n" + b"\0" * 30, frame_id=13)      # a truncated PNG
        answers.append(client.answer(13))
        client.send_raw("GIVE ME LABELS")
        answers.append(client.receive())
        assert [(a["type"], a["code"], a["id"]) for a in answers] == [
            ("error", "too_large", 11), ("error", "bad_frame", None), ("error", "bad_image", 12),
            ("error", "bad_image", 13), ("error", "bad_message", None)], answers
        assert all(a["message"] for a in answers)
        time.sleep(0.1)   # frames 12 and 13 counted against the rate limit, as decoded frames do
        assert client.classify(photos["macaw"])["top5"][0]["label"] == "macaw"

    # Far beyond the limit, the WebSocket layer closes that one connection; others carry on.
    with PreviewClient(local_preview.url) as bystander, PreviewClient(local_preview.url) as abuser:
        from websockets.exceptions import ConnectionClosedError

        with pytest.raises(ConnectionClosedError):   # 1009 "message too big", or the TCP close first
            abuser.send_frame(b"\xff\xd8\xff" + b"\0" * (8 * limit), frame_id=1)
            abuser.answer(1, timeout_s=20)
        assert bystander.classify(photos["chickadee"])["top5"][0]["label"] == "chickadee"
    assert local_preview.process.poll() is None


def test_a_hammering_client_is_dropped_not_queued(local_preview, photos):
    """One client sends 400 frames without waiting. Every frame gets exactly one answer, nearly all
    'dropped'; the answers end soon after the last frame (nothing queued behind it), and a
    well-behaved client beside it keeps getting answers at its usual pace."""
    image = photos["macaw"]
    calm_rtts: list[float] = []
    stop = threading.Event()

    def calm() -> None:
        with PreviewClient(local_preview.url) as client:
            while not stop.is_set():
                started = time.perf_counter()
                assert client.classify(image)["type"] in ("result", "dropped")
                calm_rtts.append((time.perf_counter() - started) * 1000)
                time.sleep(0.03)

    calm_thread = threading.Thread(target=calm)
    calm_thread.start()
    try:
        with PreviewClient(local_preview.url) as hammer:
            sent = 400
            first_sent = time.perf_counter()
            for i in range(1, sent + 1):
                hammer.send_frame(image, frame_id=i)
            last_sent = time.perf_counter()
            answers = {}
            while len(answers) < sent:
                message = hammer.receive(timeout_s=30)
                answers[message["id"]] = message
            drained_ms = (time.perf_counter() - last_sent) * 1000
            kinds = [a["type"] for a in answers.values()]
            assert sorted(answers) == list(range(1, sent + 1))          # one answer per frame
            # At most what the rate admits over the whole burst (and never more than one at a time).
            admitted = 2 + 30 * (last_sent - first_sent + drained_ms / 1000) + 1
            assert kinds.count("result") <= admitted and kinds.count("dropped") >= sent - admitted, (
                kinds.count("result"), admitted)
            reasons = {a["reason"] for a in answers.values() if a["type"] == "dropped"}
            assert reasons <= {"in_flight", "rate"} and "in_flight" in reasons
            assert drained_ms < 1500, f"answers trailed the last frame by {drained_ms:.0f} ms: queued?"
            time.sleep(0.2)
            started = time.perf_counter()
            assert hammer.classify(image)["type"] == "result"           # live again at once
            assert (time.perf_counter() - started) < 1.0
    finally:
        stop.set()
        calm_thread.join()
    assert len(calm_rtts) > 5
    calm_rtts.sort()
    assert calm_rtts[len(calm_rtts) // 2] < 250, calm_rtts


def test_frames_faster_than_the_rate_limit_are_dropped(local_preview):
    """Frames that pass the header checks count against the rate whatever becomes of them; a
    JPEG in name only is answered in a millisecond or two, so even on a loaded machine they come
    far faster than the limit."""
    junk = b"\xff\xd8\xff\xe0" + b"\0" * 500
    with PreviewClient(local_preview.url) as client:
        limits = client.hello["limits"]
        started, answers = time.perf_counter(), []
        while time.perf_counter() - started < 2.0:
            answers.append(client.classify(junk))   # answered one by one, no pacing
        elapsed = time.perf_counter() - started
    admitted = sum(a["type"] == "error" and a["code"] == "bad_image" for a in answers)
    rated = sum(a["type"] == "dropped" and a["reason"] == "rate" for a in answers)
    assert admitted + rated == len(answers)
    assert rated > admitted and admitted <= limits["max_fps"] * elapsed + limits["burst"] + 1


def test_ping(local_preview):
    with PreviewClient(local_preview.url) as client:
        client.send_raw(json.dumps({"type": "ping", "t": 42.5}))
        assert client.receive() == {"type": "pong", "t": 42.5}


def test_loopback_server_refuses_other_host_names(local_preview):
    page = httpx.get(f"http://127.0.0.1:{local_preview.port}/", headers={"Host": f"evil.example:{local_preview.port}"})
    assert page.status_code == 403
    assert httpx.get(local_preview.url).status_code == 200


# -- beyond loopback: the token -------------------------------------------------------------------
def test_beyond_loopback_the_page_and_socket_need_the_printed_token(lan_preview):
    from websockets.exceptions import InvalidStatus

    from edgebench.preview.terminal import matrix_from_text, qr_matrix

    token = re.search(r"token=([\w-]+)", lan_preview.url).group(1)
    assert len(token) >= 20
    printed = lan_preview.stdout.read_text()
    qr_lines = [ln for ln in printed.splitlines() if ln and set(ln) <= set(" \u2580\u2584\u2588")]
    want = qr_matrix(lan_preview.url)
    assert matrix_from_text("\n".join(qr_lines))[:len(want)] == [list(r) for r in want]   # the QR is the URL
    hosts = ["127.0.0.1"] + ([_lan_address()] if _lan_address() else [])
    for host in hosts:
        base = f"http://{host}:{lan_preview.port}/"
        assert httpx.get(base).status_code == 403
        assert httpx.get(base + "?token=" + token[:-1] + "x").status_code == 403
        assert httpx.get(lan_preview.url_on(host)).status_code == 200
        for bad in (base, base + "?token=nope"):
            with pytest.raises(InvalidStatus) as refused:
                PreviewClient(bad)
            assert refused.value.response.status_code == 403
        with PreviewClient(lan_preview.url_on(host)) as client:
            assert client.hello["type"] == "hello"


def test_a_new_start_has_a_new_token(lan_preview, tmp_path):
    other = start_preview(tmp_path, "--host", "0.0.0.0", "--no-qr")
    try:
        assert re.search(r"token=([\w-]+)", other.url).group(1) != re.search(r"token=([\w-]+)", lan_preview.url).group(1)
        assert "\u2588" not in other.stdout.read_text()
    finally:
        printed = other.stop()
    assert other.process.returncode == 0 and "stopped: 0 frame(s)" in printed


# -- HTTPS ----------------------------------------------------------------------------------------
def test_tls_serves_the_page_and_socket_with_the_printed_certificate(prepared_int8, tmp_path, photos):
    preview = start_preview(tmp_path, "--host", "127.0.0.1", "--tls")
    try:
        assert preview.url.startswith("https://127.0.0.1:")
        printed = preview.printed()
        fingerprint = re.search(r"SHA-256 ([0-9A-F:]{95})", printed).group(1)
        pem = ssl.get_server_certificate(("127.0.0.1", preview.port))
        from cryptography import x509

        from edgebench.preview.tls import fingerprint as fingerprint_of

        assert fingerprint_of(x509.load_pem_x509_certificate(pem.encode())) == fingerprint
        cert_file = tmp_path / "served.pem"
        cert_file.write_text(pem)
        verified = ssl.create_default_context(cafile=str(cert_file))   # trusts exactly that certificate
        page = httpx.get(preview.url, verify=verified)
        assert page.status_code == 200 and "certificate warning" in page.text
        # The page sends users to the browser's certificate viewer; it prints no fingerprint of its own
        # (only its script's configuration carries it, never shown).
        shown = re.sub(r'<script id="preview-config".*?</script>', "", page.text, flags=re.S)
        assert "certificate viewer" in shown and fingerprint not in shown
        with PreviewClient(preview.url, ssl_context=verified) as client:
            assert client.hello["tls"] == {"self_signed": True, "fingerprint": fingerprint}
            assert client.classify(photos["macaw"])["top5"][0]["label"] == "macaw"
        with pytest.raises(httpx.ConnectError):
            httpx.get(preview.url)   # an unknown certificate is refused by default, as on a phone
    finally:
        preview.stop()


# -- a hub model: the hub's figures beside the live ones ------------------------------------------
def test_a_hub_model_shows_what_the_hub_publishes(prepared_int8, tmp_path, photos):
    from edgebench.models.artifact import sha256_of
    from tests.conftest import make_run

    data = tmp_path / "hub"
    token = run_cli("hub", "token", "create", "alice", "--data", data)
    assert token.returncode == 0, token.stderr
    port = free_port()
    with open(tmp_path / "hub.log", "w") as log:
        hub = subprocess.Popen([sys.executable, "-m", "edgebench", "hub", "serve", "--port", str(port),
                                "--data", str(data)], stdout=log, stderr=subprocess.STDOUT)
    env = {"EDGEBENCH_HUB_URL": f"http://127.0.0.1:{port}", "EDGEBENCH_HUB_TOKEN": token.stdout.strip()}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(env["EDGEBENCH_HUB_URL"] + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert hub.poll() is None and time.monotonic() < deadline, (tmp_path / "hub.log").read_text()
            time.sleep(0.2)
        published = run_cli("hub", "publish", prepared_int8, "--name", "alice/mnv2", "--version", "1",
                            "--preprocess", "torchvision", env=env)
        assert published.returncode == 0, published.stderr
        run = make_run(targets=("litert-int8",), label="macaw")
        run.results[0].artifact = {"format": "tflite", "sha256": sha256_of(prepared_int8)}
        pushed = httpx.post(env["EDGEBENCH_HUB_URL"] + "/api/results",
                            headers={"Authorization": f"Bearer {env['EDGEBENCH_HUB_TOKEN']}"},
                            json={"model": "alice/mnv2", "version": "1", "run": run.model_dump(mode="json")})
        assert pushed.status_code == 201, pushed.text

        preview = start_preview(tmp_path / "preview", "--model", "hub://alice/mnv2@1", env=env)
        try:
            with PreviewClient(preview.url) as client:
                hub_info = client.hello["hub"]
                assert client.hello["model"] == {"name": "alice/mnv2@1", "source": "hub"}
                assert client.classify(photos["macaw"])["top5"][0]["label"] == "macaw"
            assert hub_info["ref"] == "alice/mnv2" and hub_info["version"] == "1" and hub_info["error"] is None
            [figure] = hub_info["results"]
            assert figure["target"] == "litert-int8" and figure["fps"] == 900.0 and figure["device"]
            page = httpx.get(preview.url).text
            assert '"median_ms": 1.1' in page and "What the hub knows about" in page
            assert "hub: 1 published result(s) for alice/mnv2" in preview.printed()
        finally:
            preview.stop()
    finally:
        hub.terminate()
        hub.wait(timeout=30)

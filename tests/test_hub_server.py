"""The hub end to end: a real `edgebench hub serve` process on loopback, driven through the real CLI
and raw HTTP, once on embedded SQLite and once on a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from edgebench.hub.webhooks import SIGNATURE_HEADER, verify_signature
from edgebench.models import zoo
from tests.conftest import CORAL, fresh_postgres_database, run_cli, start_hub

pytestmark = pytest.mark.slow


@dataclass
class Hub:
    url: str
    data: Path
    tokens: dict[str, str]
    cache: Path
    log: Path
    db_args: list[str] = field(default_factory=list)

    def env(self, user: str | None = "alice") -> dict[str, str]:
        return {"EDGEBENCH_HUB_URL": self.url, "EDGEBENCH_HUB_TOKEN": self.tokens.get(user, ""),
                "EDGEBENCH_CACHE_DIR": str(self.cache)}

    def cli(self, *args, user: str | None = "alice", **kwargs) -> subprocess.CompletedProcess:
        return run_cli(*args, env=self.env(user), **kwargs)

    def http(self, user: str | None = "alice") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hub_cache(tmp: Path, session_cache: Path) -> Path:
    """A cache sharing the session's prepared models, plus Coral's files as if downloaded earlier."""
    cache = tmp / "cache"
    (session_cache / "models").mkdir(parents=True, exist_ok=True)
    cache.mkdir()
    (cache / "models").symlink_to(session_cache / "models")
    if (CORAL / "bird.bmp").is_file():
        (cache / "weights").mkdir()
        for source in dict(zoo.MOBILENET_V2_CORAL.prebuilt).values():
            shutil.copy(CORAL / source.filename, cache / "weights" / source.filename)
    return cache


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request, tmp_path_factory, session_cache):
    tmp = tmp_path_factory.mktemp(f"hub-{request.param}")
    db_args = []
    if request.param == "postgresql":
        db_args = ["--db", fresh_postgres_database(request.getfixturevalue("postgres_server"), "hub_e2e")]
    data = tmp / "data"
    tokens = {}
    for user in ("alice", "bob"):
        made = run_cli("hub", "token", "create", user, "--data", data, *db_args)
        assert made.returncode == 0, made.stderr
        tokens[user] = made.stdout.strip()
    log = tmp / "server.log"
    server, url = start_hub(data, log, *db_args, "--max-upload-mb", "20", "--webhook-backoff-s", "0.2",
                            "--webhook-attempts", "3")
    hub = Hub(url, data, tokens, _hub_cache(tmp, session_cache), log, db_args)
    # The models these tests use (every available one would build the person detector's variants too).
    seeded = hub.cli("hub", "seed", "--model", "mobilenet_v2", "--model", "efficientnet_lite0",
                     "--model", "mobilenet_v2_coral", timeout=900)
    assert seeded.returncode == 0, seeded.stderr + seeded.stdout
    assert "published alice/mobilenet_v2@1 (5 files)" in seeded.stdout
    yield hub
    server.terminate()
    server.wait(timeout=30)


def _seeded_file(hub: Hub, fmt: str, precision: str) -> Path:
    """One of the seeded files, pulled fresh (the publisher's own copy)."""
    dest = hub.data.parent / "seeded"
    pulled = hub.cli("hub", "pull", "alice/mobilenet_v2@1", "--dest", dest)
    assert pulled.returncode == 0, pulled.stderr
    suffix = ".tflite" if fmt == "tflite" else ".onnx"
    return dest / f"mobilenet_v2-{fmt}-{precision}{suffix}"


# -- seed, search, show ---------------------------------------------------------------------------
def test_seed_publishes_every_variant_and_is_idempotent(hub):
    with hub.http(None) as http:
        version = http.get("/api/models/alice/mobilenet_v2/versions/latest").json()
    assert version["version"] == "1"
    assert sorted((a["format"], a["precision"]) for a in version["artifacts"]) == [
        ("onnx", "fp32"), ("onnx", "int8"), ("safetensors", "fp32"), ("tflite", "fp32"), ("tflite", "int8")]
    assert all(len(a["sha256"]) == 64 and a["size"] > 1_000_000 for a in version["artifacts"])
    card = version["card"]
    assert len(card["labels"]) == 1000 and card["preprocessing"]["crop"] == 224
    assert card["input"]["shape"] == [1, 3, 224, 224] and card["retrainable"] is True
    assert card["architecture"]["weights_file"] == "mobilenet_v2-fp32.safetensors"
    again = hub.cli("hub", "seed", "--model", "mobilenet_v2")
    assert again.returncode == 0 and "alice/mobilenet_v2@1 is up to date" in again.stdout
    if (CORAL / "bird.bmp").is_file():
        with hub.http(None) as http:
            coral = http.get("/api/models/alice/mobilenet_v2_coral").json()
        assert sorted(a["format"] for a in coral["versions"][0]["artifacts"]) == ["tflite", "tflite-edgetpu"]


def test_search_by_text_task_tag_and_format(hub):
    with hub.http(None) as http:
        def names(**params):
            answer = http.get("/api/models", params=params)
            assert answer.status_code == 200, answer.text
            return {m["model"] for m in answer.json()}

        assert "alice/mobilenet_v2" in names(q="MobileNet")
        assert "alice/mobilenet_v2" in names(q="torchvision")           # description
        assert "alice/mobilenet_v2" in names(task="image-classification", tag="preset", format="onnx")
        assert names(q="no-such-model-anywhere") == set()
        assert names(q="mobile%net") == names(q="mobilenet_v_") == set()   # literal, not wildcards
        assert names(tag="no-such-tag") == set()
        assert "alice/mobilenet_v2" not in names(format="tflite-edgetpu")
    listed = hub.cli("hub", "search", "mobilenet", "--format", "tflite", user=None)
    assert listed.returncode == 0 and "alice/mobilenet_v2" in listed.stdout


# -- pull ---------------------------------------------------------------------------------------
def test_pull_verifies_every_file(hub, tmp_path):
    pulled = hub.cli("hub", "pull", "alice/mobilenet_v2@1", "--dest", tmp_path / "m", user=None)
    assert pulled.returncode == 0, pulled.stderr
    manifest = json.loads((tmp_path / "m" / "edgebench-hub.json").read_text())
    from edgebench.models.artifact import sha256_of

    for artifact in manifest["artifacts"]:
        assert sha256_of(tmp_path / "m" / artifact["filename"]) == artifact["sha256"]
    assert pulled.stdout.count("verified") == 5   # 4 variants + the float source (.safetensors)


def test_pull_refuses_a_file_whose_bytes_changed_on_the_server(hub, tmp_path):
    # A separate version whose stored file is then damaged on disk: the client must notice.
    source = _seeded_file(hub, "onnx", "int8")
    published = hub.cli("hub", "publish", source, "--name", "alice/damaged", "--version", "1")
    assert published.returncode == 0, published.stderr
    with hub.http(None) as http:
        sha = http.get("/api/models/alice/damaged/versions/1").json()["artifacts"][0]["sha256"]
    blob = hub.data / "blobs" / sha[:2] / sha[2:4] / sha
    original = blob.read_bytes()
    try:
        blob.write_bytes(original[:-10] + b"tampered!!")
        pulled = hub.cli("hub", "pull", "alice/damaged@1", "--dest", tmp_path / "d", user=None)
    finally:
        blob.write_bytes(original)
    assert pulled.returncode == 2
    assert "sha256" in pulled.stderr and "discarded" in pulled.stderr and "Traceback" not in pulled.stderr
    assert not any(p.suffix == ".onnx" for p in (tmp_path / "d").iterdir())


# -- run hub://, push results, see them --------------------------------------------------------
def test_run_a_hub_model_push_results_and_see_them_per_device(hub, tmp_path, chromium, coral):
    store = tmp_path / "store.db"
    ran = hub.cli("run", "--model", "hub://alice/mobilenet_v2@1", "--image", coral / "bird.bmp",
                  "--targets", "litert-int8,onnxruntime-fp32,torch-fp32", "--runs", "50", "--settle", "0",
                  "--power-w", "5", "--store", store, "--out", tmp_path / "r.json")
    assert ran.returncode == 0, ran.stderr
    run = json.loads((tmp_path / "r.json").read_text())
    results = {r["target"]: r for r in run["results"]}
    assert run["model"]["source"] == "hub" and run["model"]["name"] == "alice/mobilenet_v2@1"
    assert results["litert-int8"]["top1"]["label"] == "chickadee"
    assert results["onnxruntime-fp32"]["top1"]["label"] == "chickadee"
    assert results["torch-fp32"]["status"] == "unavailable"   # the hub holds no torch checkpoint

    # A pinned version pulled once runs without the hub (an edge device offline).
    offline = run_cli("run", "--model", "hub://alice/mobilenet_v2@1", "--image", coral / "bird.bmp",
                      "--targets", "litert-int8", "--runs", "10", "--settle", "0", "--no-save",
                      env={**hub.env(), "EDGEBENCH_HUB_URL": "http://127.0.0.1:9"})
    assert offline.returncode == 0 and "chickadee" in offline.stdout, offline.stderr

    pushed = hub.cli("results", "push", "--store", store)
    assert pushed.returncode == 0, pushed.stderr
    assert "2 result(s) added" in pushed.stdout and "skipped torch-fp32" in pushed.stdout
    again = hub.cli("results", "push", "--store", store)
    assert "0 result(s) added, 2 already there" in again.stdout

    with hub.http(None) as http:
        rows = http.get("/api/models/alice/mobilenet_v2/results").json()
    mine = [r for r in rows if r["run_id"] == run["run_id"]]
    assert sorted(r["target"] for r in mine) == ["litert-int8", "onnxruntime-fp32"]
    for row in mine:
        measured = results[row["target"]]
        assert row["median_ms"] == pytest.approx(measured["latency_ms"]["median"])
        assert row["fps"] == pytest.approx(measured["fps"])
        assert row["energy_j_per_inference"] == pytest.approx(measured["energy"]["j_per_inference"])
        assert row["energy_method"].startswith("rated")
        assert len(row["fingerprint"]) == 16

    chromium.get(f"{hub.url}/models/alice/mobilenet_v2")
    assert [e for e in chromium.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    table = chromium.find_element("id", "results").text
    assert "litert-int8" in table and "onnxruntime-fp32" in table and "rated" in table
    assert f"{results['litert-int8']['fps']:.1f}" in table
    assert chromium.execute_script(
        "const i = document.getElementById('fps-chart'); return i.complete && i.naturalWidth > 0")
    assert "1000" in chromium.find_element("id", "card").text          # labels on the card

    chromium.get(f"{hub.url}/?q=mobilenet&format=onnx")
    links = [a.text for a in chromium.find_elements("css selector", "#models a")]
    assert "alice/mobilenet_v2" in links
    search_box = chromium.find_element("name", "q")
    search_box.clear()
    search_box.send_keys("nothing-matches-this")
    chromium.find_element("css selector", "#search button").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(chromium, 20).until(lambda b: "nothing-matches-this" in b.current_url
                                      and b.execute_script("return document.readyState") == "complete")
    assert chromium.find_element("id", "count").text == "0 models"
    assert [e for e in chromium.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []


def test_results_for_files_of_another_model_are_refused(hub, tmp_path):
    from tests.conftest import make_run

    run = make_run(targets=("litert-int8",))  # no artifact: not a file of this version
    with hub.http("alice") as http:
        answer = http.post("/api/results", json={"model": "alice/mobilenet_v2", "version": "1",
                                                 "run": run.model_dump(mode="json")})
        assert answer.status_code == 422 and "litert-int8" in answer.json()["detail"]
        malformed = http.post("/api/results", json={"model": "alice/mobilenet_v2", "version": "1",
                                                    "run": {"run_id": "x"}})
        # the run is validated by the API's schema (the store's own rules): the first problem named
        assert malformed.status_code == 422 and "invalid request: run." in malformed.json()["detail"]


# -- subscriptions: feed and webhooks ------------------------------------------------------------
class _Receiver(BaseHTTPRequestHandler):
    """Records webhook POSTs; answers 500 to the first one to exercise the retry."""

    received: list[tuple[dict, bytes]] = []
    fail_first = True

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        status = 500 if type(self).fail_first and len(type(self).received) == 1 else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/hook", _Receiver
    httpd.shutdown()
    httpd.server_close()


def test_subscribers_get_new_versions_in_the_feed_and_signed_webhooks(hub, receiver):
    url, received = receiver
    source = _seeded_file(hub, "tflite", "int8")
    first = hub.cli("hub", "publish", source, "--name", "alice/birds", "--version", "1", "--tag", "birds",
                    "--preprocess", "torchvision", "--description", "a bird classifier")
    assert first.returncode == 0, first.stderr
    subscribed = hub.cli("hub", "subscribe", "alice/birds", "--webhook", url, user="bob")
    assert subscribed.returncode == 0, subscribed.stderr
    secret = subscribed.stdout.strip().rsplit(" ", 1)[-1]
    with hub.http("bob") as http:
        assert http.get("/api/feed").json()["events"] == []      # version 1 predates the subscription

    for version in ("2", "3", "4"):
        made = hub.cli("hub", "publish", source, "--name", "alice/birds", "--version", version)
        assert made.returncode == 0, made.stderr

    with hub.http("bob") as http:
        page1 = http.get("/api/feed", params={"limit": 2}).json()
        page2 = http.get("/api/feed", params={"limit": 2, "cursor": page1["next_cursor"]}).json()
        page3 = http.get("/api/feed", params={"limit": 2, "cursor": page2["next_cursor"]}).json()
    assert [e["version"] for e in page1["events"] + page2["events"]] == ["2", "3", "4"]
    assert page3["events"] == [] and page3["next_cursor"] == page2["next_cursor"]
    feed = hub.cli("hub", "feed", user="bob")
    assert feed.returncode == 0 and "alice/birds" in feed.stdout and "next cursor" in feed.stdout

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        delivered = {json.loads(body)["version"] for headers, body in received.received}
        if delivered == {"2", "3", "4"} and len(received.received) >= 4:
            break
        time.sleep(0.2)
    assert len(received.received) == 4, received.received  # 3 events, one retried after a 500
    first_body = received.received[0][1]
    retried = [b for _h, b in received.received[1:] if json.loads(b)["delivery"] == json.loads(first_body)["delivery"]]
    assert retried and json.loads(retried[0])["attempt"] == 2
    for headers, body in received.received:
        signature = {k.lower(): v for k, v in headers.items()}[SIGNATURE_HEADER.lower()]
        assert verify_signature(secret, body, signature)
        assert not verify_signature("wrong-secret", body, signature)
        event = json.loads(body)
        assert event["model"] == "alice/birds" and event["event"] == "version.published"
        assert event["artifacts"][0]["sha256"] == json.loads(first_body)["artifacts"][0]["sha256"]


# -- refusals -----------------------------------------------------------------------------------
def test_publishing_and_subscribing_need_a_token(hub):
    source = _seeded_file(hub, "tflite", "int8")
    denied = hub.cli("hub", "publish", source, "--name", "alice/anon", "--version", "1", user=None)
    assert denied.returncode == 2 and "(401)" in denied.stderr and "Traceback" not in denied.stderr
    with hub.http(None) as http:
        assert http.post("/api/subscriptions", json={"model": "alice/mobilenet_v2"}).status_code == 401
        assert http.get("/api/feed").status_code == 401
        bad = http.post("/api/uploads", params={"filename": "x.onnx"}, content=b"x",
                        headers={"Authorization": "Bearer ebh_not-a-token"})
        assert bad.status_code == 401


def test_only_the_owner_publishes_in_a_namespace(hub):
    source = _seeded_file(hub, "tflite", "int8")
    refused = hub.cli("hub", "publish", source, "--name", "alice/bobs-model", "--version", "1", user="bob")
    assert refused.returncode == 2 and "(403)" in refused.stderr
    with hub.http(None) as http:
        assert http.get("/api/models/alice/bobs-model").status_code == 404


def test_garbage_oversize_and_misnamed_uploads_are_refused(hub):
    with hub.http("alice") as http:
        def upload(filename, content):
            return http.post("/api/uploads", params={"filename": filename}, content=content)

        garbage_tflite = upload("bad.tflite", b"\x00" * 64)
        assert garbage_tflite.status_code == 422 and "TFL3" in garbage_tflite.json()["detail"]
        looks_like_tflite = upload("bad.tflite", b"\x1c\x00\x00\x00TFL3" + os.urandom(4000))
        assert looks_like_tflite.status_code == 422
        garbage_onnx = upload("bad.onnx", os.urandom(5000))
        assert garbage_onnx.status_code == 422 and "ONNX" in garbage_onnx.json()["detail"]
        assert upload("empty.onnx", b"").status_code == 422
        assert upload("model.exe", b"MZ").status_code == 422
        assert upload("../../hub.db.tflite", b"x").status_code == 422
        too_big = upload("huge.onnx", b"\x00" * 21_000_000)   # the server runs with --max-upload-mb 20
        assert too_big.status_code == 413 and "limit" in too_big.json()["detail"]
    assert list((hub.data / "tmp").iterdir()) == []


def test_names_cannot_traverse_paths(hub):
    with hub.http("alice") as http:
        assert http.get("/api/models/alice/mobilenet_v2/versions/1/files/..%2F..%2Fhub.db").status_code == 404
        assert http.get("/api/models/alice/mobilenet_v2/versions/1/files/hub.db").status_code == 404
        assert http.get("/api/models/alice/..%2F..%2Fetc/versions/1").status_code in (404, 422)
        bad_version = http.post("/api/models/alice/x/versions", json={
            "version": "../1", "card": {}, "artifacts": [{"filename": "a.onnx", "sha256": "0" * 64}]})
        assert bad_version.status_code == 422
        bad_name = http.post("/api/models/alice/..x/versions", json={
            "version": "1", "card": {}, "artifacts": [{"filename": "a.onnx", "sha256": "0" * 64}]})
        assert bad_name.status_code == 422
        bad_file = http.post("/api/models/alice/x/versions", json={
            "version": "1", "card": {}, "artifacts": [{"filename": "../a.onnx", "sha256": "0" * 64}]})
        assert bad_file.status_code == 422


def test_versions_are_immutable_and_concurrent_publishes_have_one_winner(hub):
    source = _seeded_file(hub, "onnx", "int8")
    with hub.http("alice") as http:
        sha = http.post("/api/uploads", params={"filename": source.name}, content=source.read_bytes()).json()["sha256"]
        body = {"version": "1", "card": {"description": "race"},
                "artifacts": [{"filename": source.name, "sha256": sha}]}
        for round_ in range(3):   # several rounds: both first-publish and existing-model races
            body["version"] = f"race{round_}"
            barrier = threading.Barrier(2)
            statuses = []

            def publish():
                with hub.http("alice") as own:
                    barrier.wait()
                    statuses.append(own.post("/api/models/alice/race/versions", json=body).status_code)

            threads = [threading.Thread(target=publish) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(statuses) == [201, 409], statuses
        again = http.post("/api/models/alice/race/versions", json=body)
        assert again.status_code == 409 and "immutable" in again.json()["detail"]
        versions = http.get("/api/models/alice/race").json()["versions"]
    assert [v["version"] for v in versions] == ["race0", "race1", "race2"]


def test_an_upload_killed_halfway_leaves_nothing(hub):
    host, port = hub.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall((f"POST /api/uploads?filename=half.onnx HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {hub.tokens['alice']}\r\n"
                      "Content-Length: 5000000\r\nContent-Type: application/octet-stream\r\n\r\n").encode())
        conn.sendall(os.urandom(1_000_000))
        time.sleep(0.5)   # the server is now mid-way through writing the upload
    deadline = time.monotonic() + 10
    while list((hub.data / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list((hub.data / "tmp").iterdir()) == []
    with hub.http(None) as http:
        assert http.get("/api/models", params={"q": "half"}).json() == []
    # Still serving, and the server said nothing alarming about it.
    assert httpx.get(hub.url + "/api/health").status_code == 200
    assert "Traceback" not in hub.log.read_text()


def test_pages_escape_what_publishers_write(hub):
    source = _seeded_file(hub, "tflite", "int8")
    made = hub.cli("hub", "publish", source, "--name", "alice/xss", "--version", "1",
                   "--description", "<script>alert(1)</script>", "--tag", "[bold]x")
    assert made.returncode == 0, made.stderr
    with hub.http(None) as http:
        page = http.get("/models/alice/xss")
        search = http.get("/", params={"q": "<script>"})
    assert page.status_code == 200 and "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert "script-src" not in page.headers["content-security-policy"]   # no scripts allowed at all
    assert "&lt;script&gt;" in search.text and "alice/xss" in search.text
    shown = hub.cli("hub", "search", "xss", user=None)   # rich must print it, not parse it as markup
    assert shown.returncode == 0 and "[bold]x" in shown.stdout
    with hub.http(None) as http:
        assert http.get("/models/alice/no-such-model").status_code == 404

"""A model's versions on the hub: the card carries over from one version to the next, and one
version holds several files (a CPU file beside its Edge TPU twin).

The database rules run on embedded SQLite; the rest against a real `edgebench hub serve` process
on loopback, with Coral's ready-made files from ../shared (skipped where absent)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from edgebench.hub.db import HubDB, HubRefusal
from edgebench.hub.schema import ModelCard
from tests.conftest import run_cli, start_hub

QUANT, EDGETPU = "mobilenet_v2_1.0_224_quant.tflite", "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
FULL_CARD = ModelCard(description="birds", license="apache-2.0", tags=["birds", "coral"],
                      labels=["background", "tench"], source="coral",
                      preprocessing={"resize": 256, "crop": 224, "mean": [0.5] * 3, "std": [0.5] * 3}
                      ).model_dump(mode="json")


# -- the database's rule ---------------------------------------------------------------------------
@pytest.fixture
def hub_db(tmp_path):
    db = HubDB(f"sqlite:///{tmp_path / 'hub.db'}")
    db.create_token("alice")
    db.add_blob("a" * 64, 10, "tflite-edgetpu", "int8")
    db.add_blob("b" * 64, 10, "tflite", "int8")
    db.add_blob("c" * 64, 10, "safetensors", "fp32")
    yield db
    db.close()


def _card(db: HubDB, version: str) -> dict:
    with db.session() as s:
        return db.find_version(s, "alice/m", version).card


def test_a_new_version_keeps_the_card_fields_it_does_not_give(hub_db):
    hub_db.publish("alice", "alice", "m", "1", FULL_CARD, [{"filename": "m_edgetpu.tflite", "sha256": "a" * 64}])
    hub_db.create_token("bob")
    hub_db.subscribe("bob", "alice/m", "http://127.0.0.1:9/hook")
    hub_db.publish("alice", "alice", "m", "2", {}, [{"filename": "m.tflite", "sha256": "b" * 64}])
    assert _card(hub_db, "2") == FULL_CARD
    with hub_db.session() as s:
        assert [m.path for m in hub_db.search(s, tag="coral")] == ["alice/m"]
        assert hub_db.find_model(s, "alice/m").license == "apache-2.0"
    (_delivery, _secret, payload), = hub_db.claim_due_deliveries()   # what the webhook sends
    assert payload["version"] == "2" and payload["card"] == FULL_CARD
    # Fields given replace (tags as a whole); the others still carry over.
    hub_db.publish("alice", "alice", "m", "3", {"license": "mit", "tags": ["new"]},
                   [{"filename": "m.tflite", "sha256": "b" * 64}])
    assert _card(hub_db, "3") == {**FULL_CARD, "license": "mit", "tags": ["new"]}
    with hub_db.session() as s:
        assert hub_db.search(s, tag="coral") == [] and len(hub_db.search(s, tag="new")) == 1
    # The first version of another model starts from the defaults.
    hub_db.publish("alice", "alice", "other", "1", {}, [{"filename": "m.tflite", "sha256": "b" * 64}])
    with hub_db.session() as s:
        assert hub_db.find_version(s, "alice/other", "1").card == ModelCard().model_dump(mode="json")


def test_a_carried_over_float_source_goes_when_its_file_does(hub_db):
    retrainable = {**FULL_CARD, "retrainable": True, "architecture": {
        "arch": "edgebench.models.mobilenet_v2:MobileNetV2", "num_classes": 2, "weights_file": "m.safetensors"}}
    files = [{"filename": "m.tflite", "sha256": "b" * 64}, {"filename": "m.safetensors", "sha256": "c" * 64}]
    hub_db.publish("alice", "alice", "m", "1", retrainable, files)
    hub_db.publish("alice", "alice", "m", "2", {}, files)             # still holds its float source
    assert _card(hub_db, "2") == _card(hub_db, "1") and _card(hub_db, "2")["retrainable"] is True
    hub_db.publish("alice", "alice", "m", "3", {}, files[:1])         # no float source: not retrainable
    assert _card(hub_db, "3") == {**_card(hub_db, "1"), "retrainable": False, "architecture": None}
    with pytest.raises(HubRefusal, match="invalid model card: .*architecture") as refused:
        hub_db.publish("alice", "alice", "m", "4", {"retrainable": True}, files[:1])
    assert refused.value.status == 422


# -- end to end: the CLI, a real server, a webhook receiver ---------------------------------------
@dataclass
class Hub:
    url: str
    tokens: dict[str, str]

    def cli(self, *args, user: str | None = "bob", cache: Path, **kwargs) -> subprocess.CompletedProcess:
        return run_cli(*args, env={"EDGEBENCH_HUB_URL": self.url, "EDGEBENCH_HUB_TOKEN": self.tokens.get(user, ""),
                                   "EDGEBENCH_CACHE_DIR": str(cache)}, **kwargs)

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=60)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub-versions")
    tokens = {}
    for user in ("bob", "carol"):
        made = run_cli("hub", "token", "create", user, "--data", tmp / "data")
        assert made.returncode == 0, made.stderr
        tokens[user] = made.stdout.strip()
    server, url = start_hub(tmp / "data", tmp / "server.log", "--webhook-backoff-s", "0.2")
    yield Hub(url, tokens)
    server.terminate()
    server.wait(timeout=30)


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        type(self).bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args):
        pass


@pytest.fixture
def receiver():
    _Receiver.bodies = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/hook", _Receiver.bodies
    httpd.shutdown()
    httpd.server_close()


def _wait_for(condition, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_version_with_only_a_new_file_keeps_the_card(hub, coral, receiver, tmp_path):
    url, delivered = receiver
    cache = tmp_path / "cache"
    labels = tmp_path / "labels.txt"   # the model's 1001 classes, renamed so the card's are recognisable
    labels.write_text("\n".join(f"card-{ln.split(',')[0].strip()}" for ln in
                                (coral / "imagenet_labels.txt").read_text().splitlines()))
    first = hub.cli("hub", "publish", coral / EDGETPU, "--name", "bob/birds", "--version", "1",
                    "--license", "apache-2.0", "--tag", "birds", "--tag", "coral", "--labels", labels,
                    "--preprocess", "inception", "--description", "Coral's bird-friendly MobileNet", cache=cache)
    assert first.returncode == 0, first.stderr
    subscribed = hub.cli("hub", "subscribe", "bob/birds", "--webhook", url, user="carol", cache=cache)
    assert subscribed.returncode == 0, subscribed.stderr

    second = hub.cli("hub", "publish", coral / QUANT, "--name", "bob/birds", "--version", "2", cache=cache)
    assert second.returncode == 0, second.stderr
    v1, v2 = (hub.get(f"/api/models/bob/birds/versions/{v}").json() for v in ("1", "2"))
    assert v2["card"] == v1["card"]
    assert v2["card"]["license"] == "apache-2.0" and v2["card"]["tags"] == ["birds", "coral"]
    assert len(v2["card"]["labels"]) == 1001 and v2["card"]["preprocessing"]["mean"] == [0.5, 0.5, 0.5]

    found = hub.cli("hub", "search", "--tag", "coral", user=None, cache=cache)
    assert found.returncode == 0 and "bob/birds" in found.stdout and "1 model(s)" in found.stdout, found.stdout
    _wait_for(lambda: delivered, "the webhook for version 2")
    assert delivered[0]["version"] == "2" and delivered[0]["card"] == v1["card"]

    ran = hub.cli("run", "--model", "hub://bob/birds@2", "--image", coral / "bird.bmp", "--targets", "litert-int8",
                  "--runs", "5", "--settle", "0", "--no-save", "--out", tmp_path / "r.json", cache=cache)
    assert ran.returncode == 0, ran.stderr
    result = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert result["top1"]["label"] == "card-chickadee" and "card-chickadee" in ran.stdout
    assert result["preprocessing"]["why"] == "the hub card's"


# -- several files in one version -------------------------------------------------------------------
def _one_line_error(out: subprocess.CompletedProcess, *fragments: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in out.stderr, out.stderr
    for fragment in fragments:
        assert fragment in " ".join(out.stderr.split()), out.stderr


def _formats(version: dict) -> dict[str, str]:
    return {a["format"]: a["sha256"] for a in version["artifacts"]}


@pytest.mark.slow
def test_one_version_holds_a_cpu_file_and_its_edge_tpu_twin(hub, coral, tmp_path, monkeypatch):
    from edgebench.models.artifact import sha256_of

    cache = tmp_path / "cache"
    sha = {"tflite": sha256_of(coral / QUANT), "tflite-edgetpu": sha256_of(coral / EDGETPU)}
    both = hub.cli("hub", "publish", "--file", coral / EDGETPU, "--file", coral / QUANT, "--name", "bob/twins",
                   "--version", "1", "--tag", "twins", cache=cache)
    assert both.returncode == 0 and "published bob/twins@1 (2 file(s))" in both.stdout, both.stderr
    assert _formats(hub.get("/api/models/bob/twins/versions/1").json()) == sha

    folder = tmp_path / "coral-pair"   # a folder: its model files, read in place through links
    folder.mkdir()
    for name in (QUANT, EDGETPU, "imagenet_labels.txt"):
        (folder / name).symlink_to(coral / name)
    from_folder = hub.cli("hub", "publish", folder, "--name", "bob/twins", "--version", "2", cache=cache)
    assert from_folder.returncode == 0 and "(2 file(s))" in from_folder.stdout, from_folder.stderr
    latest = hub.get("/api/models/bob/twins/versions/latest").json()
    assert latest["version"] == "2" and _formats(latest) == sha and latest["card"]["tags"] == ["twins"]

    # The latest version runs on a CPU from its CPU file; the Edge TPU target is given the twin.
    ran = hub.cli("run", "--model", "hub://bob/twins", "--image", coral / "bird.bmp", "--targets",
                  "litert-int8,edgetpu-int8", "--runs", "5", "--settle", "0", "--no-save", "--out", tmp_path / "r.json",
                  cache=cache)
    assert ran.returncode == 0, ran.stderr
    results = {r["target"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert results["litert-int8"]["status"] == "ok" and results["litert-int8"]["top1"]["label"] == "chickadee"
    assert results["litert-int8"]["artifact"]["sha256"] == sha["tflite"]
    # No Edge TPU here, so the run cannot show the twin's choice: ask the hub source itself.
    from edgebench.hub.source import HubSource

    monkeypatch.setenv("EDGEBENCH_HUB_URL", hub.url)
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(cache))
    source = HubSource("hub://bob/twins", lambda _step: None)
    assert source.artifact_for("edgetpu-int8", "int8", ("tflite-edgetpu",)).sha256 == sha["tflite-edgetpu"]
    assert source.artifact_for("litert-int8", "int8", ("tflite",)).sha256 == sha["tflite"]

    pulled = hub.cli("hub", "pull", "bob/twins", "--dest", tmp_path / "pulled", user=None, cache=cache)
    assert pulled.returncode == 0 and pulled.stdout.count("verified") == 2, pulled.stderr


@pytest.mark.slow
def test_several_files_refused_with_one_line(hub, coral, tmp_path):
    cache = tmp_path / "cache"

    def publish(*args):
        return hub.cli("hub", "publish", *args, "--name", "bob/refused", "--version", "1", cache=cache)

    _one_line_error(publish(), "nothing to publish")
    _one_line_error(publish("mobilenet_v2", "--file", coral / QUANT), "--file adds files")
    _one_line_error(publish(coral / QUANT, "--file", coral / QUANT), f"two files named {QUANT}")
    _one_line_error(publish(coral / QUANT, "--file", coral / EDGETPU, "--runtime-hint", "litert"),
                    "--runtime-hint: a runtime hint names the runtime of one file")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    _one_line_error(publish(coral / QUANT, "--file", garbage), "garbage.onnx")
    _one_line_error(publish("--file", tmp_path / "missing.tflite"), "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "labels.txt").write_text("a\nb\n")
    _one_line_error(publish(empty), "holds no model file")
    assert hub.get("/api/models/bob/refused").status_code == 404   # nothing was published

"""Hub pieces on their own: names, signatures, the database's rules, deliveries, the client's checks,
and the CLI's one-line errors."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from edgebench.errors import UserError
from edgebench.hub.blobs import BlobStore
from edgebench.hub.client import HubClient
from edgebench.hub.db import HubDB, HubRefusal
from edgebench.refs import ModelRef, check_filename, parse_ref
from edgebench.hub.schema import ModelCard
from edgebench.hub.webhooks import Deliverer, sign, verify_signature
from tests.conftest import run_cli


# -- names --------------------------------------------------------------------------------------
def test_model_references():
    assert parse_ref("alice/mobilenet_v2@1") == ModelRef("alice", "mobilenet_v2", "1")
    assert parse_ref("hub://alice/m") == ModelRef("alice", "m", None)
    assert parse_ref("alice/m@latest").version is None
    assert str(parse_ref("hub://alice/m@2.0+cpu")) == "alice/m@2.0+cpu"


@pytest.mark.parametrize("text", ["alice", "alice/../x", "../alice/x", "Alice/x", "alice/x@../1", "a/b/c",
                                  "alice/x@", "alice/", "/x", "alice/x@v 1"])
def test_bad_model_references_are_user_errors(text):
    with pytest.raises(UserError):
        parse_ref(text)


@pytest.mark.parametrize("name", ["../a.onnx", "a/b.onnx", "..onnx", ".hidden.onnx", "model.exe", "a b.tflite",
                                  "x" * 200 + ".onnx", "m.onnx\x00.txt"])
def test_bad_file_names_are_refused(name):
    with pytest.raises(UserError):
        check_filename(name)


def test_good_file_names_pass():
    assert check_filename("mobilenet_v2-tflite-int8.tflite") == "mobilenet_v2-tflite-int8.tflite"


# -- signatures ---------------------------------------------------------------------------------
def test_webhook_signature_is_hmac_sha256_of_the_body():
    import hashlib
    import hmac

    body = b'{"model":"alice/m","version":"2"}'
    assert sign("s3cret", body) == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify_signature("s3cret", body, sign("s3cret", body))
    assert not verify_signature("s3cret", body + b" ", sign("s3cret", body))
    assert not verify_signature("s3cret", body, None)


# -- uploads ------------------------------------------------------------------------------------
def test_upload_over_the_limit_is_refused_and_discarded(tmp_path):
    blobs = BlobStore(tmp_path)
    upload = blobs.new_upload(".onnx")
    upload.write(b"x" * 10, limit=15)
    with pytest.raises(HubRefusal) as refused:
        upload.write(b"x" * 10, limit=15)
    assert refused.value.status == 413
    upload.discard()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_stale_partial_uploads_are_cleared_on_start(tmp_path):
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "cut-off.onnx").write_bytes(b"half")
    BlobStore(tmp_path)
    assert list((tmp_path / "tmp").iterdir()) == []


# -- the database's rules (SQLite and PostgreSQL) ------------------------------------------------
CARD = ModelCard(description="d", tags=["t"]).model_dump(mode="json")


@pytest.fixture
def hub_db(store_url):
    db = HubDB(store_url)
    yield db
    db.close()


def _publish(db, version, user="alice", name="m", sha="a" * 64):
    db.add_blob(sha, 10, "onnx", "fp32")
    return db.publish(user, user if user != "mallory" else "alice", name, version, CARD,
                      [{"filename": "m.onnx", "sha256": sha, "runtime_hint": None}])


def test_tokens_are_stored_hashed(hub_db):
    token = hub_db.create_token("alice")
    assert token.startswith("ebh_") and hub_db.user_for_token(token) == "alice"
    assert hub_db.user_for_token(token + "x") is None
    from sqlalchemy import text

    with hub_db.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_sha256 FROM hub_tokens"))]
    assert token not in stored and len(stored[0]) == 64
    second = hub_db.create_token("alice")
    assert hub_db.revoke_tokens("alice") == 2
    assert hub_db.user_for_token(token) is None and hub_db.user_for_token(second) is None
    with pytest.raises(UserError):
        hub_db.revoke_tokens("nobody")


def test_token_cli_creates_and_revokes(tmp_path):
    made = run_cli("hub", "token", "create", "carol", "--data", tmp_path)
    assert made.returncode == 0 and made.stdout.strip().startswith("ebh_")
    assert HubDB(f"sqlite:///{tmp_path / 'hub.db'}").user_for_token(made.stdout.strip()) == "carol"
    revoked = run_cli("hub", "token", "revoke", "carol", "--data", tmp_path)
    assert revoked.returncode == 0 and "revoked 1 token(s) of carol" in revoked.stdout
    assert HubDB(f"sqlite:///{tmp_path / 'hub.db'}").user_for_token(made.stdout.strip()) is None


def test_publish_rules(hub_db):
    hub_db.create_token("alice")
    _publish(hub_db, "1")
    with pytest.raises(HubRefusal) as again:
        _publish(hub_db, "1")
    assert again.value.status == 409
    with pytest.raises(HubRefusal) as not_owner:
        _publish(hub_db, "2", user="mallory")
    assert not_owner.value.status == 403
    with pytest.raises(HubRefusal) as no_blob:
        hub_db.publish("alice", "alice", "m", "3", CARD, [{"filename": "x.onnx", "sha256": "b" * 64}])
    assert no_blob.value.status == 422
    with hub_db.session() as s:
        assert [v.version for v in hub_db.find_model(s, "alice/m").versions] == ["1"]
        assert [m.path for m in hub_db.search(s, q="D", tag="t", fmt="onnx")] == ["alice/m"]


def test_feed_shows_only_versions_after_subscribing(hub_db):
    hub_db.create_token("alice")
    hub_db.create_token("bob")
    _publish(hub_db, "1")
    assert hub_db.subscribe("bob", "alice/m", None) is None
    _publish(hub_db, "2")
    _publish(hub_db, "3")
    with hub_db.session() as s:
        events = hub_db.feed(s, "bob", cursor=0, limit=10)
        assert [e.version.version for e in events] == ["2", "3"]
        assert [e.version.version for e in hub_db.feed(s, "bob", cursor=events[0].id, limit=10)] == ["3"]
        assert hub_db.feed(s, "alice", cursor=0, limit=10) == []


def test_failed_deliveries_back_off_exponentially_then_give_up(hub_db):
    hub_db.create_token("alice")
    hub_db.create_token("bob")
    _publish(hub_db, "1")
    hub_db.subscribe("bob", "alice/m", "http://127.0.0.1:9/hook")
    _publish(hub_db, "2")
    delays = []
    for _ in range(3):
        (delivery, _secret, payload), = hub_db.claim_due_deliveries()
        assert payload["version"] == "2"
        assert hub_db.claim_due_deliveries() == []          # claimed: a second worker gets nothing
        before = time.time()
        hub_db.record_delivery(delivery.id, False, "HTTP 500", max_attempts=3, backoff_s=0.0)
        with hub_db.session() as s:
            from edgebench.hub.db import DeliveryRow

            row = s.get(DeliveryRow, delivery.id)
            delays.append(row.next_attempt_at - before)
    assert hub_db.deliveries()[0]["status"] == "failed" and hub_db.deliveries()[0]["attempts"] == 3
    # The schedule itself: backoff, 2x, 4x.
    hub_db.subscribe("bob", "alice/m", "http://127.0.0.1:9/hook")
    _publish(hub_db, "3")
    (delivery, _s, _p), = hub_db.claim_due_deliveries()
    start = time.time()
    hub_db.record_delivery(delivery.id, False, "x", max_attempts=5, backoff_s=10.0)
    with hub_db.session() as s:
        assert s.get(DeliveryRow, delivery.id).next_attempt_at - start == pytest.approx(10.0, abs=1.0)
        s.get(DeliveryRow, delivery.id).next_attempt_at = 0.0
    (delivery, _s, _p), = hub_db.claim_due_deliveries()
    start = time.time()
    hub_db.record_delivery(delivery.id, False, "x", max_attempts=5, backoff_s=10.0)
    with hub_db.session() as s:
        assert s.get(DeliveryRow, delivery.id).next_attempt_at - start == pytest.approx(20.0, abs=1.0)


class _AlwaysFails(BaseHTTPRequestHandler):
    hits: list[float] = []

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).hits.append(time.monotonic())
        self.send_response(503)
        self.end_headers()

    def log_message(self, *_args):
        pass


def test_deliverer_retries_a_failing_receiver_then_stops(tmp_path):
    _AlwaysFails.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysFails)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    db = HubDB(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        db.create_token("alice")
        db.create_token("bob")
        _publish(db, "1")
        db.subscribe("bob", "alice/m", f"http://127.0.0.1:{httpd.server_port}/hook")
        _publish(db, "2")
        deliverer = Deliverer(db, max_attempts=3, backoff_s=0.3, timeout_s=5)
        deliverer.start()
        deadline = time.monotonic() + 20
        while db.deliveries()[0]["status"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
        deliverer.stop()
        assert db.deliveries()[0] | {"id": 0, "url": ""} == {
            "id": 0, "url": "", "status": "failed", "attempts": 3, "last_error": "HTTP 503"}
        gaps = [b - a for a, b in zip(_AlwaysFails.hits, _AlwaysFails.hits[1:])]
        assert len(gaps) == 2 and gaps[0] >= 0.25 and gaps[1] >= 0.55   # 0.3 s, then 0.6 s
    finally:
        db.close()
        httpd.shutdown()
        httpd.server_close()


# -- the client's own checks ------------------------------------------------------------------
def _client_against(handler) -> HubClient:
    client = HubClient("http://hub.invalid", token="t")
    client._http = httpx.Client(base_url="http://hub.invalid", transport=httpx.MockTransport(handler))
    return client


def test_pull_refuses_a_server_supplied_path(tmp_path):
    version = {"model": "a/m", "version": "1", "created": "2026-01-01T00:00:00+00:00", "publisher": "a",
               "card": {}, "artifacts": [
                   {"filename": "../escape.onnx", "sha256": "0" * 64, "url": "/api/models/a/m/versions/1/files/f",
                    "format": "onnx", "precision": "fp32", "runtime_hint": "onnxruntime", "size": 1}]}

    def handler(request):
        return httpx.Response(200, json=version) if "versions" in request.url.path else httpx.Response(200, content=b"x")

    with pytest.raises(UserError, match="invalid file name"):
        _client_against(handler).pull(ModelRef("a", "m", "1"), tmp_path / "dest")
    assert not (tmp_path / "escape.onnx").exists()


def test_refusals_and_unreachable_hubs_become_user_errors():
    client = _client_against(lambda request: httpx.Response(409, json={"detail": "a/m@1 already exists"}))
    with pytest.raises(UserError, match=r"hub refused \(409\): a/m@1 already exists"):
        client.version(ModelRef("a", "m", "1"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match="cannot reach the hub"):
        HubClient(f"http://127.0.0.1:{port}", token="").search()


# -- CLI: one line, exit 2 --------------------------------------------------------------------
def _one_line_error(out, fragment):
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in out.stderr, out.stderr
    assert fragment in " ".join(out.stderr.split())


def test_cli_errors_are_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        _one_line_error(run_cli("hub", "serve", "--port", busy, "--data", tmp_path / "d"), "cannot listen on")
    dead = {"EDGEBENCH_HUB_URL": f"http://127.0.0.1:{busy}", "EDGEBENCH_HUB_TOKEN": "x"}
    _one_line_error(run_cli("hub", "pull", "alice/m@1", "--dest", tmp_path, env=dead), "cannot reach the hub")
    _one_line_error(run_cli("hub", "pull", "alice", env=dead), "expected owner/name[@version]")
    _one_line_error(run_cli("run", "--model", "hub://alice", env=dead), "expected owner/name[@version]")
    _one_line_error(run_cli("hub", "token", "create", "Not A Name", "--data", tmp_path / "d"), "invalid user name")
    from edgebench.results.store import Store

    Store(str(tmp_path / "empty.db")).close()
    _one_line_error(run_cli("results", "push", "--store", tmp_path / "empty.db", env=dead), "no runs to push")
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a model")
    _one_line_error(run_cli("hub", "publish", garbage, "--version", "1", env=dead), "not a TFLite model")
    _one_line_error(run_cli("hub", "serve", "--port", busy, "--data", tmp_path / "d", "--db", "nosuchdb://x",
                            timeout=60),
                    "cannot")


def test_hub_help_imports_no_server_or_runtime():
    import subprocess
    import sys

    code = ("import sys\nfrom edgebench.cli.app import app\n"
            "try:\n    app(['hub', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('torch', 'fastapi', 'uvicorn', 'httpx', 'sqlalchemy') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_card_limits():
    with pytest.raises(ValueError):
        ModelCard(tags=["t"] * 33)
    with pytest.raises(ValueError):
        ModelCard(unknown_field=1)
    assert json.loads(ModelCard().model_dump_json())["retrainable"] is False


# -- pages: facets query, units ----------------------------------------------------------------
@pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")
def test_facets_query_raises_no_sqlalchemy_warning(hub_db):
    hub_db.create_token("alice")
    _publish(hub_db, "1")
    with hub_db.session() as s:
        assert hub_db.facets(s) == {"tasks": ["image-classification"], "tags": ["t"], "formats": ["onnx"]}


def _result_row(energy_j: float | None) -> dict:
    return {"run_id": "r1", "target": "onnxruntime-fp32", "runtime": "onnxruntime", "precision": "fp32",
            "fingerprint": "f" * 16, "device": "Test CPU [x86]", "median_ms": 2.5, "fps": 400.0,
            "energy_j": energy_j, "energy_method": "rated 5 W [datasheet]", "document": {}}


@pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")
def test_pages_render_without_warnings_and_show_energy_in_millijoules(tmp_path):
    import re

    from fastapi.testclient import TestClient

    from edgebench.hub.server import HubConfig, create_app

    app = create_app(HubConfig(tmp_path / "hub"))
    db = app.state.hub.db
    db.create_token("alice")
    _publish(db, "1")
    db.add_results("alice", "alice/m", "1", [_result_row(0.0123456)])
    with TestClient(app) as client:
        search, page = client.get("/"), client.get("/models/alice/m")
        api = client.get("/api/models/alice/m/results").json()
    assert search.status_code == 200 and "alice/m" in search.text
    assert page.status_code == 200
    assert "energy (mJ/inference)" in page.text and not re.search(r"[^m]J/inference", page.text)
    cell = re.search(r'<td class="energy">([0-9.]+) \(', page.text)
    assert cell and float(cell.group(1)) == pytest.approx(1000 * 0.0123456, abs=0.005)
    assert api[0]["energy_j_per_inference"] == pytest.approx(0.0123456)   # the API keeps joules


def test_server_routes_are_split_by_resource():
    """create_app only assembles: each resource's routes live in their own router module."""
    import inspect

    from edgebench.hub import server
    from edgebench.hub.routes import ROUTERS

    assert len(inspect.getsource(server.create_app).splitlines()) < 20
    owners = {route.endpoint.__module__ for router in ROUTERS for route in router.routes}
    assert owners == {f"edgebench.hub.routes.{m}" for m in
                      ("meta", "uploads", "models", "results", "subscriptions", "pages")}


# -- seeding from a local directory --------------------------------------------------------------
def test_local_files_are_found_by_zoo_name_and_sha256_checked(tmp_path):
    from edgebench.hub.publish import WEIGHTS, local_files
    from edgebench.models.weights import WeightsIntegrityError, installed_path
    from edgebench.models.zoo import MOBILENET_V2

    checkpoint = installed_path(MOBILENET_V2.weights)
    if checkpoint is None:
        pytest.skip("the weights package is not installed")
    (tmp_path / MOBILENET_V2.weights.filename).symlink_to(checkpoint)
    seen = []
    assert local_files(MOBILENET_V2, tmp_path, seen.append) == {WEIGHTS: tmp_path / MOBILENET_V2.weights.filename}
    assert seen == [f"using {tmp_path / MOBILENET_V2.weights.filename} (sha256 matches the zoo's)"]
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    assert local_files(MOBILENET_V2, wrong, seen.append) == {}     # nothing there: nothing found
    (wrong / MOBILENET_V2.weights.filename).write_bytes(b"not the checkpoint")
    with pytest.raises(WeightsIntegrityError, match="expected b03531047ffacf1e"):
        local_files(MOBILENET_V2, wrong, seen.append)


def test_device_results_carry_the_tasks_answer_and_agreement():
    from edgebench.hub.db import _answer_of
    from edgebench.hub.schema import DeviceResult

    detection = {"task": "detection", "summary": "2 objects: person 0.91, kite 0.85", "agrees_with_reference": False,
                 "agreement": {"metric": "F1 of boxes at IoU 0.5", "value": 0.5, "threshold": 0.8, "passed": False}}
    assert _answer_of(detection) == {"task": "detection", "answer": "2 objects: person 0.91, kite 0.85",
                                     "agreement": "NO (F1 of boxes at IoU 0.5 0.500)"}
    stored_before_tasks = {"top1": {"index": 19, "label": "chickadee", "score": 0.91}, "agrees_with_reference": True}
    assert _answer_of(stored_before_tasks) == {"task": "classification", "answer": "chickadee 0.910", "agreement": "yes"}
    assert _answer_of({"is_reference": True, "summary": "17 keypoints, mean score 0.62"})["agreement"] == "reference"
    row = {"device": "d", "fingerprint": "f", "version": "1", "target": "litert-int8", "runtime": "litert",
           "precision": "int8", "median_ms": 1.0, "fps": 1000.0, "energy_j_per_inference": None,
           "energy_method": None, "run_id": "r", "created": "2026-12-07T00:00:00+00:00", **_answer_of(detection)}
    assert DeviceResult.model_validate(row).answer == "2 objects: person 0.91, kite 0.85"

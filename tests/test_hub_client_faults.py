"""The hub client does not trust its server (issue 18): pointed at a small fake server on
127.0.0.1 that answers wrong things (not JSON, the wrong shape, 5xx, redirects, downloads that
never end, escape sequences), every command says so in one line naming the hub's URL, through the
real CLI. Garbage hub URLs are one line too."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import run_cli

SHA = "ab" * 32
ARTIFACT = {"filename": "m.tflite", "format": "tflite", "precision": "int8", "runtime_hint": "litert",
            "sha256": SHA, "size": 4, "url": "/api/models/alice/m/versions/1/files/m.tflite"}
VERSION = {"model": "alice/m", "version": "1", "created": "2026-01-01T00:00:00+00:00", "publisher": "alice",
           "card": {}, "artifacts": [ARTIFACT]}
SUMMARY = {"model": "alice/m", "description": "", "task": "image-classification", "license": "x", "tags": [],
           "retrainable": False, "latest_version": "1", "formats": ["tflite"], "updated": "2026-01-01"}

Answer = tuple[int, dict, bytes]


def answer(status: int = 200, body=None, raw: bytes | None = None, headers: dict | None = None) -> Answer:
    if raw is None:
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    return status, headers or {"Content-Type": "text/html"}, raw


class FakeHub:
    """A server whose every answer the test chooses: routes map a path to a function of the
    request returning (status, headers, body); anything else is a 404."""

    def __init__(self):
        self.routes: dict[str, Callable[[str], Answer]] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?")[0]
                route = hub.routes.get(path)
                if route is None:
                    status, headers, body = answer(404, {"detail": f"no route {path}"})
                else:
                    status, headers, body = route(self.path)
                if status == 0:   # hang up without a word
                    self.close_connection = True
                    return
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on(self, path: str, reply: Answer | Callable[[str], Answer]) -> None:
        self.routes[path] = reply if callable(reply) else (lambda _path: reply)

    def cli(self, *args, **kwargs):
        return run_cli(*args, env={"EDGEBENCH_HUB_URL": self.url, "EDGEBENCH_HUB_TOKEN": "ebh_x"},
                       timeout=120, **kwargs)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    hub = FakeHub()
    yield hub
    hub.close()


def one_line(out, *fragments: str) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr
    flat = " ".join(out.stderr.split())
    for fragment in fragments:
        assert fragment in flat, (fragment, out.stderr)
    return flat


# -- search / show / feed / whoami: every answer parsed with the server's models -------------------
@pytest.mark.parametrize("reply, fragments", [
    (answer(200, raw=b"<html>not an api</html>"), ["GET /api/models", "not JSON", "<html>"]),
    (answer(200, {"models": []}), ["GET /api/models", "does not understand", "list"]),
    (answer(200, [{"model": "alice/m"}]), ["does not understand", "0.description: Field required"]),
    (answer(200, [{**SUMMARY, "formats": "tflite"}]), ["does not understand", "0.formats"]),
    (answer(200, [{**SUMMARY, "tags": ["\x1b[31mred"]}]), ["does not understand", "0.tags.0"]),
    (answer(500, raw=b"Internal Server Error"), ["failed (500)", "Internal Server Error"]),
    (answer(503, {"detail": "\x1b[2Jdown for maintenance"}), ["failed (503)", "\\x1b[2Jdown"]),
    (answer(302, raw=b"", headers={"Location": "http://elsewhere/"}), ["redirected (302)", "http://elsewhere/"]),
    (answer(200, raw=b"[" * 100_000), ["nested too deeply"]),
    (answer(0, raw=b""), ["cannot reach the hub"]),
])
def test_search_against_a_hub_answering_wrong_things(fake, reply, fragments):
    fake.on("/api/models", reply)
    line = one_line(fake.cli("hub", "search", "x"), fake.url, *fragments)
    assert "\x1b" not in line


def test_show_with_a_card_of_the_wrong_shape(fake):
    fake.on("/api/models/alice/m", answer(200, {**SUMMARY, "card": [], "versions": []}))
    fake.on("/api/models/alice/m/results", answer(200, []))
    one_line(fake.cli("hub", "show", "alice/m"), fake.url, "GET /api/models/alice/m", "card")


def test_show_with_results_holding_infinity(fake):
    fake.on("/api/models/alice/m", answer(200, {**SUMMARY, "card": {}, "versions": [VERSION]}))
    row = {"device": "d", "fingerprint": "f", "version": "1", "target": "t", "runtime": "r", "precision": "p",
           "median_ms": 1.0, "fps": 1e400, "energy_j_per_inference": None, "energy_method": None,
           "run_id": "x", "created": "c"}
    fake.on("/api/models/alice/m/results", answer(200, raw=json.dumps([row]).encode(),
                                                  headers={"Content-Type": "application/json"}))
    one_line(fake.cli("hub", "show", "alice/m"), fake.url, "results", "0.fps")


@pytest.mark.parametrize("page, fragment", [
    ({"events": "none", "next_cursor": 0}, "events"),
    ({"events": [], "next_cursor": "abc"}, "next_cursor"),
    ({"events": [], "next_cursor": -5}, "next_cursor"),
    ({"events": [{"cursor": 1}], "next_cursor": 1}, "events.0"),
])
def test_feed_of_the_wrong_shape(fake, page, fragment):
    fake.on("/api/feed", answer(200, page))
    one_line(fake.cli("hub", "feed"), fake.url, "GET /api/feed", fragment)


# -- pull: the version's shape, where files come from, how much is sent ---------------------------
@pytest.mark.parametrize("version, fragment", [
    ({k: v for k, v in VERSION.items() if k != "artifacts"}, "artifacts: Field required"),
    ({**VERSION, "artifacts": [{**ARTIFACT, "url": "http://elsewhere.example/m.tflite"}]}, "artifacts.0.url"),
    ({**VERSION, "artifacts": [{**ARTIFACT, "sha256": "nope"}]}, "artifacts.0.sha256"),
    ({**VERSION, "artifacts": [{**ARTIFACT, "size": -1}]}, "artifacts.0.size"),
    ({**VERSION, "artifacts": [{**ARTIFACT, "filename": "../../etc/m.tflite"}]}, "invalid file name"),
])
def test_pull_refuses_versions_it_cannot_trust(fake, tmp_path, version, fragment):
    fake.on("/api/models/alice/m/versions/1", answer(200, version))
    fake.on(ARTIFACT["url"], answer(200, raw=b"TFL3"))
    one_line(fake.cli("hub", "pull", "alice/m@1", "--dest", tmp_path / "d"), fragment)
    assert not any((tmp_path / "d").glob("*.tflite")) and not (tmp_path / "etc").exists()


def test_pull_stops_a_download_longer_than_listed(fake, tmp_path):
    fake.on("/api/models/alice/m/versions/1", answer(200, VERSION))
    fake.on(ARTIFACT["url"], answer(200, raw=b"x" * 5_000_000, headers={"Content-Type": "application/octet-stream"}))
    one_line(fake.cli("hub", "pull", "alice/m@1", "--dest", tmp_path), "longer than the 4 bytes")
    assert list(tmp_path.iterdir()) == []


def test_pull_of_a_file_the_hub_cannot_serve(fake, tmp_path):
    fake.on("/api/models/alice/m/versions/1", answer(200, VERSION))
    fake.on(ARTIFACT["url"], answer(500, raw=b"boom"))
    one_line(fake.cli("hub", "pull", "alice/m@1", "--dest", tmp_path), fake.url, "failed (500)")


# -- writes: publish, subscribe, push ------------------------------------------------------------
def test_subscribe_and_whoami_answers_of_the_wrong_shape(fake):
    fake.on("/api/subscriptions", answer(201, {"model": "alice/m"}))
    one_line(fake.cli("hub", "subscribe", "alice/m"), fake.url, "POST /api/subscriptions", "webhook_url")
    fake.on("/api/whoami", answer(200, {"name": "alice"}))
    fake.on("/api/models", answer(200, []))
    one_line(fake.cli("hub", "seed", "--model", "mobilenet_v2", "--no-allow-download"), "GET /api/whoami", "user")


def test_results_push_answer_of_the_wrong_shape(fake, tmp_path):
    from edgebench.results.store import Store
    from tests.conftest import make_run

    run = make_run()
    Store(str(tmp_path / "s.db")).save(run)
    fake.on("/api/results", answer(201, {"added": "all"}))
    one_line(fake.cli("results", "push", run.run_id[:8], "--model", "alice/m@1", "--store", tmp_path / "s.db"),
             fake.url, "POST /api/results")


def test_a_refusal_keeps_the_hubs_reason(fake):
    fake.on("/api/models", answer(422, {"detail": "invalid request: offset: too large"}))
    one_line(fake.cli("hub", "search"), "hub refused (422): invalid request: offset: too large")


# -- the hub's URL itself --------------------------------------------------------------------------
@pytest.mark.parametrize("url, fragment", [
    ("http://host:abc", "is not a valid URL"),
    ("http://127.0.0.1:99999", "outside 1-65535"),
    ("http://a b/", "spaces or control characters"),
    ("http://[::1", "is not a valid URL"),
    ("ftp://host", "must start with http:// or https://"),
    ("http://host/?x=1", "not a valid hub address"),
    ("http://a..b", "cannot ask the hub"),
])
def test_garbage_hub_urls_are_one_line(url, fragment):
    out = run_cli("hub", "search", env={"EDGEBENCH_HUB_URL": url}, timeout=60)
    one_line(out, fragment)


# -- in process: the size cap on answers -----------------------------------------------------------
def test_an_answer_over_the_size_cap_is_refused(fake, monkeypatch):
    from edgebench.errors import UserError
    from edgebench.hub import client as hub_client

    monkeypatch.setattr(hub_client, "MAX_ANSWER_BYTES", 1 << 20)
    fake.on("/api/models", answer(200, raw=b"[" + b"1," * (1 << 20) + b"1]"))
    with pytest.raises(UserError, match=r"sent more than 1 MiB"):
        hub_client.HubClient(fake.url, token="").search()

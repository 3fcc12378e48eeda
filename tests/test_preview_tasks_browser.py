"""The preview draws each task's answer over the picture: a phone-sized headless Chromium whose
fake camera plays Coral's traffic frame, the AutoML vehicle detector (a frame plus two LSTM
state inputs, TFLite's detection post-processing) serving it, boxes with labels on the page; and
MoveNet's skeleton and DeepLab's class map over photos chosen in the page's photo picker.
Screenshots are saved where the test prints (and were looked at)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_preview_browser import phone_browser, screenshot, stats, text_of, wait_for, write_y4m
from tests.test_preview_server import start_preview

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ZOO = REPO.parent / "shared" / "fixtures" / "coral-zoo"


@pytest.fixture(scope="module")
def traffic_camera(tmp_path_factory) -> Path:
    if not (ZOO / "traffic_0001.bmp").is_file():
        pytest.skip("../shared/fixtures/coral-zoo is not present")
    # Stretched, not cropped: the detector sees the whole camera frame resized to its input, so
    # the frame it gets is Coral's test frame again.
    return write_y4m(ZOO / "traffic_0001.bmp", tmp_path_factory.mktemp("camera") / "traffic.y4m", crop=False)


@pytest.fixture(scope="module")
def browser(traffic_camera):
    yield from phone_browser(traffic_camera)


def _overlay_pixels(browser) -> int:
    """Painted pixels of the overlay canvas (0 when hidden or empty)."""
    return browser.execute_script("""
        const c = document.getElementById('overlay');
        if (!c || c.hidden || !c.width) return 0;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n;""")


def _preview(tmp_path, model: str, *args: str):
    return start_preview(tmp_path, "--model", str(ZOO / model), "--target", "litert-int8", "--no-qr", *args)


def test_the_detectors_boxes_are_drawn_over_the_camera(browser, tmp_path):
    preview = _preview(tmp_path, "traffic_model.tflite", "--labels", str(ZOO / "traffic_labels.txt"))
    try:
        browser.get(preview.url)
        wait_for(browser, lambda: stats(browser).get("results", 0) >= 3, what="three answers", timeout_s=60)
        wait_for(browser, lambda: "pickup_suv_van" in text_of(browser, "#top5"), what="the detector's answer")
        assert _overlay_pixels(browser) > 500, ("no boxes drawn", browser.get_log("browser"))
        screenshot(browser, tmp_path / "preview-detection.png")
    finally:
        printed = preview.stop()
    assert "Traceback" not in printed, printed


@pytest.mark.parametrize("model, photo, args, answer", [
    ("movenet_single_pose_lightning_ptq.tflite", "squat.bmp", (), "17 keypoints"),
    ("deeplabv3_mnv2_pascal_quant.tflite", "bird_segmentation.bmp",
     ("--labels", str(ZOO / "pascal_voc_segmentation_labels.txt")), "bird"),
])
def test_pose_and_class_maps_are_drawn_over_a_chosen_photo(browser, tmp_path, model, photo, args, answer):
    preview = _preview(tmp_path, model, *args)
    try:
        browser.get(preview.url)
        wait_for(browser, lambda: stats(browser).get("results", 0) >= 1, what="a camera answer", timeout_s=60)
        browser.find_element("id", "photo").send_keys(str(ZOO / photo))
        wait_for(browser, lambda: answer in text_of(browser, "#top5") and stats(browser).get("mode") == "photo",
                 what="the photo's answer", timeout_s=60)
        wait_for(browser, lambda: _overlay_pixels(browser) > 500, what="the overlay")
        screenshot(browser, tmp_path / f"preview-{Path(model).stem}.png")
    finally:
        printed = preview.stop()
    assert "Traceback" not in printed, printed

"""Reports: published reference data, charts, the HTML file rendered in headless Chromium,
and `compare` on real runs."""

import base64
import re
import shutil

import pytest

from edgebench.report.charts import energy_bars, fps_bars, report_charts
from edgebench.report.compare import compare_runs
from edgebench.report.html import build_report
from edgebench.results.reference import PUBLISHED, published
from edgebench.results.store import Store
from tests.conftest import make_run, run_cli


def test_published_reference_is_complete_and_cited():
    sterckval = published("Sterckval")
    assert len(sterckval) == 10 and len(published("coral.ai")) == 4
    by_setup = {f.setup: f for f in PUBLISHED}
    assert by_setup["i7-7700K + Coral (tflite)"].fps == 351
    assert by_setup["Rpi + Coral (tflite)"].fps == 74            # USB 2.0
    assert by_setup["Coral: desktop CPU + USB Accelerator (USB 3.0)"].ms == 2.6
    assert all(f.status == "published" and f.source for f in PUBLISHED)


def test_bars_group_by_device_and_keep_published_apart():
    local, remote = make_run(), make_run(targets=("litert-int8",))
    remote.device = remote.device.model_copy(update={"hostname": "raspberrypi",
                                                     "board": {"kind": "raspberry-pi", "model": "Raspberry Pi 4"}})
    bars = fps_bars([local, remote], published())
    sections = [b.section for b in bars]
    # Grouped by device, as the 2019 article's chart: each device's bars together, best first,
    # the device with the best bar first.
    assert all(sections.index(s) == i or sections[i - 1] == s for i, s in enumerate(sections))
    for section in dict.fromkeys(sections):
        values = [b.value for b in bars if b.section == section]
        assert values == sorted(values, reverse=True), section
    firsts = [b.value for i, b in enumerate(bars) if i == 0 or sections[i - 1] != b.section]
    assert firsts == sorted(firsts, reverse=True)
    assert "Raspberry Pi 4" in sections and "Jetson Nano [published]" in sections
    groups = {b.group for b in bars}
    assert "published" in groups and any("Raspberry Pi 4" in g for g in groups) and len(groups) == 3
    assert all("[published]" in b.label for b in bars if b.published)
    # Only published setups with a quoted power have an energy bar; no energy measured here.
    assert {b.label for b in energy_bars([local], published())} == {
        f"MobileNet v2 · {f.setup} at {f.power_w:g} W [published]" for f in PUBLISHED if f.power_w}


def test_report_is_self_contained_and_labels_published_figures():
    html = build_report([make_run()], published())
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)   # no external URLs
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 4   # fps linear, fps log, energy per inference (published powers), latency
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert html.count("(published)") == len(PUBLISHED)
    assert "Sterckval 2019" in html
    assert "timed runs / wall-clock seconds" in html                # every figure's method


def test_report_escapes_text():
    run = make_run()
    run.device = run.device.model_copy(update={"hostname": "<script>alert(1)</script>"})
    html = build_report([run], [])
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_compare_finds_slowdown_and_ignores_noise():
    import numpy as np

    rng = np.random.default_rng(1)
    base = make_run(targets=("litert-int8",))
    base.results[0].samples_ms = list(rng.normal(1.9, 0.1, 250))
    rerun = make_run(targets=("litert-int8",))
    rerun.results[0].samples_ms = list(rng.normal(1.95, 0.1, 250))   # +2.6%: real but below threshold
    slow = make_run(targets=("litert-int8",))
    slow.results[0].samples_ms = list(rng.normal(3.2, 0.15, 250))
    assert compare_runs(base, rerun).targets[0].verdict == "no significant difference"
    verdict = compare_runs(base, slow).targets[0]
    assert verdict.verdict == "slower" and verdict.p_value < 1e-10 and verdict.ratio == pytest.approx(3.2 / 1.9, rel=0.05)


@pytest.mark.slow
def test_real_run_report_renders_in_chromium(chromium, tmp_path, coral):
    store = tmp_path / "s.db"
    out = run_cli("run", "--image", str(coral / "bird.bmp"), "--targets", "litert-int8,onnxruntime-fp32,torch-fp32",
                  "--runs", "100", "--settle", "0", "--power-w", "2.5", "--store", str(store))
    assert out.returncode == 0, out.stderr
    report = tmp_path / "report.html"
    made = run_cli("report", "--reference", "--store", str(store), "--out", str(report),
                   "--format", "png", "--outdir", str(tmp_path / "charts"))
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == [
        "energy_per_inference.png", "fps_linear.png", "fps_log.png", "latency.png"]

    chromium.get(report.as_uri())
    errors = [e for e in chromium.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    loaded = chromium.execute_script(
        "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    assert loaded == [True, True, True, True]
    body = chromium.find_element("tag name", "body").text
    assert "chickadee" in body and "published" in body and "Jetson Nano" in body
    height = chromium.execute_script("return document.body.scrollHeight")
    chromium.set_window_size(1300, min(height + 100, 12000))
    shot = tmp_path / "report.png"
    chromium.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000
    shutil.copy(shot, tmp_path.parent / "last-report-screenshot.png")  # for a person to look at


@pytest.mark.slow
def test_compare_real_runs_threads_1_vs_all_cores(tmp_path):
    import os

    from tests.conftest import others_cores

    store = str(tmp_path / "s.db")
    args = ("run", "--targets", "litert-int8", "--runs", "250", "--store", store)

    def runs():
        # The first run of the session warms the model file and the runtime's caches; it is
        # left out of the comparison (on a quiet CI machine it came out 15% slower than the next).
        for extra in ((), (), (), ("--threads", "1")):
            out = run_cli(*args, *extra)
            assert out.returncode == 0, out.stderr

    busy, _ = others_cores(runs)
    if busy > 0.5 and (os.cpu_count() or 1) <= 2:
        pytest.skip(f"other processes kept {busy:.2f} of {os.cpu_count()} cores busy: identical runs on a "
                    "shared 2-core machine are not comparable within 30%")
    _, first, rerun, one_thread = [r["run_id"] for r in Store(store).list_runs()][::-1]
    # 30%: at litert-int8's ~1 ms on this VM two identical runs in a row have differed by up to
    # 20% (8% at the ~2 ms of earlier machines, benchmarks/RESULTS.md); one thread instead of two
    # is ~1.9x, far beyond it.
    same = run_cli("compare", first, rerun, "--store", store, "--fail-on-regression", "--threshold", "0.3")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no significant difference" in same.stdout
    slowed = run_cli("compare", first, one_thread, "--store", store, "--fail-on-regression", "--threshold", "0.3")
    assert slowed.returncode == 1, slowed.stdout + slowed.stderr
    assert "slower" in slowed.stdout and "regression" in slowed.stdout


def test_compare_and_report_errors(tmp_path):
    store = str(tmp_path / "s.db")
    out = run_cli("report", "--store", store, "--out", str(tmp_path / "r.html"))
    assert out.returncode == 2 and "no results store at" in out.stderr and not (tmp_path / "s.db").exists()
    Store(store).close()   # an empty store
    out = run_cli("report", "--store", store, "--out", str(tmp_path / "r.html"))
    assert out.returncode == 2 and "no complete runs" in out.stderr
    out = run_cli("compare", "nope", "nada", "--store", store)
    assert out.returncode == 2 and "not a results file, a stored run id or a device name" in out.stderr
    out = run_cli("report", "--store", store, "--format", "gif")
    assert out.returncode == 2 and "'png', 'svg'" in out.stderr


def test_charts_render_as_svg_too():
    from edgebench.report.charts import render

    charts = report_charts([make_run()], published())
    assert set(charts) == {"fps_linear", "fps_log", "energy_per_inference", "latency"}
    svg = render(charts["fps_log"], "svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg


@pytest.mark.slow
def test_sweep_sustained_and_profile_charts_render_in_chromium(chromium, tmp_path):
    """Issue 15: the sweep, throttling-curve and op-profile charts of real runs, in a real browser,
    with the memory and scenario columns; a full-page screenshot is kept for a person to look at."""
    import json

    store = str(tmp_path / "s.db")
    sweep = run_cli("run", "--targets", "onnxruntime-fp32,torch-fp32", "--threads", "1,2", "--batch", "1,4",
                    "--runs", "20", "--settle", "0", "--store", store, "--out", str(tmp_path / "sweep.json"))
    assert sweep.returncode == 0, sweep.stderr
    sustained = run_cli("run", "--targets", "litert-int8", "--duration", "10s", "--warmup", "5", "--settle", "0",
                        "--store", store, "--out", str(tmp_path / "sustained.json"))
    assert sustained.returncode == 0, sustained.stderr
    profile = run_cli("profile", "--target", "onnxruntime-fp32", "--inferences", "20", "--out", str(tmp_path / "p.json"))
    assert profile.returncode == 0, profile.stderr
    # Both runs are of one model on one device: without --run the report would show the later only.
    ids = [json.loads((tmp_path / f"{name}.json").read_text())["run_id"] for name in ("sweep", "sustained")]
    report, charts = tmp_path / "r.html", tmp_path / "charts"
    made = run_cli("report", *(a for i in ids for a in ("--run", i)), "--profile", str(tmp_path / "p.json"),
                   "--store", store, "--out", str(report), "--format", "png", "--outdir", str(charts))
    assert made.returncode == 0, made.stderr
    new = ("sweep_threads", "sweep_batch", "sustained", "profile")
    assert {f"{name}.png" for name in new} <= {p.name for p in charts.iterdir()}

    chromium.get(report.as_uri())
    errors = [e for e in chromium.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    loaded = chromium.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('figure')).map(f => "
        "[f.id, [f.querySelector('img').complete, f.querySelector('img').naturalWidth, f.querySelector('img').alt]]))")
    for name in new:
        complete, width, _alt = loaded[f"chart-{name}"]
        assert complete and width > 0, (name, loaded)
    assert "throttling curve" in loaded["chart-sustained"][2] and "threads" in loaded["chart-sweep_threads"][2]
    assert "runtime's own profiler" in loaded["chart-profile"][2]
    body = " ".join(chromium.find_element("tag name", "body").text.split())
    for text in ("model file MB", "MiB added by loading", "MiB added by running", "single-stream", "VmHWM"):
        assert text in body, text
    height = chromium.execute_script("return document.body.scrollHeight")
    chromium.set_window_size(1300, min(height + 100, 16000))
    shot = tmp_path / "report.png"
    chromium.save_screenshot(str(shot))
    assert shot.stat().st_size > 100_000
    # For a person to look at: the page, and each new chart on its own.
    shutil.copy(shot, tmp_path.parent / "last-depth-report-screenshot.png")
    shutil.copytree(charts, tmp_path.parent / "last-depth-report-charts", dirs_exist_ok=True)

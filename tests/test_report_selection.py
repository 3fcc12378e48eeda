"""Issue 10: which runs `edgebench report` shows (the latest complete run per device and model),
what its charts call them (model and hardware, never the host name), cores and threads in its
tables, and energy in mJ/inference everywhere."""

import re

from edgebench.report.charts import device_names, energy_bars, fps_bars, report_charts
from edgebench.report.html import build_report
from edgebench.results.reference import published
from edgebench.results.schema import Energy
from edgebench.results.store import Store
from tests.conftest import run_cli
from tests.test_query import run_at

SEVEN = ("litert-fp32", "litert-int8", "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32",
         "openvino-int8", "torch-fp32")
HOST = "secret-hostname-4711"


def with_energy_and_threads(run, threads=3, power_w=2.5):
    for r in run.results:
        r.options = {"threads": threads}
        seconds = 250 / r.fps
        r.energy = Energy(method=f"rated: {power_w:g} W x elapsed s (not measured)", joules=power_w * seconds,
                          seconds=seconds, inferences=250, j_per_inference=power_w * seconds / 250,
                          inferences_per_j=250 / (power_w * seconds), avg_power_w=power_w)
    return run


def chart_texts(fig) -> list[str]:
    """Title, x label, then every bar label and legend entry of a chart."""
    texts = [fig.get_suptitle(), fig.axes[0].get_xlabel()]
    for ax in fig.axes:
        texts += [t.get_text() for t in ax.get_yticklabels()] + [t.get_text() for t in ax.texts]
    for legend in fig.legends:
        texts += [t.get_text() for t in legend.get_texts()]
    return texts


def test_report_shows_the_latest_run_of_each_model_on_a_device(tmp_path):
    """Regression (issue 10): a 2-target run hid the 7-target run of another model before it."""
    store = Store(str(tmp_path / "s.db"))
    seven = run_at("2026-03-01T10:00:00+00:00", model="mobilenet_v2", targets=SEVEN, host=HOST)
    other = run_at("2026-03-01T11:00:00+00:00", model="efficientnet_lite0", targets=SEVEN[:3], host=HOST)
    two = run_at("2026-03-01T12:00:00+00:00", model="mobilenet_v2", targets=SEVEN[:2], host=HOST)
    for run in (seven, other, two):
        store.save(run)
    out = tmp_path / "report.html"
    made = run_cli("report", "--store", str(tmp_path / "s.db"), "--out", str(out))
    assert made.returncode == 0, made.stderr
    said = " ".join(made.stdout.split())
    assert "2 run(s)" in said and "left out 1 older run(s) of the same device and model" in said
    assert len(made.stdout.strip().splitlines()) == 1   # a path is never wrapped
    html = out.read_text()
    headings = re.findall(r"<h3>(.*?)</h3>", html)
    # Both models on the device appear; the later mobilenet_v2 run replaced the earlier one only.
    assert [h.split(" — run ")[1][:12] for h in headings] == [other.run_id[:12], two.run_id[:12]]
    assert "efficientnet_lite0 on " in headings[0] and "mobilenet_v2 on " in headings[1]
    left_out = re.search(r'<p class="meta" id="left-out">(.*?)</p>', html, re.S).group(1)
    assert seven.run_id[:12] in left_out and "7 targets" in left_out
    assert HOST not in " ".join(headings)
    # --run still shows exactly what is named, older runs included.
    named = run_cli("report", "--store", str(tmp_path / "s.db"), "--out", str(out), "--run", seven.run_id[:8])
    assert named.returncode == 0 and "1 run(s)" in named.stdout and "left out" not in named.stdout
    assert seven.run_id[:12] in out.read_text()


def test_chart_labels_name_model_and_hardware_never_the_host():
    here = with_energy_and_threads(run_at("2026-03-01T10:00:00+00:00", model="mobilenet_v2", host=HOST))
    pi = run_at("2026-03-01T11:00:00+00:00", model="efficientnet_lite0", targets=("litert-int8",), host="pi")
    pi.device = pi.device.model_copy(update={"board": {"kind": "raspberry-pi", "model": "Raspberry Pi 4 Model B"},
                                             "cpu_model": "Cortex-A72"})
    gpu = run_at("2026-03-01T12:00:00+00:00", targets=("torch-fp16",), host="gpu-box")
    gpu.results[0].device = "cuda"
    gpu.device = gpu.device.model_copy(update={"gpus": [{"vendor": "nvidia", "name": "NVIDIA H100 80GB HBM3"}],
                                               "cpu_model": "Intel(R) Xeon(R) Platinum 8480+"})
    runs = [here, pi, gpu]
    labels = {b.label for b in fps_bars(runs, [])}
    cpu = re.sub(r"\((R|TM)\)", "", here.device.cpu_model).split()
    assert any(label.startswith("mobilenet_v2 · litert-int8 · ") and label.split(" · ")[2].split() == cpu
               for label in labels), labels
    assert "efficientnet_lite0 · litert-int8 · Raspberry Pi 4 Model B" in labels
    assert "mobilenet_v2 · torch-fp16 · Intel Xeon Platinum 8480+ + NVIDIA H100 80GB HBM3" in labels
    charts = report_charts(runs, published())
    assert set(charts) == {"fps_linear", "fps_log", "energy_per_inference", "latency"}
    for name, fig in charts.items():
        texts = chart_texts(fig)
        assert not any(host in t for t in texts for host in (HOST, "gpu-box")), (name, texts)
        assert "mobilenet_v2" in texts[0], (name, texts[0])            # the model is in every title
        assert any("mobilenet_v2 · " in t for t in texts[2:]), name     # and in the bar labels
    assert "efficientnet_lite0" in charts["fps_linear"].get_suptitle()
    assert "mJ/inference" in charts["energy_per_inference"].axes[0].get_xlabel()


def test_same_hardware_on_two_machines_is_told_apart():
    """By the name the results carry (a fleet worker's --name, recorded as the device's host
    name), not by a fingerprint nobody knows: it showed `[10c164]`."""
    a = run_at("2026-03-01T10:00:00+00:00", host="lab-1")
    b = run_at("2026-03-01T11:00:00+00:00", host="lab-2")
    names = device_names([a, b])
    cpu = " ".join(re.sub(r"\((R|TM|tm|r)\)", "", a.device.cpu_model).split())
    assert sorted(names.values()) == [f"lab-1 ({cpu})", f"lab-2 ({cpu})"]
    # The same name and hardware on two machines (memory added, say): the fingerprint tells them apart.
    c = run_at("2026-03-01T12:00:00+00:00", host="lab-1")
    c.device = c.device.model_copy(update={"memory_gb": (c.device.memory_gb or 1) * 2})
    names = device_names([a, c])
    assert sorted(names.values()) == sorted(f"lab-1 ({cpu}) [{fp[:6]}]" for fp in names)


def test_energy_is_mj_per_inference_in_charts_and_tables():
    run = with_energy_and_threads(run_at("2026-03-01T10:00:00+00:00"), threads=3, power_w=2.5)
    bars = energy_bars([run], published())
    measured = [b for b in bars if not b.published]
    assert measured[0].value == run.results[0].energy.j_per_inference * 1e3    # mJ
    for section in {b.section for b in bars}:                                     # most efficient first
        values = [b.value for b in bars if b.section == section]                   # on each device
        assert values == sorted(values), section
    quoted = {f"MobileNet v2 · {f.setup} at {f.power_w:g} W [published]": f.power_w / f.fps * 1e3
              for f in published() if f.power_w}
    assert {b.label: b.value for b in bars if b.published} == quoted      # watts / fps, in mJ
    html = build_report([run], published())
    assert "<th>energy mJ/inference</th>" in html and "mJ/inf<" not in html
    assert "per joule" not in html and "per watt" not in html
    row = re.search(r"<tr>\s*<td>litert-int8</td>.*?</tr>", html, re.S).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    d = run.device
    assert cells[3] == "3" and cells[4] == f"{d.cores_physical} / {d.cores_logical}"
    assert f"{run.results[0].energy.j_per_inference * 1e3:.2f}" in cells
    assert "<th>threads</th><th>cores (phys / log)</th>" in html


def test_unknown_threads_and_failed_targets_keep_the_table_aligned():
    run = run_at("2026-03-01T10:00:00+00:00")
    run.results[1].status, run.results[1].error = "failed", "boom [keras] <b>"
    html = build_report([run], [])
    table = re.search(r"<table>.*?</table>", html, re.S).group(0)
    header = len(re.findall(r"<th>", table))
    for row in re.findall(r"<tr>\s*<td>.*?</tr>", table, re.S):
        spans = [int(n) for n in re.findall(r'colspan="(\d+)"', row)]
        assert len(re.findall(r"<td", row)) - len(spans) + sum(spans) == header
    assert "boom [keras] &lt;b&gt;" in html


def test_a_run_keeps_its_colour_in_every_chart():
    """Colours were given out per chart, so a run's colour changed between fps and energy."""
    from matplotlib.colors import to_hex

    plain = run_at("2026-03-01T10:00:00+00:00", model="mobilenet_v2", host="a")   # no energy
    measured = with_energy_and_threads(run_at("2026-03-01T11:00:00+00:00", model="efficientnet_lite0", host="a"))
    charts = report_charts([plain, measured], [])
    colours = {}
    for name in ("fps_linear", "energy_per_inference"):
        ax = charts[name].axes[0]
        labels = [t.get_text() for t in ax.get_yticklabels()]   # top to bottom, as the bars are drawn
        for label, patch in zip(labels, ax.patches):
            colours.setdefault(label.split(" (rated")[0], set()).add(to_hex(patch.get_facecolor()))
    assert all(len(c) == 1 for c in colours.values()), colours


def test_memory_and_scenario_are_in_the_report_table():
    """Issue 15: model file size, peak memory added by loading / by running (with the method) and
    the scenario that produced each result are in the per-target table, as in the run screen."""
    from html import unescape

    from edgebench.results.schema import MemoryUse

    run = run_at("2026-03-01T10:00:00+00:00", targets=("litert-int8", "onnxruntime-fp32", "torch-fp32"))
    missing = run.results[2]   # a sweep point that did not run: it has no options, only its sweep
    missing.status, missing.error, missing.sweep, missing.options = "unavailable", "no", {"threads": 2, "batch": 4}, {}
    method = "peak resident set (Linux VmHWM, reset before each phase) minus the resident set before it"
    run.results[0].memory = MemoryUse(model_file_mb=3.62, load_peak_added_mb=11.25, run_peak_added_mb=0.5,
                                      process_rss_mb=400.0, method=method)
    run.results[1].memory = MemoryUse(model_file_mb=13.3, load_peak_added_mb=41.0, run_peak_added_mb=7.75,
                                      process_rss_mb=450.0, runtime_arena_mb=12.5, method=method)
    run.results[1].scenario, run.results[1].streams, run.results[1].offline_mode = "offline", 2, "runtime"
    run.results[1].batch, run.results[1].images_per_s = 4, 1234.5
    html = build_report([run], [])
    table = re.search(r"<table>.*?</table>", html, re.S).group(0)
    headers = [unescape(h) for h in re.findall(r"<th>(.*?)</th>", table)]
    for name in ("scenario", "batch", "images/s", "model file MB", "MiB added by loading",
                 "MiB added by running", "arena MiB"):
        assert name in headers, name

    def cells(target):
        row = re.search(rf"<tr>\s*<td>{target}</td>.*?</tr>", table, re.S).group(0)
        return dict(zip(headers, (unescape(re.sub(r"<[^>]+>", "", c)).strip()
                                  for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))))

    lite, ort = cells("litert-int8"), cells("onnxruntime-fp32")
    assert (lite["scenario"], lite["batch"], lite["model file MB"]) == ("single-stream", "1", "3.6")
    assert (lite["MiB added by loading"], lite["MiB added by running"]) == ("11.2", "0.5")
    assert lite["arena MiB"] == "–" and lite["images/s"] == "–"
    assert (ort["scenario"], ort["batch"], ort["images/s"]) == ("offline, 2 requests", "4", "1,234.5")
    assert (ort["MiB added by loading"], ort["arena MiB"]) == ("41.0", "12.5")
    row = re.search(r"<tr>\s*<td>torch-fp32</td>.*?</tr>", table, re.S).group(0)
    assert [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)][3:7] == [
        "2", f"{run.device.cores_physical} / {run.device.cores_logical}", "single-stream", "4"]
    text = unescape(" ".join(html.split()))
    assert f"the peak resident memory each phase added to the process, measured as {method}" in text
    assert "single-stream (MLPerf's name" in text and "offline (MLPerf's name" in text


def test_throughput_bars_are_images_per_second_and_name_an_offline_scenario():
    """A batch of 8 at 40 inferences/s is 320 images/s, not a bar 8 times shorter than batch 1;
    an offline figure (several inferences in flight) says so in its label."""
    run = run_at("2026-03-01T10:00:00+00:00", targets=("litert-int8", "onnxruntime-fp32", "openvino-int8"))
    single, batched, offline = run.results
    single.fps = 100.0
    batched.fps, batched.batch, batched.images_per_s, batched.sweep = 40.0, 8, 320.0, {"batch": 8}
    offline.fps, offline.images_per_s = 700.0, 700.0
    offline.scenario, offline.streams, offline.offline_mode = "offline", 2, "runtime"
    bars = {b.label.split(" · ")[1]: b.value for b in fps_bars([run], [])}
    assert bars == {"litert-int8": 100.0, "onnxruntime-fp32 b=8": 320.0,
                    "openvino-int8 (offline, 2 requests)": 700.0}
    batched.images_per_s = None   # a result stored before images/s was: batch x fps
    assert {b.value for b in fps_bars([run], [])} == {100.0, 320.0, 700.0}
    batched.sweep = {}   # `--batch 8` alone is no sweep, and its bar still says it is batched
    assert "onnxruntime-fp32 b=8" in {b.label.split(" · ")[1] for b in fps_bars([run], [])}
    fig = report_charts([run], [])["fps_linear"]
    assert "images per second" in fig.axes[0].get_xlabel()


def test_a_run_timed_two_ways_names_each_method_with_its_targets():
    from html import unescape

    run = run_at("2026-03-01T10:00:00+00:00", targets=("litert-int8", "openvino-int8"))
    run.results[1].latency_method = "from handing the inference to a free request to its completion"
    text = unescape(" ".join(build_report([run], []).split()))
    assert (f"Latency: litert-int8: {run.results[0].latency_method}; "
            f"openvino-int8: from handing the inference to a free request to its completion.") in text
    assert f"fps: {run.results[0].fps_method}." in text   # one method: said once, without targets
    # a target that did not run was timed no way: it is not named beside a method
    run.results[1].status, run.results[1].latency_ms, run.results[1].fps = "unavailable", None, None
    text = unescape(" ".join(build_report([run], []).split()))
    assert f"Latency: {run.results[0].latency_method}." in text and "openvino-int8: from handing" not in text

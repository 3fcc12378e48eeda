"""Measurement depth (issue 15): memory per target, sustained runs with a throttling verdict."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from edgebench.bench.memory import PeakMemory
from edgebench.bench.sustained import summarize
from tests.conftest import cpu_seconds, run_cli


def test_peak_memory_sees_a_transient_allocation():
    memory = PeakMemory()
    before = memory.reset()
    block = bytearray(64 * 1024 * 1024)   # touched: resident
    del block
    peak = memory.peak_bytes()
    if memory.exact:
        assert peak - before >= 60 * 1024 * 1024   # the peak outlives the allocation
        assert "VmHWM" in memory.method
    else:
        assert "psutil" in memory.method


def _windows(fps: list[float], mhz: list[float | None]):
    t, out = 0.0, []
    for f, m in zip(fps, mhz):
        t += 1.0
        out.append({"t_s": t, "inferences": int(f), "cpu_mhz": m, "temperatures_c": {"cpu": 50.0}})
    return out


def test_a_clock_drop_is_throttling_and_the_curve_is_kept():
    s = summarize(_windows([100] * 60 + [60] * 60, [1800] * 60 + [1200] * 60), 1.0)
    assert len(s.windows) == 120 and s.windows[0].fps == pytest.approx(100)
    assert s.first_minute_fps == pytest.approx(100) and s.last_minute_fps == pytest.approx(60)
    assert s.last_vs_first == pytest.approx(0.6)
    assert s.throttled and "1800 -> 1200 MHz" in s.evidence


def test_pi_firmware_flags_decide_and_no_clock_says_so():
    pi = {"kind": "raspberry-pi", "throttled": {"raw": "0x50005", "flags": ["under-voltage", "throttled"]}}
    assert summarize(_windows([10] * 5, [None] * 5), 1.0, pi).throttled
    quiet = summarize(_windows([10] * 5, [None] * 5), 1.0)
    assert not quiet.throttled and "only the fps curve" in quiet.evidence
    steady = summarize(_windows([10] * 5, [1500] * 5), 1.0)
    assert not steady.throttled and "+0% drop" in steady.evidence


def test_an_n_second_run_has_n_one_second_windows():
    """Window boundaries sit on the loop's 1 s grid; before, each window was re-armed from the
    inference that crossed the last one, and a 3 s run had 2 windows."""
    import numpy as np

    from edgebench.bench.runner import measure
    from edgebench.protocol import sustained
    from edgebench.runtimes.null import NullSession

    session = NullSession()
    x = np.zeros(session.input_spec.shape, np.float32)
    m = measure(session, x, dataclasses.replace(sustained(3.0), settle_s=0.0), sampler=lambda: {"cpu_mhz": None})
    ends = [w["t_s"] for w in m.windows]
    assert len(ends) == 3, ends
    # each window closes at the first inference past its grid point, before the next one (a stall
    # of the 2-core CI machine can delay that inference by more than half a second)
    assert all(k + 1 <= t < k + 2 for k, t in enumerate(ends)), ends
    assert sum(w["inferences"] for w in m.windows) == m.runs


class _QueueSession:
    """A runtime's request queue in miniature: `in_flight` worker threads, start() blocks while
    all are busy, each inference takes `ms`, the callback runs on the worker."""

    def __init__(self, in_flight: int, ms: float):
        import threading

        from edgebench.runtimes.null import NullSession

        self._null, self.in_flight, self._ms = NullSession(), in_flight, ms
        self.input_spec, self.output_spec, self.settings = self._null.input_spec, self._null.output_spec, {}
        self._free = threading.Semaphore(in_flight)
        self._threads: list = []
        self.busy, self.most_busy, self._lock = 0, 0, threading.Lock()

    def set_callback(self, done) -> None:
        self._done = done

    def start(self, x, userdata) -> None:
        import threading
        import time

        self._free.acquire()

        def infer():
            with self._lock:
                self.busy += 1
                self.most_busy = max(self.most_busy, self.busy)
            time.sleep(self._ms / 1e3)
            with self._lock:
                self.busy -= 1
            self._done(userdata)
            self._free.release()
        thread = threading.Thread(target=infer)
        self._threads.append(thread)
        thread.start()

    def wait_all(self) -> None:
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def set_input(self, x): self._null.set_input(x)
    def invoke(self): self._null.invoke()
    def output(self): return self._null.output()
    def close(self): pass
    def arena_bytes(self): return None


def test_the_runtimes_own_queue_keeps_its_requests_busy_and_every_inference_is_timed():
    import numpy as np

    from edgebench.bench.runner import OFFLINE_MIN_S, measure_async
    from edgebench.protocol import Protocol
    from edgebench.runtimes.base import AsyncSession

    session = _QueueSession(in_flight=3, ms=5.0)
    assert isinstance(session, AsyncSession)
    m = measure_async(session, np.zeros(session.input_spec.shape, np.float32),
                      Protocol("t", warmup=1, settle_s=0.0, runs=30))
    assert session.most_busy == 3 and session.busy == 0      # all requests in flight, all drained
    assert m.runs == len(m.samples_ns) and m.total_elapsed_s >= OFFLINE_MIN_S
    assert np.all(m.samples_ms >= 5.0) and np.median(m.samples_ms) < 50
    assert m.fps == pytest.approx(3 / 5e-3, rel=0.5)          # three at once, 5 ms each
    assert m.offline_mode == "runtime" and "3 requests in flight" in m.fps_method


def test_a_plain_session_is_not_an_async_one():
    from edgebench.runtimes.base import AsyncSession
    from edgebench.runtimes.null import NullSession

    assert not isinstance(NullSession(), AsyncSession)


@pytest.mark.parametrize("value, fragment", [("0s", "from 1 s to 24 h"), ("25h", "from 1 s to 24 h"),
                                             ("fast", "such as 90s"), ("nan", "from 1 s to 24 h"),
                                             ("inf", "from 1 s to 24 h")])
def test_bad_durations_are_one_line(value, fragment):
    out = run_cli("run", "--duration", value, "--no-save")
    assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_memory_and_a_sustained_run_through_the_cli(tmp_path):
    out_path = tmp_path / "r.json"
    out = run_cli("run", "--targets", "litert-int8", "--duration", "6s", "--settle", "0", "--no-save",
                  "--out", str(out_path))
    assert out.returncode == 0, out.stderr
    (r,) = json.loads(out_path.read_text())["results"]
    assert r["protocol"]["name"] == "sustained" and r["elapsed_s"] >= 6
    s = r["sustained"]
    assert len(s["windows"]) == 6 and all(w["fps"] > 0 for w in s["windows"])
    assert s["throttled"] in (True, False) and s["evidence"]
    m = r["memory"]
    assert 0 < m["model_file_mb"] < 50
    assert 0 < m["load_peak_added_mb"] < m["process_rss_mb"]
    assert 0 <= m["run_peak_added_mb"] < m["process_rss_mb"]
    assert "sustained litert-int8" in out.stdout and "MB load/run" in out.stdout


def test_sweep_values_are_checked():
    for args, fragment in ((["--threads", "1,x"], "whole number or a list"),
                           (["--threads", "1,300"], "threads must be an integer from 1 to 256"),
                           (["--batch", ","], "whole number or a list"),
                           (["--batch", "1,99999"], "batch must be an integer from 1 to 4096"),
                           (["--threads", ",".join(str(i) for i in range(1, 20))], "up to 16 values")):
        out = run_cli("run", *args, "--no-save")
        assert out.returncode == 2 and fragment in " ".join(out.stderr.split()), (args, out.stderr)


@pytest.mark.slow
def test_thread_and_batch_sweeps_through_the_cli(tmp_path):
    out_path = tmp_path / "r.json"
    out = run_cli("run", "--targets", "onnxruntime-fp32,torch-fp32", "--threads", "1,2", "--runs", "60",
                  "--settle", "0", "--no-save", "--out", str(out_path), env={"COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    results = json.loads(out_path.read_text())["results"]
    points = {(r["target"], r["sweep"]["threads"]): r for r in results}
    assert set(points) == {(t, n) for t in ("onnxruntime-fp32", "torch-fp32") for n in (1, 2)}
    assert all(r["options"]["threads"] == r["sweep"]["threads"] for r in results)
    # That 1 thread is slower than 2: test_a_thread_sweep_shows_one_thread_slower_than_two.
    assert "sweep over threads: median ms" in out.stdout
    batch = run_cli("run", "--targets", "onnxruntime-fp32,openvino-fp32,litert-int8", "--batch", "1,4",
                    "--runs", "10", "--settle", "0", "--no-save", "--out", str(out_path))
    assert batch.returncode == 0, batch.stderr
    by = {(r["target"], r["sweep"]["batch"]): r for r in json.loads(out_path.read_text())["results"]}
    for target in ("onnxruntime-fp32", "openvino-fp32"):   # the zoo's ONNX file has a dynamic batch
        assert by[(target, 4)]["status"] == "ok" and by[(target, 4)]["batch"] == 4
        assert by[(target, 4)]["input"]["shape"] == [4, 3, 224, 224]
        assert by[(target, 4)]["top1"]["label"] == by[(target, 1)]["top1"]["label"]
    assert by[("litert-int8", 4)]["status"] == "unavailable"
    assert "sweep over batch: images/s" in batch.stdout


@pytest.mark.slow
def test_a_thread_sweep_shows_one_thread_slower_than_two(tmp_path):
    """Must-show of issue 15: a sweep whose 1-thread latency exceeds its 2-thread latency.

    onnxruntime-fp32 (the most intra-op parallelism) in three sweep rounds, so 1 and 2 threads
    alternate and a change in the machine's load hits both; the figure compared is the minimum
    latency over 200 runs per point (the cost of an inference when nothing interrupts it). A second
    thread can only help when a second core is free: the CPU time other processes used during each
    round is measured (/proc/stat busy time minus this sweep's own), and only rounds where they left
    more than 1.5 cores count. Without such a round the test says so and skips - it never passes
    without comparing."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU core: a second thread has nowhere to run")
    if not os.path.exists("/proc/stat"):
        pytest.skip("no /proc/stat: the other processes' load cannot be measured")
    out_path = tmp_path / "r.json"
    rounds = []
    for _ in range(3):
        wall0, busy0, ours0 = cpu_seconds()
        out = run_cli("run", "--targets", "onnxruntime-fp32", "--threads", "1,2", "--runs", "200", "--warmup", "10",
                      "--settle", "0", "--no-save", "--out", str(out_path), env={"COLUMNS": "200"})
        wall1, busy1, ours1 = cpu_seconds()
        assert out.returncode == 0, out.stderr
        assert "sweep over threads: median ms" in out.stdout
        by = {r["sweep"]["threads"]: r for r in json.loads(out_path.read_text())["results"]}
        assert by[1]["options"]["threads"] == 1 and by[2]["options"]["threads"] == 2
        others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (wall1 - wall0)   # cores other processes used
        rounds.append({"others_cores": round(others, 2), **{
            f"t{n}_{k}_ms": round(by[n]["latency_ms"][k], 3) for n in (1, 2) for k in ("min", "median")}})
    free = [r for r in rounds if (os.cpu_count() or 1) - r["others_cores"] > 1.5]
    if not free:
        pytest.skip(f"no round had a second core free (other processes used {[r['others_cores'] for r in rounds]} "
                    f"of {os.cpu_count()} cores): 1 vs 2 threads is not comparable here; rounds: {rounds}")
    one, two = min(r["t1_min_ms"] for r in free), min(r["t2_min_ms"] for r in free)
    assert one > two, (one, two, rounds)


@pytest.mark.slow
def test_a_60_second_sustained_run_has_a_point_per_second(tmp_path):
    """Must-show of issue 15: a 60 s sustained run whose per-second series has ~60 points, and
    the result says whether the device throttled."""
    out_path = tmp_path / "r.json"
    out = run_cli("run", "--targets", "litert-int8", "--duration", "60s", "--warmup", "5", "--settle", "0",
                  "--no-save", "--out", str(out_path), env={"COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    (r,) = json.loads(out_path.read_text())["results"]
    assert r["status"] == "ok" and r["protocol"]["name"] == "sustained" and r["protocol"]["window_s"] == 1
    # A window closes with the first inference that ends after its one-second boundary, so how far
    # a window strays from 1 s is bounded by what this machine gave: its slowest inference (on a
    # busy machine one can take over a second and step over a boundary, leaving one window fewer).
    slowest_s = max(r["samples_ms"]) / 1000 + 0.05   # plus the loop's own bookkeeping
    stepped_over = sum(int(ms // 1000) for ms in r["samples_ms"])
    assert 60 <= r["elapsed_s"] < 61 + slowest_s
    s = r["sustained"]
    windows = s["windows"]
    assert 60 - stepped_over <= len(windows) <= 60, (len(windows), stepped_over)
    ends = [w["t_s"] for w in windows]
    assert ends == sorted(ends) and ends[-1] <= r["elapsed_s"]
    gaps = [b - a for a, b in zip([0.0, *ends], ends)]
    assert all(1 - slowest_s <= gap <= 1 + (1 + stepped_over) * slowest_s for gap in gaps), (gaps, slowest_s)
    assert all(w["fps"] > 0 and w["inferences"] > 0 for w in windows)
    assert sum(w["inferences"] for w in windows) <= len(r["samples_ms"])
    assert isinstance(s["throttled"], bool) and s["evidence"]
    assert s["first_minute_fps"] > 0 and s["last_minute_fps"] > 0
    assert s["last_vs_first"] == pytest.approx(s["last_minute_fps"] / s["first_minute_fps"], rel=1e-3)
    verdict = "throttled" if s["throttled"] else "no throttling seen"
    said = " ".join(out.stdout.split())
    assert f"sustained litert-int8: {len(windows)} windows of 1 s" in said and verdict in said


@pytest.mark.slow
def test_profile_onnxruntime_top_ops_are_convolutions(tmp_path):
    out = run_cli("profile", "--target", "onnxruntime-fp32", "--top", "5", "--inferences", "10",
                  "--out", str(tmp_path / "p.json"))
    assert out.returncode == 0, out.stderr
    profile = json.loads((tmp_path / "p.json").read_text())
    # Convolutions are ~90% of MobileNetV2's op time; under load one of the classifier's
    # Gemm or a pooling node can slip into the top five, so the rule is: Conv first and most.
    top = [op["op_type"] for op in profile["ops"][:5]]
    assert top[0] == "Conv" and top.count("Conv") >= 4, top
    assert profile["by_type"]["Conv"] > 0.8 and abs(sum(o["share"] for o in profile["ops"]) - 1) < 1e-6
    assert "ONNX Runtime session profiling" in profile["method"]
    assert "by op type: Conv" in out.stdout


@pytest.mark.slow
def test_profile_torch_names_the_frozen_graphs_unrecorded_convolutions(tmp_path):
    """Frozen TorchScript runs its MKLDNN convolutions without profiler events of their own:
    their time is the graph's 'forward' self time, which must name them rather than read as one
    opaque op. The profiler's own C++ start/stop lines must not reach the screen."""
    out = run_cli("profile", "--target", "torch-fp32", "--top", "5", "--inferences", "5",
                  "--out", str(tmp_path / "p.json"))
    assert out.returncode == 0, out.stderr
    assert "USDT:" not in out.stderr + out.stdout
    top = json.loads((tmp_path / "p.json").read_text())["ops"][0]
    assert top["op_type"] == "TorchScript graph" and "prim::mkldnn_convolution (52 nodes)" in top["node"], top


@pytest.mark.slow
def test_profile_openvino_and_a_runtime_without_a_profiler(tmp_path):
    out = run_cli("profile", "--target", "openvino-fp32", "--top", "3", "--inferences", "5")
    assert out.returncode == 0, out.stderr
    assert "OpenVINO performance counters" in " ".join(out.stdout.split())
    lite = run_cli("profile", "--target", "litert-int8")
    assert lite.returncode == 2 and "exposes no per-op profiler" in lite.stderr
    none = run_cli("profile", "--target", "warp-drive")
    assert none.returncode == 2 and "unknown target 'warp-drive'" in none.stderr


def test_offline_options_are_checked():
    for args, fragment in ((["--scenario", "server"], "--loadgen: the server scenario is run by LoadGen only"),
                           (["--scenario", "multi-stream"], "--loadgen: the multi-stream scenario is run by LoadGen"),
                           (["--scenario", "servers"], "'servers' is not one of"),
                           (["--streams", "0"], "'--streams'"),
                           (["--scenario", "offline", "--duration", "5s"], "--duration: a sustained run times the single-stream loop; it cannot run offline")):
        out = run_cli("run", *args, "--no-save")
        assert out.returncode == 2 and fragment in " ".join(out.stderr.split()), (args, out.stderr)


@pytest.mark.slow
def test_offline_scenario_runs_openvinos_throughput_mode_and_parallel_sessions_for_the_rest(tmp_path):
    out_path = tmp_path / "r.json"
    out = run_cli("run", "--targets", "onnxruntime-int8,litert-int8,openvino-int8", "--scenario", "offline",
                  "--streams", "2", "--runs", "40", "--settle", "0", "--no-save", "--out", str(out_path),
                  env={"COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    results = {r["target"]: r for r in json.loads(out_path.read_text())["results"]}
    for r in results.values():
        assert r["scenario"] == "offline" and r["streams"] == 2
        assert r["elapsed_s"] >= 2.0 and len(r["samples_ms"]) >= 40 and r["images_per_s"] > 0
        assert len(r["samples_ms"]) == round(r["fps"] * r["elapsed_s"])   # a latency per inference
        assert r["top1"]["label"] == "espresso"
    for target in ("onnxruntime-int8", "litert-int8"):
        r = results[target]
        assert r["offline_mode"] == "sessions" and r["options"]["threads"] == 1
        assert "2 parallel sessions" in r["latency_method"]
    ov = results["openvino-int8"]
    assert ov["offline_mode"] == "runtime" and "own throughput mode" in ov["fps_method"]
    assert (ov["options"]["performance_hint"], ov["options"]["num_streams"], ov["options"]["infer_requests"]) \
        == ("THROUGHPUT", 2, 2)
    screen = " ".join(out.stdout.split())
    assert "in flight" in screen and "2 requests" in screen and "2 sessions" in screen
    assert "most images/s first" in screen
    # Without --streams OpenVINO keeps its own optimal number of requests in flight.
    own = run_cli("run", "--targets", "openvino-fp32", "--scenario", "offline", "--runs", "20", "--settle", "0",
                  "--no-save", "--out", str(out_path))
    assert own.returncode == 0, own.stderr
    r = json.loads(out_path.read_text())["results"][0]
    assert r["offline_mode"] == "runtime" and r["streams"] == r["options"]["infer_requests"] >= 1


def _sweep_run():
    from tests.conftest import make_run

    run = make_run(targets=("litert-int8", "litert-int8"))
    run.results[0].sweep, run.results[1].sweep = {"threads": 1}, {"threads": 2}
    run.results[0].options, run.results[1].options = {"threads": 1}, {"threads": 2}
    return run


def test_a_sweep_keeps_every_point_of_one_target_through_the_store(tmp_path):
    from edgebench.results.store import Store

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    run = _sweep_run()
    stored = run.model_copy(deep=True)
    stored.results = []
    store.begin_run(stored)
    for position, r in enumerate(run.results):
        store.add_target(run.run_id, position, r)
        stored.results.append(r)
    store.finish_run(stored)
    back = store.get(run.run_id)
    assert [r.sweep for r in back.results] == [{"threads": 1}, {"threads": 2}]
    assert [r.latency_ms.median for r in back.results] == [1.1, 2.1]


def test_report_draws_sweep_and_sustained_charts():
    from edgebench.report.charts import report_charts
    from edgebench.report.depth import profile_chart
    from edgebench.results.schema import OpProfile, OpShare

    run = _sweep_run()
    run.results[0].sustained = summarize(_windows([10, 11, 9, 10], [1500, 1500, 1400, 1500]), 1.0)
    charts = report_charts([run], [])
    assert {"sweep_threads", "sustained"} <= set(charts)
    ops = [OpShare(node=f"conv{i}", op_type="Conv", total_ms=10 - i, calls=5, ms_per_inference=(10 - i) / 5,
                   share=(10 - i) / 55) for i in range(10)]
    fig = profile_chart(OpProfile(model="m", target="onnxruntime-fp32", runtime_version="1", method="x; y",
                                  inferences=5, total_ms=55, device={}, ops=ops, by_type={"Conv": 1.0}))
    assert len(fig.axes[0].patches) == 10


def test_sweep_figures_of_close_points_do_not_overlap():
    """Lines 2-3% apart, with enough of them that the legend takes a large share of the figure:
    drawn, no two figures at one x overlap, and the first x's figures sit left of the points
    (off the lines that leave them)."""
    from edgebench.report.depth import sweep_chart
    from tests.conftest import make_run

    targets = ("litert-int8", "litert-fp32", "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32", "torch-fp32")
    run = make_run(targets=tuple(t for t in targets for _ in (1, 2)))
    for i, r in enumerate(run.results):
        threads = 1 + i % 2
        r.sweep, r.options = {"threads": threads}, {"threads": threads}
        r.latency_ms = r.latency_ms.model_copy(update={"median": (6.0 if threads == 1 else 3.2) * (1 + 0.02 * (i // 2))})
    fig = sweep_chart([run], "threads")
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for x in (1, 2):
        marks = [a for a in ax.texts if a.xy[0] == x]
        assert len(marks) == len(targets)
        boxes = sorted((a.get_window_extent(renderer) for a in marks), key=lambda b: b.y0)
        assert all(low.y1 <= high.y0 + 0.5 for low, high in zip(boxes, boxes[1:])), (x, boxes)
        assert {a.get_horizontalalignment() for a in marks} == {"right" if x == 1 else "left"}


def test_a_gpu_clock_drop_is_throttling():
    windows = _windows([100] * 10, [None] * 10)
    for n, w in enumerate(windows):
        w["gpu"] = {"clock_mhz": 1980.0 if n < 5 else 1400.0, "temperature_c": 80.0}
    s = summarize(windows, 1.0)
    assert s.throttled and "GPU clock 1980 -> 1400 MHz" in s.evidence


def test_report_embeds_a_profile_and_says_when_no_float_reference_ran(tmp_path):
    from edgebench.results.schema import OpProfile, OpShare
    from edgebench.results.store import Store
    from tests.conftest import make_run

    store = f"sqlite:///{tmp_path / 's.db'}"
    run = make_run(targets=("litert-int8",))
    run.results[0].agrees_with_reference = None
    Store(store).save(run)
    ops = [OpShare(node="conv0", op_type="Conv", total_ms=5.0, calls=5, ms_per_inference=1.0, share=1.0)]
    (tmp_path / "p.json").write_text(OpProfile(model="m", target="onnxruntime-fp32", runtime_version="1",
                                               method="x", inferences=5, total_ms=5, device={}, ops=ops,
                                               by_type={"Conv": 1.0}).model_dump_json())
    out = run_cli("report", "--store", store, "--profile", str(tmp_path / "p.json"),
                  "--out", str(tmp_path / "r.html"))
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "r.html").read_text()
    assert 'id="chart-profile"' in html and "no float reference" in html and "No float version" in html
    (tmp_path / "bad.json").write_text('{"model": "m"}')
    bad = run_cli("report", "--store", store, "--profile", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x.html"))
    assert bad.returncode == 2 and "is not an edgebench profile" in bad.stderr
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize("batch_dim, status", [("N", "ok"), (1, "unavailable")])
def test_onnx_runtime_batches_a_file_whose_batch_is_dynamic_and_says_why_not_otherwise(tmp_path, batch_dim, status):
    from tests.test_bad_inputs import _onnx_model

    model, out_path = tmp_path / "m.onnx", tmp_path / "r.json"
    _onnx_model(model, [batch_dim, 3, 16, 16], [batch_dim, 3], op="pool")
    out = run_cli("run", "--model", str(model), "--targets", "onnxruntime-fp32", "--batch", "4", "--runs", "3",
                  "--settle", "0", "--no-save", "--out", str(out_path))
    if status == "ok":
        result = json.loads(out_path.read_text())["results"][0]
        assert out.returncode == 0 and result["status"] == "ok", out.stderr
        assert result["batch"] == 4 and result["input"]["shape"] == [4, 3, 16, 16]
    else:   # the only target could not run: one line, nothing written
        assert out.returncode == 2 and not out_path.exists()
        assert "m.onnx has a fixed batch of 1: a batch of 4 needs an ONNX file whose first input dimension is " \
               "dynamic" in " ".join(out.stderr.split())

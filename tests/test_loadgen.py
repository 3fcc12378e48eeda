"""MLPerf's LoadGen as the scenario engine (issue 28): real LoadGen tests of litert-int8 on the
zoo's mobilenet_v2 with short durations set through LoadGen's own settings, their VALID and
INVALID verdicts with the reasons, the server search, refusals of bad options, LoadGen absent,
and results without LoadGen's fields still reading."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgebench.bench import loadgen as lgx
from edgebench.bench.config import LoadGenSettings, RunConfig
from edgebench.errors import UserError
from tests.conftest import make_run

REPO = Path(__file__).resolve().parents[1]


# ---- the search, on a stand-in for LoadGen (the method, not the engine) ----------------------


def _fake_probe(capacity: float, calls: list):
    """A Server run that is VALID at rates up to capacity."""
    def probe(qps: float, n: int) -> lgx.TestOutcome:
        calls.append(qps)
        ok = qps <= capacity
        return lgx.TestOutcome("server", "VALID" if ok else "INVALID", [] if ok else ["latency bound not met"],
                               {"qps": qps, "p99_ms": 5.0 if ok else 50.0}, {}, f"probe-{n}")
    return probe


@pytest.mark.parametrize("capacity, start", [(100.0, 10.0), (7.0, 50.0), (50.0, 50.0), (1234.5, 3.0)])
def test_search_brackets_then_bisects_to_the_tolerance(capacity, start):
    calls = []
    found = lgx.search_server(_fake_probe(capacity, calls), start, tolerance=0.05)
    assert found.best is not None and found.best.verdict == "VALID"
    assert capacity / 1.05 <= found.best.target_qps <= capacity
    assert "within 5%" in found.stopped_because
    assert len(calls) == len(found.probes) <= lgx.MAX_PROBES


def test_search_gives_up_when_no_rate_meets_the_bound():
    calls = []
    found = lgx.search_server(_fake_probe(0.0, calls), 40.0, tolerance=0.1)
    assert found.best is None
    assert calls == [40.0, 20.0, 10.0, 5.0]   # MAX_HALVINGS halvings, never a minutes-long probe
    assert "no rate" in found.stopped_because


def test_search_stops_at_the_probe_limit():
    found = lgx.search_server(_fake_probe(1e9, []), 1.0, tolerance=0.1, max_probes=4)
    assert len(found.probes) == 4 and found.best.target_qps == 8.0
    assert "probe limit" in found.stopped_because


# ---- LoadGen's verdict in words ----------------------------------------------------------------


@pytest.mark.parametrize("detail, expected", [
    ({"result_min_duration_met": False}, "too short"),
    ({"result_min_queries_met": False}, "too few queries"),
    ({"result_perf_constraints_met": False}, "latency bound not met"),
    ({"early_stopping_met": False, "early_stopping_result": " * Only processed 10 queries."}, "early stopping"),
    ({"result_invalid_reason": "Increase expected QPS"}, "Increase expected QPS"),
    ({}, "LoadGen gave no reason"),
])
def test_every_invalid_reason_is_said(detail, expected):
    found = lgx.reasons({"result_validity": "INVALID", **detail},
                        {"min_duration_ms": 1000, "min_query_count": 100, "target_latency_ns": 10_000_000,
                         "target_latency_percentile": 0.99})
    assert any(expected in r for r in found), found


def test_valid_has_no_reason():
    assert lgx.reasons({"result_validity": "VALID", "early_stopping_met": False}, {}) == []


# ---- bad options: one line each -------------------------------------------------------------------


@pytest.mark.parametrize("settings, scenario, words", [
    (dict(target_qps=0), "server", "target rate"),
    (dict(target_qps=-5), "server", "target rate"),
    (dict(target_qps=1e12), "server", "target rate"),
    (dict(target_qps=float("nan")), "server", "target rate"),
    (dict(latency_bound_ms=0), "server", "latency bound"),
    (dict(latency_bound_ms=float("inf")), "server", "latency bound"),
    (dict(latency_percentile=100), "server", "latency percentile"),
    (dict(samples=0), "server", "samples must"),
    (dict(samples=10**9), "server", "samples must"),
    (dict(min_duration_s=0), "server", "LoadGen's minimum duration"),
    (dict(min_query_count=0), "offline", "minimum query count"),
    (dict(target_qps=10), "single-stream", "applies to the server and offline"),
    (dict(latency_bound_ms=10), "offline", "applies to the server scenario"),
])
def test_bad_loadgen_settings_are_refused(settings, scenario, words):
    with pytest.raises(UserError, match=words):
        RunConfig(targets=("litert-int8",), scenario=scenario, loadgen=LoadGenSettings(**settings))


def test_server_and_multi_stream_need_loadgen():
    for scenario in ("server", "multi-stream"):
        with pytest.raises(UserError, match="scenario"):
            RunConfig(scenario=scenario)
        RunConfig(scenario=scenario, loadgen=LoadGenSettings())


@pytest.mark.parametrize("args, words", [
    (["--target-qps", "10"], "--target-qps is a LoadGen option: add --loadgen"),
    (["--loadgen", "--scenario", "server", "--target-qps", "0"], "--target-qps: target rate must be a number above 0"),
    (["--loadgen", "--scenario", "server", "--latency-bound", "0"], "--latency-bound: latency bound must be"),
    (["--loadgen", "--samples", "0"], "--samples: samples must be an integer from 1"),
    (["--loadgen", "--scenario", "server", "--duration", "5s"], "sustained run"),
])
def test_cli_refuses_in_one_line(args, words):
    from edgebench.cli.app import app

    result = CliRunner().invoke(app, ["run", "--targets", "litert-int8", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], result.output


def test_fleet_run_takes_the_same_options():
    from edgebench.cli.app import app

    result = CliRunner().invoke(app, ["fleet", "run", "--help"], env={"COLUMNS": "200"})
    for option in ("--loadgen", "--scenario", "--target-qps", "--latency-bound", "--samples"):
        assert option in result.output


def test_absent_loadgen_is_one_line(tmp_path):
    """A run with --loadgen where mlperf_loadgen does not import: one line, exit 2, before any
    model is prepared."""
    (tmp_path / "mlperf_loadgen.py").write_text("raise ImportError('not here')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    done = subprocess.run([sys.executable, "-m", "edgebench", "run", "--loadgen", "--targets", "litert-int8",
                           "--no-save"], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {lgx.NOT_INSTALLED}", done.stderr
    assert "Traceback" not in done.stdout + done.stderr


# ---- results: old runs read, new fields round-trip ----------------------------------------------


def test_results_without_loadgen_still_read_and_new_ones_round_trip(tmp_path):
    from edgebench.results.schema import LoadGenRecord, RunResult
    from edgebench.results.store import Store

    old = make_run().model_dump(mode="json")
    for target in old["results"]:
        target.pop("loadgen")
    assert RunResult.model_validate(old).results[0].loadgen is None   # a schema-2 run from before
    run = make_run()
    run.results[0].loadgen = LoadGenRecord(scenario="server", verdict="VALID", server_qps=48.5,
                                           server_p99_ms=9.1, figures={"qps": 48.5}, overrides={"min_duration_ms": 1000})
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.save(run)
    back = store.get(run.run_id).results[0].loadgen
    assert back.server_qps == 48.5 and back.verdict == "VALID" and back.overrides == {"min_duration_ms": 1000}


# ---- real LoadGen runs of litert-int8 ------------------------------------------------------------


@pytest.fixture(scope="module")
def litert_plan():
    pytest.importorskip("mlperf_loadgen")
    from edgebench.bench.plan import make_plan

    plan = make_plan(RunConfig(targets=("litert-int8",), threads=1, loadgen=LoadGenSettings()))
    if not plan.targets[0].runnable:
        pytest.skip(f"litert-int8 does not run here: {plan.targets[0].error}")
    return plan


def _loadgen_run(plan, tmp_path, scenario: str, **settings):
    """One target measured through LoadGen: (measurement, record), as `run` measures it."""
    from edgebench.bench.execute import Photo, feed_inputs
    from edgebench.bench.loadgen_run import measure_loadgen
    from edgebench.bench.plan import attempt
    from edgebench.models.images import default_image

    plan = copy.copy(plan)
    plan.config = RunConfig(targets=("litert-int8",), threads=1, scenario=scenario, streams=2,
                            loadgen=LoadGenSettings(**settings))
    photo = Photo(default_image())
    planned = plan.targets[0]
    outcome = attempt(planned, lambda s: measure_loadgen(s, planned, plan, feed_inputs(plan, s, photo).x,
                                                         lambda: None, tmp_path / scenario))
    assert outcome.status == "ok", outcome.error
    return outcome.value


@pytest.mark.slow
def test_single_stream_valid_with_loadgen_figures(litert_plan, tmp_path):
    m, record, _ = _loadgen_run(litert_plan, tmp_path, "single-stream", min_duration_s=0.3, min_query_count=64)
    assert record["verdict"] == "VALID" and record["reasons"] == []
    f = record["figures"]
    assert f["queries"] >= 64 and 0 < f["p50_ms"] <= f["p90_ms"] <= f["max_ms"]
    assert record["overrides"] == {"min_duration_ms": 300, "min_query_count": 64,
                                   "single_stream_expected_latency_ns": record["overrides"]["single_stream_expected_latency_ns"]}
    assert m.runs == f["queries"]   # every query ran through the session once
    logs = Path(record["logs_dir"])
    assert (logs / "mlperf_log_summary.txt").is_file() and (logs / "mlperf_log_detail.txt").is_file()
    assert "Result is : VALID" in record["summary_log"]


@pytest.mark.slow
def test_single_stream_too_few_queries_is_invalid_with_the_reason(litert_plan, tmp_path):
    _, record, _ = _loadgen_run(litert_plan, tmp_path, "single-stream", min_duration_s=0.05, min_query_count=10)
    assert record["verdict"] == "INVALID"
    assert any(r.startswith("early stopping not satisfied") and "64" in r for r in record["reasons"]), record["reasons"]


@pytest.mark.slow
def test_multi_stream_runs_queries_of_eight_samples(litert_plan, tmp_path):
    m, record, _ = _loadgen_run(litert_plan, tmp_path, "multi-stream", min_duration_s=0.05, min_query_count=5)
    assert record["settings"]["samples_per_query"] == 8
    assert m.runs == 8 * record["figures"]["queries"]
    assert record["verdict"] == "INVALID"   # far fewer queries than early stopping's 662
    assert any("early stopping" in r for r in record["reasons"])


@pytest.mark.slow
def test_offline_valid_and_too_short(litert_plan, tmp_path):
    _, record, in_flight = _loadgen_run(litert_plan, tmp_path / "a", "offline", min_duration_s=0.5)
    assert record["verdict"] == "VALID", record["reasons"]
    assert in_flight == 2 and record["figures"]["qps"] > 0
    # Told to expect 1 sample/s for 2 s (and 1 sample at least), LoadGen sends a query of 2
    # samples, which ends long before 2 s.
    _, short, _ = _loadgen_run(litert_plan, tmp_path / "b", "offline", min_duration_s=2, target_qps=1,
                               min_query_count=1)
    assert short["verdict"] == "INVALID" and any(r.startswith("too short") for r in short["reasons"])


@pytest.mark.slow
def test_server_search_converges_and_its_rate_meets_the_bound(litert_plan, tmp_path):
    """A loose bound at p90 (the machine is shared): the search ends within its tolerance and
    the reported rate's LoadGen run is VALID with its p90 under the bound."""
    bound = 300.0
    _, record, _ = _loadgen_run(litert_plan, tmp_path, "server", min_duration_s=0.3, min_query_count=64,
                                latency_bound_ms=bound, latency_percentile=90, search_tolerance=0.5)
    search = record["search"]
    assert record["verdict"] == "VALID", (record["reasons"], search)
    assert "within 50%" in search["stopped_because"]
    valid = [p for p in search["probes"] if p["verdict"] == "VALID"]
    assert record["server_qps"] == pytest.approx(max(valid, key=lambda p: p["target_qps"])["qps"])
    assert record["figures"]["p90_ms"] <= bound
    assert any(p["verdict"] == "INVALID" and p["target_qps"] > record["server_qps"] for p in search["probes"])


def _stored_loadgen_run(tmp_path, accuracy: dict | None = None):
    from edgebench.results.schema import LoadGenRecord
    from edgebench.results.store import Store

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "mlperf_log_summary.txt").write_text("Result is : VALID\n")
    run = make_run()
    run.results[0].loadgen = LoadGenRecord(
        scenario="server", verdict="VALID", server_qps=48.5, server_p99_ms=9.1, figures={"qps": 48.5, "p99_ms": 9.1},
        settings={"target_latency_ns": 10_000_000, "target_latency_percentile": 0.99}, logs_dir=str(logs),
        summary_log="MLPerf Results Summary\nResult is : VALID\n", overrides={"min_duration_ms": 1000},
        search={"probes": [{"target_qps": 40.0, "verdict": "VALID"}, {"target_qps": 80.0, "verdict": "INVALID"}],
                "stopped_because": "bracket [40, 80] QPS within 10%"}, accuracy=accuracy)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    Store(url).save(run)
    return run, url, logs


def test_results_show_logs_and_the_run_screen(tmp_path):
    from edgebench.cli.app import app

    run, url, logs = _stored_loadgen_run(tmp_path)
    shown = CliRunner().invoke(app, ["results", "show", run.run_id[:12], "--logs", "--store", url],
                               env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert f"LoadGen logs in {logs}" in shown.output and "Result is : VALID" in shown.output
    assert "accuracy mode" not in shown.output
    screen = CliRunner().invoke(app, ["results", "show", run.run_id[:12], "--store", url], env={"COLUMNS": "300"})
    assert "LoadGen server litert-int8: VALID - 48.5 QPS at p99 9.10 ms (bound 10.00 ms at p99)" in screen.output
    assert "2 probes (40 ok, 80 x)" in screen.output


def test_results_show_logs_names_the_accuracy_log(tmp_path):
    from edgebench.cli.app import app

    log = tmp_path / "logs" / "accuracy" / "mlperf_log_accuracy.json"
    run, url, logs = _stored_loadgen_run(tmp_path, {"mode": "AccuracyOnly", "samples": 300, "figure": "top-1",
                                                    "value": 0.714, "accuracy_log": str(log)})
    log.parent.mkdir()
    log.write_text("[]")
    shown = CliRunner().invoke(app, ["results", "show", run.run_id[:12], "--logs", "--store", url],
                               env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert f"accuracy mode: 300 samples, LoadGen's accuracy log {logs / 'accuracy' / 'mlperf_log_accuracy.json'}\n" \
        in shown.output
    screen = CliRunner().invoke(app, ["results", "show", run.run_id[:12], "--store", url], env={"COLUMNS": "300"})
    assert "top-1 71.4% (LoadGen accuracy mode, 300 images)" in screen.output


def test_results_show_logs_of_a_run_without_loadgen_is_one_line(tmp_path):
    from edgebench.cli.app import app
    from edgebench.results.store import Store

    run, url = make_run(), f"sqlite:///{tmp_path / 'r.db'}"
    Store(url).save(run)
    shown = CliRunner().invoke(app, ["results", "show", run.run_id[:12], "--logs", "--store", url])
    assert shown.exit_code == 2 and "not measured through LoadGen" in shown.output
    assert len(shown.output.strip().splitlines()) == 1


def test_compare_reports_server_rates_and_reads_them_back():
    from edgebench.report.compare import compare_runs, load_comparison
    from edgebench.results.schema import LoadGenRecord

    def served(qps):
        run = make_run()
        run.results[0].loadgen = LoadGenRecord(scenario="server", verdict="VALID" if qps else "INVALID",
                                               server_qps=qps, server_p99_ms=9.0 if qps else None)
        return run

    result = compare_runs(served(50.0), served(40.0))
    assert [(s.target, s.baseline_qps, s.candidate_qps, s.ratio) for s in result.server] == \
        [("litert-int8", 50.0, 40.0, 0.8)]
    assert load_comparison(result.to_json()).server == result.server
    assert compare_runs(served(50.0), served(None)).server[0].ratio is None


def test_a_fleet_job_carries_the_loadgen_settings():
    """`fleet run --loadgen ...` builds its RunConfig from the same BenchOptions; each job's config
    (pickled to the device's child process) keeps the scenario and LoadGen's settings."""
    import pickle

    from edgebench.cli.options import BenchOptions
    from edgebench.fleet.matrix import DeviceShare, ModelChoice, jobs_for

    options = BenchOptions(loadgen=True, scenario="server", latency_bound=50.0, samples=64, loadgen_duration=2.0)
    config = RunConfig(model="mobilenet_v2", **options.config_fields())
    share = DeviceShare.__new__(DeviceShare)
    object.__setattr__(share, "targets", ("litert-int8",))
    object.__setattr__(share, "device", type("D", (), {"name": "pi"})())
    job = jobs_for("f1", config, [ModelChoice("mobilenet_v2", "zoo")], share, 1)[0]
    back = pickle.loads(pickle.dumps(job.config))
    assert back.scenario == "server"
    assert back.loadgen == LoadGenSettings(latency_bound_ms=50.0, samples=64, min_duration_s=2.0)


def test_report_draws_server_qps_per_target_and_device(tmp_path):
    from edgebench.report.charts import report_charts, server_bars

    run, _, _ = _stored_loadgen_run(tmp_path)
    bars = server_bars([run])
    assert [(b.value, "p99 9.1 ms, bound 10 ms at p99" in b.label) for b in bars] == [(48.5, True)]
    assert "server_qps" in report_charts([run], [])
    assert "server_qps" not in report_charts([make_run()], [])   # no LoadGen server run, no chart


# ---- accuracy mode ------------------------------------------------------------------------------

DEV = REPO.parent / "shared" / "data" / "imagenet-sample-dev"


def test_a_response_round_trips_and_is_never_unpickled():
    import numpy as np

    from edgebench.bench import loadgen_accuracy as la

    outputs = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([[7, -8]], dtype=np.int8))
    back = la.decode_response(la.encode(outputs))
    assert [b.dtype for b in back] == [np.float32, np.int8]
    assert all(np.array_equal(a, b) for a, b in zip(outputs, back))
    assert np.array_equal(la.decode_response(la.encode(outputs[0]))[0], outputs[0])   # one array: a 1-tuple
    import io

    hostile = io.BytesIO()
    np.savez(hostile, np.array([object()], dtype=object))   # an object array is a pickle inside
    with pytest.raises(ValueError, match="allow_pickle"):
        la.decode_response(hostile.getvalue())


def _log(tmp_path, entries) -> Path:
    import json

    path = tmp_path / "mlperf_log_accuracy.json"
    path.write_text(json.dumps(entries))
    return path


@pytest.mark.parametrize("entries, words", [
    ([{"qsl_idx": 0}], "1 of the 2 samples"),
    ([{"qsl_idx": 0}, {"qsl_idx": 0}], "unexpected sample index 0"),
    ([{"qsl_idx": 0}, {"qsl_idx": 2}], "unexpected sample index 2"),
    ([{"qsl_idx": "1"}, {"qsl_idx": 0}], "unexpected sample index '1'"),
    ([{"qsl_idx": 0, "data": "zz"}, {"qsl_idx": 1}], "cannot be read"),
    ("not a list", "cannot be read"),
])
def test_a_wrong_accuracy_log_is_one_error_naming_it(tmp_path, entries, words):
    from edgebench.bench import loadgen_accuracy as la

    good = la.encode(__import__("numpy").zeros(3)).hex()
    if isinstance(entries, list):
        entries = [{"data": good, **e} for e in entries]
    with pytest.raises(RuntimeError, match=words):
        list(la.read_accuracy_log(_log(tmp_path, entries), 2))


def test_an_accuracy_log_too_big_to_read_back_is_refused_before_loadgen_starts():
    from edgebench.bench import loadgen_accuracy as la

    la.check_size(300, 8_000)
    with pytest.raises(UserError, match=r"give at most 1 images") as refused:
        la.check_size(2, la.MAX_LOG_OUTPUT_BYTES)
    assert refused.value.setting == "accuracy_images"


@pytest.mark.slow
def test_accuracy_mode_top1_equals_edgebench_accuracy_on_the_same_images(tmp_path, monkeypatch):
    """Issue 28's check: a --loadgen run scored on labelled images through LoadGen's accuracy
    log gives exactly the top-1 and top-5 of `edgebench accuracy` on the same images."""
    pytest.importorskip("mlperf_loadgen")
    if not DEV.is_dir():
        pytest.skip("../shared/data/imagenet-sample-dev is not present")
    from edgebench.bench.accuracy import evaluate
    from edgebench.bench.execute import run
    from edgebench.cli.loadgen_screen import loadgen_lines
    from edgebench.models.labelled import ClassSet

    from edgebench.models.labelled import labelled_images

    from edgebench.bench import loadgen_accuracy

    monkeypatch.setenv("EDGEBENCH_DATA_DIR", str(tmp_path))
    # LoadGen loads the library in sets of this many: several sets, each loaded and unloaded
    monkeypatch.setattr(loadgen_accuracy, "LOADED_AT_ONCE", 7)
    images = tmp_path / "images"   # every 5th image of the set, read in place through a labels.csv
    images.mkdir()
    chosen = labelled_images(DEV)[::5]
    (images / "labels.csv").write_text("".join(f"{i.path},{i.label_index}\n" for i in chosen))
    settings = LoadGenSettings(min_duration_s=0.2, min_query_count=64)
    result = run(RunConfig(targets=("litert-int8",), threads=1, loadgen=settings), labelled=ClassSet(images))
    target = result.results[0]
    assert target.status == "ok", target.error
    plain = evaluate(RunConfig(targets=("litert-int8",), threads=1), images).results[0]
    top1, top5 = target.accuracy.figures
    n = len(chosen)
    assert (top1.name, top5.name) == ("top-1", "top-5") and target.accuracy.images == plain.images == n == 60
    assert top1.value == plain.top1_accuracy and top5.value == plain.top5_accuracy
    assert top1.interval == plain.top1_interval
    record = target.loadgen.accuracy
    assert record["mode"] == "AccuracyOnly" and record["samples"] == n and record["value"] == top1.value
    log = Path(record["accuracy_log"])
    assert log.is_file() and log.parent.parent == Path(target.loadgen.logs_dir)
    import json

    assert sorted(e["qsl_idx"] for e in json.loads(log.read_text())) == list(range(n))   # each image once
    line = loadgen_lines("litert-int8", target.loadgen)[0][0]
    assert line.endswith(f", top-1 {top1.value * 100:.1f}% (LoadGen accuracy mode, {n} images)"), line


@pytest.mark.slow
@pytest.mark.parametrize("probe_seconds", [0.3, 1.5])   # killed inside the grace, and past it
def test_sigterm_during_the_server_search_ends_cleanly_with_the_run_stored(tmp_path, probe_seconds):
    """A server search killed while a LoadGen test runs: the run is stored as interrupted and the
    process ends with 143, without LoadGen's C++ thread aborting or crashing the interpreter at
    exit (exit 134 "terminate called without an active exception", or 139)."""
    import signal
    import time

    pytest.importorskip("mlperf_loadgen")
    from edgebench.results.store import Store

    store = f"sqlite:///{tmp_path / 'r.db'}"
    env = {**os.environ, "EDGEBENCH_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "edgebench", "run", "--loadgen", "--scenario", "server",
                             "--targets", "litert-int8", "--latency-bound", "1000", "--threads", "1",
                             "--loadgen-duration", str(probe_seconds * 4), "--min-queries", "1", "--store", store],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    logs = tmp_path / "data" / "loadgen-logs"
    deadline = time.monotonic() + 600
    while not list(logs.glob("*/*/probe-02-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)   # the second probe's folder: its LoadGen test has begun
    time.sleep(probe_seconds)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, stdout[-2000:] + stderr[-2000:]
    assert "terminate called" not in stderr and "Traceback" not in stdout + stderr
    [run] = Store(store).all_runs()
    assert run.status == "interrupted"


@pytest.mark.slow
def test_accuracy_mode_scores_a_segmenter_as_the_plain_pass_does(tmp_path, monkeypatch):
    """Another task through LoadGen's accuracy log: Coral's DeepLabV3 on its two masked photos
    gives the same mIoU and pixel accuracy as the untimed pass without LoadGen."""
    pytest.importorskip("mlperf_loadgen")
    zoo = REPO.parent / "shared" / "fixtures" / "coral-zoo"
    if not zoo.is_dir():
        pytest.skip("../shared/fixtures/coral-zoo is not present")
    from edgebench.bench.execute import run
    from edgebench.models.annotated import parse_mask_maps, read_masks

    monkeypatch.setenv("EDGEBENCH_DATA_DIR", str(tmp_path))
    model, image = str(zoo / "deeplabv3_mnv2_pascal_quant.tflite"), str(zoo / "bird_segmentation.bmp")

    def scored(loadgen):
        masks = read_masks(zoo, mask_maps=parse_mask_maps(["dog_segmentation_mask.bmp:0=12,1=0,2=255"]))
        config = RunConfig(model=model, image=image, targets=("litert-int8",), threads=1, loadgen=loadgen,
                           protocol=RunConfig().protocol.with_overrides(runs=3, settle_s=0.0))
        [target] = run(config, labelled=masks).results
        assert target.status == "ok", target.error
        return target

    through = scored(LoadGenSettings(min_duration_s=0.05, min_query_count=2))
    plain = scored(None)
    assert [(f.name, f.value) for f in through.accuracy.figures] == [(f.name, f.value) for f in plain.accuracy.figures]
    assert through.accuracy.figures[0].name == "mIoU" and through.loadgen.accuracy["samples"] == 2
    assert plain.loadgen is None


def test_a_sample_that_cannot_be_prepared_is_raised_after_loadgens_test(tmp_path):
    """The load callback runs in LoadGen's C++ thread: an unreadable image there ends the test
    normally and is raised afterwards, in the caller's thread (never across LoadGen)."""
    pytest.importorskip("mlperf_loadgen")
    import numpy as np

    from edgebench.bench import loadgen_accuracy as la

    class Session:
        def set_input(self, x):
            self.x = x

        def invoke(self):
            pass

        def output(self):
            return self.x * 2

    def input_of(i: int):
        if i == 3:
            raise UserError("photo 3 is not a readable image")
        return np.full((1, 2), i, np.float32)

    with pytest.raises(UserError, match="photo 3 is not a readable image"):
        la.infer_all(Session(), input_of, 6, tmp_path / "bad")
    answers = dict(la.infer_all(Session(), lambda i: np.full((1, 2), i, np.float32), 6, tmp_path / "good"))
    assert sorted(answers) == list(range(6)) and all(float(a[0][0, 0]) == 2 * i for i, a in answers.items())


def test_after_ctrl_c_the_loader_prepares_nothing_more():
    from edgebench.bench import loadgen_accuracy as la

    prepared = []
    executor = la._AnsweringExecutor(None, lambda i: prepared.append(i) or i)
    executor.load([0, 1])
    executor.aborted.set()
    executor.load([2, 3])
    assert prepared == [0, 1] and sorted(executor.loaded) == [0, 1]


def test_a_target_the_labels_cannot_score_is_a_note_and_the_timed_run_is_kept(monkeypatch):
    """An error of the accuracy pass (after minutes of timing) costs that target its figures,
    not the run: a note says why."""
    from types import SimpleNamespace

    from edgebench.bench import scored

    def refuse(*args):
        raise UserError("LoadGen's accuracy log would hold 3 x 300.0 MB of outputs (0.9 GB): give at most 1 images")

    monkeypatch.setattr(scored, "_target", refuse)
    plan = SimpleNamespace(targets=[SimpleNamespace(name="litert-int8", sweep={})])
    result = SimpleNamespace(status="ok", accuracy=None, loadgen=None)
    data = SimpleNamespace(kind="classification", fingerprint=lambda: {})
    notes, warnings = scored.score_targets(plan, [result], data, 0, loadgen_logs=lambda planned: Path("/x"))
    assert notes == ["no accuracy figures: LoadGen's accuracy log would hold 3 x 300.0 MB of outputs (0.9 GB): "
                     "give at most 1 images"]
    assert warnings == [] and result.accuracy is None

"""Real runs on real models: the issue's acceptance run and user-supplied model files.

The first test prepares every variant (real conversions and quantization) in the session cache;
later tests reuse it.
"""

import json

import pytest

from tests.conftest import run_cli

ALL_TARGETS = ("litert-fp32", "litert-int8", "onnxruntime-fp32", "onnxruntime-int8",
               "openvino-fp32", "openvino-int8", "torch-fp32")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bird_run(tmp_path_factory):
    """`edgebench run --image bird.bmp --out r.json`, as the issue's must-show runs it."""
    from tests.conftest import CORAL

    if not (CORAL / "bird.bmp").is_file():
        pytest.skip("../shared/fixtures/coral is not present")
    out_path = tmp_path_factory.mktemp("run") / "r.json"
    out = run_cli("run", "--image", str(CORAL / "bird.bmp"), "--out", str(out_path))
    assert out.returncode == 0, out.stdout + out.stderr
    return out, json.loads(out_path.read_text())


def test_all_seven_targets_say_chickadee_with_the_classic_protocol(bird_run):
    out, data = bird_run
    assert data["schema_version"] == 2 and data["task"] == "classification"
    results = {r["target"]: r for r in data["results"]}
    assert set(ALL_TARGETS) <= set(results)   # plus Keras where its extra is installed
    for name, r in results.items():
        assert r["status"] == "ok", (name, r["error"])
        assert r["top1"]["label"] == "chickadee", (name, r["top5"])
        assert r["summary"].startswith("chickadee ") and r["answer"]["top5"][0]["label"] == "chickadee"
        assert r["protocol"] == {"name": "classic", "warmup": 1, "settle_s": 1.0, "runs": 250,
                                 "warmup_s": 0.0, "min_duration_s": 0.0, "repetitions": 1, "window_s": 0.0}
        assert len(r["samples_ms"]) == 250
        lat = r["latency_ms"]
        assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert r["fps"] == pytest.approx(250 / r["elapsed_s"])
        assert len(r["top5"]) == 5 and r["top5"][0] == r["top1"]
        assert r["agrees_with_reference"] is True or r["is_reference"]
        assert r["runtime_version"] and r["artifact"]["sha256"]
        assert r["preprocess_ms"] > 0
    assert data["reference_target"] == "torch-fp32"
    assert data["status"] == "complete" and data["harness_overhead"]["median_us"] > 0
    assert data["device"]["cores_logical"] >= 1 and data["device"]["toolchain"]["torch"]
    assert "chickadee" in out.stdout and "classic" in out.stdout


def test_results_json_round_trips_through_the_schema(bird_run):
    from edgebench.results.schema import RunResult

    _, data = bird_run
    parsed = RunResult.model_validate(data)
    assert json.loads(parsed.model_dump_json()) == data


def test_int8_artifacts_are_full_integer(bird_run):
    _, data = bird_run
    results = {r["target"]: r for r in data["results"]}
    assert results["litert-int8"]["input"]["dtype"] == "int8"
    assert results["litert-int8"]["input"]["quantization"]["scale"] > 0
    assert results["litert-fp32"]["input"]["layout"] == "NHWC"
    assert results["onnxruntime-fp32"]["input"]["layout"] == "NCHW"


def test_coral_quant_tflite_runs_on_every_runtime_that_reads_it(coral, tmp_path):
    out_path = tmp_path / "r.json"
    out = run_cli("run", "--model", str(coral / "mobilenet_v2_1.0_224_quant.tflite"),
                  "--image", str(coral / "bird.bmp"), "--runs", "20", "--settle", "0",
                  "--out", str(out_path))
    assert out.returncode == 0, out.stdout + out.stderr
    results = {r["target"]: r for r in json.loads(out_path.read_text())["results"]}
    assert set(results) == {"litert-int8", "openvino-int8"}
    for r in results.values():
        assert r["status"] == "ok" and r["top1"]["label"] == "chickadee"
        assert r["top1"]["index"] == 20  # 1001 classes, background first
        assert r["input"]["dtype"] == "uint8"


def test_user_onnx_file_runs_on_onnxruntime_and_openvino(coral, tmp_path, bird_run):
    _, data = bird_run
    onnx_path = next(r["artifact"]["path"] for r in data["results"] if r["target"] == "onnxruntime-fp32")
    out_path = tmp_path / "r.json"
    out = run_cli("run", "--model", onnx_path, "--image", str(coral / "parrot.jpg"), "--runs", "10",
                  "--settle", "0", "--out", str(out_path))
    assert out.returncode == 0, out.stdout + out.stderr
    results = {r["target"]: r for r in json.loads(out_path.read_text())["results"] if r["status"] == "ok"}
    # A float file also gets its int8 variants, built and checked against it (issue 27).
    assert set(results) == {"onnxruntime-fp32", "openvino-fp32", "onnxruntime-int8", "openvino-int8"}
    assert {r["top1"]["label"] for r in results.values()} == {"macaw"}
    assert all(results[t]["int8_check"] for t in ("onnxruntime-int8", "openvino-int8"))


@pytest.mark.parametrize("targets", [(), ("--targets", "edgetpu-int8")])
def test_edge_tpu_model_without_edge_tpu_is_one_clear_line(coral, targets):
    out = run_cli("run", "--model", str(coral / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"), *targets,
                  "--runs", "2", "--settle", "0")
    assert out.returncode == 2
    assert "Traceback" not in out.stdout + out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Edge TPU delegate libedgetpu.so.1" in lines[0], out.stderr
    assert out.stdout.strip() == ""


def test_cpu_runtimes_refuse_an_edge_tpu_model_with_the_reason(coral):
    out = run_cli("run", "--model", str(coral / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"),
                  "--targets", "litert-int8,openvino-int8", "--runs", "2", "--settle", "0")
    assert out.returncode == 2
    assert " ".join(out.stderr.split()).count("compiled for the Edge TPU") == 2


def test_explicit_target_the_model_cannot_feed_is_reported_not_fatal(coral, tmp_path):
    out_path = tmp_path / "r.json"
    out = run_cli("run", "--model", str(coral / "mobilenet_v2_1.0_224_quant.tflite"), "--image",
                  str(coral / "bird.bmp"), "--targets", "litert-int8,onnxruntime-fp32", "--runs", "5",
                  "--settle", "0", "--out", str(out_path))
    assert out.returncode == 0, out.stderr
    results = {r["target"]: r for r in json.loads(out_path.read_text())["results"]}
    assert results["litert-int8"]["status"] == "ok"
    assert results["onnxruntime-fp32"]["status"] == "unavailable"
    assert "does not read tflite" in results["onnxruntime-fp32"]["error"]


def test_rigorous_protocol_reports_tails_cv_and_ci(rigorous_run):
    """The rigorous preset's figures, from tests/conftest.py's rigorous_run (the run is over half a
    minute per target: test_run_table_width checks the same run's screen)."""
    assert rigorous_run["code"] == 0, rigorous_run["text"][-3000:]
    r = next(r for r in rigorous_run["data"]["results"] if r["target"] == "litert-int8")
    assert r["status"] == "ok", r["error"]
    assert r["protocol"]["repetitions"] == 3 and r["protocol"]["min_duration_s"] == 10.0
    lat = r["latency_ms"]
    assert lat["n"] >= 3000 and len(r["samples_ms"]) == lat["n"]
    assert r["elapsed_s"] >= 30.0
    assert lat["p99"] <= lat["p999"] <= lat["max"] and 0 < lat["cv"] < 1
    low, high = lat["ci95_median"]
    assert low <= lat["median"] <= high
    assert len(lat["repetition_medians"]) == 3


def test_run_is_saved_with_fingerprint_and_energy(tmp_path):
    from edgebench.results.store import Store

    store = tmp_path / "s.db"
    out = run_cli("run", "--targets", "litert-int8", "--runs", "50", "--settle", "0", "--power-w", "2.5",
                  "--store", str(store))
    assert out.returncode == 0, out.stderr
    assert "mJ/inference" in out.stdout and "rated" in out.stdout
    [run] = Store(str(store)).all_runs()
    energy = run.results[0].energy
    assert energy.method.startswith("rated") and energy.inferences == 50
    assert energy.j_per_inference == pytest.approx(2.5 * energy.seconds / 50)
    assert run.device.toolchain["ai-edge-litert"] and run.device.cores_logical

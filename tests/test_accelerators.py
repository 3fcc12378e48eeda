"""Accelerator targets: what this CPU machine says about them, the Coral zoo entry, and the
real CUDA and Edge TPU paths behind markers (skipped where the hardware is absent)."""

import http.server
import json
import shutil
import threading
from dataclasses import replace

import pytest

from edgebench.models import zoo
from edgebench.models.prepare import Preparer
from edgebench.runtimes.base import TARGETS
from edgebench.targets import list_targets
from tests.conftest import run_cli


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def test_accelerator_targets_are_listed_with_reasons():
    status = {t.name: t for t in list_targets()}
    for name in ("torch-fp32@cuda", "torch-fp16@cuda", "onnxruntime-fp32@cuda", "onnxruntime-fp32@tensorrt",
                 "edgetpu-int8"):
        assert name in status and name in TARGETS
        if not status[name].available:
            assert status[name].detail  # always says why
    if not _has_cuda():
        assert "no CUDA GPU visible" in status["torch-fp32@cuda"].detail
    if not status["onnxruntime-fp32@cuda"].available:
        assert "CUDAExecutionProvider" in status["onnxruntime-fp32@cuda"].detail
    if not status["edgetpu-int8"].available:
        assert "libedgetpu" in status["edgetpu-int8"].detail or "no Edge TPU" in status["edgetpu-int8"].detail


def test_gpu_targets_without_a_gpu_are_reported_not_fatal(tmp_path):
    if _has_cuda():
        pytest.skip("a GPU is present")
    out = run_cli("run", "--targets", "litert-int8,torch-fp16@cuda", "--runs", "5", "--settle", "0",
                  "--out", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    results = {r["target"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert results["litert-int8"]["status"] == "ok"
    assert results["torch-fp16@cuda"]["status"] == "unavailable"


def test_batch_mode_needs_a_torch_target(tmp_path):
    out = run_cli("run", "--targets", "litert-int8,torch-fp32", "--batch", "4", "--runs", "5", "--settle", "0",
                  "--out", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    results = {r["target"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert results["litert-int8"]["status"] == "unavailable" and "batch" in results["litert-int8"]["error"]
    torch_result = results["torch-fp32"]
    assert torch_result["batch"] == 4
    assert torch_result["images_per_s"] == pytest.approx(4 * torch_result["fps"])


@pytest.fixture
def coral_server(coral):
    """Coral's files served on loopback, standing in for the official download URLs."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(coral), **kw)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_coral_zoo_entry_downloads_verifies_and_pairs_cpu_with_edgetpu(coral_server, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path))
    spec = zoo.MOBILENET_V2_CORAL
    local = replace(spec, prebuilt=tuple((variant, replace(src, url=coral_server + src.filename))
                                         for variant, src in spec.prebuilt))
    preparer = Preparer(local, on_step=lambda m: None)
    cpu = preparer.get(("tflite", "int8"))
    tpu = preparer.get(("tflite-edgetpu", "int8"))
    assert (cpu.format, cpu.requires, cpu.model) == ("tflite", None, "mobilenet_v2_coral")
    assert (tpu.format, tpu.requires) == ("tflite-edgetpu", "edgetpu")
    assert cpu.sha256 == dict(spec.prebuilt)[("tflite", "int8")].sha256
    assert cpu.io_quantization["input"] == (0.0078125, 128)
    assert preparer.cached(("tflite", "int8")) is not None       # cached now: no second download


def test_coral_zoo_entry_runs_cpu_int8_and_refuses_edgetpu_here(coral, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    for src in dict(zoo.MOBILENET_V2_CORAL.prebuilt).values():  # as if downloaded earlier
        (cache / "weights").mkdir(parents=True, exist_ok=True)
        shutil.copy(coral / src.filename, cache / "weights" / src.filename)
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(cache))
    out = run_cli("run", "--model", "mobilenet_v2_coral", "--image", str(coral / "bird.bmp"), "--runs", "10",
                  "--settle", "0", "--offline", "--targets", "litert-int8,edgetpu-int8",
                  "--out", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    results = {r["target"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert results["litert-int8"]["top1"]["label"] == "chickadee"
    assert results["edgetpu-int8"]["status"] == "unavailable"


@pytest.mark.cuda
@pytest.mark.skipif(not _has_cuda(), reason="needs an NVIDIA GPU")
def test_cuda_targets_agree_with_cpu_and_measure_energy(coral, tmp_path):
    out = run_cli("run", "--image", str(coral / "bird.bmp"), "--targets", "torch-fp32,torch-fp32@cuda,torch-fp16@cuda",
                  "--runs", "500", "--out", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    for r in json.loads((tmp_path / "r.json").read_text())["results"]:
        assert r["status"] == "ok" and r["top1"]["label"] == "chickadee"
        if r["target"].endswith("@cuda"):
            assert r["options"]["mode"] == "graph"
            assert r["energy"] is None or r["energy"]["method"].startswith("nvml")


@pytest.mark.edgetpu
def test_edgetpu_runs_coral_model(coral):
    from edgebench.runtimes.edgetpu import EdgeTpuRuntime

    ok, reason = EdgeTpuRuntime().available()
    if not ok:
        pytest.skip(reason)
    out = run_cli("run", "--model", str(coral / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"),
                  "--image", str(coral / "bird.bmp"), "--targets", "edgetpu-int8")
    assert out.returncode == 0 and "chickadee" in out.stdout


@pytest.mark.slow
def test_keras_targets_agree_with_torch(coral, tmp_path):
    from edgebench.runtimes.keras import KerasRuntime

    ok, reason = KerasRuntime().available()
    if not ok:
        pytest.skip(reason)
    out = run_cli("run", "--image", str(coral / "bird.bmp"), "--targets", "torch-fp32,keras-fp32,keras-predict-fp32",
                  "--runs", "5", "--settle", "0", "--out", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    results = {r["target"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    ref = results["torch-fp32"]["top5"]
    for name, mode in (("keras-fp32", "compiled call"), ("keras-predict-fp32", "model.predict")):
        r = results[name]
        assert r["status"] == "ok" and r["options"]["mode"] == mode
        assert [p["index"] for p in r["top5"]] == [p["index"] for p in ref]      # same ranking
        assert r["top1"]["score"] == pytest.approx(ref[0]["score"], abs=1e-3)    # same numbers


def test_default_run_leaves_out_unavailable_targets(coral, tmp_path):
    out = run_cli("run", "--model", str(coral / "mobilenet_v2_1.0_224_quant.tflite"), "--image",
                  str(coral / "bird.bmp"), "--runs", "5", "--settle", "0", "--out", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    names = {r["target"] for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert "litert-int8" in names and all(t.available for t in list_targets() if t.name in names)


def test_batchnorm_folding_keeps_the_function():
    import torch

    from edgebench.arch.mobilenet_v2 import MobileNetV2
    from edgebench.runtimes.torch import fold_batchnorm

    torch.manual_seed(0)
    model = MobileNetV2().eval()
    for m in model.modules():  # non-trivial statistics, so folding has something to get wrong
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        before = model(x)
        assert fold_batchnorm(model) == 52   # every conv+BN pair of MobileNetV2
        after = model(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert ((after - before).norm() / before.norm()).item() < 1e-5

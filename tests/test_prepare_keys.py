"""Cache keys: rebuilt when the source or any toolchain version changes; damaged entries rebuilt."""

import json
from dataclasses import replace

import pytest

from edgebench.errors import TargetUnavailable
from edgebench.models import prepare
from edgebench.models.prepare import Preparer
from edgebench.models.zoo import MOBILENET_V2


@pytest.fixture
def versions(monkeypatch):
    table = {"torch": "2.13.0", "onnx": "1.0", "onnxscript": "0.1", "litert-torch": "0.10",
             "ai-edge-quantizer": "0.10", "ai-edge-litert": "2.3", "onnxruntime": "1.32"}
    monkeypatch.setattr(prepare, "package_version", lambda dist: table.get(dist))
    return table


def test_key_depends_on_source_and_toolchain(versions):
    p = Preparer(MOBILENET_V2)
    k = p.key(("onnx", "int8"))
    versions["onnxruntime"] = "1.33"
    assert p.key(("onnx", "int8")) != k
    k2 = p.key(("onnx", "int8"))
    versions["torch"] = "2.14.0"  # changes onnx-fp32, which onnx-int8 is built from
    assert p.key(("onnx", "int8")) != k2
    other = Preparer(replace(MOBILENET_V2, weights=replace(MOBILENET_V2.weights, sha256="f" * 64)))
    assert other.key(("onnx", "int8")) != p.key(("onnx", "int8"))


def test_missing_toolchain_makes_the_variant_unavailable(versions):
    del versions["litert-torch"]
    with pytest.raises(TargetUnavailable, match="litert-torch not installed"):
        Preparer(MOBILENET_V2).get(("tflite", "fp32"))


def test_damaged_cache_entry_is_not_served(versions, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path))
    p = Preparer(MOBILENET_V2)
    path = p.path(("onnx", "fp32"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"model bytes")
    from edgebench.models.artifact import sha256_of

    path.with_suffix(".json").write_text(json.dumps({"sha256": sha256_of(path)}))
    assert p.cached(("onnx", "fp32")) is not None
    path.write_bytes(b"model bytes, damaged")
    assert p.cached(("onnx", "fp32")) is None


def test_plan_builds_counts_sources_first_and_skips_cached(versions, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path))
    p = Preparer(MOBILENET_V2)
    assert p.plan_builds([("onnx", "int8"), ("tflite", "fp32")]) == [
        ("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32")]
    assert p.plan_builds([("torch", "fp32")]) == []          # the checkpoint itself: nothing to build
    versions.pop("keras", None)
    assert p.plan_builds([("keras", "fp32")]) == []          # converter missing: it will not be built


@pytest.mark.slow
def test_first_run_preparation_reports_step_and_converter_stage(tmp_path, monkeypatch):
    """A fresh cache: the user sees "first run", step k/n and what the converter is doing."""
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path))
    steps: list[str] = []
    p = Preparer(MOBILENET_V2, on_step=steps.append)
    assert p.plan_builds([("onnx", "fp32")]) == [("onnx", "fp32")]
    artifact = p.get(("onnx", "fp32"))
    assert artifact.path.is_file()
    assert steps[0] == "first run: converting, cached afterwards - step 1/1 mobilenet_v2 onnx-fp32"
    assert any(s.endswith(": exporting with torch.onnx.export (dynamo), dynamic batch") for s in steps), steps
    steps.clear()
    p.plan_builds([("onnx", "fp32")])
    p.get(("onnx", "fp32"))
    assert steps == []   # cached: nothing to announce

"""Issue 26: LiteRT's int8 mobilenet_v2 loses too much in its last 160-channel blocks, so the
recipe keeps them float. Measured against the float TFLite file it was quantized from, on the
shared dev images (read in place; skipped where ../shared is absent).

The old recipe (all int8) agreed with fp32 on 290 of the 300 dev images with a mean |logit
error| of 0.283; the new one 0.181 (RESULTS.md, issue 26). The logit error is the robust
figure (a mean over 300 x 1000 logits, where top-1 agreement moves by whole images), so the
test holds it below 0.24, between the two, and agreement at >= 96% beside it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgebench.models import prepare
from edgebench.models.prepare import Preparer
from edgebench.models.zoo import MOBILENET_V2
from tests.conftest import REPO

DEV_SET = REPO.parent / "shared" / "data" / "imagenet-sample-dev"
MAX_MEAN_LOGIT_ERROR = 0.24
MIN_AGREEMENT = 0.96


@pytest.fixture
def versions(monkeypatch):
    monkeypatch.setattr(prepare, "package_version", lambda dist: "1.0")


def test_float_layers_key_the_tflite_int8_variant_only(versions):
    """mobilenet_v2's old int8 file (no float layers) is rebuilt; its other variants stay cached."""
    mixed, plain = Preparer(MOBILENET_V2), Preparer(replace(MOBILENET_V2, litert_int8_float_layers=()))
    changed = [v for v in prepare.RECIPES if mixed.key(v) != plain.key(v)]
    assert changed == [("tflite", "int8")]
    other = Preparer(replace(MOBILENET_V2, litert_int8_float_layers=("InvertedResidual_16",)))
    assert other.key(("tflite", "int8")) not in (mixed.key(("tflite", "int8")), plain.key(("tflite", "int8")))


def test_a_model_without_float_layers_keeps_its_key(versions):
    """Its int8 file is built exactly as before (same ai-edge-quantizer recipe), so the key is the
    one it had before the field existed: no needless rebuild (efficientnet_lite0, retrained models)."""
    import hashlib
    import json

    plain = Preparer(replace(MOBILENET_V2, litert_int8_float_layers=()))
    material = {"source_sha256": MOBILENET_V2.weights.sha256, "variant": ["tflite", "int8"],
                "toolchain": {"ai-edge-quantizer": "1.0", "ai-edge-litert": "1.0"},
                "recipe": prepare.RECIPE_VERSION, "from": plain.key(("tflite", "fp32")),
                "calibration": plain.calibration_key()}
    old_key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]
    assert plain.key(("tflite", "int8")) == old_key


def test_recipe_leaves_the_named_layers_float():
    from ai_edge_quantizer import recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    from edgebench.models.quantize import tflite_int8_recipe

    assert tflite_int8_recipe() == recipe.static_wi8_ai8()
    mixed = tflite_int8_recipe(MOBILENET_V2.litert_int8_float_layers)
    assert [r["regex"] for r in mixed[1:]] == list(MOBILENET_V2.litert_int8_float_layers)
    assert all(r["algorithm_key"] == AlgorithmName.NO_QUANTIZE for r in mixed[1:])


def _nhwc(images, prep) -> list[np.ndarray]:
    from edgebench.models.images import load_image, to_float_nchw

    return [np.ascontiguousarray(to_float_nchw(load_image(image), prep).transpose(0, 2, 3, 1)) for image in images]


def _logits(path, inputs: list[np.ndarray]) -> np.ndarray:
    from edgebench.runtimes.litert import create_interpreter

    interpreter = create_interpreter(path, num_threads=2)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for x in inputs:
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            x = np.clip(np.round(x / scale) + zero, -128, 127).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], np.ascontiguousarray(x))
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"]).astype(np.float64).ravel()
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y - zero) * scale
        rows.append(y)
    return np.array(rows)


@pytest.mark.slow
def test_litert_int8_mobilenet_v2_stays_close_to_fp32_on_imagenet_images():
    if not DEV_SET.is_dir():
        pytest.skip("../shared/data/imagenet-sample-dev is not present")
    images = sorted(DEV_SET.glob("*.JPEG"))
    preparer = Preparer(MOBILENET_V2)
    int8, fp32 = preparer.get(("tflite", "int8")), preparer.get(("tflite", "fp32"))
    inputs = _nhwc(images, MOBILENET_V2.preprocessing)
    q, f = _logits(int8.path, inputs), _logits(fp32.path, inputs)
    error = float(np.abs(q - f).mean())
    agreement = float((q.argmax(1) == f.argmax(1)).mean())
    assert error < MAX_MEAN_LOGIT_ERROR, f"mean |logit error| {error:.3f} on {len(images)} images"
    assert agreement >= MIN_AGREEMENT, f"top-1 agreement {agreement:.1%} on {len(images)} images"

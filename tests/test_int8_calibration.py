"""Issue 11: the calibration set (--calibration DIR), its place in the cache key, the
percentile ranges, and the recorded int8 check that `run` warns about."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgebench.errors import UserError
from edgebench.models import prepare
from edgebench.models.calibration import (HOLD_BACK_EVERY, MIN_CALIBRATION_IMAGES, calibration_photos,
                                          calibration_set_from, shipped_calibration_set)
from edgebench.models.prepare import Preparer
from edgebench.models.zoo import EFFICIENTNET_LITE0, MOBILENET_V2
from tests.conftest import run_cli


@pytest.fixture
def versions(monkeypatch):
    table = {"torch": "2.13.0", "onnx": "1.0", "onnxscript": "0.1", "litert-torch": "0.10",
             "ai-edge-quantizer": "0.10", "ai-edge-litert": "2.3", "onnxruntime": "1.32"}
    monkeypatch.setattr(prepare, "package_version", lambda dist: table.get(dist))
    return table


def _photos(folder, n):
    """n distinct real photos (the shipped ones, mirrored for more) written as PNG files."""
    from PIL import Image, ImageOps

    folder.mkdir(parents=True, exist_ok=True)
    sources = calibration_photos()
    for i in range(n):
        with Image.open(sources[i % len(sources)]) as img:
            img = img.convert("RGB")
            img = ImageOps.mirror(img) if (i // len(sources)) % 2 else img
            img.resize((96, 96)).save(folder / f"img{i:03d}.png")
    return folder


def test_shipped_set_holds_back_every_fifth_photo():
    cal = shipped_calibration_set()
    assert cal.size == len(calibration_photos()) and cal.views == 3
    assert len(cal.held_back) == cal.size // HOLD_BACK_EVERY
    assert not set(cal.held_back) & set(cal.calibrated)
    assert set(cal.held_back) | set(cal.calibrated) == set(cal.images)
    assert cal.describe()["calibrated_on"] == len(cal.calibrated)
    from edgebench.models.images import default_image

    assert cal.check_only == (default_image(),) and default_image() not in cal.images   # checked, never calibrated
    assert len(list(cal.check_samples(MOBILENET_V2.preprocessing))) == 10 * (len(cal.held_back) + 1)


def test_user_folder_is_hashed_and_split(tmp_path):
    folder = _photos(tmp_path / "cal", 12)
    (folder / "notes.txt").write_text("not an image, ignored")
    cal = calibration_set_from(folder)
    assert cal.size == 12 and cal.views == 1 and len(cal.held_back) == 2
    assert calibration_set_from(folder).sha256 == cal.sha256      # stable
    (folder / "img000.png").write_bytes((folder / "img001.png").read_bytes())
    assert calibration_set_from(folder).sha256 != cal.sha256      # content is part of it
    samples = list(cal.samples(MOBILENET_V2.preprocessing, cal.held_back))
    assert len(samples) == 2 and samples[0].shape == (1, 3, 224, 224)


@pytest.mark.parametrize("setup, fragment", [
    (lambda d: d.mkdir(), "it is empty"),
    (lambda d: (d.mkdir(), (d / "a.txt").write_text("x"), (d / "b.csv").write_text("y")), "none of them JPEG/PNG/BMP"),
    (lambda d: _photos(d, 1), f"holds 1 image(s); calibration needs at least {MIN_CALIBRATION_IMAGES}"),
    (lambda d: (_photos(d, 12), (d / "broken.jpg").write_text("not a jpeg")), "broken.jpg is not a readable image"),
    (lambda d: None, "calibration directory not found"),
    (lambda d: d.write_text("a file"), "is not a directory"),
])
def test_bad_calibration_folders_are_one_line(tmp_path, setup, fragment):
    folder = tmp_path / "cal"
    setup(folder)
    with pytest.raises(UserError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        calibration_set_from(folder)


@pytest.mark.parametrize("setup", ["empty", "non-images", "one image"])
def test_prepare_refuses_bad_calibration_and_leaves_the_cache_untouched(tmp_path, setup):
    folder = tmp_path / "cal"
    folder.mkdir()
    if setup == "non-images":
        (folder / "readme.txt").write_text("no images here")
    elif setup == "one image":
        _photos(folder, 1)
    cache = tmp_path / "cache"
    cache.mkdir()
    proc = run_cli("models", "prepare", "mobilenet_v2", "--calibration", folder, "--offline",
                   env={"EDGEBENCH_CACHE_DIR": str(cache)}, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in proc.stderr, proc.stderr
    assert list(cache.iterdir()) == []


def test_calibration_set_keys_int8_variants_only(versions, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    default = Preparer(MOBILENET_V2)
    custom = Preparer(MOBILENET_V2, calibration=_photos(tmp_path / "cal", 10))
    for variant in (("onnx", "fp32"), ("tflite", "fp32")):
        assert default.key(variant) == custom.key(variant)
    for variant in (("onnx", "int8"), ("tflite", "int8")):
        assert default.key(variant) != custom.key(variant)
        assert default.path(variant) != custom.path(variant)   # both can be cached side by side


def test_child_process_gets_the_calibration_folder(versions, tmp_path, monkeypatch):
    """The converter child rebuilds the same Preparer: same folder, same key, same file."""
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    folder = _photos(tmp_path / "cal", 10)
    seen = []

    class FakePopen:
        def __init__(self, cmd, **_kw):
            seen.append(cmd)
            self.returncode = 1

        def poll(self):
            return 1

    monkeypatch.setattr(prepare.subprocess, "Popen", FakePopen)
    p = Preparer(MOBILENET_V2, calibration=folder, weights=tmp_path / "w.pth")
    with pytest.raises(prepare.PrepareFailed):
        p._build_in_subprocess(("onnx", "int8"), lambda _s: None)
    with pytest.raises(prepare.PrepareFailed):
        p._build_in_subprocess(("onnx", "fp32"), lambda _s: None)
    assert seen[0][-1] == str(folder) and seen[1][-1] == str(tmp_path / "w.pth")


def test_percentile_ranges_cut_the_tails_and_keep_zero():
    from edgebench.models.quantize import percentile_ranges

    rng = np.random.default_rng(0)
    samples = [rng.standard_normal(10_000).astype(np.float32) + 3 for _ in range(4)]
    samples[0][0] = 1000.0   # one outlier must not stretch the range
    ranges = percentile_ranges(lambda x: {"t": x, "relu": np.maximum(x - 3, 0)}, samples, 99.9)
    lo, hi = ranges["t"]
    assert -1.5 < lo <= 0.0 and 5.5 < hi < 8   # 0 included; the 1000 cut off
    assert ranges["relu"][0] == 0.0 and ranges["relu"][1] < 5


def test_int8_check_warning_and_run_screen(monkeypatch):
    from edgebench.models.int8_check import warning_for
    from tests.test_run_screen import _ok, _run, _screen

    check = {"samples": 50, "decisive_samples": 40, "against": "onnx-fp32",
             "by_runtime": {"onnxruntime": {"top1_agreement": 0.75, "mean_abs_logit_error": 0.9},
                            "openvino": {"top1_agreement": 0.975, "mean_abs_logit_error": 0.2},
                            "litert": {"top1_agreement": 0.925, "mean_abs_logit_error": 0.3}}}
    assert warning_for(check, "onnxruntime").startswith("warning: its int8 model agreed with the float "
                                                        "model on 75% of 40")   # CI 59%-87%: clearly below
    assert warning_for(check, "litert").startswith("note:")   # 37/40: below 95%, but the CI reaches it
    assert warning_for(check, "openvino") is None and warning_for(None, "openvino") is None
    results = [_ok("torch-fp32", "fp32", 6.0, (5.9, 6.1)),
               replace_check(_ok("onnxruntime-int8", "int8", 2.0, (1.9, 2.1)), check),
               replace_check(_ok("openvino-int8", "int8", 1.5, (1.4, 1.6)), check),
               replace_check(_ok("litert-int8", "int8", 1.7, (1.6, 1.8)), check)]
    screen = _screen(_run(results), monkeypatch)
    warned = [ln for ln in screen.splitlines() if "held-back calibration" in ln]
    assert len(warned) == 2, screen
    assert warned[0].startswith("warning: onnxruntime-int8:") and warned[1].startswith("note: litert-int8:")
    # the check travels with the result (JSON, store) as an optional field
    assert json.loads(results[1].model_dump_json())["int8_check"]["by_runtime"]["onnxruntime"]["top1_agreement"] == 0.75


def replace_check(result, check):
    result.int8_check = check
    return result


def test_efficientnet_has_no_keras_variant_and_its_own_preprocessing():
    assert ("keras", "fp32") not in EFFICIENTNET_LITE0.variants
    assert {("onnx", "int8"), ("tflite", "int8"), ("onnx", "fp32"), ("tflite", "fp32"),
            ("torch", "fp32")} == set(EFFICIENTNET_LITE0.variants)
    p = EFFICIENTNET_LITE0.preprocessing
    assert p.mean == (127 / 255,) * 3 and p.std == (128 / 255,) * 3 and p.name == "efficientnet-lite"


def test_models_prepare_calibration_does_not_apply_to_published_int8(tmp_path):
    folder = _photos(tmp_path / "cal", 10)
    proc = run_cli("models", "prepare", "mobilenet_v2_coral", "--calibration", folder, "--offline",
                   env={"EDGEBENCH_CACHE_DIR": str(tmp_path / "cache")}, timeout=120)
    assert proc.returncode == 2 and "does not apply" in proc.stderr, proc.stderr
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_agreement_is_counted_on_samples_the_float_model_is_sure_of(tmp_path):
    """A float model that hesitates (a texture) cannot judge agreement: those samples only count
    in the mean |logit error|. Real files and runtimes: two tiny ONNX models that differ by a
    tie-break on the undecided samples."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgebench.models.int8_check import check_int8

    def model(path, bias):
        weight = np.zeros((3 * 224 * 224, 4), np.float32)
        weight[0, 0] = 10.0     # pixel 0 bright -> class 0, surely
        graph = helper.make_graph(
            [helper.make_node("Flatten", ["input"], ["flat"]), helper.make_node("Gemm", ["flat", "w", "b"], ["logits"])],
            "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])],
            [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.array(bias, np.float32), "b")])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)

    model(tmp_path / "f.onnx", [0.0, 0.01, 0.0, 0.0])   # undecided samples: class 1 by a hair
    model(tmp_path / "q.onnx", [0.0, 0.0, 0.01, 0.0])   # ... class 2 by a hair
    sure, unsure = np.zeros((1, 3, 224, 224), np.float32), np.zeros((1, 3, 224, 224), np.float32)
    sure[0, 0, 0, 0] = 1.0
    check = check_int8("onnx", tmp_path / "q.onnx", tmp_path / "f.onnx", [sure, sure, unsure, unsure],
                       ["onnxruntime"])
    entry = check["by_runtime"]["onnxruntime"]
    assert check["samples"] == 4 and check["decisive_samples"] == 2
    assert entry["top1_agreement"] == 1.0 and entry["top1_agreement_all_samples"] == 0.5


# -- the detector's check: every output, NaN answered as a miss -----------------------------------

class _FourOutputDetector:
    """A stand-in runtime whose session ends in TFLite's detection post-processing (boxes,
    classes, scores, count: four outputs); `nan` makes its int8 file answer NaN boxes."""

    name = "stand-in"

    def __init__(self, nan: bool = False):
        self.nan = nan
        self.options_type = type("O", (), {"build": staticmethod(lambda *a, **k: None)})

    def version(self) -> str:
        return "1"

    def load(self, artifact, options):
        from edgebench.tensors import TensorSpec

        runtime = self

        class Session:
            input_spec = TensorSpec("x", (1, 3, 8, 8), "float32", "NCHW")
            output_specs = (TensorSpec("boxes", (1, 2, 4), "float32"), TensorSpec("classes", (1, 2), "float32"),
                            TensorSpec("scores", (1, 2), "float32"), TensorSpec("count", (1,), "float32"))
            output_spec = output_specs[0]

            def set_input(self, x):
                pass

            def invoke(self):
                pass

            def output(self):
                boxes = np.array([[[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]]], np.float32)
                if runtime.nan and artifact.precision == "int8":
                    boxes[:] = np.nan
                return (boxes, np.array([[0.0, 1.0]], np.float32), np.array([[0.9, 0.8]], np.float32),
                        np.array([2.0], np.float32))

            def close(self):
                pass

        return Session()


@pytest.mark.parametrize("nan, f1", [(False, 1.0), (True, 0.0)])
def test_a_detector_with_post_processed_outputs_is_checked_on_all_four(monkeypatch, tmp_path, nan, f1):
    """A user's detector ending in boxes/classes/scores/count: every output is read (before, the
    check took one array of the four and failed on every runtime, so no warning was possible),
    and an int8 file answering NaN agrees with nothing."""
    from edgebench.models import int8_check

    monkeypatch.setattr("edgebench.runtimes.base.load_runtime", lambda key: _FourOutputDetector(nan))
    sample = np.zeros((1, 3, 8, 8), np.float32)
    check = int8_check.check_detector_int8("onnx", tmp_path / "q.onnx", tmp_path / "f.onnx", [sample, sample],
                                           ["stand-in"])
    entry = check["by_runtime"]["stand-in"]
    assert "error" not in entry, entry
    assert entry["box_agreement"] == f1 and check["samples_with_objects"] == 2

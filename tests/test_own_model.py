"""A user's own float model (.pt2 from torch.export, or ONNX) gets the zoo's variants, cached and
checked; a stranger's .pt2 runs no code; archive bombs and impossible tensors are refused before
they are unpacked; the Edge TPU compiler is run when on the PATH (a stand-in here)."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import stat
import zipfile
from pathlib import Path

import pytest

from edgebench.errors import TargetUnavailable, UserError
from tests.conftest import run_cli

DEV_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample-dev"
CALIBRATION_IMAGES = 12   # >= MIN_CALIBRATION_IMAGES: 10 calibrate, 2 are held back to check


def _tiny_classifier(op=None):
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                                          nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
            self.head = nn.Linear(16, 1000)

        def forward(self, x):
            y = self.features(x)
            if op is not None:
                y = op(y)
            return self.head(y.mean((2, 3)))

    torch.manual_seed(3)
    return Tiny().eval()


def _save_pt2(module, path: Path) -> Path:
    import torch

    torch.export.save(torch.export.export(module, (torch.zeros(1, 3, 64, 64),)), str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    import torch

    folder = tmp_path_factory.mktemp("own-models")
    module = _tiny_classifier()
    _save_pt2(module, folder / "tiny.pt2")
    torch.onnx.export(module, (torch.zeros(1, 3, 64, 64),), str(folder / "tiny.onnx"), dynamo=True,
                      external_data=False, verbose=False, input_names=["image"], output_names=["logits"])
    return folder


@pytest.fixture(scope="module")
def calibration(tmp_path_factory) -> Path:
    if not DEV_PHOTOS.is_dir():
        pytest.skip("../shared/data/imagenet-sample-dev is not present")
    folder = tmp_path_factory.mktemp("calibration")
    for photo in sorted(DEV_PHOTOS.glob("*.JPEG"))[:CALIBRATION_IMAGES]:
        (folder / photo.name).symlink_to(photo)
    return folder


# --- a stranger's .pt2 -------------------------------------------------------------------------

class WritesAFile:
    """Unpickling this opens (creates) a file: what a hostile archive would do, harmlessly."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def _rewrite(source: Path, target: Path, change) -> Path:
    """A copy of a .pt2 archive with change(name, data) -> data | None (None drops the entry)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info, data)
    return target


def _with_pickled_weight(models: Path, target: Path, marker: Path) -> Path:
    def change(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            first = next(iter(config["config"].values()))
            first["use_pickle"] = True
            return json.dumps(config).encode()
        if name.endswith("data/weights/weight_0"):
            return pickle.dumps(WritesAFile(marker))
        return data
    return _rewrite(models / "tiny.pt2", target, change)


def test_a_pickled_weight_is_refused_in_one_line_and_never_unpickled(models, tmp_path):
    marker = tmp_path / "pwned"
    evil = _with_pickled_weight(models, tmp_path / "evil.pt2", marker)
    proc = run_cli("run", "--model", evil, "--no-save", timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() + proc.stdout.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len([ln for ln in lines if ln.startswith("error:")]) == 1 and "pickle" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def test_torch_export_load_would_have_run_it(models, tmp_path):
    """The test above can fail: torch's own loader unpickles the same archive (and the file appears)."""
    import torch

    marker = tmp_path / "pwned"
    evil = _with_pickled_weight(models, tmp_path / "evil.pt2", marker)
    with contextlib.suppress(Exception):   # the program may not rebuild; the unpickling has happened
        torch.export.load(str(evil))
    assert marker.exists()


def test_hostile_sample_inputs_and_guards_run_nothing(models, tmp_path):
    """The sample inputs (a pickle) are never read and guards_code is never compiled: the model
    loads and runs, and neither file appears."""
    import torch

    from edgebench.arch.pt2 import load_exported_module

    by_inputs, by_guard = tmp_path / "by-inputs", tmp_path / "by-guard"

    def change(name, data):
        if "sample_inputs" in name:
            return pickle.dumps(WritesAFile(by_inputs))
        if name.endswith("models/model.json"):
            program = json.loads(data)
            program["guards_code"] = [f"open({str(by_guard)!r}, 'w') is None"]
            return json.dumps(program).encode()
        return data

    evil = _rewrite(models / "tiny.pt2", tmp_path / "evil.pt2", change)
    module = load_exported_module(evil)
    assert tuple(module(torch.zeros(1, 3, 64, 64)).shape) == (1, 1000)
    assert not by_inputs.exists() and not by_guard.exists()


@pytest.mark.parametrize("field, value, says", [
    ("target", "torch.os.system", "not a core ATen operator"),
    ("target", "builtins.exec", "not a core ATen operator"),
    ("expr", "__import__('os').system('true')", "symbolic shape expression"),
    ("expr", "s0.__class__", "symbolic shape expression"),
])
def test_code_in_the_program_text_is_refused(models, tmp_path, field, value, says):
    from edgebench.arch.pt2 import load_exported_program

    def change(name, data):
        if not name.endswith("models/model.json"):
            return data
        program = json.loads(data)
        if field == "target":
            program["graph_module"]["graph"]["nodes"][0]["target"] = value
        else:
            program["range_constraints"] = {value: {"min_val": 1, "max_val": 8}}
        return json.dumps(program).encode()

    with pytest.raises(UserError, match=says):
        load_exported_program(_rewrite(models / "tiny.pt2", tmp_path / "evil.pt2", change))


def test_zip_bomb_is_refused_before_unpacking(tmp_path):
    from edgebench.arch import pt2

    bomb = tmp_path / "bomb.pt2"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("m/models/model.json", b"{}")
        z.writestr("m/data/weights/weight_0", b"\0" * (pt2.MAX_RATIO * 4096))   # inflates ~1000x
    with pytest.raises(UserError, match="refused before unpacking"):
        pt2.read_pt2(bomb)


def test_too_many_entries_and_huge_declared_sizes_are_refused(tmp_path, monkeypatch):
    from edgebench.arch import pt2

    many = tmp_path / "many.pt2"
    with zipfile.ZipFile(many, "w") as z:
        for i in range(30):
            z.writestr(f"m/extra/{i}", b"")
    monkeypatch.setattr(pt2, "MAX_ENTRIES", 20)
    with pytest.raises(UserError, match="30 entries"):
        pt2.read_pt2(many)
    monkeypatch.setattr(pt2, "MAX_ENTRIES", 100_000)
    monkeypatch.setattr(pt2, "MAX_TOTAL_BYTES", 1000)
    big = tmp_path / "big.pt2"
    with zipfile.ZipFile(big, "w") as z:
        z.writestr("m/models/model.json", b"{}" + b" " * 2000)
    with pytest.raises(UserError, match="declares .* uncompressed"):
        pt2.read_pt2(big)


def test_a_huge_declared_tensor_is_refused_before_allocation(models, tmp_path):
    """A weight whose record is empty but whose metadata declares 2**40 floats (torch's loader
    would allocate torch.zeros of that size)."""
    from edgebench.arch.pt2 import read_pt2

    def change(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            first = next(iter(config["config"].values()))
            first["tensor_meta"]["sizes"] = [{"as_int": 1 << 20}, {"as_int": 1 << 20}]
            return json.dumps(config).encode()
        if name.endswith("data/weights/weight_0"):
            return b""
        return data

    with pytest.raises(UserError, match="refused before unpacking"):
        read_pt2(_rewrite(models / "tiny.pt2", tmp_path / "huge.pt2", change))


def test_not_an_archive_is_one_line(tmp_path):
    fake = tmp_path / "fake.pt2"
    fake.write_bytes(b"not a zip")
    proc = run_cli("run", "--model", fake, "--no-save", timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "not a .pt2 archive" in proc.stderr


def test_a_pt2_runs_on_torch_as_the_same_frozen_graph_as_the_plain_module(models):
    """torch-fp32 of a .pt2 runs its program's module traced, frozen and optimized exactly as the
    zoo's torch target runs a plain module: a TorchScript graph with the same operators (the
    exported module's input checks and pytree flattening are traced away, not run per call) and
    the same answer."""
    from collections import Counter

    import numpy as np
    import torch

    from edgebench.models.own.source import open_own_model
    from edgebench.runtimes.base import load_runtime

    runtime = load_runtime("torch")
    artifact = open_own_model(models / "tiny.pt2").artifact_for("torch-fp32", "fp32", ("torch",))
    session = runtime.load(artifact, runtime.options_type.build("torch", {}, device="cpu", precision="fp32"))
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    plain = _tiny_classifier()
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(plain, torch.from_numpy(x))))
        expected = plain(torch.from_numpy(x)).numpy()
    try:
        assert isinstance(session._module, torch.jit.ScriptModule) and session.settings["mode"] == "frozen"
        kinds = Counter(node.kind() for node in session._module.graph.nodes())
        assert kinds == Counter(node.kind() for node in frozen.graph.nodes())
        assert not any("check" in kind or "pytree" in kind or "Python" in kind for kind in kinds), kinds
        session.set_input(x)
        session.invoke()
        assert np.allclose(session.output(), expected, atol=1e-4)
    finally:
        session.close()


# --- calibration -------------------------------------------------------------------------------

def test_too_few_or_unreadable_calibration_images_are_one_line_and_nothing_is_cached(models, tmp_path, calibration):
    cache = tmp_path / "cache"
    few = tmp_path / "few"
    few.mkdir()
    for photo in sorted(calibration.iterdir())[:3]:
        (few / photo.name).symlink_to(photo.resolve())
    broken = tmp_path / "broken"
    broken.mkdir()
    for photo in sorted(calibration.iterdir()):
        (broken / photo.name).symlink_to(photo.resolve())
    (broken / "zz.jpg").write_bytes(b"not a jpeg")
    for folder, says in ((few, "calibration needs at least 10"), (broken, "not a readable image")):
        proc = run_cli("models", "prepare", models / "tiny.onnx", "--calibration", folder,
                       env={"EDGEBENCH_CACHE_DIR": str(cache)}, timeout=300)
        assert proc.returncode == 2 and says in proc.stderr, proc.stdout + proc.stderr
        assert proc.stderr.strip().count("\n") == 0
        assert not any(p.is_file() for p in cache.rglob("*"))


def test_without_calibration_the_builtin_photos_come_with_a_warning(models):
    proc = run_cli("run", "--model", models / "tiny.onnx", "--targets", "onnxruntime-int8", "--runs", "2",
                   "--no-save", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "built-in photos, which may not represent your data" in proc.stdout
    # neighbour: only float targets, nothing calibrated, no warning
    proc = run_cli("run", "--model", models / "tiny.onnx", "--targets", "onnxruntime-fp32", "--runs", "2",
                   "--no-save", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "built-in photos" not in proc.stdout


def _int8_onnx(models: Path) -> Path:
    """The tiny classifier quantized by ONNX Runtime (dynamic: int8 weights): a file that runs as it is."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8 = models / "tiny-int8.onnx"
    if not int8.is_file():
        quantize_dynamic(str(models / "tiny.onnx"), str(int8), weight_type=QuantType.QInt8)
    return int8


def _embedder_onnx(models: Path) -> Path:
    """A float image model with a 16-d output: read as an embedding, a task that gets no int8 variant."""
    import torch
    from torch import nn

    path = models / "embedder.onnx"
    if not path.is_file():
        torch.manual_seed(5)
        module = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                               nn.Linear(8, 16)).eval()
        torch.onnx.export(module, (torch.zeros(1, 3, 64, 64),), str(path), dynamo=True, external_data=False,
                          verbose=False, input_names=["image"], output_names=["embedding"])
    return path


@pytest.mark.parametrize("which", ["int8 onnx", "embedder"])
def test_no_calibration_warning_where_nothing_is_calibrated(models, which):
    """An already-int8 .onnx runs as it is and an embedding model gets no int8 variant: neither is
    calibrated on the built-in photos, so neither run warns that it is (the float classifier does:
    the test above)."""
    from typer.testing import CliRunner

    from edgebench.cli.app import app
    from edgebench.models.own.source import OwnModelSource, open_own_model

    model = _int8_onnx(models) if which == "int8 onnx" else _embedder_onnx(models)
    source = open_own_model(model)   # what each file is, so the test checks the case it names
    assert (not isinstance(source, OwnModelSource)) if which == "int8 onnx" else bool(source.no_int8)
    target = "onnxruntime-int8" if which == "int8 onnx" else "onnxruntime-fp32"
    result = CliRunner().invoke(app, ["run", "--model", str(model), "--targets", target, "--runs", "2",
                                      "--settle", "0", "--no-save"])
    assert result.exit_code == 0, result.output
    assert "built-in photos" not in result.output


def test_the_calibration_warning_needs_a_target_that_runs_an_int8_variant(models):
    """Given the run's targets, the warning is said only if one of them runs an int8 variant built
    from this file: not for fp32 targets only, nor for LiteRT int8 of an ONNX file (no TFLite
    variant from ONNX)."""
    from edgebench.cli.run import console, warn_builtin_calibration

    def warned(targets) -> bool:
        with console.capture() as captured:
            warn_builtin_calibration(str(models / "tiny.onnx"), None, targets)
        return "built-in photos" in captured.get()

    assert warned(None) and warned(("onnxruntime-fp32", "openvino-int8"))
    assert not warned(("onnxruntime-fp32",)) and not warned(("litert-int8",)) and not warned(())
    with console.capture() as captured:   # a calibration folder given: nothing to warn about
        warn_builtin_calibration(str(models / "tiny.onnx"), models, ("onnxruntime-int8",))
    assert "built-in photos" not in captured.get()


# --- the Edge TPU compiler ---------------------------------------------------------------------

STAND_IN = """#!/bin/sh
# Coral's edgetpu_compiler, played: checks it is called as `-s -o DIR FILE.tflite`.
if [ "$1" = "--version" ]; then echo "Edge TPU Compiler version 16.0.384591198 (stand-in)"; exit 0; fi
[ "$1" = "-s" ] && [ "$2" = "-o" ] && [ -d "$3" ] && [ -f "$4" ] && [ $# -eq 4 ] || { echo "bad arguments: $*"; exit 3; }
case "$4" in *.tflite) ;; *) echo "not a .tflite: $4"; exit 3;; esac
name=$(basename "$4" .tflite)
{ cat "$4"; printf 'edgetpu-custom-op'; } > "$3/${name}_edgetpu.tflite"
echo "Number of operations that will run on Edge TPU: 3"
"""


def test_the_edgetpu_compiler_is_run_with_its_arguments_when_on_the_path(tmp_path, monkeypatch):
    from edgebench.models.own import edgetpu_compiler as etc

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "edgetpu_compiler"
    script.write_text(STAND_IN)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    int8 = tmp_path / "model-int8.tflite"
    int8.write_bytes(b"\0\0\0\0TFL3 int8 model")
    out = tmp_path / "model_edgetpu.tflite"
    details = etc.compile_for_edgetpu(int8, out)
    assert out.read_bytes().endswith(b"edgetpu-custom-op")
    assert details["compiler"].startswith("Edge TPU Compiler version")
    other = tmp_path / "model.bin"   # the stand-in refuses what the real compiler would not take
    other.write_bytes(b"x")
    with pytest.raises(RuntimeError, match="not a .tflite"):
        etc.compile_for_edgetpu(other, tmp_path / "o.tflite")


def test_without_the_compiler_one_line_says_how_to_get_it(monkeypatch, tmp_path):
    from edgebench.models.own import edgetpu_compiler as etc

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetUnavailable, match="Coral's apt repository") as caught:
        etc.compiler_version()
    assert "\n" not in str(caught.value) and "x86-64 Linux only" in str(caught.value)


# --- every variant, built, timed and checked (real conversions: slow) ----------------------------

def _run(model: Path, calibration: Path, targets: tuple[str, ...] | None = None):
    from edgebench.bench.config import RunConfig
    from edgebench.bench.execute import run
    from edgebench.protocol import Protocol

    config = RunConfig(model=str(model), calibration=calibration, targets=targets,
                       protocol=Protocol(name="test", warmup=1, runs=3, settle_s=0.0))
    return run(config)


def _cpu_results(result) -> dict:
    return {r.target: r for r in result.results if "@" not in r.target}


@pytest.mark.slow
@pytest.mark.parametrize("kind, expected", [
    ("pt2", {"torch-fp32", "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32", "openvino-int8",
             "litert-fp32", "litert-int8"}),
    ("onnx", {"onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32", "openvino-int8"}),
])
def test_every_variant_is_built_timed_and_checked_then_cached(models, calibration, kind, expected):
    from edgebench.bench.config import RunConfig
    from edgebench.bench.plan import make_plan
    from edgebench.models.own.source import open_own_model

    result = _run(models / f"tiny.{kind}", calibration)
    ran = {name: r for name, r in _cpu_results(result).items() if r.status == "ok"}
    assert expected <= set(ran), {r.target: (r.status, r.error) for r in result.results}
    for name in expected:
        assert ran[name].latency_ms is not None and ran[name].samples_ms
        if name.endswith("int8"):
            check = ran[name].int8_check
            assert check and check["calibration"]["source"] == str(calibration.resolve())
            assert check["against"].endswith("fp32") and check["by_runtime"], check
    if kind == "onnx":   # no TFLite converter without a download: said, not silently absent
        source = open_own_model(models / "tiny.onnx", calibration)
        with pytest.raises(TargetUnavailable, match="onnx2tf"):
            source.artifact_for("litert-fp32", "fp32", ("tflite",))
    # A second run converts nothing: no child process is started.
    source = open_own_model(models / f"tiny.{kind}", calibration)
    make_plan(RunConfig(model=str(models / f"tiny.{kind}"), calibration=calibration), source=source)
    assert source.builder.builds == 0
    # `models list` shows them.
    from edgebench.models.own.builder import list_built

    listed = [entry for entry in list_built() if entry["sha256"] == source.sha256]
    assert listed and {"onnx-int8", "openvino-int8"} <= set(listed[0]["variants"]), listed
    assert listed[0]["path"] == str((models / f"tiny.{kind}").resolve())


@pytest.mark.slow
def test_a_detector_gets_int8_variants_checked_by_box_agreement(tmp_path, calibration):
    from tests.task_models import raw_head_detector

    detector = raw_head_detector(tmp_path / "detector.onnx")
    result = _run(detector, calibration, ("onnxruntime-fp32", "onnxruntime-int8", "openvino-int8"))
    ran = _cpu_results(result)
    assert result.task == "detection"
    for name in ("onnxruntime-int8", "openvino-int8"):
        assert ran[name].status == "ok", ran[name].error
        check = ran[name].int8_check   # the zoo detector's check (int8_check.check_detector_int8)
        assert check["task"] == "detection" and "F1 of boxes" in check["method"], check
        entry = next(iter(check["by_runtime"].values()))
        assert entry["samples_with_objects"] == 0 or 0.0 <= entry["box_agreement"] <= 1.0, entry
        assert ran[name].agreement is not None   # the run's own box agreement with the float reference


@pytest.mark.slow
def test_an_op_one_converter_lacks_skips_that_variant_only(tmp_path, calibration):
    """litert-torch has no lowering for aten.logcumsumexp, and ONNX Runtime's quantization
    pre-processing (its symbolic shape inference) fails on the exported graph: those variants are
    skipped, each with its converter's reason in one line; the torch and ONNX fp32 variants still
    run."""
    import torch

    odd = _save_pt2(_tiny_classifier(lambda y: torch.logcumsumexp(y, dim=3)), tmp_path / "odd.pt2")
    result = _run(odd, calibration, ("litert-fp32", "onnxruntime-fp32", "onnxruntime-int8", "torch-fp32"))
    ran = _cpu_results(result)
    assert ran["litert-fp32"].status == "unavailable"
    assert "Lowering not found: aten.logcumsumexp" in ran["litert-fp32"].error
    assert ran["onnxruntime-int8"].status == "unavailable" and "onnx-int8 not built:" in ran["onnxruntime-int8"].error
    for skipped in ("litert-fp32", "onnxruntime-int8"):
        assert "\n" not in ran[skipped].error and "(log: " in ran[skipped].error
    assert ran["onnxruntime-fp32"].status == "ok" and ran["torch-fp32"].status == "ok", \
        {r.target: r.error for r in result.results}


def _float_answers_as_truth(model: Path, folder: Path, per_image: int = 2) -> Path:
    """COCO ground truth drawn from the float model's own top boxes on each image (read as `run`
    reads them: stretched, ImageNet mean/std), so that its fp32 targets score high and an int8
    variant whose boxes move loses points."""
    import numpy as np
    import onnxruntime as ort

    from edgebench.models.artifact import inspect_model_file
    from edgebench.models.images import (
        load_image,
        preprocessing_for,
        stretch_float_nchw,
    )
    from edgebench.tasks.base import Context, Labels
    from edgebench.tasks.detection import Detection
    from tests.task_models import CLASSES

    info = inspect_model_file(model)
    prep, _ = preprocessing_for(info.inputs[0])
    h, w = info.inputs[0].image_size
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    truth = json.loads((folder / "instances.json").read_text())
    truth["annotations"] = []
    for image in truth["images"]:
        x = stretch_float_nchw(load_image(folder / image["file_name"]), prep, (h, w)).astype(np.float32)
        outputs = tuple(session.run(None, {session.get_inputs()[0].name: x}))
        answer = Detection().decode(outputs, info.outputs, Context(Labels(CLASSES), (h, w), min_score=0.01))
        for box in answer.boxes[:per_image]:
            bw, bh = (box.xmax - box.xmin) * image["width"], (box.ymax - box.ymin) * image["height"]
            truth["annotations"].append({"id": len(truth["annotations"]) + 1, "image_id": image["id"],
                                         "category_id": CLASSES.index(box.label) + 1, "iscrowd": 0,
                                         "area": bw * bh, "bbox": [box.xmin * image["width"],
                                                                   box.ymin * image["height"], bw, bh]})
    path = folder / "float-answers.json"
    path.write_text(json.dumps(truth))
    return path


@pytest.mark.slow
def test_an_own_detectors_targets_are_scored_and_int8_losses_flagged(tmp_path, calibration):
    """run --accuracy-images/--annotations on a user's detector ONNX: its fp32 and int8 targets (the
    int8 variants built from the file) are each scored, and an int8 variant more than a point of
    mAP under its float twin is flagged (the seeded, untrained detector's ONNX Runtime int8 file
    moves its boxes far: 49.5 -> 0.5 when this was written)."""
    from typer.testing import CliRunner

    from benchmarks.accuracy_sets import shapes
    from edgebench.cli.app import app
    from tests.task_models import raw_head_detector

    folder = shapes(tmp_path, 6)
    detector = raw_head_detector(tmp_path / "detector.onnx")
    truth = _float_answers_as_truth(detector, folder)
    out = tmp_path / "run.json"
    result = CliRunner().invoke(app, [
        "run", "--model", str(detector), "--calibration", str(calibration), "--accuracy-images", str(folder),
        "--annotations", str(truth), "--labels", str(folder / "labels.txt"), "-t", "onnxruntime-fp32,onnxruntime-int8",
        "--runs", "2", "--settle", "0", "--no-save", "-o", str(out)])
    assert result.exit_code == 0, result.output
    scored = {r["target"]: r["accuracy"] for r in json.loads(out.read_text())["results"]}
    assert set(scored) == {"onnxruntime-fp32", "onnxruntime-int8"} and all(scored.values()), scored
    fp32, int8 = (scored[t]["figures"][0]["value"] for t in ("onnxruntime-fp32", "onnxruntime-int8"))
    assert fp32 - int8 > 0.01, (fp32, int8)
    text = " ".join(result.output.split())
    assert "warning: onnxruntime-int8 loses" in text and "more than the 1-point rule for int8" in text

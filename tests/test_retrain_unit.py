"""Retraining's parts without a real retrain: the image folder rules, the split, imprinting,
the request's checks, the safetensors float source, the fleet bundle, one-line CLI refusals."""

from __future__ import annotations

import io
import struct
import tarfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from edgebench.errors import UserError
from edgebench.retrain import dataset
from tests.conftest import run_cli


def _image(path, colour=(200, 30, 30), size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _classes(root, counts: dict[str, int]):
    for name, n in counts.items():
        for i in range(n):
            _image(root / name / f"{i}.png", (i * 20 % 255, len(name) * 30 % 255, 90))
    return root


def test_scan_reads_sorted_classes_and_skips_strays(tmp_path):
    root = _classes(tmp_path / "d", {"b": 3, "a": 2})
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("top-level file")
    (root / ".git").mkdir()
    data = dataset.scan(root)
    assert data.classes == ("a", "b")
    assert len(data.examples) == 5
    assert {e.label for e in data.examples if e.path.parent.name == "b"} == {1}
    assert sorted(reasons for reasons in data.skipped.values()) == ["not a JPEG/PNG/BMP file",
                                                                    "not inside a class folder"]


def test_unicode_and_spaces_in_class_names_are_classes(tmp_path):
    data = dataset.scan(_classes(tmp_path / "d", {"café crème": 2, "红茶 tea": 2}))
    assert data.classes == ("café crème", "红茶 tea")


@pytest.mark.parametrize("counts, message", [
    ({"only": 3}, "at least 2"),
    ({"a": 3, "b": 1}, "class 'b' has 1 readable image"),
])
def test_too_few_classes_or_images_are_refused(tmp_path, counts, message):
    with pytest.raises(UserError, match=message):
        dataset.scan(_classes(tmp_path / "d", counts))


def test_empty_class_folder_is_refused(tmp_path):
    root = _classes(tmp_path / "d", {"a": 2, "b": 2})
    (root / "c").mkdir()
    with pytest.raises(UserError, match="'c' .* holds no JPEG/PNG/BMP images"):
        dataset.scan(root)


def test_corrupt_images_are_skipped_up_to_a_tenth_then_refused(tmp_path):
    root = _classes(tmp_path / "d", {"a": 10, "b": 10})
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    data = dataset.scan(root)
    assert len(data.examples) == 20 and any("unreadable" in r for r in data.skipped.values())
    (root / "a" / "broken2.png").write_bytes(b"garbage")
    with pytest.raises(UserError, match="2 of 12 images in class 'a' are unreadable"):
        dataset.scan(root)


def test_class_names_differing_only_in_case_are_refused(tmp_path):
    with pytest.raises(UserError, match="differ only in case"):
        dataset.scan(_classes(tmp_path / "d", {"Cat": 2, "cat": 2}))


def test_control_characters_in_a_class_name_are_refused(tmp_path):
    with pytest.raises(UserError, match="control characters"):
        dataset.scan(_classes(tmp_path / "d", {"a\x07b": 2, "c": 2}))


def test_split_is_seeded_stratified_and_never_empties_a_class(tmp_path):
    data = dataset.scan(_classes(tmp_path / "d", {"a": 2, "b": 10, "c": 5}))
    train, val = dataset.split(data, 0.2, seed=0)
    again, _ = dataset.split(data, 0.2, seed=0)
    other, _ = dataset.split(data, 0.2, seed=1)
    assert [e.path for e in train] == [e.path for e in again]
    assert [e.path for e in train] != [e.path for e in other]
    per_class = {c: sum(e.label == c for e in val) for c in range(3)}
    assert per_class == {0: 1, 1: 2, 2: 1}
    assert {e.label for e in train} == {0, 1, 2}
    assert not {e.path for e in train} & {e.path for e in val}


def test_validation_folder_must_keep_to_the_training_classes(tmp_path):
    _classes(tmp_path / "val", {"a": 1, "zebra": 1})
    with pytest.raises(UserError, match="'zebra' is not one of the training classes"):
        dataset.scan(tmp_path / "val", "--val", classes=("a", "b"))


def test_fingerprint_follows_names_and_contents(tmp_path):
    root = _classes(tmp_path / "d", {"a": 2, "b": 2})
    first = dataset.scan(root).fingerprint()
    _image(root / "a" / "0.png", (1, 2, 3))
    second = dataset.scan(root).fingerprint()
    assert first["files"] == second["files"] == 4 and first["sha256"] != second["sha256"]


def test_imprinted_rows_are_scaled_unit_class_means():
    from edgebench.retrain.heads import IMPRINT_SCALE, imprint

    rng = np.random.default_rng(0)
    features = rng.random((12, 8)).astype(np.float32)
    labels = np.array([0] * 6 + [1] * 6)
    weight, bias = imprint(features, labels, 2)
    assert weight.shape == (2, 8) and not bias.any()
    np.testing.assert_allclose(np.linalg.norm(weight, axis=1), IMPRINT_SCALE, rtol=1e-5)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    mean = unit[:6].mean(0)
    np.testing.assert_allclose(weight[0], IMPRINT_SCALE * mean / np.linalg.norm(mean), rtol=1e-5)


def test_classes_imprinted_beside_a_base_head_meet_its_best_logit_at_their_threshold():
    from edgebench.retrain.heads import KEEP_PERCENTILE, KEEP_SLOPE, imprint_beside

    rng = np.random.default_rng(1)
    features = rng.random((20, 8)).astype(np.float32)
    labels = np.array([0] * 10 + [1] * 10)
    base = (rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=5).astype(np.float32))
    weight, bias = imprint_beside(features, labels, 2, base)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    for c in (0, 1):
        own = labels == c
        cosines = unit[own] @ (weight[c] / KEEP_SLOPE)
        at_threshold = KEEP_SLOPE * np.percentile(cosines, KEEP_PERCENTILE) + bias[c]
        best = (features[own] @ base[0].T + base[1]).max()
        np.testing.assert_allclose(at_threshold, best, rtol=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "magic"}, "unknown method 'magic'"),
    ({"keep_classes": True}, "keeping the base's classes works with the imprint method"),
    ({"name": "mobilenet_v2"}, "is a zoo model"),
    ({"name": "Has Space"}, "invalid model name"),
    ({"views": 0}, "views must be"),
    ({"val_split": 1.0}, "the validation split must be between 0 and 1"),
])
def test_request_refuses_bad_settings(tmp_path, kwargs, message):
    from edgebench.retrain.workflow import RetrainRequest

    with pytest.raises(UserError, match=message) as refused:
        RetrainRequest(**{"base": "mobilenet_v2", "images": tmp_path, "name": "x", **kwargs})
    # The library names the setting in its own terms (the CLI turns it into a flag), never a flag.
    assert "--" not in str(refused.value)
    assert refused.value.setting == next(iter(kwargs))


def test_retrained_network_keeps_the_backbone_and_a_new_head():
    import torch

    from edgebench.models.weights import resolve_weights
    from edgebench.arch.torch_module import load_torch_module
    from edgebench.models.zoo import MOBILENET_V2
    from edgebench.retrain.model import RetrainedClassifier

    # Real weights: a randomly initialised backbone's features are ~1e-7, where the
    # normalisation's epsilon would dominate.
    base = load_torch_module(MOBILENET_V2.arch, resolve_weights(MOBILENET_V2.weights, allow_download=False))
    model = RetrainedClassifier("edgebench.arch.mobilenet_v2:MobileNetV2", 3, cosine=True).eval()
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("classifier")}
    model.backbone.load_state_dict(state, strict=True)
    assert set(model.state_dict()) == {f"backbone.{k}" for k in state} | {"head.weight", "head.bias"}
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        features = base.forward_features(x)
        unit = features / features.norm(dim=1, keepdim=True)
        expected = unit @ model.head.weight.T + model.head.bias
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)


# The float source the hub keeps: a safetensors file, checked by its header alone.

def _safetensors(tmp_path, tensors=None):
    import torch

    from edgebench.arch.checkpoint import save_state

    path = tmp_path / "w.safetensors"
    save_state(tensors or {"a": torch.ones(3, 2), "b.num_batches_tracked": torch.tensor(5)}, path)
    return path


def test_safetensors_float_checkpoint_is_accepted(tmp_path):
    from edgebench.arch.checkpoint import inspect_safetensors, load_state

    path = _safetensors(tmp_path)
    assert inspect_safetensors(path) == ("safetensors", "fp32")
    assert load_state(path)["a"].shape == (3, 2)


def test_half_precision_and_truncated_files_are_refused(tmp_path):
    import torch

    from edgebench.arch.checkpoint import inspect_safetensors

    with pytest.raises(UserError, match="must be float32"):
        inspect_safetensors(_safetensors(tmp_path, {"a": torch.ones(2, dtype=torch.float16)}))
    path = _safetensors(tmp_path)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(UserError, match="do not cover the file"):
        inspect_safetensors(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_safetensors_are_accepted_or_refused_in_one_line(tmp_path, data):
    """Whatever bytes arrive, the check answers or raises UserError, nothing else."""
    from edgebench.arch.checkpoint import inspect_safetensors

    original = _safetensors(tmp_path).read_bytes()
    raw = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    path = tmp_path / "m.safetensors"
    path.write_bytes(bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw))
    try:
        assert inspect_safetensors(path) == ("safetensors", "fp32")
    except UserError:
        pass


def test_huge_declared_header_is_refused_without_reading_it(tmp_path):
    from edgebench.arch.checkpoint import inspect_safetensors

    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", 2**60) + b"{}")
    with pytest.raises(UserError, match="header length"):
        inspect_safetensors(path)


def test_card_that_says_retrainable_must_name_its_float_source():
    from pydantic import ValidationError

    from edgebench.hub.schema import ModelCard

    with pytest.raises(ValidationError, match="names its architecture"):
        ModelCard(retrainable=True)
    with pytest.raises(ValidationError):
        ModelCard(retrainable=True, architecture={"arch": "os:system", "num_classes": 3, "weights_file": "w.safetensors"})
    card = ModelCard(retrainable=True, architecture={"arch": "edgebench.arch.mobilenet_v2:MobileNetV2",
                                                     "num_classes": 1000, "weights_file": "m.safetensors"})
    assert card.architecture.num_classes == 1000


# The bundle a retrained model travels in to fleet workers.

def _payload(entries: dict[str, bytes]):
    import hashlib

    from edgebench.fleet.matrix import FilePayload

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    return FilePayload("m.tar", hashlib.sha256(data).hexdigest(), len(data), data)


def test_bundle_unpacks_into_a_model_folder(tmp_path):
    from edgebench.fleet.bundle import unpack_model

    folder = unpack_model(_payload({"model.json": b"{}", "weights.pth": b"w"}), tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "weights.pth"]
    assert unpack_model(_payload({"model.json": b"{}", "weights.pth": b"w"}), tmp_path) == folder


@pytest.mark.parametrize("name", ["../escape.json", "sub/model.json", ".hidden.json", "run.sh"])
def test_bundle_entries_outside_the_folder_are_refused(tmp_path, name):
    from edgebench.fleet.bundle import unpack_model

    with pytest.raises(UserError, match="unexpected entry"):
        unpack_model(_payload({"model.json": b"{}", name: b"x"}), tmp_path / "root")
    assert not (tmp_path / "escape.json").exists()


# Through the real CLI: one line, exit 2, nothing registered.

def test_cli_refusals_are_one_line(tmp_path):
    from tests.conftest import REPO  # noqa: F401 - the CLI runs from the checkout

    root = _classes(tmp_path / "d", {"a": 2, "b": 2})
    cases = [
        (["--base", "mobilenet_v2_coral"], "is not retrainable"),
        (["--base", "no_such_model"], "unknown model"),
        (["--base", "mobilenet_v2", "--method", "imprint", "--views", "99"], "--views"),
        (["--base", "mobilenet_v2", "--images", str(tmp_path / "missing")], "not found"),
        (["--base", "mobilenet_v2", "--images", str(root / "a" / "0.png")], "not a directory"),
    ]
    for extra, message in cases:
        args = ["retrain", "--images", str(root), "--name", "unit-refusal", *extra]
        if "--images" in extra:
            args = ["retrain", "--name", "unit-refusal", *extra]
        done = run_cli(*args, timeout=300)
        assert done.returncode == 2, (extra, done.stdout, done.stderr)
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and message in lines[0], (extra, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout
    listed = run_cli("models", "list", "unit-*")
    assert "unit-refusal" not in listed.stdout


def _accuracy_on(truth: list[int], predicted: list[int], labels: tuple[str, ...]):
    """An AccuracyResult of one target, as evaluate_items returns it."""
    from edgebench.bench.accuracy import wilson_interval
    from edgebench.results.schema import AccuracyResult, ImagePrediction, TargetAccuracy

    images = [{"path": f"/v/{labels[t]}/{n}.png", "label_index": t} for n, t in enumerate(truth)]
    predictions = [ImagePrediction(image=i["path"], index=p, label=labels[p], score=0.9, true_index=t,
                                   true_label=labels[t]) for i, p, t in zip(images, predicted, truth)]
    right = sum(p == t for p, t in zip(predicted, truth))
    target = TargetAccuracy(target="onnxruntime-fp32", runtime_version="1", precision="fp32", status="ok",
                            images=len(truth), classes=len(labels), top1_accuracy=right / len(truth),
                            top1_interval=wilson_interval(right, len(truth)), predictions=predictions)
    return AccuracyResult(model="m", image_dir="/v", images=images, reference_target=None, device={},
                          results=[target])


def test_validation_summary_counts_confusions_by_class_name():
    from pathlib import Path

    from edgebench.retrain.dataset import Example
    from edgebench.retrain.workflow import _validation_summary

    labels = ("cat", "dog", "rocket")
    truth, predicted = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 0]
    val = [Example(Path(f"/v/{n}.png"), t) for n, t in enumerate(truth)]
    summary = _validation_summary(_accuracy_on(truth, predicted, labels), val, labels, 0)["onnxruntime-fp32"]
    assert summary["top1"] == 0.5 and summary["images"] == 6
    assert summary["confusions"] == [{"true": "rocket", "predicted": "cat", "count": 2},
                                     {"true": "cat", "predicted": "dog", "count": 1}]


def test_retrain_prints_and_stores_validation_top1_with_its_interval(capsys):
    from pathlib import Path

    from edgebench.cli.retrain import _print_result
    from edgebench.retrain.dataset import Example
    from edgebench.retrain.workflow import Retrained, _top1_text, _validation_summary

    labels = ("cat", "dog", "rocket")
    truth = [0, 0, 1, 1, 2, 2]
    val = [Example(Path(f"/v/{n}.png"), t) for n, t in enumerate(truth)]
    summary = _validation_summary(_accuracy_on(truth, truth, labels), val, labels, 0)
    interval = summary["onnxruntime-fp32"]["top1_interval"]
    assert interval["low"] == pytest.approx(0.6097, abs=1e-4) and interval["high"] == 1.0
    manifest = {"labels": list(labels), "lineage": {"validation": summary, "dataset": {"validation_images": 6}}}
    timings = dict.fromkeys(("feature_extraction_s", "training_s", "head_ready_s", "conversion_and_validation_s"), 1.0)
    _print_result(Retrained("m", Path("/m"), manifest, None, timings))
    printed = " ".join(capsys.readouterr().out.split())
    assert "100.0 (61.0-100.0)" in printed
    assert "note: 6 images are too few for these figures to mean much" in printed
    assert _top1_text(6, 6) == "100.0% (95% CI 61.0-100.0%) on 6 images - too few to mean much"
    assert _top1_text(380, 400) == "95.0% (95% CI 92.4-96.7%) on 400 images"

"""Accuracy mode: the three ways to label images, their errors, and a real evaluation."""

import shutil
from pathlib import Path

import pytest

from edgebench.bench.accuracy import evaluate
from edgebench.bench.config import RunConfig
from edgebench.models.labelled import labelled_images, synset_to_index
from edgebench.errors import UserError
from edgebench.models.images import default_image
from tests.conftest import run_cli

CHICKADEE, MACAW, ESPRESSO = 19, 88, 967


def test_synset_table():
    assert synset_to_index()["n01592084"] == CHICKADEE
    assert synset_to_index()["n07920052"] == ESPRESSO


@pytest.fixture
def photos(coral):
    return {"bird": coral / "bird.bmp", "parrot": coral / "parrot.jpg", "coffee": default_image()}


def test_labels_from_class_folders(tmp_path, photos):
    for folder, photo in (("chickadee", "bird"), ("macaw", "parrot"), ("n07920052", "coffee")):
        (tmp_path / folder).mkdir()
        shutil.copy(photos[photo], tmp_path / folder)
    got = {p.path.parent.name: p.label_index for p in labelled_images(tmp_path)}
    assert got == {"chickadee": CHICKADEE, "macaw": MACAW, "n07920052": ESPRESSO}


def test_labels_from_synset_file_names(tmp_path, photos):
    shutil.copy(photos["bird"], tmp_path / "n01592084_chickadee.bmp")
    shutil.copy(photos["parrot"], tmp_path / "n01818515_macaw.jpg")
    assert sorted(p.label_index for p in labelled_images(tmp_path)) == [CHICKADEE, MACAW]


def test_labels_from_csv_take_precedence_and_limit(tmp_path, photos):
    shutil.copy(photos["bird"], tmp_path / "a.bmp")
    shutil.copy(photos["parrot"], tmp_path / "b.jpg")
    (tmp_path / "labels.csv").write_text(f"file,label_index\na.bmp,{CHICKADEE}\nb.jpg,{MACAW}\n")
    items = labelled_images(tmp_path)
    assert [(i.path.name, i.label_index) for i in items] == [("a.bmp", CHICKADEE), ("b.jpg", MACAW)]
    assert len(labelled_images(tmp_path, limit=1)) == 1


def test_label_errors(tmp_path, photos):
    with pytest.raises(UserError, match="not found"):
        labelled_images(tmp_path / "missing")
    with pytest.raises(UserError, match="no labelled images"):
        labelled_images(tmp_path)
    shutil.copy(photos["bird"], tmp_path / "mystery.bmp")
    with pytest.raises(UserError, match="cannot tell the label"):
        labelled_images(tmp_path)
    (tmp_path / "labels.csv").write_text("mystery.bmp,birdy\n")
    with pytest.raises(UserError, match="expected 'file,label_index'"):
        labelled_images(tmp_path)
    (tmp_path / "labels.csv").write_text("mystery.bmp,1000\n")
    with pytest.raises(UserError, match="outside 0..999"):
        labelled_images(tmp_path)
    (tmp_path / "labels.csv").write_text("gone.bmp,19\n")
    with pytest.raises(UserError, match="gone.bmp not found"):
        labelled_images(tmp_path)


@pytest.mark.slow
def test_real_accuracy_on_zoo_and_coral_models(tmp_path, photos, coral):
    for folder, photo in (("chickadee", "bird"), ("macaw", "parrot"), ("espresso", "coffee")):
        (tmp_path / folder).mkdir()
        shutil.copy(photos[photo], tmp_path / folder)
    result = evaluate(RunConfig(targets=("litert-int8", "onnxruntime-int8", "torch-fp32")), tmp_path)
    assert result.reference_target == "torch-fp32"
    for r in result.results:
        assert r.status == "ok" and r.images == 3
        assert r.top1_accuracy == 1.0 and r.top5_accuracy == 1.0 and r.agreement_with_reference == 1.0
    coral_result = evaluate(RunConfig(model=str(coral / "mobilenet_v2_1.0_224_quant.tflite"),
                                      targets=("litert-int8",)), tmp_path)
    assert coral_result.results[0].top1_accuracy == 1.0   # 1001-class indices mapped back
    out = run_cli("accuracy", "--images", str(tmp_path), "--targets", "litert-int8,torch-fp32",
                  "--limit", "2", "--out", str(tmp_path / "acc.json"))
    assert out.returncode == 0, out.stderr
    assert "top-1 %" in out.stdout and (tmp_path / "acc.json").is_file()


def test_unlabelled_images_are_refused_before_anything_is_prepared(tmp_path):
    """The folder is checked first: no conversion runs for a folder accuracy cannot use."""
    from PIL import Image

    from tests.conftest import run_cli

    (tmp_path / "images" / "not-a-class").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(tmp_path / "images" / "not-a-class" / "x.png")
    cache = tmp_path / "empty-cache"
    done = run_cli("accuracy", "--images", tmp_path / "images", env={"EDGEBENCH_CACHE_DIR": str(cache)},
                   timeout=120)
    assert done.returncode == 2 and "cannot tell the label" in done.stderr, done.stderr
    assert not (cache / "models").exists()
    huge = run_cli("accuracy", "--images", tmp_path / "images", "--limit", "99999999999999999999")
    assert huge.returncode == 2 and "--limit" in huge.stderr


def _tiny_onnx(path, classes: int = 3, dynamic: dict | None = None, side: int = 32):
    """A small conv classifier exported to ONNX; dynamic: torch.onnx.export's dynamic_axes for x."""
    import warnings

    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, stride=2)
            self.fc = torch.nn.Linear(4, classes)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the legacy exporter says it is legacy
        torch.onnx.export(Tiny().eval(), torch.randn(1, 3, side, side), str(path), input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": dynamic} if dynamic else None, dynamo=False)
    return path


def _coloured_images(folder, labels: list[int]):
    """One flat-coloured PNG per label, listed in labels.csv."""
    from PIL import Image

    folder.mkdir(exist_ok=True)
    rows = []
    for n, label in enumerate(labels):
        Image.new("RGB", (40, 30), (60 * n % 256, 90, 200)).save(folder / f"img{n}.png")
        rows.append(f"img{n}.png,{label}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def _assert_one_line_error(done, fragment: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in done.stdout, done.stderr
    assert fragment in " ".join(done.stderr.split()), done.stderr


@pytest.mark.parametrize("dynamic, args, refusal", [
    ({2: "H", 3: "W"}, (), "input x [1, 3, 0, 0] has a dynamic or tiny height/width"),
    ({2: "H", 3: "W"}, ("--input-shape", "x=1x3x32x32"), None),   # given a size, it runs
    ({0: "N"}, (), None),                                          # a dynamic batch runs with batch 1
    ({1: "C"}, (), "input x [1, 0, 32, 32] has an open dimension (shown as 0): give its size, "
                   "e.g. --input-shape x=1x3x32x32"),
    ({1: "C"}, ("--input-shape", "x=1x3x32x32"), None),
])
def test_accuracy_on_a_dynamic_input_size_is_one_line_and_exit_2(tmp_path, dynamic, args, refusal):
    model = _tiny_onnx(tmp_path / "dyn.onnx", dynamic=dynamic)
    images = _coloured_images(tmp_path / "images", [0, 1, 2])
    done = run_cli("accuracy", "--model", model, "--images", images, "--targets", "onnxruntime-fp32",
                   "--out", tmp_path / "acc.json", *args)
    if refusal is None:
        assert done.returncode == 0 and "onnxruntime-fp32" in done.stdout, done.stdout + done.stderr
    else:
        _assert_one_line_error(done, f"no target ran - onnxruntime-fp32: {refusal}")
        assert not (tmp_path / "acc.json").exists()


@pytest.mark.parametrize("classes, has_top5", [(3, False), (5, False), (6, True)])
def test_top5_only_for_models_of_more_than_five_classes(tmp_path, classes, has_top5):
    model = _tiny_onnx(tmp_path / f"c{classes}.onnx", classes=classes)
    images = _coloured_images(tmp_path / "images", [0, 1, 2, 0])
    acc = evaluate(RunConfig(model=str(model), targets=("onnxruntime-fp32",)), images).results[0]
    assert acc.status == "ok" and acc.classes == classes and acc.top1_accuracy is not None
    assert (acc.top5_accuracy is not None) == has_top5
    if has_top5:
        assert acc.top5_accuracy >= acc.top1_accuracy


def test_accuracy_table_says_top5_does_not_apply_to_three_classes(tmp_path):
    import json

    model = _tiny_onnx(tmp_path / "three.onnx", classes=3)
    images = _coloured_images(tmp_path / "images", [0, 1, 2])
    done = run_cli("accuracy", "--model", model, "--images", images, "--targets", "onnxruntime-fp32",
                   "--out", tmp_path / "acc.json", env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    row = next(ln for ln in done.stdout.splitlines() if ln.startswith("│ onnxruntime-fp32"))
    assert row.split("│")[5].strip() == "n/a (3 classes)", row
    saved = json.loads((tmp_path / "acc.json").read_text())["results"][0]
    assert saved["top5_accuracy"] is None and saved["classes"] == 3


def test_each_prediction_names_its_image_label_score_and_truth(tmp_path, photos, coral):
    """A 1001-class TF model: indices and names in torchvision's order, 'background' shifted out."""
    for folder, photo in (("chickadee", "bird"), ("macaw", "parrot"), ("espresso", "coffee")):
        (tmp_path / folder).mkdir()
        shutil.copy(photos[photo], tmp_path / folder)
    result = evaluate(RunConfig(model=str(coral / "mobilenet_v2_1.0_224_quant.tflite"),
                                targets=("litert-int8",)), tmp_path)
    got = {(Path(p.image).parent.name, Path(p.image).name, p.index, p.label, p.true_index, p.true_label)
           for p in result.results[0].predictions}
    assert got == {("chickadee", "bird.bmp", CHICKADEE, "chickadee", CHICKADEE, "chickadee"),
                   ("macaw", "parrot.jpg", MACAW, "macaw", MACAW, "macaw"),
                   ("espresso", "coffee.png", ESPRESSO, "espresso", ESPRESSO, "espresso")}
    assert all(0.3 < p.score <= 1.0 for p in result.results[0].predictions)
    assert [p.image for p in result.results[0].predictions] == [i["path"] for i in result.images]


def test_wrong_predictions_name_both_labels_and_older_json_still_reads(tmp_path):
    from edgebench.results.schema import AccuracyResult

    model = _tiny_onnx(tmp_path / "three.onnx", classes=3)
    images = _coloured_images(tmp_path / "images", [0, 1, 2, 2])
    result = evaluate(RunConfig(model=str(model), targets=("onnxruntime-fp32",)), images)
    predictions = result.results[0].predictions
    assert [Path(p.image).name for p in predictions] == ["img0.png", "img1.png", "img2.png", "img3.png"]
    assert [p.true_index for p in predictions] == [0, 1, 2, 2]
    assert all(p.label == f"class {p.index}" and p.true_label == f"class {p.true_index}" for p in predictions)
    assert sum(p.index == p.true_index for p in predictions) == result.results[0].top1_accuracy * 4
    assert AccuracyResult.model_validate_json(result.model_dump_json()) == result
    # JSON written before predictions were named: bare indices, images listed beside them
    older = result.model_dump(mode="json")
    older["results"][0]["predictions"] = [p.index for p in predictions]
    older["results"][0].pop("classes")
    read = AccuracyResult.model_validate(older).results[0].predictions
    assert [(p.index, p.image, p.true_index, p.label) for p in read] == \
           [(p.index, p.image, p.true_index, None) for p in predictions]


def test_wilson_interval_and_when_images_are_too_few():
    from edgebench.bench.accuracy import too_few_images, wilson_interval

    all_six = wilson_interval(6, 6)   # "100% on 6 images" is anywhere from 61% to 100%
    assert all_six.low == pytest.approx(0.6097, abs=1e-4) and all_six.high == 1.0
    none_of_six = wilson_interval(0, 6)
    assert none_of_six.low == 0.0 and none_of_six.high == pytest.approx(1 - 0.6097, abs=1e-4)
    half = wilson_interval(200, 400)
    assert half.low == pytest.approx(0.4512, abs=1e-4) and half.high == pytest.approx(0.5488, abs=1e-4)
    assert "6 images are too few" in too_few_images(6, [all_six, None])
    assert "61.0-100.0%" in too_few_images(6, [all_six])
    assert too_few_images(400, [half]) is None and too_few_images(0, [None]) is None


def test_accuracy_prints_and_stores_a_95_percent_interval(tmp_path):
    import json

    model = _tiny_onnx(tmp_path / "six.onnx", classes=6)
    images = _coloured_images(tmp_path / "images", [0, 1, 2, 3, 4, 5])
    done = run_cli("accuracy", "--model", model, "--images", images, "--targets", "onnxruntime-fp32",
                   "--out", tmp_path / "acc.json", env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "acc.json").read_text())["results"][0]
    top1, top5 = saved["top1_interval"], saved["top5_interval"]
    assert top1["method"] == "wilson" and top1["confidence"] == 0.95
    assert top1["low"] <= saved["top1_accuracy"] <= top1["high"] and top5["low"] <= saved["top5_accuracy"] <= top5["high"]
    row = next(ln for ln in done.stdout.splitlines() if ln.startswith("│ onnxruntime-fp32"))
    assert row.split("│")[4].strip() == f"{saved['top1_accuracy'] * 100:.1f} " \
                                         f"({top1['low'] * 100:.1f}-{top1['high'] * 100:.1f})", row
    assert "note: 6 images are too few for these figures to mean much" in " ".join(done.stdout.split())

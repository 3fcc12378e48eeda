"""Tasks: the registry, inference from tensors, decoding, agreement figures and label files
(fast: synthetic tensors; real models are in test_tasks_models.py)."""

import json

import numpy as np
import pytest

from edgebench.errors import UserError
from edgebench.tasks import TASKS, get_task, infer_task, task_key
from edgebench.tasks.base import Context, Labels
from edgebench.tasks.labels import COCO_80, COCO_90, read_labels
from edgebench.tensors import Quantization, TensorSpec, image_layout

IMAGE = (TensorSpec("image", (1, 224, 224, 3), "uint8", "NHWC", Quantization(1 / 128, 128)),)


def spec(name, shape, dtype="float32", quantization=None):
    return TensorSpec(name, tuple(shape), dtype, image_layout(tuple(shape)), quantization)


@pytest.mark.parametrize("name", list(TASKS))
def test_every_registered_task_keeps_the_contract(name):
    task = get_task(name)
    assert task.name == name
    for attribute in ("uses_image", "geometry", "threshold_text"):
        assert getattr(task, attribute) is not None
    for method in ("problem", "inputs", "decode", "agreement", "score", "summary", "overlay"):
        assert callable(getattr(task, method))


@pytest.mark.parametrize("outputs, expected", [
    ([spec("TFLite_Detection_PostProcess", (1, 10, 4)), spec("TFLite_Detection_PostProcess:1", (1, 10)),
      spec("TFLite_Detection_PostProcess:2", (1, 10)), spec("TFLite_Detection_PostProcess:3", (1,))], "detection"),
    ([spec("output0", (1, 84, 8400))], "detection"),            # YOLOv8: [1, 4+C, N]
    ([spec("output", (1, 25200, 85))], "detection"),            # YOLOv5: [1, N, 4+1+C]
    ([spec("ArgMax", (1, 224, 224), "int64")], "segmentation"),
    ([spec("logits", (1, 28, 28, 21))], "segmentation"),         # on the input's grid / 8
    ([spec("logits", (1, 21, 56, 56))], "segmentation"),
    ([spec("kp", (1, 1, 17, 3))], "pose"),
    ([spec("probs", (1, 1001))], "classification"),
    ([spec("probs", (1, 1000))], "classification"),
    ([spec("features", (1, 1, 1, 1024))], "embedding"),
    ([spec("a", (1, 5)), spec("b", (1, 7))], "generic"),
])
def test_the_task_is_inferred_from_the_outputs_with_a_reason(outputs, expected):
    inferred = infer_task(IMAGE, tuple(outputs))
    assert inferred.task == expected
    assert inferred.reason


def test_a_vector_matching_the_users_labels_is_a_classifier_and_otherwise_an_embedding():
    outputs = (spec("prediction", (1, 965)),)
    assert infer_task(IMAGE, outputs).task == "embedding"
    assert "--labels" in infer_task(IMAGE, outputs).reason
    assert infer_task(IMAGE, outputs, label_counts=(1000, 1001, 965)).task == "classification"


def test_non_image_inputs_make_a_generic_model():
    inputs = (spec("ids", (1, 16), "int64"), spec("mask", (1, 16), "bool"))
    assert infer_task(inputs, (spec("y", (1, 1000)),)).task == "generic"


def test_task_names_of_cards_and_zoo_entries_map_to_tasks():
    assert task_key("image-classification") == "classification"
    assert task_key("object-detection") == "detection"
    assert task_key("Pose-Estimation") == "pose"
    assert task_key("") is None and task_key("translation") is None


def test_a_task_refuses_tensors_it_cannot_read_in_one_line_naming_them():
    problem = get_task("detection").problem(IMAGE, (spec("probs", (1, 1001)),))
    assert "probs [1, 1001]" in problem and "\n" not in problem
    assert "image" in get_task("classification").problem((spec("ids", (1, 16), "int64"),), (spec("y", (1, 10)),))
    assert get_task("pose").problem(IMAGE, (spec("probs", (1, 1001)),))
    assert get_task("segmentation").problem(IMAGE, (spec("kp", (1, 1, 17, 3)),))


def _postprocessed(boxes, classes, scores):
    n = len(scores)
    return (np.array([boxes], np.float32), np.array([classes], np.float32), np.array([scores], np.float32),
            np.array([n], np.float32))


POST_SPECS = (spec("TFLite_Detection_PostProcess", (1, 3, 4)), spec("TFLite_Detection_PostProcess:1", (1, 3)),
              spec("TFLite_Detection_PostProcess:2", (1, 3)), spec("TFLite_Detection_PostProcess:3", (1,)))


def test_detection_post_processing_is_decoded_with_labels_and_summarised():
    task = get_task("detection")
    outputs = _postprocessed([[0.1, 0.1, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9], [0, 0, 1, 1]], [0, 37, 2], [0.91, 0.85, 0.1])
    answer = task.decode(outputs, POST_SPECS, Context(Labels(COCO_90, "coco")))
    assert [(b.label, round(b.score, 2)) for b in answer.objects] == [("person", 0.91), ("kite", 0.85)]
    assert task.summary(answer) == "2 objects: person 0.91, kite 0.85"
    assert task.overlay(answer)["boxes"][0]["box"] == [0.1, 0.1, 0.5, 0.5]


def test_detection_agreement_is_f1_of_boxes_matched_per_class_at_iou_half():
    task = get_task("detection")
    labels = Context(Labels(COCO_90))
    ref = task.decode(_postprocessed([[0.1, 0.1, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9], [0, 0, 0.2, 0.2]],
                                     [0, 37, 2], [0.9, 0.8, 0.7]), POST_SPECS, labels)
    shifted = task.decode(_postprocessed([[0.12, 0.1, 0.52, 0.5], [0.5, 0.5, 0.9, 0.9], [0, 0, 0.2, 0.2]],
                                         [0, 37, 2], [0.88, 0.3, 0.7]), POST_SPECS, labels)
    agreement = task.agreement(shifted, ref)
    # the kite fell below the reporting score but is still found (>= 0.25): no miss
    assert agreement.value == pytest.approx(1.0) and agreement.passed
    assert 0.85 < agreement.figures["mean_iou"] < 1.0
    wrong_class = task.decode(_postprocessed([[0.1, 0.1, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9], [0, 0, 0.2, 0.2]],
                                             [1, 37, 2], [0.9, 0.8, 0.7]), POST_SPECS, labels)
    disagreement = task.agreement(wrong_class, ref)
    assert disagreement.value == pytest.approx(2 / 3) and not disagreement.passed


def test_a_raw_yolo_head_is_decoded_with_per_class_nms_in_both_layouts():
    task = get_task("detection")
    n, classes = 100, 3
    head = np.zeros((1, 4 + classes, n), np.float32)
    head[0, :4, :] = [[10], [10], [4], [4]]                    # everything small, top left
    head[0, :4, 0] = [160, 120, 100, 80]                       # one box, pixels of a 320x320 input
    head[0, :4, 1] = [162, 121, 100, 80]                       # its near-duplicate
    head[0, 4 + 2, 0], head[0, 4 + 2, 1] = 0.9, 0.8
    specs = (spec("output0", head.shape),)
    context = Context(Labels(("a", "b", "c")), input_size=(320, 320))
    answer = task.decode((head,), specs, context)
    assert [b.label for b in answer.objects] == ["c"]          # the duplicate suppressed
    box = answer.objects[0]
    assert (box.ymin, box.xmin, box.ymax, box.xmax) == pytest.approx((0.25, 0.34375, 0.5, 0.65625))
    anchors_first = np.concatenate([head[0, :4].T, np.ones((n, 1), np.float32), head[0, 4:].T], axis=1)[None]
    again = task.decode((anchors_first,), (spec("output", anchors_first.shape),), context)
    assert [b.record() for b in again.objects] == [b.record() for b in answer.objects]


def test_segmentation_decodes_maps_and_logits_and_scores_pixels_and_miou():
    task = get_task("segmentation")
    classes = np.zeros((1, 16, 16), np.int64)
    classes[0, 4:12, 4:12] = 5
    labels = Context(Labels(("background", "a", "b", "c", "d", "person")))
    answer = task.decode((classes,), (spec("ArgMax", (1, 16, 16), "int64"),), labels)
    assert task.summary(answer) == "background 75%, person 25%"
    logits = np.zeros((1, 16, 16, 8), np.float32)
    logits[..., 0] = 1
    logits[0, 4:12, 4:12, 5] = 2
    same = task.decode((logits,), (spec("logits", (1, 16, 16, 8)),), labels)
    assert task.agreement(same, answer).value == 1.0
    moved = classes.copy()
    moved[0, 4:12, 4:12], moved[0, 6:14, 4:12] = 0, 5
    agreement = task.agreement(task.decode((moved,), (spec("ArgMax", (1, 16, 16), "int64"),), labels), answer)
    assert agreement.value == pytest.approx(1 - 32 / 256) and not agreement.passed
    truth = np.full((32, 32), 255, np.uint8)                   # larger, unscored border
    truth[8:24, 8:24] = 5
    truth[:4, :] = 0
    assert task.score(answer, truth) == pytest.approx(1.0)


def test_pose_pck_and_mean_distance_against_the_reference():
    task = get_task("pose")
    points = np.zeros((1, 1, 17, 3), np.float32)
    points[0, 0, :, 0] = np.linspace(0.1, 0.9, 17)
    points[0, 0, :, 1] = 0.5
    points[0, 0, :, 2] = 0.7
    specs = (spec("kp", (1, 1, 17, 3)),)
    context = Context(photo_size=(600, 800))
    reference = task.decode((points,), specs, context)
    assert task.summary(reference) == "17 keypoints, mean score 0.70"
    near = points.copy()
    near[0, 0, :4, 1] += 0.1                                   # 60 px of a 1000 px diagonal: outside 5%
    agreement = task.agreement(task.decode((near,), specs, context), reference)
    assert agreement.value == pytest.approx(13 / 17) and not agreement.passed
    assert agreement.figures["mean_distance"] == pytest.approx(4 * 0.06 / 17)
    assert len(task.overlay(reference)["skeleton"]) == 16


def test_embedding_and_generic_compare_by_cosine_with_error_figures():
    embedding, generic = get_task("embedding"), get_task("generic")
    v = np.linspace(-1, 1, 64, dtype=np.float32)[None]
    q = TensorSpec("f", (1, 64), "uint8", None, Quantization(2 / 255, 128))
    quantized = np.clip(np.round(v / (2 / 255) + 128), 0, 255).astype(np.uint8)
    a = embedding.decode((v,), (spec("f", (1, 64)),), Context())
    b = embedding.decode((quantized,), (q,), Context())
    assert embedding.summary(a) == "64-d vector, norm 4.69"
    assert embedding.agreement(b, a).value > 0.999
    outputs = (v, np.arange(6, dtype=np.int64).reshape(1, 6))
    specs = (spec("f", (1, 64)), spec("i", (1, 6), "int64"))
    ref = generic.decode(outputs, specs, Context())
    worse = generic.decode((v * 0.5 + 0.1, outputs[1]), specs, Context())
    agreement = generic.agreement(worse, ref)
    assert agreement.figures["max_abs_error"] == pytest.approx(0.6, abs=1e-6)
    assert agreement.figures["min_sqnr_db"] < 10
    assert generic.agreement(ref, ref).figures["min_sqnr_db"] == 200.0
    assert generic.summary(ref) == "2 outputs: f [1, 64], i [1, 6]"


def test_generic_inputs_are_seeded_in_each_dtype_and_the_same_every_time():
    generic = get_task("generic")
    specs = (spec("x", (1, 8)), spec("ids", (1, 4), "int64"), spec("mask", (1, 4), "bool"),
             spec("h", (1, 4), "float16"), TensorSpec("q", (1, 4), "uint8", None, Quantization(1 / 255, 0)))
    first, second = generic.inputs(specs, None), generic.inputs(specs, None)
    assert [a.dtype.name for a in first] == ["float32", "int64", "bool", "float16", "uint8"]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert 0 <= first[0].min() and first[0].max() < 1 and first[1].max() < 100


@pytest.mark.parametrize("shape, words", [((1, 3, 0, 0), "open dimension"),
                                          ((1, 3, 100000, 100000), "GiB"),
                                          ((2**20, 2**20), "GiB")])
def test_inputs_that_cannot_be_fed_are_refused_before_allocation(shape, words):
    from edgebench.errors import TargetUnavailable

    with pytest.raises(TargetUnavailable, match=words):
        get_task("generic").inputs((spec("x", shape),), None)


def test_label_files_lines_json_and_bad_ones(tmp_path):
    lines = tmp_path / "labels.txt"
    lines.write_text("sedan\npickup_suv_van\nlarge_veh_bus\n\nA comment after a blank line.\n")
    assert read_labels(lines).names == ("sedan", "pickup_suv_van", "large_veh_bus")
    listed = tmp_path / "l.json"
    listed.write_text(json.dumps(["cat", "dog"]))
    assert read_labels(listed).names == ("cat", "dog")
    indexed = tmp_path / "i.json"
    indexed.write_text(json.dumps({"0": "cat", "2": "dog"}))
    assert read_labels(indexed).names == ("cat", "", "dog")
    for content, words, suffix in ((b"\xff\xfe\x00", "UTF-8", ".txt"), (b"a\x00b", "NUL", ".txt"),
                                   (b"", "no names", ".txt"), (b"[1, 2]", "list of names", ".json"),
                                   (b'{"x": "cat"}', "class indices", ".json"), (b"[", "not valid JSON", ".json"),
                                   (b"\x1b[31mred\n", "printable", ".txt")):
        bad = tmp_path / f"bad{suffix}"
        bad.write_bytes(content)
        with pytest.raises(UserError, match=words):
            read_labels(bad)
    with pytest.raises(UserError):
        read_labels(tmp_path / "missing.txt")


def test_coco_ids_match_corals_numbering():
    assert len(COCO_90) == 90 and COCO_90[0] == "person" and COCO_90[37] == "kite" and COCO_90[11] == "n/a"
    assert [n for n in COCO_90 if n != "n/a"] == list(COCO_80)


def test_input_shapes_parse_and_bad_ones_are_one_line():
    from edgebench.cli.options import parse_shapes

    assert parse_shapes(["images=1x3x320x320", "1x3x224x224"]) == (("images", (1, 3, 320, 320)),
                                                                   ("", (1, 3, 224, 224)))
    for bad in ("images=1x3xax320", "x=", "a=1x-3", "1x2x3x4x5x6x7x8x9"):
        with pytest.raises(UserError, match="--input-shape"):
            parse_shapes([bad])


def test_boxes_without_area_or_with_odd_classes_are_dropped_and_logits_become_probabilities():
    task = get_task("detection")
    head = np.zeros((1, 100, 85), np.float32)                  # anchors-first, logits
    head[0, :, 4:] = -20.0
    head[0, :50, :4] = [-500, -500, -10, -10]                  # no area: never an object
    head[0, :50, 4], head[0, :50, 5] = 50.0, 2.0
    head[0, 60, :4] = [100, 100, 40, 40]
    head[0, 60, 4], head[0, 60, 6] = 8.0, 8.0                  # a real box, class 1
    answer = task.decode((head,), (spec("output", head.shape),), Context(Labels(COCO_80), input_size=(320, 320)))
    assert [(b.label, round(b.score, 3)) for b in answer.objects] == [("bicycle", 0.999)]
    assert task.agreement(answer, answer).value == 1.0
    odd = _postprocessed([[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.2, 0.6], [0, 0, 1, 1]], [1e30, 1, -3], [0.9, 0.9, 0.9])
    assert task.decode(odd, POST_SPECS, Context(Labels(COCO_90))).boxes == []


def test_a_negative_class_in_a_map_is_no_class_name():
    task = get_task("segmentation")
    classes = np.zeros((1, 16, 16), np.int64)
    classes[0, :4] = -1
    answer = task.decode((classes,), (spec("ArgMax", (1, 16, 16), "int64"),), Context(Labels(("bg", "cat"))))
    assert task.summary(answer) == "bg 75%, class -1 25%"


def test_nan_or_infinite_outputs_give_no_answer_and_no_agreement():
    from edgebench.tasks.base import Broken, agreement_of, nonfinite, summary_of

    y = np.full((1, 1000), np.nan, np.float32)
    problems = nonfinite((y, np.array([np.inf, 1.0])), (spec("y", (1, 1000)), spec("z", (2,))))
    assert problems == ("output y: 1000 NaN of 1000 values", "output z: 1 infinite of 2 values")
    broken = Broken(problems)
    task = get_task("classification")
    assert summary_of(task, broken).startswith("no answer: output y: 1000 NaN")
    good = task.decode((np.eye(1, 1000, 3, dtype=np.float32),), (spec("y", (1, 1000)),), Context())
    assert not agreement_of(task, broken, good).passed and not agreement_of(task, good, broken).passed
    assert broken.record() == {"broken": list(problems)}


def test_labels_files_with_a_byte_order_mark_or_brackets_are_lines(tmp_path):
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffcat\ndog\n".encode())
    assert read_labels(bom).names == ("cat", "dog")
    brackets = tmp_path / "unused.txt"
    brackets.write_text("[unused]\n{curly}\n")
    assert read_labels(brackets).names == ("[unused]", "{curly}")


def test_control_characters_are_shown_escaped():
    from edgebench.errors import printable

    assert printable("\x1b[2Jevil\tname\n") == "\\x1b[2Jevil\\tname\\n"
    assert printable("person 0.91") == "person 0.91"

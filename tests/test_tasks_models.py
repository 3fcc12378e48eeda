"""Every task on real models: Coral's published presets (../shared/fixtures/coral-zoo, read in
place) and small ONNX models made here (tests/task_models.py), through the library and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from edgebench.bench.config import RunConfig
from edgebench.protocol import Protocol
from tests.conftest import REPO, in_terminal, run_cli

pytestmark = pytest.mark.slow

ZOO = REPO.parent / "shared" / "fixtures" / "coral-zoo"
FAST = Protocol("fast", warmup=1, settle_s=0.0, runs=3)


@pytest.fixture
def zoo() -> Path:
    if not (ZOO / "squat.bmp").is_file():
        pytest.skip("../shared/fixtures/coral-zoo is not present")
    return ZOO


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory) -> dict[str, Path]:
    from tests import task_models

    folder = tmp_path_factory.mktemp("task-models")
    return {"detector": task_models.raw_head_detector(folder / "tiny_detector.onnx"),
            "open_size": task_models.raw_head_detector(folder / "open_size.onnx", dynamic_size=True),
            "two_inputs": task_models.two_input_model(folder / "two_inputs.onnx")}


def _one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return lines[0]


def test_movenet_keypoints_match_corals_reference_on_litert_and_openvino(zoo):
    from edgebench.bench.execute import predict

    rows = list(csv.DictReader(open(zoo / "movenet_single_pose_lightning_ptq_reference.csv")))
    expected = np.array([[float(r["keypoint_y"]), float(r["keypoint_x"])] for r in rows])
    answers = predict(RunConfig(model=str(zoo / "movenet_single_pose_lightning_ptq.tflite"),
                                image=zoo / "squat.bmp", targets=("litert-int8", "openvino-int8")))
    assert set(answers) == {"litert-int8", "openvino-int8"}
    for target, answer in answers.items():
        distance = np.abs(answer.keypoints[:, :2] - expected).max()
        print(f"{target}: largest keypoint distance {distance:.4f} (normalised)")
        assert distance <= 0.05, target


@pytest.mark.parametrize("photo, object_class", [("bird", 3), ("dog", 12)])
def test_deeplab_scored_against_the_masks(zoo, photo, object_class):
    from PIL import Image

    from edgebench.bench.execute import predict
    from edgebench.tasks import get_task
    from edgebench.tasks.segmentation import iou_per_class

    mask = np.asarray(Image.open(zoo / f"{photo}_segmentation_mask.bmp"))
    if photo == "dog":   # an Oxford-IIIT Pet trimap: 0 the pet, 1 background, 2 border (not scored)
        mask = np.select([mask == 0, mask == 1], [object_class, 0], 255).astype(np.uint8)
    answers = predict(RunConfig(model=str(zoo / "deeplabv3_mnv2_pascal_quant.tflite"),
                                image=zoo / f"{photo}_segmentation.bmp", targets=("litert-int8", "openvino-int8"),
                                labels=zoo / "pascal_voc_segmentation_labels.txt"))
    assert set(answers) == {"litert-int8", "openvino-int8"}
    for target, answer in answers.items():
        ious = iou_per_class(answer.classes, mask)
        miou = get_task("segmentation").score(answer, mask)
        print(f"{photo} {target}: IoU of the object class {ious[object_class]:.3f}, mIoU {miou:.3f}")
        assert ious[object_class] >= 0.6


@pytest.mark.parametrize("model, labels, expected", [
    ("mobilenet_v1_0.75_192_quant.tflite", "../coral/imagenet_labels.txt", "chickadee"),
    ("mobilenet_v2_1.0_224_inat_bird_quant.tflite", "inat_bird_labels.txt", "Black-capped Chickadee"),
])
def test_classifiers_give_the_right_label_with_their_own_label_files(zoo, model, labels, expected, tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("run", "--model", zoo / model, "--labels", zoo / labels, "--image", zoo.parent / "coral" / "bird.bmp",
                   "--targets", "litert-int8", "--runs", "3", "--settle", "0", "--no-save", "--out", out)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    target = result["results"][0]
    assert result["task"] == "classification"
    assert expected in target["top1"]["label"] and target["summary"].startswith(target["top1"]["label"])


def test_the_vehicle_detector_with_lstm_state_inputs_and_its_own_labels(zoo, tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("run", "--model", zoo / "traffic_model.tflite", "--image", zoo / "traffic_0001.bmp",
                   "--labels", zoo / "traffic_labels.txt", "--runs", "5", "--settle", "0", "--no-save", "--out", out)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    by = {r["target"]: r for r in result["results"]}
    litert = by["litert-int8"]
    assert result["task"] == "detection" and "detection post-processing" in result["task_why"]
    assert [i["name"] for i in litert["inputs"]] == ["normalized_input_image_tensor", "raw_inputs/init_lstm_c",
                                                       "raw_inputs/init_lstm_h"]
    boxes = litert["answer"]["boxes"]
    assert boxes and {b["label"] for b in boxes} <= {"sedan", "pickup_suv_van", "large_veh_bus"}
    assert all(0 <= v <= 1 for b in boxes for v in b["box"])
    assert litert["summary"].startswith("1 object: pickup_suv_van")
    # OpenVINO's TFLite front end lacks the post-processing op: one line naming it, the rest ran
    assert by["openvino-int8"]["status"] == "unavailable"
    assert "TFLite_Detection_PostProcess" in by["openvino-int8"]["error"]


def test_a_raw_head_onnx_detector_agrees_across_onnxruntime_and_openvino(onnx_models, zoo):
    from edgebench.bench.execute import run

    result = run(RunConfig(model=str(onnx_models["detector"]), image=zoo / "kite_and_cold.jpg", protocol=FAST,
                           targets=("onnxruntime-fp32", "openvino-fp32")))
    assert result.task == "detection" and "raw detection head" in result.task_why
    ok = {r.target: r for r in result.results if r.status == "ok"}
    assert set(ok) == {"onnxruntime-fp32", "openvino-fp32"}
    assert ok["onnxruntime-fp32"].is_reference
    agreement = ok["openvino-fp32"].agreement
    assert agreement["metric"].startswith("F1") and agreement["passed"] and agreement["value"] == 1.0
    assert ok["openvino-fp32"].answer["boxes"] == ok["onnxruntime-fp32"].answer["boxes"] or \
        agreement["figures"]["mean_iou"] > 0.99


def test_a_generic_model_with_two_inputs_of_different_dtypes(onnx_models):
    from edgebench.bench.execute import run

    result = run(RunConfig(model=str(onnx_models["two_inputs"]), protocol=FAST,
                           targets=("onnxruntime-fp32", "openvino-fp32")))
    assert result.task == "generic"
    ok = {r.target: r for r in result.results if r.status == "ok"}
    assert set(ok) == {"onnxruntime-fp32", "openvino-fp32"}
    assert [(i["name"], i["dtype"]) for i in ok["onnxruntime-fp32"].inputs] == [("features", "float32"), ("ids", "int64")]
    assert [o["name"] for o in ok["openvino-fp32"].answer["outputs"]] == ["scores", "side"]
    agreement = ok["openvino-fp32"].agreement
    assert agreement["passed"] and agreement["value"] > 0.999 and agreement["figures"]["min_sqnr_db"] > 40
    assert ok["openvino-fp32"].summary == "2 outputs: scores [1, 10], side [1, 4]"


def test_open_dimensions_are_one_line_until_given_then_timed(onnx_models):
    line = _one_line_error(run_cli("run", "--model", onnx_models["open_size"], "--runs", "3", "--no-save"))
    assert "open dimension" in line and "--input-shape images=" in line
    proc = run_cli("run", "--model", onnx_models["open_size"], "--input-shape", "images=1x3x320x320",
                   "--targets", "onnxruntime-fp32,openvino-fp32", "--runs", "3", "--settle", "0", "--no-save",
                   env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert "task: detection" in proc.stdout and "1x3x320x320" in proc.stdout


def test_an_op_litert_lacks_is_one_line_naming_the_op_and_the_runtime(zoo, tmp_path):
    odd = tmp_path / "odd_op.tflite"   # MoveNet's Edge TPU twin with its custom op renamed
    odd.write_bytes((zoo / "movenet_single_pose_lightning_ptq_edgetpu.tflite").read_bytes()
                    .replace(b"edgetpu-custom-op", b"edgetpu-custom-ox"))
    line = _one_line_error(run_cli("run", "--model", odd, "--runs", "3", "--no-save"))
    assert "litert-int8: LiteRT has no kernel for op edgetpu-custom-ox" in line
    assert "openvino-int8: OpenVINO's front end has no translator for op edgetpu-custom-ox" in line


@pytest.mark.parametrize("args, words", [
    (("--model", "mobilenet_v2", "--task", "detection"), "--task: mobilenet_v2 is a classification model, not detection"),
    (("--model", "{zoo}/mobilenet_v1_0.75_192_quant.tflite", "--task", "detection"), "cannot be read as detection"),
    (("--model", "{zoo}/movenet_single_pose_lightning_ptq.tflite", "--task", "segmentation"), "cannot be read as segmentation"),
    (("--model", "{zoo}/deeplabv3_mnv2_pascal_quant.tflite", "--task", "pose"), "cannot be read as pose"),
    (("--model", "{zoo}/traffic_model.tflite", "--task", "classification"), "not one vector of class scores"),
    (("--model", "{zoo}/mobilenet_v1_0.75_192_quant.tflite", "--labels", "{zoo}/traffic_labels.txt"),
     "the labels file names 3 classes"),
    (("--model", "{zoo}/mobilenet_v1_0.75_192_quant.tflite", "--labels", "{zoo}/no-such-labels.txt"), "labels file"),
    (("--model", "{zoo}/mobilenet_v1_0.75_192_quant.tflite", "--task", "tracking"), "tracking"),
])
def test_a_task_that_does_not_fit_is_one_line(zoo, args, words):
    args = [a.format(zoo=zoo) for a in args]
    line = _one_line_error(run_cli("run", *args, "--runs", "3", "--no-save"))
    assert words in line


def _in_terminal(*args: str) -> str:
    return in_terminal(*args, columns=250)[1]


@pytest.mark.parametrize("model, extra, answer", [
    ("mobilenet_v1_0.75_192_quant.tflite", ("--image", "../coral/bird.bmp"), "chickadee 0."),
    ("traffic_model.tflite", ("--image", "traffic_0001.bmp", "--labels", "traffic_labels.txt"),
     "1 object: pickup_suv_van 0.4"),
    ("deeplabv3_mnv2_pascal_quant.tflite", ("--image", "bird_segmentation.bmp", "--labels",
                                            "pascal_voc_segmentation_labels.txt"), "background 79%, bird 21%"),
    ("movenet_single_pose_lightning_ptq.tflite", ("--image", "squat.bmp"), "17 keypoints, mean score 0."),
    ("mobilenet_v2_1.0_224_inat_bird_quant.tflite", ("--image", "../coral/bird.bmp"), "965-d vector, norm"),
])
def test_the_run_screen_shows_each_tasks_answer(zoo, model, extra, answer):
    extra = [str(zoo / e) if e.endswith((".bmp", ".txt")) else e for e in extra]
    text = _in_terminal("run", "--model", str(zoo / model), *extra, "--targets", "litert-int8", "--runs", "3",
                        "--settle", "0", "--no-save")
    assert answer in text, text
    assert "task: " in text and "Traceback" not in text


def _graph_model(path: Path, inputs, outputs, nodes) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_model_without_inputs_is_timed_as_generic(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    value = helper.make_tensor("c", TensorProto.FLOAT, [1, 4], [1.0, 2.0, 3.0, 4.0])
    model = _graph_model(tmp_path / "constant.onnx", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                         [helper.make_node("Constant", [], ["y"], value=value)])
    assert onnx.load(str(model)).graph.input == []
    proc = run_cli("run", "--model", model, "--targets", "onnxruntime-fp32,openvino-fp32", "--runs", "3", "--settle",
                   "0", "--no-save", env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert "task: generic" in proc.stdout and "1 output: y [1, 4]" in proc.stdout


@pytest.mark.parametrize("shape", [[1, 3, 100000, 100000], [1, 100000, 100000, 3], [100000, 100000]])
def test_an_input_too_large_to_feed_is_one_line_before_allocation(tmp_path, shape):
    from onnx import TensorProto, helper

    model = _graph_model(tmp_path / "huge.onnx", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                         [helper.make_node("Identity", ["x"], ["y"])])
    line = _one_line_error(run_cli("run", "--model", model, "--targets", "onnxruntime-fp32", "--runs", "3",
                                   "--no-save"))
    assert f"input x {shape}" in line and "GiB a frame; edgebench feeds inputs up to 1 GiB" in line


def test_the_report_draws_the_detectors_boxes_and_says_each_answer(zoo, onnx_models, tmp_path):
    from edgebench.bench.execute import run
    from edgebench.report.html import build_report

    detector = run(RunConfig(model=str(zoo / "traffic_model.tflite"), image=zoo / "traffic_0001.bmp",
                             labels=zoo / "traffic_labels.txt", protocol=FAST, targets=("litert-int8",)))
    generic = run(RunConfig(model=str(onnx_models["two_inputs"]), protocol=FAST,
                            targets=("onnxruntime-fp32", "openvino-fp32")))
    html = build_report([detector, generic], [])
    (tmp_path / "report.html").write_text(html)
    assert f'id="chart-answer_{detector.run_id[:12]}"' in html           # the photo with its boxes
    assert f'answer_{generic.run_id[:12]}' not in html                    # nothing to draw for tensors
    assert "1 object: pickup_suv_van" in html and "Task: detection" in html
    assert "yes: min cosine over outputs 1.000 (needs 0.98)" in html


def _nan_model(path: Path, out_shape, output_name: str = "y") -> Path:
    """An image model whose output is all NaN (0 / 0 of the image's mean)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0), helper.make_node("Sub", ["m", "m"], ["z"]),
         helper.make_node("Div", ["z", "z"], ["v"]), helper.make_node("Expand", ["v", "shape"], [output_name])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_shape)],
        [helper.make_tensor("shape", TensorProto.INT64, [len(out_shape)], out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("shape", [[1, 1000], [1, 17, 3], [1, 21, 64, 64], [1, 5, 7]])
def test_nan_outputs_keep_their_timing_and_give_no_answer(tmp_path, shape):
    from edgebench.bench.execute import run

    result = run(RunConfig(model=str(_nan_model(tmp_path / "nan.onnx", shape)), protocol=FAST,
                           targets=("onnxruntime-fp32", "openvino-fp32")))
    ok = {r.target: r for r in result.results}
    assert all(r.status == "ok" and r.latency_ms.median > 0 for r in ok.values())
    assert all(r.summary.startswith("no answer: output y:") and "NaN" in r.summary for r in ok.values())
    assert ok["openvino-fp32"].agrees_with_reference is False and ok["onnxruntime-fp32"].is_reference


def test_control_characters_in_tensor_names_never_reach_the_terminal(tmp_path):
    model = _nan_model(tmp_path / "evil.onnx", [1, 5, 7], output_name="\x1b[2J\x1b[31mEVIL\tname")
    proc = run_cli("run", "--model", model, "--targets", "onnxruntime-fp32", "--runs", "3", "--settle", "0",
                   "--no-save", env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and "\\x1b[2J\\x1b[31mEVIL\\tname" in proc.stdout


@pytest.mark.parametrize("args, words", [
    (("--input-shape", "images=1x3x320x320"), "disagrees with the file's [1, 3, 160, 160]"),
    (("--input-shape", "nosuch=1x3x160x160"), "the model has no input 'nosuch'"),
    (("--labels", "{labels}"), None),
])
def test_input_shapes_and_labels_that_contradict_the_file_are_one_line(onnx_models, tmp_path, args, words):
    labels = tmp_path / "eleven.txt"
    labels.write_text("\n".join(f"c{i}" for i in range(11)))
    args = [a.format(labels=labels) for a in args]
    line = _one_line_error(run_cli("run", "--model", onnx_models["detector"], *args, "--runs", "3", "--no-save"))
    assert (words or "the labels file names 11 classes") in line


def _mean_classifier(path: Path, channels: int, classes: int) -> Path:
    """An image 'classifier' whose scores are the photo's mean, one per class: [1, C, 32, 32] -> [1, N]."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
         helper.make_node("Unsqueeze", ["m", "one"], ["u"]), helper.make_node("Expand", ["u", "shape"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes])],
        [helper.make_tensor("one", TensorProto.INT64, [1], [1]),
         helper.make_tensor("shape", TensorProto.INT64, [2], [1, classes])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_vector_with_the_wrong_number_of_labels_is_one_line(tmp_path, zoo):
    model = _mean_classifier(tmp_path / "ten.onnx", 3, 10)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"c{i}" for i in range(11)))
    line = _one_line_error(run_cli("run", "--model", model, "--labels", labels, "--runs", "3", "--no-save"))
    assert "the labels file names 11 classes" in line and "has 10" in line
    labels.write_text("\n".join(f"c{i}" for i in range(10)))
    proc = run_cli("run", "--model", model, "--labels", labels, "--image", zoo / "squat.bmp", "--targets",
                   "onnxruntime-fp32", "--runs", "3", "--settle", "0", "--no-save", env={"COLUMNS": "250"})
    assert proc.returncode == 0 and "task: classification" in proc.stdout, proc.stderr


def test_a_grey_image_input_gets_the_photo_in_grey(tmp_path, zoo):
    from edgebench.bench.execute import predict

    model = _mean_classifier(tmp_path / "grey.onnx", 1, 4)
    answers = predict(RunConfig(model=str(model), image=zoo / "squat.bmp", task="classification",
                                targets=("onnxruntime-fp32", "openvino-fp32")))
    assert set(answers) == {"onnxruntime-fp32", "openvino-fp32"}
    assert all(a.top5[0].label == "class 0" for a in answers.values())

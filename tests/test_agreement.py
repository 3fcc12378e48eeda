import numpy as np
import pytest

from edgebench.bench.agreement import mark_agreement, scores, stored_answer, timed_reference, top_k
from edgebench.bench.plan import choose_reference
from edgebench.tasks.labels import labels_for
from edgebench.results.schema import Prediction, ProtocolInfo, TargetResult
from edgebench.tensors import Quantization, TensorSpec

from edgebench.tasks import get_task

CLASSIFICATION = get_task("classification")
PROTO = ProtocolInfo(name="classic", warmup=1, settle_s=1.0, runs=250)


def _result(target, runtime, precision, label, status="ok"):
    top1 = Prediction(index=0, label=label, score=0.9) if label else None
    return TargetResult(target=target, runtime=runtime, runtime_version="1", precision=precision,
                        model="m", status=status, protocol=PROTO, top1=top1)


def test_logits_are_softmaxed():
    p = scores(np.array([[0.0, 1.0, 2.0]], np.float32), TensorSpec("y", (1, 3), "float32"))
    assert p.sum() == pytest.approx(1.0)
    assert p.argmax() == 2 and p[2] == pytest.approx(np.exp(2) / np.exp([0, 1, 2]).sum())


def test_probabilities_pass_through():
    p = scores(np.array([0.1, 0.7, 0.2]), TensorSpec("y", (1, 3), "float32"))
    assert p == pytest.approx([0.1, 0.7, 0.2])


def test_quantized_output_is_dequantized():
    spec = TensorSpec("y", (1, 3), "uint8", quantization=Quantization(1 / 256, 0))
    p = scores(np.array([[26, 179, 51]], np.uint8), spec)  # already probabilities once dequantized
    assert p == pytest.approx([26 / 256, 179 / 256, 51 / 256])


def test_top_k_labels_and_order():
    labels = labels_for(1000)
    probs = np.zeros(1000)
    probs[[19, 18, 17]] = [0.6, 0.3, 0.1]
    preds = top_k(probs, labels, k=3)
    assert [p.index for p in preds] == [19, 18, 17]
    assert preds[0].label == "chickadee" and preds[1].label == "magpie"


def _with_format(result, fmt):
    result.artifact = {"format": fmt}
    return result


def test_the_float_target_running_the_published_format_is_the_reference():
    results = [_with_format(_result("litert-int8", "litert", "int8", "junco"), "tflite"),
               _with_format(_result("onnxruntime-fp32", "onnxruntime", "fp32", "chickadee"), "onnx"),
               _with_format(_result("torch-fp32", "torch", "fp32", "chickadee"), "torch")]
    reference = timed_reference(results, native_format="torch")
    assert reference.target == "torch-fp32"
    mark_agreement(results, {}, CLASSIFICATION, stored_answer(reference), reference.target)
    assert [r.agrees_with_reference for r in results] == [False, True, True]
    assert [r.is_reference for r in results] == [False, False, True]


def test_first_fp32_is_the_reference_when_the_native_one_failed_and_failures_have_no_verdict():
    results = [_with_format(_result("torch-fp32", "torch", "fp32", None, status="failed"), "torch"),
               _with_format(_result("litert-int8", "litert", "int8", "chickadee"), "tflite"),
               _with_format(_result("openvino-fp32", "openvino", "fp32", "chickadee"), "onnx")]
    reference = timed_reference(results, native_format="torch")
    assert reference.target == "openvino-fp32"
    mark_agreement(results, {}, CLASSIFICATION, stored_answer(reference), reference.target)
    assert results[0].agrees_with_reference is None
    assert results[1].agrees_with_reference is True


def test_an_int8_target_is_never_the_reference():
    results = [_with_format(_result("litert-int8", "litert", "int8", "chickadee"), "tflite")]
    assert timed_reference(results, native_format="tflite") is None


def test_choose_reference_prefers_native_format_then_cpu_then_order():
    items = [("fp16", "torch", "cuda"), ("fp32", "onnx", "cpu"), ("fp32", "torch", "cuda"),
             ("fp32", "torch", "cpu"), ("int8", "torch", "cpu")]
    assert choose_reference(items, "torch", lambda t: t) == ("fp32", "torch", "cpu")
    assert choose_reference(items, None, lambda t: t) == ("fp32", "onnx", "cpu")
    assert choose_reference(items[:1], "torch", lambda t: t) is None


def test_1001_class_models_compare_by_label():
    assert labels_for(1001)[20] == labels_for(1000)[19] == "chickadee"
    assert labels_for(1001)[0] == "background"

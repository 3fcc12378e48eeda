import pytest

from edgebench.errors import UserError
from edgebench.models.artifact import inspect_model_file


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        inspect_model_file(tmp_path / "model.tflite")
    other = tmp_path / "model.pb"
    other.write_bytes(b"x")
    with pytest.raises(UserError, match="unsupported"):
        inspect_model_file(other)


def test_corrupt_tflite_and_onnx(tmp_path):
    bad_tflite = tmp_path / "bad.tflite"
    bad_tflite.write_bytes(b"\x00" * 64)
    with pytest.raises(UserError, match="TFL3"):
        inspect_model_file(bad_tflite)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 8)
    with pytest.raises(UserError, match="not a readable TFLite"):
        inspect_model_file(truncated)
    bad_onnx = tmp_path / "bad.onnx"
    bad_onnx.write_bytes(b"this is not protobuf \xff\xfe")
    with pytest.raises(UserError, match="not a readable ONNX"):
        inspect_model_file(bad_onnx)


def test_coral_quant_model_is_int8(coral):
    a = inspect_model_file(coral / "mobilenet_v2_1.0_224_quant.tflite")
    assert (a.format, a.precision, a.requires) == ("tflite", "int8", None)
    assert len(a.sha256) == 64


def test_edgetpu_model_is_recognised(coral):
    a = inspect_model_file(coral / "mobilenet_v2_1.0_224_quant_edgetpu.tflite")
    assert (a.format, a.precision, a.requires) == ("tflite-edgetpu", "int8", "edgetpu")

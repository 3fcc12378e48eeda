"""Bad input gets one clear line and a non-zero exit: images, output paths, models that are not
image classifiers, server options (issue 16's classes, at the shared mechanism)."""

from __future__ import annotations

import os
import struct
import zlib

import pytest

from tests.conftest import run_cli


def _one_line(out, fragment: str, code: int = 2) -> None:
    assert out.returncode == code, (out.stdout, out.stderr)
    assert "Traceback" not in out.stdout + out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr
    assert fragment in " ".join(out.stderr.split()), out.stderr


def _png_header(path, width: int, height: int) -> None:
    """A PNG whose header claims width x height (a decompression bomb needs no more)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * 16))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_huge_image_is_refused_from_its_header(tmp_path):
    _png_header(tmp_path / "bomb.png", 20000, 20000)
    _one_line(run_cli("run", "--image", str(tmp_path / "bomb.png"), "--no-save"), "up to 64 megapixels")


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.symlink_to(p), "symlink"),
    (lambda p: os.mkfifo(p), "is not a regular file"),
])
def test_special_image_files_are_refused_without_blocking(tmp_path, make, fragment):
    target = tmp_path / "photo.jpg"
    make(target)
    _one_line(run_cli("run", "--image", str(target), "--no-save", timeout=120), fragment)


def test_special_model_files_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "model.tflite")
    _one_line(run_cli("run", "--model", str(tmp_path / "model.tflite"), "--no-save", timeout=120),
              "is not a regular file")


@pytest.mark.parametrize("out, fragment", [
    ("/proc/edgebench-r.json", "cannot write /proc/edgebench-r.json"),
    ("{tmp}", "it is a directory"),
    ("{tmp}/missing/r.json", "does not exist"),
])
def test_unwritable_outputs_fail_before_the_run(tmp_path, out, fragment):
    out = out.format(tmp=tmp_path)
    result = run_cli("run", "--targets", "litert-int8", "--runs", "2", "--settle", "0", "--no-save", "--out", out)
    _one_line(result, fragment)
    assert "median ms" not in result.stdout   # refused before anything was timed


def test_accuracy_out_is_checked_first(tmp_path):
    _one_line(run_cli("accuracy", "--images", str(tmp_path), "--out", "/proc/acc.json"), "cannot write /proc/acc.json")


def _onnx_model(path, input_shape, output_shape, input_type=None, op="Identity"):
    import onnx
    from onnx import TensorProto, helper

    elem = input_type or TensorProto.FLOAT
    nodes = {"Identity": [helper.make_node("Identity", ["x"], ["y"])],
             "sum": [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)],   # a scalar out
             "pool": [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
                      helper.make_node("Flatten", ["p"], ["y"])]}[op]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, input_shape)],
                              [helper.make_tensor_value_info("y", elem, output_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.slow
@pytest.mark.parametrize("shapes, task", [
    (([1, 3, 224, 224], [1, 3, 224, 224], "Identity"), "segmentation"),   # [1, C, H, W] on the input's grid
    (([1, 3, 224, 224], [], "sum", "int64"), "generic"),
    (([4], [], "sum", "int64"), "generic"),
])
def test_models_that_are_not_image_classifiers_are_timed_as_their_task(tmp_path, shapes, task):
    from onnx import TensorProto

    input_shape, output_shape, op, *dtype = shapes
    model = tmp_path / "m.onnx"
    _onnx_model(model, input_shape, output_shape, TensorProto.INT64 if dtype else None, op=op)
    out = run_cli("run", "--model", str(model), "--targets", "onnxruntime-fp32", "--runs", "3", "--settle",
                  "0", "--no-save", env={"COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    assert f"task: {task} (" in out.stdout and "Traceback" not in out.stdout + out.stderr


@pytest.mark.slow
def test_a_model_whose_image_size_is_open_is_refused_naming_the_input(tmp_path):
    model = tmp_path / "m.onnx"
    _onnx_model(model, ["N", 3, "H", "W"], ["N", 3], op="pool")
    out = run_cli("run", "--model", str(model), "--targets", "onnxruntime-fp32", "--runs", "3", "--settle",
                  "0", "--no-save")
    _one_line(out, "input x [1, 3, 0, 0] has an open dimension (shown as 0): give its size, e.g. --input-shape x=")


@pytest.mark.parametrize("args, fragment", [
    (["hub", "serve", "--port", "99999"], "'--port'"),
    (["hub", "serve", "--port", "0"], "'--port'"),
    (["hub", "serve", "--max-upload-mb", "-1"], "'--max-upload-mb'"),
    (["hub", "serve", "--webhook-attempts", "0"], "'--webhook-attempts'"),
])
def test_hub_serve_options_are_checked_before_it_starts(args, fragment):
    _one_line(run_cli(*args, timeout=60), fragment)


def test_hub_serve_data_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    import socket

    with socket.socket() as s:   # a free port: a fixed one may be taken by another test run
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _one_line(run_cli("hub", "serve", "--data", str(tmp_path / "afile"), "--port", str(port), timeout=60),
              "is not a directory")


def test_large_but_not_bomb_image_says_its_size(tmp_path):
    _png_header(tmp_path / "big.png", 9000, 9000)   # 81 MP: under Pillow's limit, over ours
    _one_line(run_cli("run", "--image", str(tmp_path / "big.png"), "--no-save"), "9000x9000 pixels")


@pytest.mark.parametrize("name", ["null.pem", "fifo.pem", "dir"])
def test_preview_cert_and_key_that_are_not_regular_files(tmp_path, name):
    path = {"null.pem": "/dev/null", "dir": str(tmp_path)}.get(name, str(tmp_path / name))
    if name == "fifo.pem":
        os.mkfifo(path)
    kind = "is a directory" if name == "dir" else "is not a regular file"
    _one_line(run_cli("preview", "--host", "127.0.0.1", "--cert", path, "--key", path, timeout=120),
              f"TLS certificate file {path} {kind}")


@pytest.mark.parametrize("width, height", [(1, 100000), (100000, 1), (2, 60000)])
def test_thin_strip_image_is_refused_from_its_header(tmp_path, width, height):
    """Scaling the shorter side to 256 would make a 1x100000 strip 256x25600000 pixels: a
    MemoryError in every target. Refused in one line before anything is decoded or resized."""
    _png_header(tmp_path / "strip.png", width, height)
    _one_line(run_cli("run", "--image", str(tmp_path / "strip.png"), "--no-save"),
              f"is {width}x{height} pixels; edgebench reads images up to 100:1")

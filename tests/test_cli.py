"""The command line as a user meets it: help, targets, and one-line errors with exit code 2."""

import subprocess
import sys

import pytest

from tests.conftest import REPO, run_cli


def test_help_does_not_import_heavy_runtimes():
    code = ("import sys\n"
            "from edgebench.cli.app import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'numpy', 'onnxruntime', 'openvino', 'ai_edge_litert', 'jax')"
            " if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_targets_lists_every_target_with_availability():
    out = run_cli("targets")
    assert out.returncode == 0, out.stderr
    for name in ("litert-fp32", "litert-int8", "onnxruntime-fp32", "onnxruntime-int8",
                 "openvino-fp32", "openvino-int8", "torch-fp32"):
        assert name in out.stdout
    assert "yes" in out.stdout


def _assert_one_line_error(out: subprocess.CompletedProcess, fragment: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr
    assert fragment in " ".join(out.stderr.split())


@pytest.mark.parametrize("args, fragment", [
    (["run", "--targets", "litert-int8,warp-drive"], "unknown target 'warp-drive'"),
    (["run", "--image", "no/such/photo.jpg"], "image file not found"),
    (["run", "--model", "no/such/model.tflite"], "model file not found"),
    (["run", "--model", "resnet_9000"], "unknown model 'resnet_9000'"),
    (["run", "--protocol", "vibes"], "'vibes' is not one of 'classic', 'rigorous'"),
    (["run", "--preprocess", "magic", "--targets", "torch-fp32"], "'magic' is not one of"),
    # Every option with a fixed set of values or a range is checked before anything starts.
    (["run", "--targets", ","], "no target named"),
    (["run", "--targets", " , ,"], "no target named"),
    (["run", "--cuda-input", "bogus"], "'bogus' is not one of 'auto', 'host', 'device'"),
    (["run", "--torch-mode", "warp"], "'warp' is not one of"),
    (["run", "--meter", "wattmeter"], "'wattmeter' is not one of"),
    (["run", "--threads", "100000"], "threads must be an integer from 1 to 256"),
    (["run", "--threads", "0"], "threads must be an integer from 1 to 256"),
    (["run", "--threads", "-1"], "whole number or a list"),
    (["run", "--batch", "0"], "batch must be an integer from 1 to 4096"),
    (["run", "--threads", "99999999999999999999999"], "threads must be an integer from 1 to 256"),
    (["run", "--power-w", "-1"], "greater than or equal to 0.001"),
    (["run", "--runs", "abc"], "'--runs'"),
    (["run", "--no-such-option"], "No such option: --no-such-option"),
    (["run", "--meter", "rated"], "--power-w: the rated meter needs the device's rated power in W"),
    (["run", "--runtime-option", "torch.mode=graph", "--targets", "torch-fp32"],
     "torch mode 'graph' does not run on cpu"),
    (["run", "--runtime-option", "torch.zzz=1"], "torch has no option 'zzz'"),
    (["run", "--runtime-option", "warpdrive.mode=1"], "unknown runtime 'warpdrive'"),
    (["run", "--runtime-option", "torch.fold_bn=maybe"], "expected a bool"),
    (["run", "--runtime-option", "nonsense"], "RUNTIME.NAME=VALUE"),
    (["accuracy", "--images", "/nonexistent-dir"], "image directory not found"),
    (["accuracy", "--images", ".", "--targets", ","], "no target named"),
    (["models", "info", "resnet_9000"], "unknown model"),
])
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    _assert_one_line_error(run_cli(*args), fragment)


def test_corrupt_image_and_model_files(tmp_path):
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    _assert_one_line_error(run_cli("run", "--image", str(image)), "not a readable image")
    model = tmp_path / "model.tflite"
    model.write_bytes(b"\x00" * 100)
    _assert_one_line_error(run_cli("run", "--model", str(model)), "not a TFLite model")
    onnx_model = tmp_path / "model.onnx"
    onnx_model.write_bytes(b"\x08\x07garbage\xff")
    _assert_one_line_error(run_cli("run", "--model", str(onnx_model)), "not a readable ONNX model")


def test_unwritable_output_is_a_user_error(tmp_path):
    out = run_cli("run", "--targets", "litert-int8", "--runs", "2", "--settle", "0",
                  "--out", str(tmp_path / "missing-dir" / "r.json"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_models_list_and_info():
    out = run_cli("models", "list")
    assert out.returncode == 0 and "mobilenet_v2" in out.stdout
    info = run_cli("models", "info", "mobilenet_v2")
    assert info.returncode == 0
    assert "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889" in info.stdout
    assert "tflite" in info.stdout and "int8" in info.stdout


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("edgebench ")

"""Artifacts: one model file in one format at one precision, and how to inspect a user's file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.errors import UserError
from edgebench.fileio import regular_file

# Bytes 4..8 of every TFLite flatbuffer.
TFLITE_IDENTIFIER = b"TFL3"
# Custom op name that only exists in models compiled by the Edge TPU compiler.
EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"


@dataclass(frozen=True)
class Artifact:
    """A runnable model file. arch is the module:Class that builds it, for torch checkpoints."""

    path: Path
    format: str          # tflite | onnx | torch
    precision: str       # fp32 | int8
    sha256: str
    model: str           # zoo name or the file's stem
    arch: str | None = None
    arch_kwargs: dict = field(default_factory=dict)
    toolchain: dict[str, str] = field(default_factory=dict)
    requires: str | None = None   # hardware a model needs beyond a CPU, e.g. "edgetpu"
    # Quantization of the first input/output as the file records it ({"input": (scale, zp), ...});
    # runtimes that expose integer I/O without its parameters (OpenVINO on TFLite) use this.
    io_quantization: dict[str, tuple[float, int]] = field(default_factory=dict)
    # NCHW input shape at batch 1, for checkpoints (whose file does not say it).
    input_shape: tuple[int, ...] | None = None
    # For an int8 variant edgebench built: how it compared with its float source on held-back
    # calibration images, per runtime that reads it (see models/int8_check.py); else None.
    int8_check: dict | None = None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def inspect_model_file(path: Path) -> Artifact:
    """Read format and precision from a user's .tflite or .onnx file; UserError if unusable."""
    path = Path(path)
    regular_file(path, "model file")   # missing, directory, FIFO, device, symlink loop: one line
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        data = path.read_bytes()
        if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
            raise UserError(f"{path} is not a TFLite model (no TFL3 flatbuffer identifier)")
        if EDGETPU_CUSTOM_OP in data:  # compiled by edgetpu_compiler: only the delegate runs it
            return Artifact(path, "tflite-edgetpu", "int8", sha256_of(path), path.stem, requires="edgetpu")
        precision, io_quant = _tflite_precision(path)
        return Artifact(path, "tflite", precision, sha256_of(path), path.stem, io_quantization=io_quant)
    if suffix == ".onnx":
        return Artifact(path, "onnx", _onnx_precision(path), sha256_of(path), path.stem)
    raise UserError(f"unsupported model file {path.name}: edgebench reads .tflite and .onnx")


def _tflite_precision(path: Path) -> tuple[str, dict[str, tuple[float, int]]]:
    """(int8 when any tensor is quantized else fp32, I/O quantization). Needs ai-edge-litert."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return "fp32", {}  # cannot look inside; litert targets will say they are unavailable
    try:
        interpreter = Interpreter(model_path=str(path))
    except Exception as exc:  # noqa: BLE001 - the flatbuffer is corrupt or unreadable
        raise UserError(f"{path} is not a readable TFLite model: {_first_line(exc)}") from None
    io_quant = {}
    for role, details in (("input", interpreter.get_input_details()),
                          ("output", interpreter.get_output_details())):
        scale, zero_point = details[0]["quantization"]
        if scale:
            io_quant[role] = (float(scale), int(zero_point))
    quantized = any(d["dtype"].__name__ in ("int8", "uint8") and d["quantization"][0] != 0.0
                    for d in interpreter.get_tensor_details())
    return ("int8" if quantized else "fp32"), io_quant


_QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
              "MatMulInteger"}


def _onnx_precision(path: Path) -> str:
    try:
        import onnx
    except ImportError:
        return "fp32"
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf parse errors have many types
        raise UserError(f"{path} is not a readable ONNX model: {_first_line(exc)}") from None
    if not model.graph.node:
        raise UserError(f"{path} is not a readable ONNX model: the graph has no nodes")
    return "int8" if any(n.op_type in _QUANT_OPS for n in model.graph.node) else "fp32"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

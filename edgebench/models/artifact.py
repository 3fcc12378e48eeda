"""Artifacts: one model file in one format at one precision, and how to inspect a user's file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.errors import UserError
from edgebench.fileio import regular_file
from edgebench.tensors import Quantization, TensorSpec, image_layout

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
    # How an int8 variant edgebench built was quantized, in a line (e.g. the ops kept float).
    quantizer: str | None = None
    # The file's own inputs and outputs (a user's file; empty for artifacts edgebench builds):
    # what its task is inferred from before any runtime loads it.
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()


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
        precision, io_quant, inputs, outputs = _tflite_precision(path)
        if EDGETPU_CUSTOM_OP in data:  # compiled by edgetpu_compiler: only the delegate runs it
            return Artifact(path, "tflite-edgetpu", "int8", sha256_of(path), path.stem, requires="edgetpu",
                            io_quantization=io_quant, inputs=inputs, outputs=outputs)
        return Artifact(path, "tflite", precision, sha256_of(path), path.stem, io_quantization=io_quant,
                        inputs=inputs, outputs=outputs)
    if suffix == ".onnx":
        precision, inputs, outputs = _onnx_precision(path)
        return Artifact(path, "onnx", precision, sha256_of(path), path.stem, inputs=inputs, outputs=outputs)
    raise UserError(f"unsupported model file {path.name}: edgebench reads .tflite and .onnx")


def _tflite_precision(path: Path):
    """(int8 when any tensor is quantized else fp32, I/O quantization, input specs, output
    specs). Needs ai-edge-litert; without it nothing is read (litert targets say why)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return "fp32", {}, (), ()
    try:
        interpreter = Interpreter(model_path=str(path))
    except Exception as exc:  # noqa: BLE001 - the flatbuffer is corrupt or unreadable
        raise UserError(f"{path} is not a readable TFLite model: {_first_line(exc)}") from None
    from edgebench.runtimes.native_log import drop_native_stderr

    try:   # allocated, post-processing outputs (detection boxes) report their real shapes
        with drop_native_stderr(("INFO: Created TensorFlow Lite XNNPACK delegate",)):
            interpreter.allocate_tensors()
    except Exception:  # noqa: BLE001 - a custom op (the Edge TPU's) cannot allocate without its delegate
        pass
    io_quant, specs = {}, {}
    for role, details in (("input", interpreter.get_input_details()),
                          ("output", interpreter.get_output_details())):
        specs[role] = tuple(_tflite_spec(d) for d in details)
        for i, detail in enumerate(details):
            scale, zero_point = detail["quantization"]
            if scale:
                io_quant[f"{role}:{detail['name']}"] = (float(scale), int(zero_point))
                if i == 0:
                    io_quant[role] = (float(scale), int(zero_point))
    quantized = any(d["dtype"].__name__ in ("int8", "uint8") and d["quantization"][0] != 0.0
                    for d in interpreter.get_tensor_details())
    return ("int8" if quantized else "fp32"), io_quant, specs["input"], specs["output"]


def _tflite_spec(detail: dict) -> TensorSpec:
    import numpy as np

    shape = tuple(int(d) for d in detail["shape"])
    scale, zero_point = detail["quantization"]
    quant = Quantization(float(scale), int(zero_point)) if scale else None
    return TensorSpec(detail["name"], shape, np.dtype(detail["dtype"]).name, image_layout(shape), quant)


_QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
              "MatMulInteger"}


_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
                9: "bool", 10: "float16", 11: "float64"}


def _onnx_precision(path: Path):
    """(precision, input specs, output specs) read from the graph; open dimensions read as 0."""
    try:
        import onnx
    except ImportError:
        return "fp32", (), ()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf parse errors have many types
        raise UserError(f"{path} is not a readable ONNX model: {_first_line(exc)}") from None
    if not model.graph.node:
        raise UserError(f"{path} is not a readable ONNX model: the graph has no nodes")
    initializers = {i.name for i in model.graph.initializer}
    inputs = tuple(_onnx_spec(v) for v in model.graph.input if v.name not in initializers)
    outputs = tuple(_onnx_spec(v) for v in model.graph.output)
    precision = "int8" if any(n.op_type in _QUANT_OPS for n in model.graph.node) else "fp32"
    return precision, inputs, outputs


def _onnx_spec(value) -> TensorSpec:
    tensor = value.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") else 0 for d in tensor.shape.dim)
    return TensorSpec(value.name, shape, _ONNX_DTYPES.get(tensor.elem_type, f"onnx type {tensor.elem_type}"),
                      image_layout(shape))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

"""Per-layer error of an int8 TFLite file against the float file it was quantized from (issue 26).

Both files run the same images; every op output of the int8 file is dequantized and compared
with the float file's tensor at the same position (ops are matched by order, QUANTIZE /
DEQUANTIZE left out). Printed per op:

  sqnr   signal-to-noise of the int8 tensor against the float one, in dB (the error that has
         built up to that point: 40 dB is 1% of the signal's power as error, 0 dB as much as it)
  own    the same for the float tensor rounded with this tensor's own scale and zero point
         (what the tensor's range alone costs)
  clip%  float values outside that range
  wsqnr  the layer's weights, per-channel int8 against float

Example:
    python benchmarks/int8_layer_error.py FLOAT.tflite INT8.tflite ../shared/data/imagenet-sample-dev --images 60
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

_SKIPPED = ("QUANTIZE", "DEQUANTIZE", "DELEGATE")


def _ops(interpreter) -> list[dict]:
    return [op for op in interpreter._get_ops_details() if op["op_name"] not in _SKIPPED]   # noqa: SLF001


def _dequantized(interpreter, index: int, detail: dict) -> np.ndarray:
    value = interpreter.get_tensor(index)
    if value.dtype.kind == "f":
        return value.astype(np.float64)
    params = detail["quantization_parameters"]
    return (value.astype(np.float64) - params["zero_points"][0]) * params["scales"][0]


def _int8_input(x: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return x
    scale, zero = detail["quantization"]
    return np.clip(np.round(x / scale) + zero, -128, 127).astype(detail["dtype"])


class LayerErrors:
    """Sums of squared signal and error per op over the images."""

    def __init__(self, names: list[str], ops: list[str]):
        self.rows = [{"op": op, "name": name, "signal": 0.0, "error": 0.0, "own": 0.0, "clipped": 0, "values": 0}
                     for name, op in zip(names, ops)]

    def add(self, i: int, float_value: np.ndarray, int8_value: np.ndarray, params: dict | None) -> None:
        row = self.rows[i]
        row["signal"] += float((float_value ** 2).sum())
        row["error"] += float(((int8_value - float_value) ** 2).sum())
        row["values"] += float_value.size
        if params is not None and len(params["scales"]):
            scale, zero = params["scales"][0], params["zero_points"][0]
            raw = np.round(float_value / scale) + zero
            own = (np.clip(raw, -128, 127) - zero) * scale
            row["own"] += float(((own - float_value) ** 2).sum())
            row["clipped"] += int(((raw < -128) | (raw > 127)).sum())


def _db(signal: float, error: float) -> float:
    return 10 * np.log10(signal / error) if error > 0 else float("inf")


def weight_sqnr(float_model, int8_model, f_op: dict, q_op: dict, details: dict) -> float | None:
    if f_op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return None
    params = details[q_op["inputs"][1]]["quantization_parameters"]
    if not len(params["scales"]):
        return None   # a layer kept float
    w = float_model.get_tensor(f_op["inputs"][1]).astype(np.float64)
    shape = [1] * w.ndim
    shape[params["quantized_dimension"]] = -1
    w_q = int8_model.get_tensor(q_op["inputs"][1]).astype(np.float64) * params["scales"].reshape(shape)
    return _db(float((w ** 2).sum()), float(((w_q - w) ** 2).sum()))


def measure(float_path: Path, int8_path: Path, images: list[Path]) -> tuple[LayerErrors, list, float, int]:
    from edgebench.models.images import load_image, to_float_nchw
    from edgebench.models.zoo import get_model
    from edgebench.runtimes.litert import create_interpreter

    prep = get_model("mobilenet_v2").preprocessing
    float_model = create_interpreter(float_path, experimental_preserve_all_tensors=True)
    int8_model = create_interpreter(int8_path, experimental_preserve_all_tensors=True)
    f_ops, q_ops = _ops(float_model), _ops(int8_model)
    if [o["op_name"] for o in f_ops] != [o["op_name"] for o in q_ops]:
        raise SystemExit("error: the two files do not have the same ops in the same order")
    f_names = {d["index"]: d["name"] for d in float_model.get_tensor_details()}
    details = {d["index"]: d for d in int8_model.get_tensor_details()}
    errors = LayerErrors([f_names[o["outputs"][0]] for o in f_ops], [o["op_name"] for o in f_ops])
    f_in, q_in = float_model.get_input_details()[0], int8_model.get_input_details()[0]
    q_out = int8_model.get_output_details()[0]
    agree, logit_error = 0, 0.0
    for path in images:
        x = np.ascontiguousarray(to_float_nchw(load_image(path), prep).transpose(0, 2, 3, 1))
        float_model.set_tensor(f_in["index"], x)
        float_model.invoke()
        int8_model.set_tensor(q_in["index"], _int8_input(x, q_in))
        int8_model.invoke()
        for i, (f_op, q_op) in enumerate(zip(f_ops, q_ops)):
            detail = details[q_op["outputs"][0]]
            errors.add(i, float_model.get_tensor(f_op["outputs"][0]).astype(np.float64),
                       _dequantized(int8_model, q_op["outputs"][0], detail),
                       detail["quantization_parameters"] if np.dtype(detail["dtype"]).kind != "f" else None)
        f_logits = float_model.get_tensor(float_model.get_output_details()[0]["index"]).ravel()
        q_logits = _dequantized(int8_model, q_out["index"], details[q_out["index"]]).ravel()
        agree += int(f_logits.argmax() == q_logits.argmax())
        logit_error += float(np.abs(f_logits - q_logits).mean()) / len(images)
    weights = [weight_sqnr(float_model, int8_model, f, q, details) for f, q in zip(f_ops, q_ops)]
    return errors, weights, logit_error, agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("float_tflite", type=Path)
    parser.add_argument("int8_tflite", type=Path)
    parser.add_argument("images", type=Path, help="folder of images (every n-th is used)")
    parser.add_argument("--images", dest="count", type=int, default=60)
    args = parser.parse_args()
    found = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    chosen = found[::max(1, len(found) // args.count)][:args.count]
    errors, weights, logit_error, agree = measure(args.float_tflite, args.int8_tflite, chosen)
    print(f"{len(chosen)} images: top-1 agreement {agree}/{len(chosen)}, mean |logit error| {logit_error:.3f}")
    print(f"{'op':>3} {'kind':18} {'sqnr':>6} {'own':>6} {'clip%':>7} {'wsqnr':>6}  layer")
    for i, (row, w) in enumerate(zip(errors.rows, weights)):
        own = _db(row["signal"], row["own"]) if row["own"] else float("nan")
        where = row["name"].split(";")[0].split("/")
        print(f"{i:3d} {row['op'][:18]:18} {_db(row['signal'], row['error']):6.1f} {own:6.1f} "
              f"{100 * row['clipped'] / row['values']:7.3f} {w if w is not None else float('nan'):6.1f}  "
              f"{'/'.join(part.rsplit('.', 1)[-1] for part in where[2:])[:70]}")


if __name__ == "__main__":
    main()

"""The int8 recipes' shared parts: activation ranges, saturation-safe weights, bias correction.

Why each is there (measured on 300 labelled ImageNet images, `benchmarks/RESULTS.md`):

* Activation ranges are percentiles (99.99%) of each tensor's values over the calibration
  images, not their min/max: a handful of extreme activations otherwise stretch a tensor's
  256 steps over a range the other values never use (MobileNetV2's late residual stream spans
  -25..33 while almost every value lies within a few units of 0).
* ONNX: the logits are left in float (the last Gemm's output is not quantized): a confident
  photo's winning logit lies far beyond what calibration photos produce, and a saturated output
  ties classes at the top. (The TFLite file keeps int8 output, its range widened instead.)
* ONNX: weights of every convolution that sums over input channels (and of the classifier) use 7 of
  their 8 bits. x86 CPUs without VNNI (AVX2, AVX-512 before Cascade Lake; the VM it was found on)
  run u8 x s8 products with VPMADDUBSW, which adds two products into a saturating int16: with
  8-bit weights that overflows and ONNX Runtime and OpenVINO give a different model (the ONNX
  int8 variant agreed with fp32 on 75% of images). With 7-bit weights 2 x 255 x 64 < 32767:
  never. Depthwise convolutions keep 8 bits: their kernels do not sum pairs (measured: the
  int8 kernels then match the exact quantized arithmetic). LiteRT's XNNPACK kernels widen to
  16 bits before adding, so the TFLite file keeps 8-bit weights.
* TFLite: the layers a zoo model names in `litert_int8_float_layers` stay float (mobilenet_v2:
  its 7x7 stage, blocks 14-17). Measured per layer on 1000 ImageNet samples, int8 error there
  was what pushed top-1 below 99% of fp32's; 16-bit activations would fix it too, but XNNPACK
  has no 16x8 kernels (4.6x slower), while float ops run at XNNPACK's float speed
  (docs/guides/int8-recipe.md).
* Fast bias correction: for each convolution, the mean per-channel shift that quantizing its
  weights and input causes (measured on float activations of the calibration images) is
  subtracted from its bias (means over up to MAX_BIAS_SAMPLES calibration samples), as NNCF's
  FastBiasCorrection does. Rounding and clipping biases otherwise add up through 50 layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from edgebench.models.calibration import evenly

PERCENTILE = 99.99
HISTOGRAM_BINS = 2048
# Per-channel means settle long before this; more samples only cost time (a convolution pair per
# layer per sample).
MAX_BIAS_SAMPLES = 64


def percentile_ranges(run: Callable[[np.ndarray], dict[str, np.ndarray]], samples: list[np.ndarray],
                      percentile: float = PERCENTILE) -> dict[str, tuple[float, float]]:
    """Per tensor, the range holding `percentile` % of its values over the samples (cut evenly
    from both tails, never beyond the values seen, always including 0). run(sample) returns
    the tensors of one inference by name. Two passes (extremes, then histograms), so memory
    stays one inference's tensors plus a histogram per tensor, however many samples."""
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for x in samples:
        for name, value in run(x).items():
            low[name] = min(low.get(name, 0.0), float(np.min(value)))
            high[name] = max(high.get(name, 0.0), float(np.max(value)))
    counts = {name: np.zeros(HISTOGRAM_BINS, np.int64) for name in low if high[name] > low[name]}
    for x in samples:
        for name, value in run(x).items():
            if name in counts:
                counts[name] += np.histogram(value, bins=HISTOGRAM_BINS, range=(low[name], high[name]))[0]
    cut = (100.0 - percentile) / 200.0
    ranges = {}
    for name in low:
        if name not in counts:
            ranges[name] = (low[name], high[name])
            continue
        edges = np.linspace(low[name], high[name], HISTOGRAM_BINS + 1)
        cdf = np.cumsum(counts[name]) / max(counts[name].sum(), 1)
        lo = edges[np.searchsorted(cdf, cut)]
        hi = edges[min(np.searchsorted(cdf, 1.0 - cut) + 1, HISTOGRAM_BINS)]
        ranges[name] = (min(float(lo), 0.0), max(float(hi), 0.0))
    return ranges


# ONNX (onnxruntime.quantization, QDQ) ---------------------------------------------------------

def onnx_tensor_runner(model_path: Path, names: Iterable[str]):
    """run(x) -> {name: value} for the float model's tensors `names` (graph input included)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    input_name = model.graph.input[0].name
    present = {o.name for o in model.graph.output}
    wanted = [n for n in names if n != input_name]
    for name in wanted:
        if name not in present:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        values = dict(zip(outputs, session.run(None, {input_name: x})))
        found = {n: values[n] for n in wanted if n in values}
        if input_name in names:
            found[input_name] = x
        return found

    return run


def onnx_input_name(model_path: Path) -> str:
    """The name of the graph's first input that is not an initializer."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in initializers)


def onnx_activation_names(model_path: Path) -> list[str]:
    """Float tensors a quantizer may quantize: the graph input and every node output."""
    import onnx

    model = onnx.load(str(model_path))
    initializers = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    names += [o for n in model.graph.node for o in n.output if o and o not in initializers]
    return list(dict.fromkeys(names))


def onnx_weight_overrides(model_path: Path) -> dict[str, list[dict]]:
    """7-bit (reduce_range) per-channel weights for every convolution that sums over input
    channels and for Gemm/MatMul weights; depthwise convolutions keep all 8 bits."""
    import onnx

    model = onnx.load(str(model_path))
    initializers = {i.name for i in model.graph.initializer}
    overrides = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            if groups == 1:
                overrides[node.input[1]] = [{"reduce_range": True, "axis": 0}]
        elif node.op_type == "Gemm" and node.input[1] in initializers:
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            overrides[node.input[1]] = [{"reduce_range": True, "axis": 0 if trans_b else 1}]
    return overrides


def fast_bias_correction(float_path: Path, quantized_path: Path, samples: list[np.ndarray]) -> int:
    """Correct, in place, the int32 bias of every convolution of a QDQ model whose input and
    weights are quantized: subtract the mean per-channel shift between the quantized layer and
    the float layer, both fed the float model's activations. Returns how many were corrected."""
    import onnx
    import torch
    from onnx import numpy_helper

    samples = evenly(samples, MAX_BIAS_SAMPLES)
    float_model, model = onnx.load(str(float_path)), onnx.load(str(quantized_path))
    float_weights = {i.name: i for i in float_model.graph.initializer}
    inits = {i.name: i for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}

    def array(name):
        return numpy_helper.to_array(inits[name])

    def attribute(node, name, default):
        found = next((a for a in node.attribute if a.name == name), None)
        return default if found is None else (list(found.ints) if found.ints else found.i)

    layers = []
    for conv in (n for n in model.graph.node if n.op_type == "Conv" and len(n.input) == 3):
        dq_input, dq_weight, dq_bias = (producer.get(name) for name in conv.input)
        if not all(d is not None and d.op_type == "DequantizeLinear" for d in (dq_input, dq_weight, dq_bias)):
            continue
        quantize = producer.get(dq_input.input[0])
        float_name = dq_weight.output[0].removesuffix("_DequantizeLinear_Output")
        if quantize is None or quantize.op_type != "QuantizeLinear" or float_name not in float_weights:
            continue
        zero_point = array(quantize.input[2])
        info = np.iinfo(zero_point.dtype)
        weight_scale = array(dq_weight.input[1]).reshape(-1, 1, 1, 1)
        pads = attribute(conv, "pads", [0, 0, 0, 0])
        layers.append({
            "input": quantize.input[0], "scale": float(array(quantize.input[1])),
            "zero_point": int(zero_point), "qmin": info.min, "qmax": info.max,
            "w_q": torch.from_numpy(array(dq_weight.input[0]).astype(np.float32) * weight_scale),
            "w": torch.from_numpy(numpy_helper.to_array(float_weights[float_name]).copy()),
            "pad": [pads[1], pads[3], pads[0], pads[2]],
            "conv": {"stride": attribute(conv, "strides", [1, 1]), "dilation": attribute(conv, "dilations", [1, 1]),
                     "groups": attribute(conv, "group", 1)},
            "bias": dq_bias, "shift": 0.0})
    run = onnx_tensor_runner(float_path, {layer["input"] for layer in layers})
    with torch.no_grad():
        for x in samples:
            values = run(x)
            for layer in layers:
                a = torch.from_numpy(np.ascontiguousarray(values[layer["input"]]))
                s, zp = layer["scale"], layer["zero_point"]
                a_q = (torch.clamp(torch.round(a / s) + zp, layer["qmin"], layer["qmax"]) - zp) * s
                a, a_q = (torch.nn.functional.pad(t, layer["pad"]) for t in (a, a_q))
                shift = (torch.nn.functional.conv2d(a_q, layer["w_q"], **layer["conv"])
                         - torch.nn.functional.conv2d(a, layer["w"], **layer["conv"]))
                layer["shift"] = layer["shift"] + shift.mean(dim=(0, 2, 3)).numpy() / len(samples)
    for layer in layers:
        bias = inits[layer["bias"].input[0]]
        scale = array(layer["bias"].input[1])
        corrected = numpy_helper.to_array(bias).astype(np.float64) - layer["shift"] / scale
        bias.CopyFrom(numpy_helper.from_array(
            np.clip(np.round(corrected), -2**31, 2**31 - 1).astype(np.int32), bias.name))
    onnx.save(model, str(quantized_path))
    return len(layers)


# TFLite (ai-edge-quantizer) -------------------------------------------------------------------

def tflite_tensor_runner(model_path: Path):
    """run(x_nhwc) -> {tensor name: value} for the float model's input and every op output."""
    from edgebench.runtimes.litert import create_interpreter

    interpreter = create_interpreter(model_path, experimental_preserve_all_tensors=True)
    details = interpreter.get_tensor_details()
    names = {d["index"]: d["name"] for d in details}
    produced = {i for op in interpreter._get_ops_details() for i in op["outputs"]}   # noqa: SLF001
    input_index = interpreter.get_input_details()[0]["index"]
    wanted = [i for i in sorted(produced | {input_index})
              if i in names and np.dtype(next(d["dtype"] for d in details if d["index"] == i)).kind == "f"]

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        interpreter.set_tensor(input_index, x)
        interpreter.invoke()
        return {names[i]: interpreter.get_tensor(i) for i in wanted}

    return run


_WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def tflite_int8_recipe(float_layers: tuple[str, ...] = ()) -> list[dict]:
    """ai-edge-quantizer's static_wi8_ai8 (int8 activations, per-channel int8 weights), with
    the ops whose tensor names match one of `float_layers` (regular expressions) left float."""
    from ai_edge_quantizer import qtyping, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe.static_wi8_ai8())
    for pattern in float_layers:
        manager.add_quantization_config(pattern, qtyping.TFLOperationName.ALL_SUPPORTED, None,
                                        AlgorithmName.NO_QUANTIZE)
    return manager.get_quantization_recipe()


def tflite_float_ops(model_path: Path) -> int:
    """How many compute ops of a TFLite file run in float (not counting QUANTIZE/DEQUANTIZE)."""
    from edgebench.runtimes.litert import create_interpreter

    interpreter = create_interpreter(model_path)
    kinds = {d["index"]: np.dtype(d["dtype"]).kind for d in interpreter.get_tensor_details()}
    return sum(1 for op in interpreter._get_ops_details()   # noqa: SLF001
               if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE", "DELEGATE")   # XNNPACK's partitions
               and op["outputs"] and kinds.get(op["outputs"][0]) == "f")


def tflite_fast_bias_correction(float_path: Path, int8_path: Path, samples_nhwc: list[np.ndarray]) -> int:
    """Fast bias correction of a full-integer TFLite file, patched in place: for each
    convolution / fully-connected op, the mean per-channel shift that quantizing its input and
    weights causes, from the float model's activations, is subtracted from its int32 bias.
    Per-channel means go through the op linearly (exact for 1x1 and fully-connected ops; for
    kxk kernels the image border is not treated apart). Ops are matched by position: the
    quantizer keeps the float graph's op order. Returns how many biases were corrected."""
    from edgebench.runtimes.litert import create_interpreter

    samples_nhwc = evenly(samples_nhwc, MAX_BIAS_SAMPLES)

    def weighted_ops(interpreter):
        return [op for op in interpreter._get_ops_details()   # noqa: SLF001
                if op["op_name"] in _WEIGHTED_OPS and len(op["inputs"]) == 3 and op["inputs"][2] >= 0]

    float_model = create_interpreter(float_path, experimental_preserve_all_tensors=True)
    int8_model = create_interpreter(int8_path, experimental_preserve_all_tensors=True)
    float_ops, int8_ops = weighted_ops(float_model), weighted_ops(int8_model)
    if len(float_ops) != len(int8_ops):
        return 0
    float_names = {d["index"]: d["name"] for d in float_model.get_tensor_details()}
    int8_details = {d["index"]: d for d in int8_model.get_tensor_details()}
    run = tflite_tensor_runner(float_path)
    means = {}   # float tensor name -> (per-channel mean of a, of its quantized copy)
    layers = []
    for f_op, q_op in zip(float_ops, int8_ops):
        q_in = int8_details[q_op["inputs"][0]]["quantization_parameters"]
        if len(q_in["scales"]) != 1:
            continue
        layers.append((f_op, q_op, float_names[f_op["inputs"][0]], float(q_in["scales"][0]),
                       int(q_in["zero_points"][0])))
    for x in samples_nhwc:
        values = run(x)
        for _, _, name, scale, zero_point in layers:
            a = values[name].reshape(-1, values[name].shape[-1]).astype(np.float64)
            a_q = (np.clip(np.round(a / scale) + zero_point, -128, 127) - zero_point) * scale
            total = means.get((name, scale, zero_point), (0.0, 0.0))
            means[(name, scale, zero_point)] = (total[0] + a.mean(0) / len(samples_nhwc),
                                                total[1] + a_q.mean(0) / len(samples_nhwc))
    data = bytearray(Path(int8_path).read_bytes())
    corrected = 0
    for f_op, q_op, name, scale, zero_point in layers:
        mean, mean_q = means[(name, scale, zero_point)]
        w = float_model.get_tensor(f_op["inputs"][1]).astype(np.float64)
        w_detail = int8_details[q_op["inputs"][1]]
        w_params = w_detail["quantization_parameters"]
        axis = w_params["quantized_dimension"]
        shape = [1] * w.ndim
        shape[axis] = -1
        w_q = int8_model.get_tensor(q_op["inputs"][1]).astype(np.float64) * w_params["scales"].reshape(shape)
        if q_op["op_name"] == "DEPTHWISE_CONV_2D":
            if w.shape[-1] != mean.shape[0]:
                continue   # a depth multiplier other than 1
            shift = w_q.sum(axis=(0, 1, 2)) * mean_q - w.sum(axis=(0, 1, 2)) * mean
        else:   # CONV_2D [O, kh, kw, I] or FULLY_CONNECTED [O, I]
            w_q, w = w_q.reshape(w.shape[0], -1, mean.shape[0]).sum(1), w.reshape(w.shape[0], -1, mean.shape[0]).sum(1)
            shift = w_q @ mean_q - w @ mean
        b_detail = int8_details[q_op["inputs"][2]]
        old = int8_model.get_tensor(q_op["inputs"][2])
        new = np.clip(np.round(old.astype(np.float64) - shift / b_detail["quantization_parameters"]["scales"]),
                      -2**31, 2**31 - 1).astype(old.dtype)
        where = data.find(old.tobytes())
        if old.dtype != np.int32 or where < 0 or data.find(old.tobytes(), where + 1) >= 0:
            continue   # not found exactly once in the file: leave that bias as it is
        data[where:where + old.nbytes] = new.tobytes()
        corrected += 1
    Path(int8_path).write_bytes(bytes(data))
    return corrected

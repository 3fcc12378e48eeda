"""Constants of a frozen TensorFlow graph (a GraphDef `.pb`), read without TensorFlow.

Why protobuf with a hand-declared schema rather than TensorFlow or OpenVINO: the `tensorflow`
package is ~600 MB for one ParseFromString; OpenVINO reads the graph too, but its frontend
folds, fuses and renames constants as it converts (a batch norm folded into a convolution,
weights transposed), so names and values would depend on its version. A GraphDef is a plain
protobuf message: the few message types below are declared with the field numbers of
tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape}.proto (stable since
TF 1.0), and `protobuf` (already installed with ONNX) parses it. Only what constants need is
declared; unknown fields are skipped by the parser.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

# DataType enum values (tensorflow/core/framework/types.proto) -> numpy dtype names.
_DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 9: "int64",
           10: "bool", 17: "uint16", 19: "float16", 22: "uint32", 23: "uint64"}
# Repeated value fields of TensorProto by dtype, for constants not stored as tensor_content.
_VALUE_FIELDS = {"float32": "float_val", "float64": "double_val", "int64": "int64_val", "bool": "bool_val"}


@lru_cache(maxsize=1)
def _graph_def_class():
    """The GraphDef message class, built from a descriptor declared here (see module docstring)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="edgebench_tf_graph.proto", package="edgebench_tf",
                                             syntax="proto3")
    f = descriptor_pb2.FieldDescriptorProto
    optional, repeated = f.LABEL_OPTIONAL, f.LABEL_REPEATED

    def message(name, *fields):
        msg = fdp.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".edgebench_tf.{type_name}"

    message("Dim", ("size", 1, f.TYPE_INT64, optional, None), ("name", 2, f.TYPE_STRING, optional, None))
    message("TensorShapeProto", ("dim", 2, f.TYPE_MESSAGE, repeated, "Dim"),
            ("unknown_rank", 3, f.TYPE_BOOL, optional, None))
    message("TensorProto", ("dtype", 1, f.TYPE_INT32, optional, None),
            ("tensor_shape", 2, f.TYPE_MESSAGE, optional, "TensorShapeProto"),
            ("tensor_content", 4, f.TYPE_BYTES, optional, None),
            ("float_val", 5, f.TYPE_FLOAT, repeated, None), ("double_val", 6, f.TYPE_DOUBLE, repeated, None),
            ("int_val", 7, f.TYPE_INT32, repeated, None), ("int64_val", 10, f.TYPE_INT64, repeated, None),
            ("bool_val", 11, f.TYPE_BOOL, repeated, None))
    message("ListValue", ("s", 2, f.TYPE_BYTES, repeated, None), ("i", 3, f.TYPE_INT64, repeated, None),
            ("f", 4, f.TYPE_FLOAT, repeated, None))
    message("AttrValue", ("list", 1, f.TYPE_MESSAGE, optional, "ListValue"),
            ("s", 2, f.TYPE_BYTES, optional, None), ("i", 3, f.TYPE_INT64, optional, None),
            ("f", 4, f.TYPE_FLOAT, optional, None), ("b", 5, f.TYPE_BOOL, optional, None),
            ("type", 6, f.TYPE_INT32, optional, None),
            ("tensor", 8, f.TYPE_MESSAGE, optional, "TensorProto"))
    # map<string, AttrValue> is on the wire a repeated (key=1, value=2) message.
    message("AttrEntry", ("key", 1, f.TYPE_STRING, optional, None),
            ("value", 2, f.TYPE_MESSAGE, optional, "AttrValue"))
    message("NodeDef", ("name", 1, f.TYPE_STRING, optional, None), ("op", 2, f.TYPE_STRING, optional, None),
            ("input", 3, f.TYPE_STRING, repeated, None), ("attr", 5, f.TYPE_MESSAGE, repeated, "AttrEntry"))
    message("GraphDef", ("node", 1, f.TYPE_MESSAGE, repeated, "NodeDef"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("edgebench_tf.GraphDef"))


class GraphError(ValueError):
    """The file is not a frozen GraphDef, or lacks a constant the caller needs."""


def read_graph(path: Path):
    """The parsed GraphDef (nodes with name, op, input and attr)."""
    from google.protobuf.message import DecodeError

    graph = _graph_def_class()()
    try:
        graph.ParseFromString(Path(path).read_bytes())
    except DecodeError as exc:
        raise GraphError(f"{path} is not a TensorFlow GraphDef: {exc}") from None
    if not graph.node:
        raise GraphError(f"{path} holds no graph nodes: not a frozen TensorFlow graph")
    return graph


def tensor_value(tensor):
    """A TensorProto as a numpy array."""
    import numpy as np

    dtype = _DTYPES.get(tensor.dtype)
    if dtype is None:
        raise GraphError(f"constant of TensorFlow dtype {tensor.dtype}: not read here")
    shape = [d.size for d in tensor.tensor_shape.dim]
    count = int(np.prod(shape)) if shape else 1
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, dtype=dtype).reshape(shape).copy()
    values = list(getattr(tensor, _VALUE_FIELDS.get(dtype, "int_val")))
    if not values:
        return np.zeros(shape, dtype=dtype)
    # A constant filled with one value stores it once.
    array = np.array(values, dtype=dtype)
    return (np.full(count, array[-1], dtype=dtype) if len(array) < count else array).reshape(shape)


def attributes(node) -> dict:
    return {entry.key: entry.value for entry in node.attr}


def constants(graph) -> dict:
    """Every numeric Const node's value by node name (string constants are left out)."""
    found = {}
    for node in graph.node:
        if node.op == "Const":
            value = attributes(node).get("value")
            if value is not None and value.HasField("tensor") and value.tensor.dtype in _DTYPES:
                found[node.name] = tensor_value(value.tensor)
    return found


# The TF object-detection API's ssdlite_mobilenet_v2 graph -> SSDLiteMobileNetV2's state dict.

_BACKBONE = "FeatureExtractor/MobilenetV2/"
_BN = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"), ("running_var", "moving_variance"))


def _conv(value, depthwise: bool):
    """A TF convolution kernel as torch's: HWIO -> OIHW; depthwise H W C 1 -> C 1 H W."""
    return value.transpose(2, 3, 0, 1) if depthwise else value.transpose(3, 2, 0, 1)


def ssdlite_mapping(num_blocks: int = 17) -> dict[str, str]:
    """torch parameter name -> graph constant name (kernels and batch norms; the anchors and box
    coder scales are computed by ssdlite_state)."""
    names: dict[str, str] = {}

    def conv_bn(torch_prefix: str, tf_prefix: str, kernel: str = "weights") -> None:
        names[f"{torch_prefix}.0.weight"] = f"{tf_prefix}/{kernel}"
        for ours, theirs in _BN:
            names[f"{torch_prefix}.1.{ours}"] = f"{tf_prefix}/BatchNorm/{theirs}"

    conv_bn("backbone.features.0", _BACKBONE + "Conv")
    for k in range(1, num_blocks + 1):
        tf = _BACKBONE + ("expanded_conv" if k == 1 else f"expanded_conv_{k - 1}")
        torch_block = f"backbone.features.{k}.conv"
        steps = [] if k == 1 else ["expand"]
        for i, step in enumerate([*steps, "depthwise"]):
            conv_bn(f"{torch_block}.{i}", f"{tf}/{step}", "depthwise_weights" if step == "depthwise" else "weights")
        project = len(steps) + 1
        names[f"{torch_block}.{project}.weight"] = f"{tf}/project/weights"
        for ours, theirs in _BN:
            names[f"{torch_block}.{project + 1}.{ours}"] = f"{tf}/project/BatchNorm/{theirs}"
    conv_bn(f"backbone.features.{num_blocks + 1}", _BACKBONE + "Conv_1")
    from edgebench.arch.ssdlite import EXTRA_LAYERS

    for j, (depth, out) in enumerate(EXTRA_LAYERS):
        layer = j + 2
        conv_bn(f"extras.{j}.0", f"{_BACKBONE}layer_19_1_Conv2d_{layer}_1x1_{depth}")
        conv_bn(f"extras.{j}.1", f"{_BACKBONE}layer_19_2_Conv2d_{layer}_3x3_s2_{out}_depthwise", "depthwise_weights")
        conv_bn(f"extras.{j}.2", f"{_BACKBONE}layer_19_2_Conv2d_{layer}_3x3_s2_{out}")
    for i in range(6):
        for ours, theirs in (("box_heads", "BoxEncodingPredictor"), ("class_heads", "ClassPredictor")):
            conv_bn(f"{ours}.{i}.0", f"BoxPredictor_{i}/{theirs}_depthwise", "depthwise_weights")
            names[f"{ours}.{i}.1.weight"] = f"BoxPredictor_{i}/{theirs}/weights"
            names[f"{ours}.{i}.1.bias"] = f"BoxPredictor_{i}/{theirs}/biases"
    return names


def anchor_specs(graph, values: dict) -> list[tuple[list[float], list[float]]]:
    """(scales, aspect ratios) of each feature map, as the graph's MultipleGridAnchorGenerator
    computes them: heights = scales / sqrt(aspect ratios), so the RealDiv reading a Sqrt node
    names both."""
    by_name = {n.name: n for n in graph.node}
    specs = []
    for i in range(6):
        sqrt = by_name.get("MultipleGridAnchorGenerator/Sqrt" + (f"_{i}" if i else ""))
        div = next((n for n in graph.node if n.op == "RealDiv" and len(n.input) == 2
                    and sqrt is not None and n.input[1] == sqrt.name), None)
        if sqrt is None or div is None or sqrt.input[0] not in values or div.input[0] not in values:
            raise GraphError(f"the graph's anchor generator for feature map {i} is not where an "
                             "ssdlite_mobilenet_v2 graph has it")
        specs.append((values[div.input[0]].tolist(), values[sqrt.input[0]].tolist()))
    return specs


def postprocessing_settings(values: dict) -> dict:
    """The graph's box coder scales (y, x, h, w), NMS IoU and score thresholds, input size and
    pixel scaling (pixel * mul - sub)."""
    nms = "Postprocessor/BatchMultiClassNonMaxSuppression/map/while/MultiClassNonMaxSuppression/non_max_suppression/"
    decode = "Postprocessor/Decode/truediv"
    try:
        return {"box_scales": [float(values[f"{decode}{s}/y"]) for s in ("", "_1", "_2", "_3")],
                "nms_iou": float(values[nms + "iou_threshold"]),
                "score_threshold": float(values[nms + "score_threshold"]),
                "input_size": [int(v) for v in values["Preprocessor/map/while/ResizeImage/stack"]],
                "pixel_mul": float(values["Preprocessor/mul/x"]), "pixel_sub": float(values["Preprocessor/sub/y"])}
    except KeyError as exc:
        raise GraphError(f"the graph has no constant {exc}: not an ssdlite_mobilenet_v2 graph") from None


def ssdlite_state(path: Path) -> dict:
    """SSDLiteMobileNetV2's full state dict (strict-loadable) from a frozen graph."""
    import numpy as np
    import torch

    from edgebench.arch.ssdlite import ANCHORS_PER_CELL, feature_map_sizes, grid_anchors

    graph = read_graph(path)
    values = constants(graph)
    state = {}
    for ours, theirs in ssdlite_mapping().items():
        if theirs not in values:
            raise GraphError(f"{path} has no constant {theirs}: not an ssdlite_mobilenet_v2 graph")
        value = values[theirs]
        state[ours] = torch.from_numpy(np.ascontiguousarray(_conv(value, theirs.endswith("depthwise_weights")) if value.ndim == 4 else value))
        if ours.endswith("running_var"):
            state[ours.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    settings = postprocessing_settings(values)
    specs = anchor_specs(graph, values)
    if [len(s) for s, _ in specs] != list(ANCHORS_PER_CELL):
        raise GraphError(f"anchors per cell {[len(s) for s, _ in specs]}, expected {list(ANCHORS_PER_CELL)}")
    sides = feature_map_sizes(settings["input_size"][0])
    anchors = np.concatenate([grid_anchors(s, r, side) for (s, r), side in zip(specs, sides)])
    state["anchors"] = torch.from_numpy(anchors)
    state["box_scales"] = torch.tensor(settings["box_scales"], dtype=torch.float32)
    return state

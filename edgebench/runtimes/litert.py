"""LiteRT (ai-edge-litert) with its default XNNPACK CPU delegate."""

from __future__ import annotations

import os

import numpy as np

from edgebench.errors import TargetUnavailable
from edgebench.runtimes.base import NoArena, RuntimeDefaults
from edgebench.runtimes.native_log import drop_native_stderr
from edgebench.runtimes.options import RuntimeOptions
from edgebench.tensors import Quantization, TensorSpec, image_layout

XNNPACK_ANNOUNCEMENT = ("INFO: Created TensorFlow Lite XNNPACK delegate",)


def _spec(detail: dict) -> TensorSpec:
    shape = tuple(int(d) for d in detail["shape"])
    scale, zero_point = detail["quantization"]
    quant = Quantization(float(scale), int(zero_point)) if scale else None
    return TensorSpec(detail["name"], shape, np.dtype(detail["dtype"]).name, image_layout(shape), quant)


def missing_op(exc: BaseException) -> TargetUnavailable | None:
    """LiteRT's 'unresolved custom op' as one line naming the op, else None."""
    import re

    found = re.search(r"unresolved custom op: ([^\s.]+)", str(exc))
    if found is None:
        return None
    return TargetUnavailable(f"LiteRT has no kernel for op {found.group(1)}: it cannot run this model "
                             "(a custom op needs the delegate or library that provides it)")


def create_interpreter(path, **kwargs):
    """An allocated Interpreter, without LiteRT's native announcement on stderr."""
    from ai_edge_litert.interpreter import Interpreter

    with drop_native_stderr(XNNPACK_ANNOUNCEMENT):
        interpreter = Interpreter(model_path=str(path), **kwargs)
        interpreter.allocate_tensors()
    return interpreter


class LiteRTSession(NoArena):
    """One interpreter. A model with several inputs takes a tuple in set_input (in input_specs
    order); one with several outputs returns a tuple from output()."""

    def __init__(self, interpreter, settings: dict):
        self._interpreter = interpreter
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        self._in_indices = [d["index"] for d in inputs]
        self._out_indices = [d["index"] for d in outputs]
        self.input_specs = tuple(_spec(d) for d in inputs)
        self.output_specs = tuple(_spec(d) for d in outputs)
        self.input_spec = self.input_specs[0] if self.input_specs else None
        self.output_spec = self.output_specs[0] if self.output_specs else None
        self.settings = settings
        # One output: the frame loop reads it directly, as before several outputs were read.
        self.output = self._one_output if len(outputs) == 1 else self._outputs

    def set_input(self, x) -> None:
        if isinstance(x, tuple):
            for index, array in zip(self._in_indices, x):
                self._interpreter.set_tensor(index, array)
        else:
            self._interpreter.set_tensor(self._in_indices[0], x)

    def invoke(self) -> None:
        self._interpreter.invoke()

    def _one_output(self) -> np.ndarray:
        return self._interpreter.get_tensor(self._out_indices[0])

    def _outputs(self) -> tuple[np.ndarray, ...]:
        get = self._interpreter.get_tensor
        return tuple(get(index) for index in self._out_indices)

    def close(self) -> None:
        self._interpreter = None


def resize_inputs(interpreter, options: RuntimeOptions) -> None:
    """Inputs with open dimensions (-1 in shape_signature) take the shape asked for them."""
    changed = False
    for i, detail in enumerate(interpreter.get_input_details()):
        shape = options.shape_for(detail["name"], i)
        if shape is not None and tuple(detail["shape"]) != shape:
            interpreter.resize_tensor_input(detail["index"], list(shape), strict=False)
            changed = True
    if changed:
        interpreter.allocate_tensors()


class LiteRTRuntime(RuntimeDefaults):
    name = "litert"
    formats = ("tflite",)
    distribution, module = "ai-edge-litert", "ai_edge_litert"
    install_hint = "pip install 'edgebench[litert]'"
    how_it_runs = "XNNPACK CPU delegate"

    def load(self, artifact, options: RuntimeOptions) -> LiteRTSession:
        if artifact.requires == "edgetpu":
            raise TargetUnavailable("model is compiled for the Edge TPU; it needs the Edge TPU "
                                    "delegate (libedgetpu), not a CPU runtime")
        threads = options.threads or os.cpu_count() or 1
        try:
            interpreter = create_interpreter(artifact.path, num_threads=threads)
        except RuntimeError as exc:
            raise missing_op(exc) or exc

        resize_inputs(interpreter, options)
        return LiteRTSession(interpreter, {"threads": threads, "delegate": "XNNPACK (default)"})

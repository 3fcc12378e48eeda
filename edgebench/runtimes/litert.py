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


def create_interpreter(path, **kwargs):
    """An allocated Interpreter, without LiteRT's native announcement on stderr."""
    from ai_edge_litert.interpreter import Interpreter

    with drop_native_stderr(XNNPACK_ANNOUNCEMENT):
        interpreter = Interpreter(model_path=str(path), **kwargs)
        interpreter.allocate_tensors()
    return interpreter


class LiteRTSession(NoArena):
    def __init__(self, interpreter, settings: dict):
        self._interpreter = interpreter
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        self.input_spec, self.output_spec = _spec(inp), _spec(out)
        self.settings = settings

    def set_input(self, x: np.ndarray) -> None:
        self._interpreter.set_tensor(self._in_index, x)

    def invoke(self) -> None:
        self._interpreter.invoke()

    def output(self) -> np.ndarray:
        return self._interpreter.get_tensor(self._out_index)

    def close(self) -> None:
        self._interpreter = None


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
        interpreter = create_interpreter(artifact.path, num_threads=threads)
        return LiteRTSession(interpreter, {"threads": threads, "delegate": "XNNPACK (default)"})

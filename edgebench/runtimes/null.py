"""A runtime that does nothing: timing it measures the harness's own per-call cost."""

from __future__ import annotations

import numpy as np

from edgebench.runtimes.base import NoArena, RuntimeDefaults
from edgebench.runtimes.options import RuntimeOptions
from edgebench.tensors import TensorSpec


class NullSession(NoArena):
    def __init__(self, input_shape=(1, 3, 224, 224), classes: int = 1000):
        self.input_spec = TensorSpec("input", tuple(input_shape), "float32", "NCHW")
        self.output_spec = TensorSpec("logits", (1, classes), "float32")
        self._out = np.zeros((1, classes), np.float32)
        self.settings: dict = {}

    def set_input(self, x: np.ndarray) -> None:
        self._x = x

    def invoke(self) -> None:
        pass

    def output(self) -> np.ndarray:
        return self._out

    def close(self) -> None:
        pass


class NullRuntime(RuntimeDefaults):
    name = "null"
    formats = ("torch", "onnx", "tflite")

    def version(self) -> str | None:
        return "0"

    def available(self) -> tuple[bool, str]:
        return True, "measures harness overhead only"

    def load(self, artifact, options: RuntimeOptions) -> NullSession:
        return NullSession()

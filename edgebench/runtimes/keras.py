"""Keras 3 (JAX or TensorFlow backend, whichever is installed): the article's float path.

The Keras model is a prepared variant (a .keras file built from the zoo checkpoint, see
arch/keras_mobilenet_v2.py). Two runtimes: 'keras-predict' times model.predict (what the
article timed), 'keras' a compiled call of the model (jax.jit / tf.function).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from edgebench.errors import TargetUnavailable
from edgebench.arch.keras_mobilenet_v2 import keras_backend
from edgebench.runtimes.base import NoArena, RuntimeDefaults
from edgebench.runtimes.options import RuntimeOptions
from edgebench.tensors import TensorSpec, image_layout


def _spec(name: str, shape) -> TensorSpec:
    shape = tuple(1 if d is None else int(d) for d in shape)
    return TensorSpec(name, shape, "float32", image_layout(shape))


class KerasSession(NoArena):
    def __init__(self, model, compiled: bool, backend: str):
        self._model = model
        self._x = None
        self._y = None
        self.settings = {"mode": "compiled call" if compiled else "model.predict", "backend": backend}
        self.input_spec = _spec("input", model.input_shape)
        self.output_spec = _spec("logits", model.output_shape)
        self._call = self._compile(model, backend) if compiled else None

    @staticmethod
    def _compile(model, backend: str):
        if backend == "jax":
            import jax

            return jax.jit(lambda x: model(x, training=False))
        import tensorflow as tf

        return tf.function(lambda x: model(x, training=False), jit_compile=True)

    def set_input(self, x: np.ndarray) -> None:
        self._x = x

    def invoke(self) -> None:
        if self._call is None:
            self._y = self._model.predict(self._x, verbose=0)
        else:
            self._y = self._call(self._x)

    def output(self) -> np.ndarray:
        return np.asarray(self._y)  # blocks until a JAX/TF result is ready

    def close(self) -> None:
        self._model = self._call = None


class KerasRuntime(RuntimeDefaults):
    """The compiled call: the fastest way Keras offers to run one frame."""

    name = "keras"
    formats = ("keras",)
    distribution = module = "keras"
    install_hint = "pip install 'edgebench[keras]'"
    compiled = True

    def available(self) -> tuple[bool, str]:
        ok, reason = super().available()
        if not ok:
            return ok, reason
        backend = keras_backend()
        if backend is None or importlib.util.find_spec(backend) is None:
            return False, "Keras 3 needs JAX or TensorFlow (pip install jax)"
        return True, f"Keras 3 on {backend}, {'compiled call' if self.compiled else 'model.predict'}"

    def load(self, artifact, options: RuntimeOptions) -> KerasSession:
        ok, reason = self.available()
        if not ok:
            raise TargetUnavailable(reason)
        backend = keras_backend()
        os.environ.setdefault("KERAS_BACKEND", backend)
        import keras

        model = keras.saving.load_model(str(artifact.path), compile=False)
        return KerasSession(model, self.compiled, backend)


class KerasPredictRuntime(KerasRuntime):
    """model.predict per frame, as the 2019 article timed it."""

    name = "keras-predict"
    compiled = False

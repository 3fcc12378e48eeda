"""Keras 3 (JAX or TensorFlow backend, whichever is installed): the article's float path.

The MobileNetV2 graph is rebuilt in Keras layer for layer and the torchvision checkpoint's
weights are transplanted, so it classifies like the other targets. Padding is explicit
(ZeroPadding2D + 'valid'): Keras' 'same' pads stride-2 convolutions asymmetrically, unlike torch.
Two runtimes: 'keras-predict' times model.predict (what the article timed), 'keras' a compiled
call of the model (jax.jit / tf.function).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from edgebench.errors import TargetUnavailable
from edgebench.runtimes.base import RuntimeOptions, TensorSpec, package_version

_BACKENDS = ("jax", "tensorflow")


def _backend() -> str | None:
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    return next((b for b in _BACKENDS if importlib.util.find_spec(b) is not None), None)


def build_keras_mobilenet_v2(state: dict):
    """Keras functional MobileNetV2 (NHWC) carrying the torchvision weights in `state`."""
    import keras
    from keras import layers

    from edgebench.models.mobilenet_v2 import _INVERTED_RESIDUAL_SETTING

    def conv_bn(x, prefix: str, out_ch: int, kernel: int, stride: int, depthwise: bool, relu: bool):
        pad = (kernel - 1) // 2
        if pad:
            x = layers.ZeroPadding2D(pad)(x)
        w = state[f"{prefix}.0.weight"] if relu else state[f"{prefix}.weight"]
        if depthwise:
            conv = layers.DepthwiseConv2D(kernel, stride, padding="valid", use_bias=False)
            x = conv(x)
            conv.set_weights([w.permute(2, 3, 0, 1).numpy()])           # (C,1,kh,kw) -> (kh,kw,C,1)
        else:
            conv = layers.Conv2D(out_ch, kernel, stride, padding="valid", use_bias=False)
            x = conv(x)
            conv.set_weights([w.permute(2, 3, 1, 0).numpy()])           # (O,I,kh,kw) -> (kh,kw,I,O)
        return x

    def batch_norm(x, prefix: str):
        bn = layers.BatchNormalization(epsilon=1e-5)
        x = bn(x)
        bn.set_weights([state[f"{prefix}.{k}"].numpy() for k in ("weight", "bias", "running_mean", "running_var")])
        return x

    def conv_bn_relu6(x, prefix: str, out_ch: int, kernel: int = 3, stride: int = 1, depthwise: bool = False):
        x = conv_bn(x, prefix, out_ch, kernel, stride, depthwise, relu=True)
        x = batch_norm(x, f"{prefix}.1")
        return layers.ReLU(max_value=6.0)(x)

    inputs = keras.Input((224, 224, 3))
    x = conv_bn_relu6(inputs, "features.0", 32, stride=2)
    in_ch, index = 32, 1
    for expand, out_ch, repeats, first_stride in _INVERTED_RESIDUAL_SETTING:
        for i in range(repeats):
            stride, p = (first_stride if i == 0 else 1), f"features.{index}.conv"
            y, j = x, 0
            if expand != 1:
                y = conv_bn_relu6(y, f"{p}.0", in_ch * expand, kernel=1)
                j = 1
            y = conv_bn_relu6(y, f"{p}.{j}", in_ch * expand, stride=stride, depthwise=True)
            y = conv_bn(y, f"{p}.{j + 1}", out_ch, 1, 1, False, relu=False)
            y = batch_norm(y, f"{p}.{j + 2}")
            x = layers.Add()([x, y]) if stride == 1 and in_ch == out_ch else y
            in_ch, index = out_ch, index + 1
    x = conv_bn_relu6(x, f"features.{index}", 1280, kernel=1)
    x = layers.GlobalAveragePooling2D()(x)
    dense = layers.Dense(1000)
    logits = dense(x)
    dense.set_weights([state["classifier.1.weight"].numpy().T, state["classifier.1.bias"].numpy()])
    return keras.Model(inputs, logits, name="mobilenet_v2")


class KerasSession:
    def __init__(self, model, compiled: bool, backend: str):
        self._model = model
        self._x = None
        self._y = None
        self.mode = "compiled call" if compiled else "model.predict"
        self.input_spec = TensorSpec("input", (1, 224, 224, 3), "float32", "NHWC")
        self.output_spec = TensorSpec("logits", (1, 1000), "float32")
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


class KerasRuntime:
    """The compiled call: the fastest way Keras offers to run one frame."""

    name = "keras"
    formats = ("torch",)   # built from the torch checkpoint by weight transplant
    compiled = True

    def version(self) -> str | None:
        return package_version("keras")

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("keras") is None:
            return False, "keras not installed (pip install 'edgebench[keras]')"
        backend = _backend()
        if backend is None or importlib.util.find_spec(backend) is None:
            return False, "Keras 3 needs JAX or TensorFlow (pip install jax)"
        return True, f"Keras 3 on {backend}, {'compiled call' if self.compiled else 'model.predict'}"

    def load(self, artifact, options: RuntimeOptions) -> KerasSession:
        ok, reason = self.available()
        if not ok:
            raise TargetUnavailable(reason)
        if artifact.arch != "edgebench.models.mobilenet_v2:MobileNetV2":
            raise TargetUnavailable("the Keras target rebuilds MobileNetV2 only")
        backend = _backend()
        os.environ.setdefault("KERAS_BACKEND", backend)
        import torch

        state = torch.load(artifact.path, map_location="cpu", weights_only=True)
        return KerasSession(build_keras_mobilenet_v2(state), self.compiled, backend)


class KerasPredictRuntime(KerasRuntime):
    """model.predict per frame, as the 2019 article timed it."""

    name = "keras-predict"
    compiled = False

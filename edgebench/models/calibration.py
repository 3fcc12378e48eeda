"""Calibration images for post-training quantization: real photos shipped by installed packages.

Twelve photos (matplotlib's Grace Hopper; scikit-image's astronaut, cat, coffee, rocket,
motorcycles, Hubble field, retina, textures). Each is used as a centre crop, its mirror
image and a tighter crop, so the activation ranges see varied content, never noise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgebench.errors import UserError
from edgebench.models.images import default_image, load_image, to_float_nchw
from edgebench.models.zoo import Preprocessing

_SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                   "motorcycle_left.png", "motorcycle_right.png", "hubble_deep_field.jpg",
                   "retina.jpg", "brick.png", "grass.png", "gravel.png")


def calibration_photos() -> list[Path]:
    import importlib.util

    photos = [default_image()]
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.submodule_search_locations:
        data = Path(list(spec.submodule_search_locations)[0]) / "data"
        photos += [data / name for name in _SKIMAGE_PHOTOS if (data / name).is_file()]
    if len(photos) < 4:
        raise UserError("too few calibration photos: install scikit-image (pip install scikit-image)")
    return photos


def calibration_batches(prep: Preprocessing) -> Iterator[np.ndarray]:
    """Float NCHW tensors, three views per photo."""
    from PIL import ImageOps

    tight = Preprocessing(resize=prep.crop, crop=prep.crop, mean=prep.mean, std=prep.std)
    for path in calibration_photos():
        img = load_image(path)
        yield to_float_nchw(img, prep)
        yield to_float_nchw(ImageOps.mirror(img), prep)
        yield to_float_nchw(img, tight)

"""Calibration images for post-training quantization: real photos shipped by installed packages.

Eleven photos (matplotlib's Grace Hopper; scikit-image's astronaut, cat, rocket, motorcycles,
Hubble field, retina, textures). Each is used as a centre crop, its mirror image and a
tighter crop, so the activation ranges see varied content, never noise. The default test
image (scikit-image's coffee cup) is left out on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgebench.errors import UserError
from edgebench.models.images import skimage_data_dir, load_image, matplotlib_photo, to_float_nchw
from edgebench.models.zoo import Preprocessing

_SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "rocket.jpg",
                   "motorcycle_left.png", "motorcycle_right.png", "hubble_deep_field.jpg",
                   "retina.jpg", "brick.png", "grass.png", "gravel.png")


def calibration_photos() -> list[Path]:
    data = skimage_data_dir()
    photos = [matplotlib_photo()] + [data / name for name in _SKIMAGE_PHOTOS if (data / name).is_file()]
    if len(photos) < 4:
        raise UserError("too few calibration photos: reinstall scikit-image (pip install scikit-image)")
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

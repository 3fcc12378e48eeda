"""A small labelled set for retraining tests and benchmarks, made from photos installed
packages ship: one class per photo, each image a seeded random crop (with mirror and a little
colour jitter). Training crops come from the left part of each photo and validation crops
from the right part, so a validation image is never a crop the head was trained on."""

from __future__ import annotations

import random
from pathlib import Path

CLASSES = {"cat": "chelsea.png", "coffee": "coffee.png", "rocket": "rocket.jpg"}


def _crops(photo: Path, out: Path, count: int, region: tuple[float, float], seed: int) -> None:
    from PIL import Image, ImageEnhance, ImageOps

    rng = random.Random(seed)
    img = Image.open(photo).convert("RGB")
    w, h = img.size
    lo, hi = int(region[0] * w), int(region[1] * w)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        side = int(min(hi - lo, h) * rng.uniform(0.55, 0.95))
        left, top = rng.randint(lo, hi - side), rng.randint(0, h - side)
        crop = img.crop((left, top, left + side, top + side)).resize((256, 256))
        if rng.random() < 0.5:
            crop = ImageOps.mirror(crop)
        crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(0.85, 1.15))
        crop.save(out / f"{photo.stem}-{i:02d}.jpg", quality=90)


def make_photo_classes(root: Path, per_class: int = 20, val_per_class: int = 6,
                       classes: dict[str, str] = CLASSES) -> tuple[Path, Path]:
    """(train dir, validation dir), each DIR/<class>/*.jpg."""
    from edgebench.models.images import skimage_data_dir

    data = skimage_data_dir()
    for n, (name, photo) in enumerate(classes.items()):
        _crops(data / photo, root / "train" / name, per_class, (0.0, 0.7), seed=n)
        _crops(data / photo, root / "val" / name, val_per_class, (0.3, 1.0), seed=100 + n)
    return root / "train", root / "val"

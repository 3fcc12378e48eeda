"""Backbone activations of a user's images, computed once and reused by every epoch.

Training images give several views each (the centre crop, its mirror image, and seeded
random crops with a little brightness and contrast jitter: the light augmentation transfer
learning tools apply); validation images give the centre crop only, as a run sees an image.
The backbone is frozen (eval mode), so its activations can be cached: training then costs
milliseconds per epoch for a head, and only the unfrozen blocks for a fine-tune.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np

from edgebench.models.zoo import Preprocessing
from edgebench.retrain.dataset import Example

ProgressCallback = Callable[[int, int], None]   # (images done, total)
BATCH = 16


def views_of(img, prep: Preprocessing, views: int, rng: random.Random) -> list[np.ndarray]:
    """`views` float NCHW tensors of one image: centre crop, mirror, then random crops."""
    from PIL import ImageEnhance, ImageOps

    from edgebench.models.images import to_float_nchw

    square = Preprocessing(prep.crop, prep.crop, prep.mean, prep.std, prep.name)
    out = [to_float_nchw(img, prep)]
    if views > 1:
        out.append(to_float_nchw(ImageOps.mirror(img), prep))
    while len(out) < views:
        w, h = img.size
        side = int(min(w, h) * rng.uniform(0.6, 1.0))
        left, top = rng.randint(0, w - side), rng.randint(0, h - side)
        crop = img.crop((left, top, left + side, top + side))
        if rng.random() < 0.5:
            crop = ImageOps.mirror(crop)
        crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(0.9, 1.1))
        crop = ImageEnhance.Contrast(crop).enhance(rng.uniform(0.9, 1.1))
        out.append(to_float_nchw(crop, square))
    return out


def activations(stages, examples: Sequence[Example], prep: Preprocessing, views: int, seed: int,
                on_progress: ProgressCallback | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(activations after `stages`, labels), `views` rows per example, in example order."""
    import torch

    from edgebench.models.images import load_image

    rng = random.Random(seed)
    outputs, labels, pending = [], [], []

    def flush():
        if pending:
            x = torch.from_numpy(np.concatenate(pending))
            with torch.inference_mode():
                for stage in stages:
                    x = stage(x)
            outputs.append(x.numpy().copy())
            pending.clear()

    for n, example in enumerate(examples, start=1):
        for view in views_of(load_image(example.path), prep, views, rng):
            pending.append(view)
            labels.append(example.label)
        if len(pending) >= BATCH:
            flush()
        if on_progress:
            on_progress(n, len(examples))
    flush()
    return np.concatenate(outputs), np.asarray(labels, dtype=np.int64)

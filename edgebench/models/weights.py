"""Find a checkpoint: installed package first, then the cache, then (announced) download.

Every path returned has had its sha256 checked; a mismatch is an error, never a warning.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from edgebench.errors import UserError
from edgebench.models.artifact import sha256_of
from edgebench.models.zoo import WeightsSource
from edgebench.paths import cache_dir


class WeightsIntegrityError(UserError):
    """The file's sha256 is not the one the zoo names."""


def installed_path(source: WeightsSource) -> Path | None:
    """The checkpoint inside its installed package, found without importing the package."""
    if not source.package or not source.package_path:
        return None
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(list(spec.submodule_search_locations)[0]) / source.package_path
    return candidate if candidate.is_file() else None


def cached_path(source: WeightsSource) -> Path:
    return cache_dir() / "weights" / source.filename


def verify(path: Path, source: WeightsSource) -> Path:
    actual = sha256_of(path)
    if actual != source.sha256:
        raise WeightsIntegrityError(
            f"{path} has sha256 {actual[:16]}..., expected {source.sha256[:16]}...; "
            "the file is corrupt or not the published checkpoint"
        )
    return path


def download(source: WeightsSource, dest: Path, *, notify: Callable[[str], None] = print,
             timeout_s: float = 60.0) -> Path:
    """Fetch source.url to dest, checking sha256 before the file becomes visible."""
    notify(f"downloading {source.filename} from {source.url}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".download-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(source.url, timeout=timeout_s) as resp:
            shutil.copyfileobj(resp, out)
        verify(tmp, source)
        os.replace(tmp, dest)
    except OSError as exc:
        raise UserError(f"could not download {source.url}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def resolve_weights(source: WeightsSource, *, allow_download: bool = True,
                    notify: Callable[[str], None] = print) -> Path:
    """Path of a verified copy of the checkpoint."""
    if source.local_path is not None:   # a retrained model's own file: nowhere else to look
        if not Path(source.local_path).is_file():
            raise UserError(f"weights {source.local_path} are missing: retrain the model again")
        return verify(Path(source.local_path), source)
    for candidate in (installed_path(source), cached_path(source)):
        if candidate is not None and candidate.is_file():
            return verify(candidate, source)
    if not allow_download or source.url is None:
        hint = f" (install it: {source.pip_hint})" if source.pip_hint else ""
        raise UserError(f"weights {source.filename} are not installed or cached{hint}")
    return download(source, cached_path(source), notify=notify)

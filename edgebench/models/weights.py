"""Find a checkpoint: installed package first, then the cache, then (announced) download.

Every path returned has had its pins (sha256, git blob id) checked; a mismatch is an error, never
a warning.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import os
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from edgebench.errors import UserError
from edgebench.models.artifact import sha256_of
from edgebench.models.zoo import WeightsSource
from edgebench.paths import cache_dir


class WeightsIntegrityError(UserError):
    """The file's bytes are not the ones the zoo pins (sha256 or git blob id)."""


# A download with no size on record stops here: far above any checkpoint the zoo names.
MAX_DOWNLOAD_BYTES = 2 << 30
# Where downloads come from instead of their URLs (an air-gapped mirror; the tests' local server):
# <mirror>/<file name>. The pins are the same, so a mirror cannot change what is used.
MIRROR_ENV = "EDGEBENCH_MIRROR"


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


def available_path(source: WeightsSource) -> Path | None:
    """Where a copy is on this machine without a download (not yet checked against its pins)."""
    for candidate in (Path(source.local_path) if source.local_path else None, installed_path(source),
                      cached_path(source)):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def git_blob_of(path: Path, chunk: int = 1 << 20) -> str:
    """git's blob id of a file: SHA-1 of b"blob <size>\\0" followed by its bytes."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def pin_names(source: WeightsSource) -> str:
    """What a source is pinned by, for messages: "sha256", "git blob id" or both."""
    return " and ".join(n for n, v in (("sha256", source.sha256), ("git blob id", source.git_blob)) if v)


def verify(path: Path, source: WeightsSource, shown: str | None = None) -> Path:
    """path, once its bytes match every pin of source; WeightsIntegrityError naming the file,
    the expected and the actual value otherwise."""
    if not source.sha256 and not source.git_blob:
        raise WeightsIntegrityError(f"{source.filename} has no sha256 or git blob id to check it by")
    checks = (("sha256", source.sha256, sha256_of), ("git blob id", source.git_blob, git_blob_of))
    for name, expected, digest in checks:
        if expected and (actual := digest(path)) != expected:
            raise WeightsIntegrityError(
                f"{shown or path} has {name} {actual}, expected {expected}: "
                "the file is corrupt or not the published one")
    return path


def download_url(source: WeightsSource) -> str:
    """The address a download reads: the source's URL, or the mirror's copy of the file."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return f"{mirror.rstrip('/')}/{source.filename}" if mirror else str(source.url)


def download(source: WeightsSource, dest: Path, *, notify: Callable[[str], None] = print,
             timeout_s: float = 60.0) -> Path:
    """Fetch source's file to dest, checking its pins before the file becomes visible.

    The bytes go to a temporary file beside dest, renamed over dest only once they match:
    a failed, refused or interrupted (Ctrl-C) download leaves nothing in the cache, and two
    processes fetching the same file each rename a whole, checked copy.
    timeout_s: how long the server may stay silent (connecting, or between two reads).
    """
    url = download_url(source)
    limit = source.size if source.size is not None else MAX_DOWNLOAD_BYTES
    notify(f"downloading {source.filename} from {url}" + (f" (mirror of {source.url})" if url != source.url else ""))
    tmp = _temporary_beside(dest)
    try:
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as resp:
                _copy_at_most(resp, out, limit, source.filename)
        except (OSError, http.client.HTTPException) as exc:
            raise UserError(f"could not download {url}: {_reason(exc)}") from None
        verify(tmp, source, shown=f"the download of {source.filename} from {url}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _temporary_beside(dest: Path) -> Path:
    """A new empty file in dest's folder (the cache), or one line saying why it cannot be made."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=".download-")
    except OSError as exc:
        raise UserError(f"cannot write the download to {dest.parent}: {exc.strerror or exc} "
                        "(set EDGEBENCH_CACHE_DIR to a writable folder)") from None
    os.close(fd)
    return Path(name)


def _copy_at_most(resp, out, limit: int, filename: str) -> None:
    """Copy the response body, refusing one longer than limit (whatever Content-Length claims)
    or shorter than its Content-Length."""
    declared = resp.headers.get("Content-Length")
    declared = int(declared) if declared and declared.isdigit() else None
    if declared is not None and declared > limit:
        raise UserError(f"the server offers {declared} bytes for {filename}, more than the {limit} expected")
    received = 0
    while block := resp.read(1 << 16):
        received += len(block)
        if received > limit:
            raise UserError(f"the server sent more than the {limit} bytes expected for {filename}")
        out.write(block)
    if declared is not None and received < declared:
        raise UserError(f"the download of {filename} stopped after {received} of {declared} bytes")


def _reason(exc: BaseException) -> str:
    """Why a download failed, in a few words (a timeout, HTTP status, refused connection)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "the server stopped answering (timed out)"
    if isinstance(exc, http.client.IncompleteRead):
        return f"the connection closed after {len(exc.partial)} bytes of the body"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0]


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
    hint = f" (install it: {source.pip_hint})" if source.pip_hint else ""
    if source.url is None:
        raise UserError(f"weights {source.filename} are not installed or cached{hint}")
    if not allow_download:
        raise UserError(f"{source.filename} is not installed or cached{hint}, and downloading it from "
                        f"{download_url(source)} is off (offline)", "allow_download")
    return download(source, cached_path(source), notify=notify)

"""Artifact files, content-addressed: DIR/blobs/ab/cd/<sha256>. An upload streams into
DIR/tmp, is hashed and validated there, and only then is renamed into place, so a killed
or refused upload never leaves a file that anything points to."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from edgebench.hub.db import HubRefusal


class BlobStore:
    def __init__(self, data_dir: Path):
        self.root = Path(data_dir) / "blobs"
        self.tmp = Path(data_dir) / "tmp"
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        # Uploads cut off by a crash or restart. (One server process per data directory: a
        # second one starting would take another's in-flight uploads for stale.)
        for stale in self.tmp.iterdir():
            stale.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def new_upload(self, suffix: str) -> Upload:
        return Upload(self.tmp / f"{uuid.uuid4().hex}{suffix}")

    def keep(self, upload: Upload) -> Path:
        """Move a finished, validated upload into place under its sha256."""
        dest = self.path(upload.sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_file():
            upload.discard()  # the same bytes are already stored
        else:
            os.replace(upload.path, dest)
        return dest


class Upload:
    """One upload being received: written, hashed and counted as it streams in."""

    def __init__(self, path: Path):
        self.path = path
        self.size = 0
        self._digest = hashlib.sha256()
        self._file = open(path, "wb")

    def write(self, chunk: bytes, limit: int) -> None:
        self.size += len(chunk)
        if self.size > limit:
            raise HubRefusal(413, f"upload is larger than this hub's limit of {limit / 1e6:g} MB")
        self._digest.update(chunk)
        self._file.write(chunk)

    def finish(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)

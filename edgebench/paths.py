"""Where edgebench keeps files. EDGEBENCH_CACHE_DIR overrides the user cache dir (tests use it)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    override = os.environ.get("EDGEBENCH_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("edgebench"))

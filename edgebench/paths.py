"""Where edgebench keeps files. EDGEBENCH_CACHE_DIR overrides the user cache dir and
EDGEBENCH_DATA_DIR the user data dir (tests set both).

The cache holds what can be rebuilt (prepared variants, downloads); the data dir holds what
cannot (models retrained on a user's images).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    override = os.environ.get("EDGEBENCH_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("edgebench"))


def data_dir() -> Path:
    override = os.environ.get("EDGEBENCH_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("edgebench"))

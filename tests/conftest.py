"""Shared fixtures. The prepared-model cache is shared by the whole session so the real
conversions run once; tests that must see an empty cache make their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORAL = REPO.parent / "shared" / "fixtures" / "coral"


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """Point EDGEBENCH_CACHE_DIR at one temporary cache for the whole test session."""
    path = tmp_path_factory.mktemp("edgebench-cache")
    previous = os.environ.get("EDGEBENCH_CACHE_DIR")
    os.environ["EDGEBENCH_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("EDGEBENCH_CACHE_DIR", None)
    else:
        os.environ["EDGEBENCH_CACHE_DIR"] = previous


@pytest.fixture
def coral() -> Path:
    """Coral's fixtures from ../shared; tests using them skip where they are absent."""
    if not (CORAL / "bird.bmp").is_file():
        pytest.skip("../shared/fixtures/coral is not present")
    return CORAL


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the real `edgebench` entry point in a child process."""
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=timeout, env=os.environ.copy())

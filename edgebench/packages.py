"""What is installed, without importing it; and the one loader of "module:Class" paths.

Registries (runtimes, meters, model architectures) name what they hold by import path, so
choosing one entry never imports another entry's dependencies.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib import metadata


def package_version(dist: str) -> str | None:
    """Installed version of a distribution, without importing it."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def module_importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def load_object(path: str):
    """The object named by "package.module:Name" (imports only that module)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"not a 'module:Name' import path: {path!r}")
    return getattr(importlib.import_module(module_name), attribute)

"""The package's layering (pyproject's [tool.importlinter] contracts), checked with import-linter
on the real package, and shown to fail on an upward import or a cycle added to a copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT = Path(sys.executable).with_name("lint-imports")


def _lint(package_parent: Path) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.skip("import-linter is not installed (pip install 'edgebench[test]')")
    return subprocess.run([str(LINT), "--config", str(REPO / "pyproject.toml")], capture_output=True, text=True,
                          cwd=package_parent, env={**os.environ, "PYTHONPATH": str(package_parent)}, timeout=300)


def test_the_package_keeps_its_layers():
    proc = _lint(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("module, added", [
    ("tasks/base.py", "from edgebench.bench import plan  # upward: a task importing the planner\n"),
    ("results/schema.py", "import edgebench.report.charts  # upward: results importing the report\n"),
    ("runtimes/litert.py", "from edgebench.tasks import TASKS  # sideways: runtimes and tasks are independent\n"),
])
def test_an_upward_or_sideways_import_breaks_the_contract(tmp_path, module, added):
    copy = tmp_path / "edgebench"
    shutil.copytree(REPO / "edgebench", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(added + target.read_text())
    proc = _lint(tmp_path)
    assert proc.returncode != 0 and "BROKEN" in proc.stdout, proc.stdout


def test_architecture_names_stored_before_the_move_still_read():
    """Hub cards and retrained manifests stored 'edgebench.models.<arch>' before the
    architectures moved to edgebench.arch: they validate, and name the same classes."""
    from edgebench.arch.checkpoint import current_name
    from edgebench.hub.schema import Architecture
    from edgebench.packages import load_object

    legacy = "edgebench.models.mobilenet_v2:MobileNetV2"
    card = Architecture(arch="edgebench.retrain.model:RetrainedClassifier", base_arch=legacy, num_classes=3,
                        weights_file="w.safetensors")
    assert card.base_arch == "edgebench.arch.mobilenet_v2:MobileNetV2" == current_name(legacy)
    assert load_object(current_name("edgebench.models.efficientnet_lite:EfficientNetLite0")).__name__ == "EfficientNetLite0"
    assert current_name("edgebench.retrain.model:RetrainedClassifier") == "edgebench.retrain.model:RetrainedClassifier"

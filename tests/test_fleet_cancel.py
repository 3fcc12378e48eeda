"""A fleet job cancelled while its model converts: the converter is killed, and the file it was
writing (.build-PID-*, 0 bytes at first) must not stay behind in the prepared-model cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

VARIANT = ("onnx", "fp32")


@pytest.fixture
def preparer(tmp_path, monkeypatch):
    from edgebench.models.prepare import Preparer
    from edgebench.models.zoo import MOBILENET_V2

    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return Preparer(MOBILENET_V2, weights=tmp_path / "weights.pth")


def test_a_killed_converter_leaves_no_build_file(preparer, tmp_path, monkeypatch):
    """A stand-in converter (named as the real one names its file) starts its file, says its
    stage and works on; the build is interrupted there (Ctrl-C, or a fleet job's SIGINT)."""
    folder = preparer.path(VARIANT).parent
    folder.mkdir(parents=True)
    other = folder / ".build-4194999-other.onnx"   # another process's build in progress: not ours
    other.touch()
    converter = tmp_path / "converter.sh"
    converter.write_text(f"#!/bin/sh\n: > '{folder}'/.build-$$-x.onnx\n"
                         "echo 'edgebench-stage: exporting'\nexec sleep 120\n")
    converter.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(converter))   # the converter's interpreter

    def interrupt(stage: str) -> None:
        assert list(folder.glob(".build-*.onnx")) != [other]   # the converter's file exists now
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        preparer._build_in_subprocess(VARIANT, interrupt)
    assert sorted(p.name for p in folder.glob(".build-*")) == [other.name]


def test_a_converter_names_its_file_by_its_pid_and_removes_it_on_failure(preparer, monkeypatch):
    from edgebench.models import prepare

    written: list[Path] = []

    def failing_builder(_prep, _source, out: Path) -> dict:
        written.append(out)
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(prepare, "_export_onnx_fp32", failing_builder)
    preparer.path(VARIANT).parent.mkdir(parents=True)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        preparer.build_here(VARIANT)
    (out,) = written
    assert out.name.startswith(f".build-{os.getpid()}-") and out.suffix == ".onnx"
    assert not out.exists()

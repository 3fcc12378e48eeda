"""`hub seed` / `hub publish` of a zoo model: the conversions it runs are counted against their
real total ("step 2/4"), not against themselves ("step 2/2").

The converters are replaced by a writer of placeholder files (their real runs are covered by
tests/test_prepare_keys.py and the hub's end-to-end tests); what is checked is what the user reads."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from edgebench.hub.publish import zoo_files
from edgebench.models import prepare
from edgebench.models.artifact import sha256_of
from edgebench.models.zoo import MOBILENET_V2

TOOLCHAIN = {"torch": "2.13.0", "onnx": "1.0", "onnxscript": "0.1", "litert-torch": "0.10",
             "ai-edge-quantizer": "0.10", "ai-edge-litert": "2.3", "onnxruntime": "1.32"}


@pytest.fixture
def converters(monkeypatch, tmp_path):
    """Every converter "installed"; a build writes a small file where the cache expects it."""
    monkeypatch.setenv("EDGEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(prepare, "package_version", TOOLCHAIN.get)
    built = []

    def build(self, variant, _on_stage):
        path = self.path(variant)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(repr(variant).encode())
        path.with_suffix(".json").write_text(json.dumps({"sha256": sha256_of(path)}))
        built.append(variant)

    monkeypatch.setattr(prepare.Preparer, "_build_in_subprocess", build)
    return built


# No float checkpoint: that needs the real weights, and it is not a conversion step.
SPEC = dataclasses.replace(MOBILENET_V2, arch=None)


def _steps(messages: list[str]) -> list[str]:
    return [m.split(" - step ")[1] for m in messages if " - step " in m]


def test_seed_counts_conversions_against_the_real_total(converters):
    messages: list[str] = []
    files = zoo_files(SPEC, allow_download=False, on_step=messages.append)
    assert len(converters) == 4 and len(files) == 4
    assert [re.match(r"\d+/\d+", s).group() for s in _steps(messages)] == ["1/4", "2/4", "3/4", "4/4"]
    assert {s.split(" ", 1)[1] for s in _steps(messages)} == {
        f"mobilenet_v2 {fmt}-{precision}" for fmt, precision in converters}

    messages.clear()   # everything cached now: nothing to convert, nothing announced
    assert len(zoo_files(SPEC, allow_download=False, on_step=messages.append)) == 4
    assert _steps(messages) == [] and len(converters) == 4


def test_cached_conversions_are_not_counted(converters):
    zoo_files(SPEC, allow_download=False, on_step=lambda _m: None)
    for variant in (("onnx", "int8"), ("tflite", "int8")):   # two of the four need building again
        prepare.Preparer(SPEC).path(variant).unlink()
    messages: list[str] = []
    zoo_files(SPEC, allow_download=False, on_step=messages.append)
    assert [re.match(r"\d+/\d+", s).group() for s in _steps(messages)] == ["1/2", "2/2"]

"""The memory column (issue: `0/0` MiB for a target that ran after another one in the same
process): what an earlier target freed must not hide what a later one allocates."""

from __future__ import annotations

import ctypes
import json

import pytest

from edgebench.bench.memory import MIB, PeakMemory
from tests.conftest import run_cli

CHUNK = 64 * 1024   # under glibc's mmap threshold: served from the heap, kept there when freed


def _glibc_malloc():
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim   # noqa: B018 - glibc only
    except (OSError, AttributeError, TypeError):
        pytest.skip("not glibc")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def test_memory_an_earlier_phase_freed_goes_back_before_the_next_phase_starts():
    """The mechanism: 48 MiB allocated and freed below a block still in use stay resident
    (the allocator keeps them) until reset() hands them back; the next phase then sees its own
    allocations as growth."""
    libc = _glibc_malloc()
    memory = PeakMemory()
    memory.reset()
    blocks = [libc.malloc(CHUNK) for _ in range(48 * MIB // CHUNK)]
    for block in blocks:
        ctypes.memset(block, 1, CHUNK)            # touched: resident
    pinned = libc.malloc(CHUNK)                   # above them: the heap cannot shrink from the top
    for block in blocks:
        libc.free(block)
    try:
        held = memory.rss_bytes()
        after_reset = memory.reset()
        assert held - after_reset > 32 * MIB, (held / MIB, after_reset / MIB)
        again = [libc.malloc(CHUNK) for _ in range(16 * MIB // CHUNK)]
        for block in again:
            ctypes.memset(block, 1, CHUNK)
        assert memory.peak_bytes() - after_reset > 12 * MIB   # 16 MiB allocated shows as growth
        for block in again:
            libc.free(block)
    finally:
        libc.free(pinned)
    assert "malloc_trim" in memory.method   # the screen's caption says how the figure was taken


@pytest.mark.slow
def test_a_second_target_in_the_same_process_gets_a_sane_load_figure(tmp_path):
    """onnxruntime-int8 after onnxruntime-fp32 read 0.2 MiB: it loaded into fp32's freed pages."""
    out = tmp_path / "r.json"
    done = run_cli("run", "--targets", "onnxruntime-fp32,onnxruntime-int8", "--runs", "3", "--settle", "0",
                   "--no-save", "--meter", "none", "--out", str(out))
    assert done.returncode == 0, done.stderr
    by = {r["target"]: r["memory"] for r in json.loads(out.read_text())["results"]}
    second = by["onnxruntime-int8"]
    # Loading a model holds at least a good part of its file (weights, graph) in memory.
    assert second["load_peak_added_mb"] >= 0.5 * second["model_file_mb"], by
    assert second["load_peak_added_mb"] < 20 * second["model_file_mb"] + 200, by   # and nothing absurd

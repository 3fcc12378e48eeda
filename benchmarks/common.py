"""Helpers shared by the benchmark scripts: prepared artifacts, the input tensor, a bare loop."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import numpy as np

from edgebench.models.images import default_image, load_image, to_float_nchw
from edgebench.models.prepare import Preparer
from edgebench.models.zoo import MOBILENET_V2


def artifact(fmt: str, precision: str):
    """A prepared mobilenet_v2 variant (built on first use)."""
    return Preparer(MOBILENET_V2).get((fmt, precision))


def image_nchw() -> np.ndarray:
    return to_float_nchw(load_image(default_image()), MOBILENET_V2.preprocessing)


def bare_loop(call: Callable[[], object], runs: int, warmup: int = 20) -> np.ndarray:
    """Per-call latency in ms of `call`, timed exactly as edgebench's runner times one inference."""
    for _ in range(warmup):
        call()
    clock = time.perf_counter_ns
    samples = np.empty(runs, dtype=np.int64)
    for i in range(runs):
        t0 = clock()
        call()
        samples[i] = clock() - t0
    return samples / 1e6


def machine() -> str:
    from edgebench.system import device_info

    info = device_info()
    return (f"{info.cpu_model}, {info.cores_logical} logical cores, {info.memory_gb} GiB, "
            f"{platform.platform(terse=True)}, Python {info.python}")


def cores() -> int:
    return os.cpu_count() or 1

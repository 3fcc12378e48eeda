"""The only timing loop. It never asks which runtime it drives."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgebench.protocol import Protocol
from edgebench.runtimes.base import Session

# Progress is reported every this many runs: often enough for a live bar, rare enough
# that the callback costs nothing measurable per inference.
PROGRESS_EVERY = 10


@dataclass(frozen=True)
class Measurement:
    """Raw timings of one protocol on one session."""

    samples_ns: np.ndarray     # per-inference latency: set_input + invoke + output
    elapsed_s: float           # wall clock of the whole timed loop
    output: np.ndarray         # what the last timed inference returned

    @property
    def fps(self) -> float:
        """The article's figure: timed runs / elapsed seconds."""
        return len(self.samples_ns) / self.elapsed_s

    @property
    def samples_ms(self) -> np.ndarray:
        return self.samples_ns / 1e6


def measure(session: Session, x: np.ndarray, protocol: Protocol,
            on_progress: Callable[[int], None] | None = None) -> Measurement:
    """Warm up, settle, then time protocol.runs inferences of the same prepared input.

    The timed region is what a frame loop does: set the input, invoke, read the output.
    """
    set_input, invoke, output = session.set_input, session.invoke, session.output
    for _ in range(protocol.warmup):
        set_input(x)
        invoke()
        output()
    time.sleep(protocol.settle_s)

    clock = time.perf_counter_ns
    samples = np.empty(protocol.runs, dtype=np.int64)
    y = None
    loop_start = clock()
    for i in range(protocol.runs):
        t0 = clock()
        set_input(x)
        invoke()
        y = output()
        samples[i] = clock() - t0
        if on_progress is not None and (i + 1) % PROGRESS_EVERY == 0:
            on_progress(i + 1)
    elapsed_s = (clock() - loop_start) / 1e9
    if on_progress is not None:
        on_progress(protocol.runs)
    return Measurement(samples, elapsed_s, np.array(y, copy=True))

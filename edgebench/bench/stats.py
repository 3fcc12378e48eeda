"""Latency statistics derived from raw samples."""

from __future__ import annotations

import numpy as np

from edgebench.results.schema import LatencyStats


def latency_stats(samples_ms: np.ndarray) -> LatencyStats:
    s = np.asarray(samples_ms, dtype=np.float64)
    p90, p99 = np.percentile(s, [90, 99])
    return LatencyStats(median=float(np.median(s)), mean=float(s.mean()), p90=float(p90),
                        p99=float(p99), min=float(s.min()), max=float(s.max()))

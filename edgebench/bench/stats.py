"""Latency statistics derived from raw samples (numpy percentiles, scipy's CI of the median)."""

from __future__ import annotations

import numpy as np

from edgebench.results.schema import LatencyStats

CI_METHOD = "distribution-free 95% CI of the median (scipy.stats.quantile_test, exact binomial)"


def latency_stats(samples_ms: np.ndarray, repetition_medians: list[float] | None = None) -> LatencyStats:
    from scipy import stats

    s = np.asarray(samples_ms, dtype=np.float64)
    p90, p99, p999 = np.percentile(s, [90, 99, 99.9])
    mean, std = float(s.mean()), float(s.std(ddof=1)) if s.size > 1 else 0.0
    ci = stats.quantile_test(s, q=float(np.median(s)), p=0.5).confidence_interval(0.95)
    low = float(ci.low) if np.isfinite(ci.low) else float(s.min())
    high = float(ci.high) if np.isfinite(ci.high) else float(s.max())
    return LatencyStats(
        median=float(np.median(s)), mean=mean, std=std, cv=std / mean if mean else 0.0,
        p90=float(p90), p99=float(p99), p999=float(p999), min=float(s.min()), max=float(s.max()),
        ci95_median=(low, high), ci_method=CI_METHOD, n=int(s.size),
        repetition_medians=repetition_medians or [])

import numpy as np
import pytest

from edgebench.bench.stats import latency_stats


def test_latency_stats_from_known_samples():
    s = latency_stats(np.arange(1, 101, dtype=float))
    assert s.median == pytest.approx(50.5)
    assert s.mean == pytest.approx(50.5)
    assert s.p90 == pytest.approx(90.1)
    assert s.p99 == pytest.approx(99.01)
    assert (s.min, s.max) == (1.0, 100.0)


def test_rigorous_statistics_and_ci_of_the_median():
    rng = np.random.default_rng(0)
    samples = rng.lognormal(mean=0.6, sigma=0.1, size=3000)
    s = latency_stats(samples, repetition_medians=[1.8, 1.82, 1.81])
    assert s.std == pytest.approx(samples.std(ddof=1))
    assert s.cv == pytest.approx(s.std / s.mean)
    assert s.p99 <= s.p999 <= s.max
    low, high = s.ci95_median
    assert low <= s.median <= high and high - low < 0.05 * s.median
    assert s.n == 3000 and s.repetition_medians == [1.8, 1.82, 1.81] and "quantile_test" in s.ci_method
    wide = latency_stats(samples[:30])
    assert wide.ci95_median[1] - wide.ci95_median[0] > high - low   # fewer samples, wider interval

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

"""The ranking verdict: the medians' 95% intervals decide it, the CV is information only, and
the advice to rerun rigorously is given only where a rigorous run is expected to help."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from edgebench.bench.ranking import rank
from edgebench.bench.stats import latency_stats
from edgebench.protocol import CLASSIC, RIGOROUS
from edgebench.results.schema import ProtocolInfo, TargetResult


def _target(name: str, samples, protocol=RIGOROUS) -> TargetResult:
    samples = np.asarray(samples, dtype=float)
    reps = [float(np.median(part)) for part in np.array_split(samples, protocol.repetitions)]
    return TargetResult(target=name, runtime=name.split("-")[0], runtime_version="1", precision=name.split("-")[1],
                        model="m", status="ok", protocol=ProtocolInfo.of(protocol),
                        latency_ms=latency_stats(samples, reps if protocol.repetitions > 1 else None),
                        fps=1000 / float(np.median(samples)), samples_ms=list(samples))


def _busy(median: float, n: int, seed: int) -> np.ndarray:
    """Latencies of a busy machine: steady around the median, one in six stalled 3-6x longer."""
    rng = np.random.default_rng(seed)
    samples = rng.normal(median, median * 0.01, n)
    stalled = rng.random(n) < 1 / 6
    samples[stalled] *= rng.uniform(3, 6, stalled.sum())
    return samples


def test_disjoint_intervals_support_the_ranking_whatever_the_cv():
    """The reported case: 3.8 vs 11.4 ms, intervals far apart, CV far above 10% on both."""
    fast, slow = _target("litert-int8", _busy(3.8, 3000, 1)), _target("torch-fp32", _busy(11.4, 3000, 2))
    assert fast.latency_ms.cv > 0.5 and slow.latency_ms.cv > 0.5
    assert fast.latency_ms.ci95_median[1] < slow.latency_ms.ci95_median[0]
    ranking = rank([slow, fast], "torch-fp32")
    assert ranking.supported, ranking.why
    assert [r.target for r in ranking.order] == ["litert-int8", "torch-fp32"]
    assert "CV above 10% for litert-int8, torch-fp32" in ranking.why and "information only" in ranking.why
    assert ranking.advice == ""


def test_overlapping_intervals_are_not_supported_and_name_the_pair():
    a = _target("openvino-fp32", _busy(10.0, 3000, 3))
    b = _target("onnxruntime-fp32", _busy(10.0, 3000, 4))
    c = _target("litert-int8", _busy(2.0, 3000, 5))
    ranking = rank([a, b, c], None)
    assert not ranking.supported
    first, second = (r.target for r in ranking.order[1:])
    assert f"95% CIs of the medians overlap for {first} / {second}" in ranking.why
    assert "litert-int8 /" not in ranking.why   # the separate pair is not named
    assert ranking.advice == ""   # already rigorous: a rerun of the same would not help


def _classic_latencies() -> np.ndarray:
    """250 latencies around 5 ms with a 2% spread: the classic protocol's sample."""
    return np.random.default_rng(6).normal(5.0, 0.1, 250)


def test_rigorous_advice_only_where_more_samples_could_separate_the_medians():
    rng = np.random.default_rng(6)
    base = _classic_latencies()
    # Classic (250 runs), medians 0.55% apart with 2% spread: the intervals overlap now, and at
    # the rigorous protocol's 3000 samples they would be ~3.5 times narrower: advice given.
    close = [_target("onnxruntime-fp32", base, CLASSIC), _target("openvino-fp32", base + 0.0275, CLASSIC)]
    ranking = rank(close, None)
    assert not ranking.supported and "--protocol rigorous" in ranking.advice
    # Two runs of one thing (the same latencies in another order): no number of samples separates them.
    same = [_target("onnxruntime-fp32", base, CLASSIC), _target("openvino-fp32", rng.permutation(base), CLASSIC)]
    ranking = rank(same, None)
    assert not ranking.supported and ranking.advice == "" and "medians 0.0% apart" in ranking.why
    # Already more samples than the rigorous protocol takes: it would not add any.
    many = [_target("onnxruntime-fp32", rng.normal(5.0, 0.1, 4000), CLASSIC),
            _target("openvino-fp32", rng.normal(5.005, 0.1, 4000), CLASSIC)]
    ranking = rank(many, None)
    assert not ranking.supported and ranking.advice == ""


def _screen_line(results, monkeypatch) -> str:
    from edgebench.cli import run_screen
    from edgebench.cli.run_screen import _print_ranking

    console = Console(width=400, record=True, file=io.StringIO())
    monkeypatch.setattr(run_screen, "console", console)
    _print_ranking(rank(results, None), None)
    return console.export_text()


def test_the_run_screen_gives_the_advice_only_when_it_could_help(monkeypatch):
    base = _classic_latencies()
    same = [_target("onnxruntime-fp32", base, CLASSIC), _target("openvino-fp32", base[::-1], CLASSIC)]
    text = _screen_line(same, monkeypatch)
    assert "ranking not supported by the data" in text and "--protocol rigorous" not in text
    close = [_target("onnxruntime-fp32", base, CLASSIC), _target("openvino-fp32", base + 0.0275, CLASSIC)]
    assert "rerun with --protocol rigorous" in _screen_line(close, monkeypatch)
    busy = [_target("litert-int8", _busy(3.8, 3000, 8)), _target("torch-fp32", _busy(11.4, 3000, 9))]
    text = _screen_line(busy, monkeypatch)
    assert "fastest: litert-int8" in text and "not supported" not in text

"""Compare two runs target by target: ratio of medians and a Mann-Whitney U test on raw samples.

A difference is called significant only when it is both statistically significant (p < alpha)
and larger than a practical threshold: with hundreds of samples per side the test alone flags
the few-percent drift this kind of machine shows between two identical runs (see
benchmarks/RESULTS.md), which is noise, not a regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebench.results.schema import RunResult

DEFAULT_ALPHA = 0.01
DEFAULT_THRESHOLD = 0.10   # 10%: above the run-to-run drift measured on the project's VM


@dataclass(frozen=True)
class TargetComparison:
    target: str
    baseline_median_ms: float
    candidate_median_ms: float
    ratio: float               # candidate / baseline median; > 1 means the candidate is slower
    p_value: float
    verdict: str               # slower | faster | no significant difference

    @property
    def regression(self) -> bool:
        return self.verdict == "slower"


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    alpha: float
    threshold: float
    targets: list[TargetComparison]
    only_in_baseline: list[str]
    only_in_candidate: list[str]
    method: str = "two-sided Mann-Whitney U on per-inference latencies (scipy.stats.mannwhitneyu)"

    @property
    def regressions(self) -> list[TargetComparison]:
        return [t for t in self.targets if t.regression]


def compare_runs(baseline: RunResult, candidate: RunResult, alpha: float = DEFAULT_ALPHA,
                 threshold: float = DEFAULT_THRESHOLD, baseline_label: str | None = None,
                 candidate_label: str | None = None) -> Comparison:
    from scipy.stats import mannwhitneyu

    ok_a = {r.target: r for r in baseline.results if r.status == "ok" and r.samples_ms}
    ok_b = {r.target: r for r in candidate.results if r.status == "ok" and r.samples_ms}
    rows = []
    for target in [t for t in ok_a if t in ok_b]:
        a, b = np.asarray(ok_a[target].samples_ms), np.asarray(ok_b[target].samples_ms)
        ratio = float(np.median(b) / np.median(a))
        p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
        verdict = "no significant difference"
        if p < alpha and abs(ratio - 1) > threshold:
            verdict = "slower" if ratio > 1 else "faster"
        rows.append(TargetComparison(target, float(np.median(a)), float(np.median(b)), ratio, p, verdict))
    return Comparison(baseline_label or baseline.run_id[:12], candidate_label or candidate.run_id[:12],
                      alpha, threshold, rows, sorted(set(ok_a) - set(ok_b)), sorted(set(ok_b) - set(ok_a)))

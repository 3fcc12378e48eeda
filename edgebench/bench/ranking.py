"""Which target was fastest, by how much, and whether the data supports saying so.

The verdict rests on the 95% confidence intervals of the medians: neighbours in the ranking
whose intervals are disjoint are told apart. The coefficient of variation of the raw
per-inference latencies is reported for information only: a busy machine gives every target a
heavy tail of slow inferences (CV well above 10%) while the medians stay steady and their
intervals far apart, and a CV gate then refused every ranking, however many samples were taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgebench.protocol import RIGOROUS
from edgebench.results.schema import TargetResult, sweep_label

# Above this coefficient of variation a target's latencies have a heavy tail (a busy or
# throttling machine); said beside the verdict, never a reason to refuse it.
NOISY_CV = 0.10


@dataclass(frozen=True)
class Ranking:
    order: list[TargetResult]           # measured targets, fastest (lowest median) first
    supported: bool                     # the data separates the ranking's neighbours
    why: str                            # one sentence for the screen
    speedups: list[float | None]        # per entry of order: reference median / its median
    advice: str = ""                    # how a rerun could separate them; "" where none would

    @property
    def has_reference(self) -> bool:
        return any(s is not None for s in self.speedups)

    @staticmethod
    def speed_ratio(faster: TargetResult, slower: TargetResult) -> float:
        return _time(slower) / _time(faster)


def rank(results: list[TargetResult], reference_target: str | None) -> Ranking:
    """In a sweep, each point is compared with the reference target at the same point."""
    measured = sorted((r for r in results if r.status == "ok" and r.latency_ms is not None), key=_time)
    references = {_point(r): r for r in reversed(measured) if r.target == reference_target}
    fallback = next((r for r in measured if r.target == reference_target), None)
    speedups = []
    for r in measured:
        ref = references.get(_point(r), fallback)
        speedups.append(_time(ref) / _time(r) if ref is not None else None)
    supported, why, advice = _support(measured)
    return Ranking(measured, supported, why, speedups, advice)


def _time(r: TargetResult) -> float:
    """What 'faster' means: the median latency of one frame, or (offline) time per image."""
    if r.scenario == "offline":
        return 1.0 / r.images_per_s if r.images_per_s else float("inf")
    return r.latency_ms.median


def _point(r: TargetResult) -> tuple:
    return tuple(sorted(r.sweep.items()))


def _support(measured: list[TargetResult]) -> tuple[bool, str, str]:
    """(supported, why, advice)."""
    if len(measured) < 2:
        return True, "one target measured: nothing to rank", ""
    if any(r.scenario == "offline" for r in measured):
        return True, "offline: ranked by images/s over the whole timed loop (one figure per target, no CI)", ""
    overlapping = [(a, b) for a, b in zip(measured, measured[1:]) if _overlap(a, b)]
    if overlapping:
        pairs = ", ".join(f"{sweep_label(a)} / {sweep_label(b)} (medians {_apart(a, b)} apart)"
                          for a, b in overlapping)
        advice = ""
        if all(_rigorous_could_separate(a, b) for a, b in overlapping):
            advice = (f"rerun with --protocol rigorous ({RIGOROUS.repetitions} repetitions of >= "
                      f"{RIGOROUS.min_duration_s:g} s): its larger sample should narrow the intervals "
                      "enough to separate them")
        return False, f"95% CIs of the medians overlap for {pairs}{_cv_note(measured)}", advice
    return True, f"every neighbour's 95% CI of the median is separate{_cv_note(measured)}", ""


def _cv_note(measured: list[TargetResult]) -> str:
    noisy = [sweep_label(r) for r in measured if r.latency_ms.cv > NOISY_CV]
    if not noisy:
        return ""
    return (f"; CV above {NOISY_CV:.0%} for {', '.join(noisy)}: a tail of slow inferences "
            "(information only: the medians' intervals account for it)")


def _apart(a: TargetResult, b: TargetResult) -> str:
    return f"{abs(_time(b) - _time(a)) / _time(a):.1%}"


def _overlap(a: TargetResult, b: TargetResult) -> bool:
    ca, cb = a.latency_ms.ci95_median, b.latency_ms.ci95_median
    if ca is None or cb is None:
        return True   # no interval: the ranking cannot be shown to hold
    return ca[1] >= cb[0] and cb[1] >= ca[0]


def _samples(r: TargetResult) -> int:
    """How many latencies a target's interval was computed from."""
    return r.latency_ms.n or len(r.samples_ms) or r.protocol.runs * r.protocol.repetitions


def _rigorous_samples(r: TargetResult) -> int:
    """What the rigorous protocol would take of this target: its runs, or as many as fill
    its minimum duration at this median, per repetition."""
    per_repetition = max(RIGOROUS.runs, math.ceil(RIGOROUS.min_duration_s * 1000 / _time(r)))
    return RIGOROUS.repetitions * per_repetition


def _rigorous_could_separate(a: TargetResult, b: TargetResult) -> bool:
    """Whether a rigorous rerun is expected to give these two disjoint intervals. The interval of
    a median narrows as 1/sqrt(samples), so each half-width is scaled to the rigorous sample size;
    the gap between the medians is itself uncertain, so the observed gap less one standard error
    of it must hold both narrowed half-widths. No gain in samples, or a gap within a standard
    error of zero (two runs of one thing): no help."""
    if a.latency_ms.ci95_median is None or b.latency_ms.ci95_median is None:
        return _samples(a) < _rigorous_samples(a)   # a rigorous run computes the intervals
    gains = [max(1.0, _rigorous_samples(r) / _samples(r)) for r in (a, b)]
    if gains == [1.0, 1.0]:
        return False
    half_widths = [(r.latency_ms.ci95_median[1] - r.latency_ms.ci95_median[0]) / 2 for r in (a, b)]
    narrowed = sum(w / math.sqrt(gain) for w, gain in zip(half_widths, gains))
    smallest_gap = abs(_time(b) - _time(a)) - math.hypot(*half_widths) / 1.96
    return smallest_gap > narrowed

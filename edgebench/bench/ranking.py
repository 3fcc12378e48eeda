"""Which target was fastest, by how much, and whether the data supports saying so."""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.results.schema import TargetResult, sweep_label

# Above this coefficient of variation a median is too noisy to rank targets by (a busy or
# throttling machine); the rigorous protocol's repetitions show whether it drifts.
NOISY_CV = 0.10


@dataclass(frozen=True)
class Ranking:
    order: list[TargetResult]           # measured targets, fastest (lowest median) first
    supported: bool                     # the data separates the ranking's neighbours
    why: str                            # one sentence for the screen
    speedups: list[float | None]        # per entry of order: reference median / its median

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
    supported, why = _support(measured)
    return Ranking(measured, supported, why, speedups)


def _time(r: TargetResult) -> float:
    """What 'faster' means: the median latency of one frame, or (offline) time per image."""
    if r.scenario == "offline":
        return 1.0 / r.images_per_s if r.images_per_s else float("inf")
    return r.latency_ms.median


def _point(r: TargetResult) -> tuple:
    return tuple(sorted(r.sweep.items()))


def _support(measured: list[TargetResult]) -> tuple[bool, str]:
    if len(measured) < 2:
        return True, "one target measured: nothing to rank"
    if any(r.scenario == "offline" for r in measured):
        return True, "offline: ranked by images/s over the whole timed loop (one figure per target, no CI)"
    noisy = [sweep_label(r) for r in measured if r.latency_ms.cv > NOISY_CV]
    if noisy:
        return False, (f"CV above {NOISY_CV:.0%} for {', '.join(noisy)}: the medians are too noisy "
                       "to rank by")
    overlapping = [f"{sweep_label(a)} / {sweep_label(b)}" for a, b in zip(measured, measured[1:])
                   if _overlap(a, b)]
    if overlapping:
        return False, f"95% CIs of the medians overlap for {', '.join(overlapping)}"
    return True, "every neighbour's 95% CI of the median is separate"


def _overlap(a: TargetResult, b: TargetResult) -> bool:
    ca, cb = a.latency_ms.ci95_median, b.latency_ms.ci95_median
    if ca is None or cb is None:
        return True   # no interval: the ranking cannot be shown to hold
    return ca[1] >= cb[0] and cb[1] >= ca[0]

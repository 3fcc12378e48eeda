"""Measurement protocols: warm-up, settle, timed runs, repetitions.

A protocol's counts and durations are minimums that must all be met: warm-up continues until
both `warmup` runs and `warmup_s` seconds have passed; each repetition's timed loop until
both `runs` runs and `min_duration_s` seconds have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Protocol:
    """What the runner does around the timed loop. Constructing one touches nothing."""

    name: str
    warmup: int
    settle_s: float
    runs: int
    warmup_s: float = 0.0
    min_duration_s: float = 0.0
    repetitions: int = 1
    window_s: float = 0.0     # > 0: fps and the device's clocks/temperatures sampled per window

    def __post_init__(self) -> None:
        if (self.warmup < 0 or self.runs < 1 or self.settle_s < 0 or self.warmup_s < 0
                or self.min_duration_s < 0 or self.repetitions < 1 or self.window_s < 0):
            raise ValueError("counts must be >= 1 (warmup >= 0) and durations >= 0")

    def with_overrides(self, *, warmup: int | None = None, settle_s: float | None = None,
                       runs: int | None = None, repetitions: int | None = None,
                       min_duration_s: float | None = None, warmup_s: float | None = None) -> Protocol:
        """A copy with the given fields replaced; None keeps the preset's value."""
        changes = {k: v for k, v in {"warmup": warmup, "settle_s": settle_s, "runs": runs,
                                     "repetitions": repetitions, "min_duration_s": min_duration_s,
                                     "warmup_s": warmup_s}.items() if v is not None}
        return replace(self, **changes)


# The 2019 article: one warm-up prediction, sleep 1 s, classify the same image 250 times.
CLASSIC = Protocol(name="classic", warmup=1, settle_s=1.0, runs=250)

# Enough samples for stable tails (p99.9 needs >= 1000) and three repetitions to expose drift.
RIGOROUS = Protocol(name="rigorous", warmup=50, warmup_s=2.0, settle_s=1.0, runs=1000,
                    min_duration_s=10.0, repetitions=3)

PROTOCOLS = {p.name: p for p in (CLASSIC, RIGOROUS)}


def sustained(duration_s: float) -> Protocol:
    """One timed loop of duration_s after the classic warm-up and pause, with fps, CPU clock and
    temperatures sampled every second: what a board does once it has warmed up."""
    return Protocol(name="sustained", warmup=1, settle_s=1.0, runs=1, min_duration_s=duration_s,
                    window_s=1.0)

"""Measurement protocols: how many warm-up runs, how long to settle, how many timed runs."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Protocol:
    """What the runner does around the timed loop. Constructing one touches nothing."""

    name: str
    warmup: int
    settle_s: float
    runs: int

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.runs < 1 or self.settle_s < 0:
            raise ValueError("warmup >= 0, runs >= 1 and settle_s >= 0 are required")

    def with_overrides(self, *, warmup: int | None = None, settle_s: float | None = None,
                       runs: int | None = None) -> Protocol:
        """A copy with the given fields replaced; None keeps the preset's value."""
        changes = {k: v for k, v in {"warmup": warmup, "settle_s": settle_s, "runs": runs}.items()
                   if v is not None}
        return replace(self, **changes)


# The 2019 article: one warm-up prediction, sleep 1 s, classify the same image 250 times.
CLASSIC = Protocol(name="classic", warmup=1, settle_s=1.0, runs=250)

PROTOCOLS = {CLASSIC.name: CLASSIC}

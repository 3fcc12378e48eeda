"""Which targets exist and whether each can run here."""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.runtimes.base import TARGETS, load_runtime


@dataclass(frozen=True)
class TargetStatus:
    name: str
    runtime: str
    precision: str
    device: str
    available: bool
    version: str | None
    detail: str   # why not, or how it runs


def list_targets() -> list[TargetStatus]:
    statuses = []
    for target in TARGETS.values():
        runtime = load_runtime(target.runtime_key)
        ok, detail = runtime.available()
        statuses.append(TargetStatus(target.name, target.runtime, target.precision, target.device,
                                     ok, runtime.version() if ok else None, detail))
    return statuses

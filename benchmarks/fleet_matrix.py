"""Wall time of a 3-device matrix against the slowest single device (goal: <= 1.2x).

Three real `edgebench fleet worker` processes (dev-a, dev-b, dev-c) on this 2-core VM, driven by
`FleetRun` (the library behind `fleet run`: submit, follow events, watch devices, store every
result in a SQLite store as it arrives). The jobs are benchmarks.fleet_common.null_job with a
pause (the protocol's settle_s) standing in for the benchmark: three real benchmarks would fight
for two cores and measure the VM, not the fleet. The same matrix on one device gives the
single-device time (each device alone; the slowest counts); each case runs 3 times, alternating,
and the median is reported.

    .venv/bin/python -m benchmarks.fleet_matrix
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine
from benchmarks.fleet_common import LocalFleet, null_job
from edgebench.bench.config import RunConfig
from edgebench.fleet.matrix import ModelChoice
from edgebench.protocol import Protocol

DEVICES = ["dev-a", "dev-b", "dev-c"]
CASES = [("1 job per device, 3 s each", 1, 3.0), ("4 jobs per device, 1 s each", 4, 1.0)]
REPEATS = 3


def matrix_wall(fleet: LocalFleet, devices, models: int, pause_s: float, store) -> float:
    from edgebench.fleet.orchestrate import FleetRun

    config = RunConfig(protocol=Protocol("null", warmup=0, settle_s=pause_s, runs=5))
    choices = [ModelChoice(f"null-{i}", "zoo") for i in range(models)]
    started = time.perf_counter()
    summary = FleetRun(fleet.client, config, choices, devices, store=store, job_fn=null_job).run()
    wall = time.perf_counter() - started
    assert {s.status for s in summary.jobs} == {"ok"} and all(s.saved for s in summary.jobs)
    return wall


def main() -> None:
    from edgebench.results.store import Store

    rows = []
    with tempfile.TemporaryDirectory() as tmp, LocalFleet(DEVICES, Path(tmp)) as fleet:
        store = Store(str(Path(tmp) / "matrix.db"))
        for label, models, pause in CASES:
            single, three = [], []
            for _ in range(REPEATS):
                single.append(max(matrix_wall(fleet, (d,), models, pause, store) for d in DEVICES))
                three.append(matrix_wall(fleet, "all", models, pause, store))
            rows.append((label, statistics.median(single), statistics.median(three)))
    print(f"# fleet matrix wall time, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"{'matrix':32s} {'1 device s':>11s} {'3 devices s':>12s} {'ratio':>6s}  goal <= 1.2")
    for label, one, three in rows:
        print(f"{label:32s} {one:11.2f} {three:12.2f} {three / one:6.3f}  {'ok' if three / one <= 1.2 else 'MISSED'}")


if __name__ == "__main__":
    main()

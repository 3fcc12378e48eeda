"""Memory of an idle fleet worker (and of the scheduler), as the CLI starts them.

Resident set (RSS) and unique set (USS, what stopping the process would free) of a real
`edgebench fleet worker` process 5 s after it joined, then again 5 s after it ran one real job
(mobilenet_v2 on litert-int8 and onnxruntime-fp32, --runs 5 --settle 0: the benchmark itself
runs in a child process, so what stays in the worker is what unpickling and following a job
imports). The worker has no children while idle (checked).

    EDGEBENCH_CACHE_DIR=... .venv/bin/python -m benchmarks.fleet_memory
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import machine
from benchmarks.fleet_common import LocalFleet
from edgebench.bench.config import RunConfig
from edgebench.fleet.matrix import ModelChoice
from edgebench.protocol import Protocol

IDLE_S = 5.0
MiB = 1 << 20


def memory(pid: int) -> tuple[float, float]:
    process = psutil.Process(pid)
    assert not process.children(), "an idle worker has no benchmark process"
    info = process.memory_full_info()
    return info.rss / MiB, info.uss / MiB


def main() -> None:
    from edgebench.fleet.orchestrate import FleetRun

    with tempfile.TemporaryDirectory() as tmp, LocalFleet(["mem-a"], Path(tmp)) as fleet:
        worker, scheduler = fleet.workers["mem-a"].pid, fleet.scheduler.pid
        time.sleep(IDLE_S)
        joined = memory(worker)
        scheduler_idle = memory(scheduler)
        config = RunConfig(targets=("litert-int8", "onnxruntime-fp32"),
                           protocol=Protocol("classic", warmup=1, settle_s=0.0, runs=5))
        summary = FleetRun(fleet.client, config, [ModelChoice("mobilenet_v2", "zoo")], "all").run()
        assert summary.jobs[0].status == "ok", summary.jobs[0].error
        time.sleep(IDLE_S)
        after_job = memory(worker)
    print(f"# fleet memory, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"{'process':40s} {'RSS MiB':>8s} {'USS MiB':>8s}")
    print(f"{'worker, idle after joining':40s} {joined[0]:8.1f} {joined[1]:8.1f}")
    print(f"{'worker, idle after one real job':40s} {after_job[0]:8.1f} {after_job[1]:8.1f}")
    print(f"{'scheduler, idle with one worker':40s} {scheduler_idle[0]:8.1f} {scheduler_idle[1]:8.1f}")


if __name__ == "__main__":
    main()

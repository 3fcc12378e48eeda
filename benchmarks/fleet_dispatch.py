"""Fleet dispatch overhead: submit -> job start on the worker, over >= 200 jobs (goal: median
<= 20 ms on loopback), and what a real job costs beyond its timed loops.

  dispatch: 250 stand-in jobs (benchmarks.fleet_common.null_job: a fleet job minus the benchmark,
            with a NullRuntime session of 5 runs), submitted one after another exactly as
            `fleet run` submits (key, resources={"device:NAME": 1}, pure=False, retries=0) to a
            real `edgebench fleet scheduler` and `edgebench fleet worker` on 127.0.0.1. Dispatch is
            the worker's clock at the job's first line minus the client's clock before submit
            (one machine, one clock); round trip is submit -> result back on the client.
  real job: 5 `FleetRun`s of mobilenet_v2 on litert-int8 and onnxruntime-fp32 (--runs 5
            --settle 0; artifacts cached), each job's wall time on the worker (child process
            start, imports, plan, harness overhead, timing, result), alternating with
            `edgebench run` with the same arguments (wall of the whole command).

    EDGEBENCH_CACHE_DIR=... .venv/bin/python -m benchmarks.fleet_dispatch
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine
from benchmarks.fleet_common import LocalFleet, null_job, percentile
from edgebench.bench.config import RunConfig
from edgebench.fleet.device import DeviceProfile
from edgebench.fleet.matrix import DeviceShare, ModelChoice, jobs_for
from edgebench.fleet.names import device_resource
from edgebench.protocol import Protocol

JOBS = 250
WARMUP_JOBS = 10


def dispatch(fleet: LocalFleet, device: DeviceProfile) -> tuple[list[float], list[float]]:
    config = RunConfig(protocol=Protocol("null", warmup=0, settle_s=0.0, runs=5))
    jobs = jobs_for("d" * 32, config, [ModelChoice(f"null-{i}", "zoo") for i in range(WARMUP_JOBS + JOBS)],
                    DeviceShare(device, None), 0)
    starts, trips = [], []
    for i, job in enumerate(jobs):
        submitted = time.time()
        future = fleet.client.submit(null_job, job, key=job.key, pure=False, retries=0,
                                     resources={device_resource(job.device): 1})
        out = future.result()
        back = time.time()
        if i >= WARMUP_JOBS:
            starts.append((out["started"] - submitted) * 1e3)
            trips.append((back - submitted) * 1e3)
    return starts, trips


def real_jobs(fleet: LocalFleet, rounds: int = 5) -> tuple[list[float], list[float]]:
    """Alternating: a fleet job (wall on the worker) and the same run by `edgebench run` (wall of
    the command), so both see the same background load."""
    from edgebench.fleet.orchestrate import FleetRun

    targets = ("litert-int8", "onnxruntime-fp32")   # a float target: no untimed reference to load
    config = RunConfig(targets=targets, protocol=Protocol("classic", warmup=1, settle_s=0.0, runs=5))
    walls, local = [], []
    for _ in range(rounds):
        summary = FleetRun(fleet.client, config, [ModelChoice("mobilenet_v2", "zoo")], "all").run()
        (state,) = summary.jobs
        assert state.status == "ok", state.error
        walls.append(state.ended - state.started)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "edgebench", "run", "--targets", ",".join(targets), "--runs", "5",
                        "--settle", "0", "--no-save"], check=True, capture_output=True)
        local.append(time.perf_counter() - started)
    return walls, local


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalFleet(["bench-a"], Path(tmp)) as fleet:
        from edgebench.fleet.client import devices

        (device,) = devices(fleet.client)
        starts, trips = dispatch(fleet, device)
        walls, local = real_jobs(fleet)
    print(f"# fleet dispatch, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"dispatch (submit -> job start on the worker), {len(starts)} jobs one after another:")
    print(f"  median {statistics.median(starts):.2f} ms  p90 {percentile(starts, 90):.2f} ms  "
          f"p99 {percentile(starts, 99):.2f} ms  max {max(starts):.2f} ms  (goal median <= 20 ms)")
    print(f"round trip (submit -> result on the client): median {statistics.median(trips):.2f} ms  "
          f"p99 {percentile(trips, 99):.2f} ms")
    print(f"real job, mobilenet_v2 litert-int8,onnxruntime-fp32 --runs 5 --settle 0, wall on the worker: median "
          f"{statistics.median(walls):.2f} s over {len(walls)} (min {min(walls):.2f}, max {max(walls):.2f})")
    print(f"`edgebench run` with the same arguments, wall: median {statistics.median(local):.2f} s over {len(local)}")


if __name__ == "__main__":
    main()

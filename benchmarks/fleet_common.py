"""Shared by the fleet benchmarks: a real local fleet (`edgebench fleet scheduler` and named
`edgebench fleet worker` processes on 127.0.0.1) and a stand-in job that does what a fleet job
does on its worker except the benchmark itself (no child process, no model): it checks the device,
publishes its start and end, runs a NullRuntime session through edgebench's timing loop,
pauses for the protocol's settle_s (the stand-in for a benchmark's duration that does not use
the CPU), and returns a RunResult as JSON."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from edgebench.fleet.matrix import Job


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalFleet:
    """A scheduler and one worker per name, as the CLI starts them; .client is connected."""

    def __init__(self, names: list[str], log_dir: Path):
        self.names, self.log_dir = names, log_dir
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}
        self.address = f"tcp://127.0.0.1:{free_port()}"

    def __enter__(self) -> LocalFleet:
        from edgebench.fleet.client import connect, devices
        from edgebench.fleet.security import parse_address

        port = self.address.rsplit(":", 1)[1]
        self.scheduler = self._start(["scheduler", "--port", port], "scheduler")
        time.sleep(1.0)
        for name in self.names:
            self.workers[name] = self._start(["worker", "--scheduler", self.address, "--name", name], name)
        self.client = connect(parse_address(self.address, False), None, timeout_s=30)
        deadline = time.monotonic() + 120
        while {d.name for d in devices(self.client)} != set(self.names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not join (logs in {self.log_dir})")
            time.sleep(0.2)
        return self

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "edgebench", "fleet", *args],
                                stdout=open(self.log_dir / f"{log}.log", "w"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def __exit__(self, *_exc) -> None:
        self.client.close()
        for proc in reversed(self.procs):
            proc.send_signal(2)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def null_job(job: Job) -> dict:
    """A fleet job minus the benchmark (see the module docstring)."""
    started = time.time()
    import numpy as np
    from distributed import get_worker

    from edgebench.bench.runner import measure
    from edgebench.fleet.names import JOBS_TOPIC
    from edgebench.protocol import Protocol
    from edgebench.runtimes.null import NullSession

    worker = get_worker()
    if worker.name != job.device:
        raise RuntimeError(f"job for {job.device} reached {worker.name}")
    key = str(worker.get_current_task())
    event = {"fleet": job.fleet_run, "job": job.job_id, "device": job.device, "key": key}
    worker.log_event(JOBS_TOPIC, {**event, "kind": "started", "ts": started, "model": job.model.label,
                                  "worker": worker.address})
    session = NullSession()
    protocol = job.config.protocol
    measure(session, np.zeros(session.input_spec.shape, np.float32),
            Protocol("null", warmup=protocol.warmup, settle_s=protocol.settle_s, runs=protocol.runs))
    run = _null_run(job)
    worker.log_event(JOBS_TOPIC, {**event, "kind": "ended", "ts": time.time()})
    return {"run": run, "started": started, "ended": time.time()}


def _null_run(job: Job) -> str:
    import datetime as dt
    import uuid

    from edgebench import __version__
    from edgebench.results.schema import RunResult
    from edgebench.system import device_info

    info = device_info()
    return RunResult(run_id=uuid.uuid4().hex, created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     edgebench_version=__version__, device=info.model_copy(update={"hostname": job.device}),
                     model={"name": job.model.label, "source": "null"}, image={"path": "-"},
                     results=[]).model_dump_json()


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))

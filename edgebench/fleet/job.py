"""What a fleet job does on its worker: one `edgebench.bench.execute.run` of one model, in a child
process, with its progress published to the client through Dask's event topics.

Why a child process: the worker's event loop (heartbeats, messages) must not share a process
with a timing loop; a runtime that crashes (a segfault in a delegate) fails the job, not the
device; and a cancelled job can actually be stopped (a Python thread cannot be). The child ends
when its worker dies (it watches its stdin pipe), so a killed worker leaves no benchmark behind
to disturb the device.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import selectors
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

from edgebench.fleet.matrix import Job
from edgebench.fleet.names import JOBS_TOPIC, PROGRESS_TOPIC

POLL_S = 0.25            # how often a running job checks that it is still wanted
INTERRUPT_GRACE_S = 5.0  # after SIGINT, how long the child may take to record what finished
LOG_TAIL_LINES = 5


class FleetJobError(Exception):
    """A job that ended without a complete result. partial: the run's JSON as far as it got
    (status failed or interrupted), when it got as far as beginning."""

    def __init__(self, message: str, partial: str | None = None):
        super().__init__(message, partial)

    @property
    def message(self) -> str:
        return self.args[0]

    @property
    def partial(self) -> str | None:
        return self.args[1]

    def __str__(self) -> str:
        return self.args[0]


def run_job(job: Job) -> dict:
    """Run on the device's worker (Dask calls it): returns {"run": RunResult JSON, "started",
    "ended"} in the worker's clock; raises FleetJobError when the run did not complete."""
    from distributed import get_worker

    worker = get_worker()
    if worker.name != job.device:   # resources pin jobs; this makes a misrouted one fail loudly
        raise FleetJobError(f"job for device {job.device} reached worker {worker.name}: refused")
    key = worker.get_current_task()
    started = time.time()
    publish = _publisher(worker, job)
    publish(JOBS_TOPIC, "started", ts=started, key=str(key), model=job.model.label, worker=worker.address)
    try:
        run_json = _run_child(job, publish, lambda: _wanted(worker, key))
    finally:
        publish(JOBS_TOPIC, "ended", ts=time.time(), key=str(key))
    return {"run": run_json, "started": started, "ended": time.time()}


def _publisher(worker, job: Job):
    def publish(topic: str, kind: str, **fields) -> None:
        worker.log_event(topic, {"fleet": job.fleet_run, "job": job.job_id, "device": job.device,
                                 "kind": kind, **fields})
    return publish


def _wanted(worker, key) -> bool:
    """False once the client cancelled the job (or went away) or the worker is shutting down."""
    if worker.status.name not in ("running", "paused"):
        return False
    ts = worker.state.tasks.get(key)
    return ts is not None and ts.state == "executing"


def _run_child(job: Job, publish, wanted) -> str:
    from edgebench.fleet.names import check_device_name
    from edgebench.paths import cache_dir

    check_device_name(job.device)
    root = cache_dir() / "fleet"
    config = job.config
    if job.model.kind == "retrained":
        from edgebench.fleet.bundle import unpack_model

        config = dataclasses.replace(config, model=str(unpack_model(job.model.file, root / "models")))
    elif job.model.file is not None:
        config = dataclasses.replace(config, model=str(job.model.file.save_under(root / "files")))
    if job.image is not None:
        config = dataclasses.replace(config, image=job.image.save_under(root / "files"))
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{job.device}-{job.fleet_run[:8]}-{job.job_id}.log"
    env = dict(os.environ)
    if job.hub_url:
        env["EDGEBENCH_HUB_URL"] = job.hub_url
    spec = pickle.dumps({"config": config, "device": job.device})
    read_fd, write_fd = os.pipe()
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "edgebench.fleet.child", str(write_fd)], stdin=subprocess.PIPE,
                stdout=log, stderr=subprocess.STDOUT, pass_fds=(write_fd,), env=env,
                start_new_session=True)   # a Ctrl-C meant for the worker's terminal is not the job's
        finally:
            os.close(write_fd)
        try:
            proc.stdin.write(struct.pack(">Q", len(spec)) + spec)
            proc.stdin.flush()   # stdin stays open: the child exits when it closes (worker gone)
            outcome = _follow(proc, read_fd, publish, wanted)
        finally:
            os.close(read_fd)
            _stop(proc)
    return _conclude(job, proc, outcome, log_path)


def _follow(proc: subprocess.Popen, read_fd: int, publish, wanted) -> dict:
    """Forward the child's events until it closes its end; interrupt it if the job is no longer
    wanted. Returns the child's last 'finish' run and 'error', if any."""
    outcome: dict = {"finish": None, "error": None, "cancelled": False}
    buffer = b""
    interrupted_at = None
    with selectors.DefaultSelector() as sel:
        sel.register(read_fd, selectors.EVENT_READ)
        while True:
            if sel.select(timeout=POLL_S):
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        _forward(json.loads(line), outcome, publish)
            if interrupted_at is None and not wanted():
                outcome["cancelled"] = True
                interrupted_at = time.monotonic()
                _signal(proc, signal.SIGINT)   # lets the run record what finished, as Ctrl-C does
            elif interrupted_at is not None and time.monotonic() - interrupted_at > INTERRUPT_GRACE_S:
                _signal(proc, signal.SIGKILL)
    return outcome


def _forward(event: dict, outcome: dict, publish) -> None:
    kind = event.pop("kind", None)
    if kind == "finish":
        outcome["finish"] = event["run"]
    elif kind == "error":
        outcome["error"] = event["message"]
    elif kind == "target":
        # Raw samples stay out of progress messages (the scheduler keeps a bounded log of them):
        # they come back with the finished run.
        event["result"].pop("samples_ms", None)
        publish(PROGRESS_TOPIC, kind, **event)
    elif kind is not None:
        publish(PROGRESS_TOPIC, kind, **event)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    """Signal the child's whole process group (it leads one): a converter it started goes too."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _stop(proc: subprocess.Popen) -> None:
    """The child has closed its events (it is exiting) or we are leaving: let it exit, then
    close its stdin (which ends it, if it still runs), then kill it if it still will not go."""
    try:
        proc.wait(timeout=INTERRUPT_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=INTERRUPT_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        proc.wait()


def _conclude(job: Job, proc: subprocess.Popen, outcome: dict, log_path: Path) -> str:
    finish = outcome["finish"]
    recorded = json.loads(finish) if finish else {}
    if recorded.get("status") == "complete" and proc.returncode == 0:
        log_path.unlink(missing_ok=True)
        return finish
    if outcome["cancelled"]:
        raise FleetJobError(f"cancelled on {job.device}", finish)
    if outcome["error"]:
        raise FleetJobError(outcome["error"], finish)
    if recorded.get("status") in ("failed", "interrupted") and proc.returncode in (0, 130):
        # The run ended itself (no target ran, or it was stopped) and recorded why.
        why = recorded.get("error") or f"the run {recorded['status']}"
        reasons = "; ".join(f"{r.get('target')}: {r.get('error')}" for r in recorded.get("results", [])
                            if r.get("status") != "ok" and r.get("error"))
        raise FleetJobError(f"{why} on {job.device}" + (f" - {reasons}" if reasons else ""), finish)
    code = proc.returncode
    how = f"killed by signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
    tail = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()][-LOG_TAIL_LINES:]
    last = f"; last output: {tail[-1][:300]}" if tail else ""
    raise FleetJobError(f"the benchmark process on {job.device} ended without a result ({how}){last} "
                        f"(log on the device: {log_path})", finish)

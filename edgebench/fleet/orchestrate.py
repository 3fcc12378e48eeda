"""A fleet run: submit the matrix's jobs, follow them device by device, store each result as it
arrives, and fail by name what cannot finish.

Guarantees, and what gives them:
* one benchmark at a time per device: each device's worker has one thread and one unit of its
  `device:NAME` resource, and every job asks for that unit;
* a job never moves to another device: the resource exists on one worker only (the scheduler
  refuses a second worker of the same name), the job refuses to run on a worker of another name,
  and a job seen starting twice (a scheduler that re-runs tasks of dead workers) is failed;
* a dead device is named as soon as Dask removes its worker (the scheduler's remove-worker
  event, or the job's own KilledWorker): its jobs fail with its name, the rest go on. A device
  merely missing from an answer of the scheduler is not gone: only one missing from every poll
  for DEVICE_GRACE_S (and at least DEVICE_GRACE_POLLS polls) is, when no event said so;
* a device that joins during a `--devices all` run gets the matrix's jobs too;
* Ctrl-C cancels what has not finished and keeps what has.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from edgebench.bench.config import RunConfig
from edgebench.errors import UserError
from edgebench.fleet.client import members as connected_members
from edgebench.fleet.device import DeviceProfile
from edgebench.fleet.matrix import (
    DeviceShare,
    FilePayload,
    Job,
    ModelChoice,
    jobs_for,
    select_devices,
    share_targets,
)
from edgebench.fleet.names import JOBS_TOPIC, PROGRESS_TOPIC, device_resource

POLL_S = 0.5
SCHEDULER_GRACE_S = 10.0   # how long an unreachable scheduler may take to come back
DEVICE_GRACE_S = 5.0       # how long a device may be missing from the scheduler's answers...
DEVICE_GRACE_POLLS = 3     # ...and in how many polls in a row, before it is taken for gone
# Dask's scheduler announces on this topic every worker it removes ({"action": "remove-worker",
# "worker": ADDRESS}): the authoritative word that a device has left.
SCHEDULER_EVENTS_TOPIC = "all"
ACTIVE = ("queued", "running")


@dataclass
class JobState:
    """A job as the client follows it. started/ended: the worker's clock (epoch s)."""

    job: Job
    submitted: float
    future: object | None = None
    status: str = "queued"        # queued | running | ok | failed | interrupted | cancelled
    worker: str | None = None     # the worker address it started on
    started: float | None = None
    ended: float | None = None
    starts: int = 0
    step: str | None = None
    progress: tuple[str, int, int] | None = None    # target, done, total
    header: dict | None = None                      # the run as it began (for a partial result)
    targets: list[dict] = field(default_factory=list)  # finished targets (without raw samples)
    run: object | None = None                       # the RunResult stored (complete or partial)
    error: str | None = None
    saved: bool = False

    @property
    def device(self) -> str:
        return self.job.device

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def summary(self) -> dict:
        return {"job": self.job.job_id, "key": self.job.key, "device": self.device,
                "model": self.job.model.label,
                "targets": list(self.job.config.targets) if self.job.config.targets is not None else None,
                "status": self.status, "error": self.error,
                "run_id": getattr(self.run, "run_id", None), "saved": self.saved,
                "submitted": self.submitted, "started": self.started, "ended": self.ended}


class FleetEvents(Protocol):
    """What a front end hears during a fleet run."""

    def note(self, message: str) -> None: ...
    def job_submitted(self, state: JobState) -> None: ...
    def job_started(self, state: JobState) -> None: ...
    def job_step(self, state: JobState, message: str) -> None: ...
    def target_started(self, state: JobState, target: str, runs: int) -> None: ...
    def target_progress(self, state: JobState, target: str, done: int, total: int) -> None: ...
    def target_finished(self, state: JobState, result: dict) -> None: ...
    def job_done(self, state: JobState) -> None: ...
    def device_joined(self, profile: DeviceProfile) -> None: ...
    def device_left(self, name: str) -> None: ...


class SilentFleetEvents:
    def note(self, message): pass
    def job_submitted(self, state): pass
    def job_started(self, state): pass
    def job_step(self, state, message): pass
    def target_started(self, state, target, runs): pass
    def target_progress(self, state, target, done, total): pass
    def target_finished(self, state, result): pass
    def job_done(self, state): pass
    def device_joined(self, profile): pass
    def device_left(self, name): pass


@dataclass
class FleetSummary:
    fleet_run: str
    scheduler: str
    started: float
    ended: float | None
    devices: list[DeviceProfile]
    jobs: list[JobState]
    interrupted: bool = False

    @property
    def failed(self) -> list[JobState]:
        return [s for s in self.jobs if s.status in ("failed", "interrupted")]

    def runs(self) -> list:
        return [s.run for s in self.jobs if s.run is not None]

    def to_json(self) -> str:
        """An export bundle (`edgebench results import` reads it) plus the fleet's own record."""
        import json

        from edgebench.results.schema import SCHEMA_VERSION

        return json.dumps({
            "schema_version": SCHEMA_VERSION,
            "runs": [r.model_dump(mode="json") for r in self.runs()],
            "fleet": {"fleet_run": self.fleet_run, "scheduler": self.scheduler,
                      "started": self.started, "ended": self.ended, "interrupted": self.interrupted,
                      "devices": [d.to_dict() for d in self.devices],
                      "jobs": [s.summary() for s in self.jobs]},
        }, indent=2)


class FleetInterrupted(Exception):
    def __init__(self, summary: FleetSummary):
        super().__init__("fleet run interrupted")
        self.summary = summary


class FleetRun:
    """One matrix over a fleet. client: a connected distributed.Client. devices: "all" (also
    devices that join while it runs) or names. store: where results go as they arrive (a
    Store, or None). job_fn: what runs on the worker (edgebench.fleet.job.run_job; benchmarks
    and tests pass stand-ins with its signature)."""

    def __init__(self, client, config: RunConfig, models: list[ModelChoice],
                 devices: str | tuple[str, ...] = "all", store=None, image: FilePayload | None = None,
                 hub_url: str | None = None, push: Callable | None = None,
                 job_fn: Callable | None = None, scheduler: str = "", poll_s: float = POLL_S,
                 device_grace_s: float = DEVICE_GRACE_S):
        from edgebench.fleet.job import run_job

        self.client = client
        self.config = config
        self.models = models
        self.selection = devices
        self.store = store
        self.image = image
        self.hub_url = hub_url
        self.push = push
        self.job_fn = job_fn or run_job
        self.poll_s = poll_s
        self.device_grace_s = device_grace_s
        self.fleet_run = uuid.uuid4().hex
        self.states: dict[str, JobState] = {}
        self.seen: dict[str, DeviceProfile] = {}
        self.used: list[DeviceProfile] = []
        self.summary = FleetSummary(self.fleet_run, scheduler, time.time(), None, self.used, [])
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._next_id = 0
        self._lost_since: float | None = None
        self._addresses: dict[str, str] = {}                 # device -> its worker's address
        self._removed: set[str] = set()                      # worker addresses Dask removed
        self._missing: dict[str, tuple[float, int]] = {}     # device -> (missing since, polls)
        self.events: FleetEvents = SilentFleetEvents()

    # -- planning (before anything is submitted) ---------------------------------------------
    def plan(self) -> list[DeviceShare]:
        """Check the matrix against the fleet as it is now; UserError on what cannot run."""
        present = [m for m in connected_members(self.client) if m.profile is not None]
        self.seen = {m.name: m.profile for m in present}
        self._addresses = {m.name: m.address for m in present}
        chosen = select_devices(list(self.seen.values()), self.selection)
        return share_targets(self.config, chosen)

    # -- running -----------------------------------------------------------------------------
    def run(self, events: FleetEvents | None = None, shares: list[DeviceShare] | None = None) -> FleetSummary:
        self.events = events or SilentFleetEvents()
        shares = shares if shares is not None else self.plan()
        self.client.subscribe_topic(JOBS_TOPIC, self._receive)
        self.client.subscribe_topic(PROGRESS_TOPIC, self._receive)
        self.client.subscribe_topic(SCHEDULER_EVENTS_TOPIC, self._receive_removal)
        try:
            for share in shares:
                self._submit_share(share)
            self._follow()
        except KeyboardInterrupt:
            self._interrupt()
            raise FleetInterrupted(self._close()) from None
        finally:
            for topic in (JOBS_TOPIC, PROGRESS_TOPIC, SCHEDULER_EVENTS_TOPIC):
                try:
                    self.client.unsubscribe_topic(topic)
                except Exception:  # noqa: BLE001 - the client may already be closing
                    pass
        return self._close()

    def _close(self) -> FleetSummary:
        self.summary.ended = time.time()
        self.summary.jobs = list(self.states.values())
        return self.summary

    def _receive(self, event) -> None:
        """Dask calls this on its event-loop thread: only hand the message over."""
        _ts, msg = event
        if isinstance(msg, dict) and msg.get("fleet") == self.fleet_run:
            self._inbox.put(msg)

    def _receive_removal(self, event) -> None:
        """Dask calls this on its event-loop thread for the scheduler's own events."""
        _ts, msg = event
        if isinstance(msg, dict) and msg.get("action") == "remove-worker" and msg.get("worker"):
            self._inbox.put({"kind": "worker-removed", "worker": str(msg["worker"])})

    def _submit_share(self, share: DeviceShare) -> None:
        device = share.device
        for target, why in share.left_out.items():
            self.events.note(f"{device.name} does not offer {target}: {why}")
        jobs = jobs_for(self.fleet_run, self.config, self.models, share, self._next_id, self.image,
                        self.hub_url)
        if not jobs:
            self.events.note(f"{device.name} offers none of the requested targets: nothing to run there")
            return
        self.used.append(device)
        self._next_id += len(jobs)
        for job in jobs:
            state = JobState(job, submitted=time.time())
            state.future = self._submit(job)
            self.states[job.job_id] = state
            self.events.job_submitted(state)

    def _submit(self, job: Job):
        """retries=0: a failed benchmark is reported, never silently run again. A user's files
        travel inside the job (through the scheduler, which every device reaches; never worker to
        worker), so Dask's warning about large task graphs is expected up to their size."""
        import dask

        carried = sum(f.size for f in (job.model.file, job.image) if f is not None)
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": f"{carried + (10 << 20)}B"}):
            return self.client.submit(self.job_fn, job, key=job.key, pure=False, retries=0,
                                      resources={device_resource(job.device): 1})

    def _follow(self) -> None:
        next_poll = time.monotonic() + self.poll_s
        while any(s.active for s in self.states.values()):
            arrived = []
            try:
                arrived.append(self._inbox.get(timeout=0.05))
                while True:
                    arrived.append(self._inbox.get_nowait())
            except queue.Empty:
                pass
            # Futures first: a job's end reaches the client before the next job's start on that
            # device, so concluding first keeps each device's story in order.
            for state in list(self.states.values()):
                if state.active and state.future.done():
                    self._conclude(state)
            for msg in arrived:
                self._handle(msg)
            if time.monotonic() >= next_poll:
                self._watch_devices()
                next_poll = time.monotonic() + self.poll_s

    def _handle(self, msg: dict) -> None:
        if msg.get("kind") == "worker-removed":
            self._removed.add(msg["worker"])   # acted on at the next poll (_gone_devices)
            return
        state = self.states.get(str(msg.get("job")))
        if state is None or not state.active:
            return
        kind = msg.get("kind")
        if kind == "started":
            state.starts += 1
            if state.starts > 1:
                self._fail(state, f"the job was started a second time on {state.device} after its "
                                  "worker was lost; refused (set the scheduler's allowed-failures to 0)")
                return
            state.status, state.started, state.worker = "running", msg.get("ts"), msg.get("worker")
            self.events.job_started(state)
        elif kind == "ended":
            state.ended = msg.get("ts")
        elif kind == "step":
            state.step = str(msg.get("message", ""))
            self.events.job_step(state, state.step)
        elif kind == "target_started":
            state.progress = (msg["target"], 0, int(msg["runs"]))
            self.events.target_started(state, msg["target"], int(msg["runs"]))
        elif kind == "target_progress":
            state.progress = (msg["target"], int(msg["done"]), int(msg["total"]))
            self.events.target_progress(state, *state.progress)
        elif kind == "begin":
            state.header = msg.get("run")
        elif kind == "target":
            state.targets.append(msg["result"])
            self.events.target_finished(state, msg["result"])

    def _conclude(self, state: JobState) -> None:
        future = state.future
        if future.status == "finished":
            from edgebench.results.schema import RunResult

            out = future.result()
            state.started = out.get("started", state.started)
            state.ended = out.get("ended", state.ended)
            state.run = RunResult.model_validate_json(out["run"])
            state.status = "ok"
            self._save(state)
            self.events.job_done(state)
        elif future.status == "error":
            self._fail(state, self._explain(state, future.exception()),
                       getattr(future.exception(), "partial", None))
        elif self._scheduler_lost():
            self._fail(state, f"lost the connection to the fleet scheduler during the job on {state.device}")
        else:
            self._fail(state, f"the job on {state.device} was cancelled by someone else (another "
                              "client, or the scheduler)")

    def _scheduler_lost(self) -> bool:
        return getattr(self.client, "status", "running") != "running"

    def _explain(self, state: JobState, exc: BaseException) -> str:
        from distributed import KilledWorker

        from edgebench.fleet.job import FleetJobError

        if isinstance(exc, KilledWorker):
            when = "during the job" if state.started is not None else "before the job started"
            return f"the worker of device {state.device} went away {when} (stopped, killed or lost)"
        if isinstance(exc, FleetJobError):
            return exc.message
        return f"{type(exc).__name__} on {state.device}: {exc}"

    def _watch_devices(self) -> None:
        present = self._poll_members()
        if present is None:
            return
        gone = self._gone_devices(present)
        for state in self.states.values():
            if not state.active:
                continue
            member = present.get(state.device)
            if state.device in gone:
                when = "during the job" if state.status == "running" else "before the job started"
                self._fail(state, f"device {state.device} left the fleet {when} (worker stopped, killed or lost)")
            elif member is not None and state.worker is not None and member.address != state.worker:
                self._fail(state, f"the worker of device {state.device} was replaced during the job "
                                  "(it restarted)")
        for name in [n for n in self.seen if n in gone]:
            self.events.device_left(name)
            del self.seen[name]
        self._welcome_newcomers(present)

    def _poll_members(self) -> dict | None:
        """The edgebench devices connected now, by name; None when the scheduler did not answer
        (then, past SCHEDULER_GRACE_S or once the client says so, every active job fails)."""
        try:
            present = {m.name: m for m in connected_members(self.client) if m.profile is not None}
        except Exception as exc:  # noqa: BLE001 - any failure to ask is a lost scheduler
            if self._lost_since is None:
                self._lost_since = time.monotonic()
            if time.monotonic() - self._lost_since > SCHEDULER_GRACE_S or self._scheduler_lost():
                for state in self.states.values():
                    if state.active:
                        self._fail(state, f"lost the connection to the fleet scheduler ({type(exc).__name__})")
            return None
        self._lost_since = None
        return present

    def _gone_devices(self, present: dict) -> set[str]:
        """Devices that have left: Dask removed their worker (its event), or they were missing
        from every poll for device_grace_s and DEVICE_GRACE_POLLS polls. One answer without a
        device (a scheduler slow under load) is not a device gone."""
        now = time.monotonic()
        watched = set(self.seen) | {s.device for s in self.states.values() if s.active}
        gone = set()
        for name in watched:
            if name in present:
                self._missing.pop(name, None)
                continue
            since, polls = self._missing.get(name, (now, 0))
            polls += 1
            self._missing[name] = (since, polls)
            removed = self._removed & self._known_addresses(name)
            if removed or (polls >= DEVICE_GRACE_POLLS and now - since >= self.device_grace_s):
                gone.add(name)
                del self._missing[name]
        for name, member in present.items():
            self._addresses[name] = member.address
        return gone

    def _known_addresses(self, name: str) -> set[str]:
        """The worker addresses a device is known by: its last in the scheduler's answers, and
        the one on the 'started' message of its running job."""
        known = {s.worker for s in self.states.values() if s.device == name and s.active and s.worker}
        if name in self._addresses:
            known.add(self._addresses[name])
        return known

    def _welcome_newcomers(self, present: dict) -> None:
        """A device new to this run: in a --devices all run, it gets the matrix's jobs."""
        for name, member in present.items():
            if name in self.seen:
                continue
            self.seen[name] = member.profile
            if self.selection != "all" or any(d.name == name for d in self.used):
                continue   # named devices only; a device that left and came back is not re-run
            self.events.device_joined(member.profile)
            self._submit_share(self._share_for(member.profile))

    def _share_for(self, device: DeviceProfile) -> DeviceShare:
        if self.config.targets is None:
            return DeviceShare(device, None)
        mine = tuple(t for t in self.config.targets if t in device.targets)
        left_out = {t: device.unavailable.get(t, "not offered") for t in self.config.targets
                    if t not in device.targets}
        return DeviceShare(device, mine, left_out)

    def _fail(self, state: JobState, message: str, partial: str | None = None,
              status: str = "failed") -> None:
        """Final state for a job that did not complete: cancel it, keep what it finished."""
        if state.future is not None and not state.future.done():
            try:
                state.future.cancel()
            except Exception:  # noqa: BLE001 - a lost connection must not stop the others
                pass
        state.status, state.error = status, message
        run = self._partial(state, partial, status, message)
        if run is not None:
            state.run = run
            self._save(state)
        self.events.job_done(state)

    def _partial(self, state: JobState, partial: str | None, status: str, message: str):
        """The run as far as it got: the worker's own record when it sent one, else what the
        progress messages carried (finished targets without raw samples). None if it never began."""
        from pydantic import ValidationError

        from edgebench.results.schema import RunResult

        try:
            if partial:
                run = RunResult.model_validate_json(partial)
            elif state.header is not None:
                run = RunResult.model_validate({**state.header, "results": state.targets})
            else:
                return None
        except ValidationError:
            return None
        run.status = "interrupted" if status == "interrupted" else "failed"
        run.error = run.error or message
        return run

    def _save(self, state: JobState) -> None:
        if self.store is None or state.run is None:
            return
        try:
            self.store.save(state.run)
            state.saved = True
        except UserError as exc:
            self.events.note(f"run {state.run.run_id[:12]} of {state.device} was not saved: {exc}")
            return
        if self.push is not None and state.status == "ok":
            try:
                self.events.note(self.push(state.run))
            except UserError as exc:
                self.events.note(f"push of run {state.run.run_id[:12]} ({state.device}) failed: {exc}")

    def _interrupt(self) -> None:
        """Ctrl-C: cancel every job not finished; a running one keeps the targets it finished."""
        active = [s for s in self.states.values() if s.active]
        try:
            self.client.cancel([s.future for s in active], force=True)
        except Exception:  # noqa: BLE001 - the cancel is best effort; the states below are ours
            pass
        while True:   # what arrived before the Ctrl-C is still ours
            try:
                self._handle(self._inbox.get_nowait())
            except queue.Empty:
                break
        for state in active:
            if state.status == "running":
                self._fail(state, "interrupted by the user (Ctrl-C)", status="interrupted")
            else:
                self._fail(state, "cancelled before it started (Ctrl-C)", status="cancelled")
        self.summary.interrupted = True

"""Talking to a fleet: connecting, the devices it has, and what each is doing (`fleet status`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from edgebench.errors import UserError
from edgebench.fleet.device import DeviceProfile
from edgebench.fleet.names import JOB_KEY_PREFIX, JOBS_TOPIC, METADATA_KEY
from edgebench.fleet.security import Address, check_resolves, security_for


def connect(address: Address, tls_dir, timeout_s: float = 10.0):
    """A synchronous Dask client; UserError with one line if the scheduler cannot be reached or
    refuses us (TLS without a certificate it trusts). A refused connection is one line at once;
    only a scheduler that does not answer is waited for (up to timeout_s)."""
    from distributed import Client

    from edgebench.fleet.reach import reach
    from edgebench.fleet.worker import quiet_dask

    check_resolves(address)
    quiet_dask()
    security = security_for(tls_dir, "client")
    args = security.get_connection_args("client") if security is not None else {}
    why = reach(address, args, timeout_s)
    if why is None:
        try:
            return Client(str(address), security=security, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    raise UserError(f"cannot reach the fleet scheduler at {address} ({why}); is "
                    "`edgebench fleet scheduler` (or `dask scheduler`) running there"
                    + (", and are these certificates from its CA?" if tls_dir else "?")) from None


@dataclass(frozen=True)
class Member:
    """A worker of the cluster: an edgebench device (profile) or another Dask worker."""

    address: str
    name: str
    profile: DeviceProfile | None


def scheduler_identity(client) -> dict:
    """The scheduler's own answer, now, with every worker. Not `client.scheduler_info()`: that
    fetches into the client's cached copy and returns the cache, which Dask's periodic refresh
    (every 2 s, asking for no workers at all) may overwrite in between: under load a poll then
    sees an empty fleet, and healthy devices were taken for gone."""
    return client.sync(client.scheduler.identity, n_workers=-1)


def members(client) -> list[Member]:
    """Every worker connected now, with its device profile when it is an edgebench worker."""
    info = scheduler_identity(client)
    found = []
    for address, worker in info.get("workers", {}).items():
        meta = worker.get(METADATA_KEY)
        profile = None
        if isinstance(meta, dict):
            try:
                profile = DeviceProfile.from_dict(meta)
            except TypeError:
                profile = None
        found.append(Member(address, str(worker.get("name", address)), profile))
    return sorted(found, key=lambda m: m.name)


def devices(client) -> list[DeviceProfile]:
    return [m.profile for m in members(client) if m.profile is not None]


@dataclass
class DeviceStatus:
    member: Member
    state: str = "idle"                  # idle | busy
    job: dict | None = None              # the job it runs: model, key, fleet run
    since: float | None = None           # when that job started (scheduler clock, epoch s)
    queued: int = 0                      # further jobs waiting for this device
    other_tasks: list[str] = field(default_factory=list)


def status(client) -> list[DeviceStatus]:
    """One entry per worker: idle or busy, the job it runs and since when, how many wait."""
    everyone = members(client)
    processing = client.processing()
    started: dict[str, tuple[float, dict]] = {}
    for ts, msg in client.get_events(JOBS_TOPIC):
        if not isinstance(msg, dict) or "key" not in msg:
            continue
        if msg.get("kind") == "started":
            started[msg["key"]] = (float(msg.get("ts", ts)), msg)
        elif msg.get("kind") == "ended":
            started.pop(msg["key"], None)
    statuses = []
    for member in everyone:
        keys = [str(k) for k in processing.get(member.address, ())]
        entry = DeviceStatus(member)
        running = [k for k in keys if k in started]
        if running:
            entry.state = "busy"
            entry.since, entry.job = started[running[0]]
        entry.queued = len([k for k in keys if k not in running and k.startswith(JOB_KEY_PREFIX)])
        entry.other_tasks = [k for k in keys if not k.startswith(JOB_KEY_PREFIX)]
        if entry.other_tasks and not running:
            entry.state = "busy"
        statuses.append(entry)
    return statuses


def shared_machines(profiles: list[DeviceProfile]) -> list[list[str]]:
    """Groups of devices that are one physical machine: their benchmarks disturb each other."""
    groups: dict[str, list[str]] = {}
    for p in profiles:
        groups.setdefault(p.machine, []).append(p.name)
    return [sorted(names) for names in groups.values() if len(names) > 1]


def age(since: float | None, now: float | None = None) -> str:
    if since is None:
        return "-"
    seconds = max(0.0, (now or time.time()) - since)
    clock = time.strftime("%H:%M:%S", time.localtime(since))
    return f"{clock} ({seconds:.0f} s)" if seconds < 120 else f"{clock} ({seconds / 60:.0f} min)"


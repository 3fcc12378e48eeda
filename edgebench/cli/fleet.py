"""`edgebench fleet scheduler|worker|certs|status|run`: many devices as one benchmark matrix, on
Dask distributed. Dask itself is imported only by the commands that use it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgebench.cli.common import (
    console,
    err_console,
    user_errors,
    write_text_atomically,
)
from edgebench.cli.options import BenchOptions, bench_options, split_targets
from edgebench.fleet.names import (
    DEFAULT_PORT,
    DEFAULT_SCHEDULER,
    SCHEDULER_ENV,
    TLS_ENV,
)

app = typer.Typer(help="A fleet of devices driven as one benchmark matrix (Dask distributed).",
                  no_args_is_help=True)

SchedulerOption = Annotated[str, typer.Option(
    "--scheduler", "-s", envvar=SCHEDULER_ENV,
    help="Scheduler address: tcp://127.0.0.1:8786 on this machine; tls://HOST:PORT with --tls elsewhere.")]
TlsOption = Annotated[Optional[Path], typer.Option(
    "--tls", envvar=TLS_ENV,
    help="Certificates directory from `edgebench fleet certs` (ca.pem and this role's NAME.pem, "
         "NAME-key.pem): TLS with mutual authentication. Required beyond loopback.")]
TimeoutOption = Annotated[float, typer.Option(
    "--connect-timeout", min=0.5, max=3600.0, help="Seconds to wait for the scheduler.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", help="Show Dask's own INFO logs.")]


def _say(text: str, *, err: bool = False) -> None:
    """Plain text: names and paths may hold "[...]", which rich would take for markup."""
    (err_console if err else console).print(text, markup=False, emoji=False, highlight=False,
                                            soft_wrap=True)


# -- scheduler and worker ---------------------------------------------------------------------

@app.command("scheduler")
def scheduler_command(
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --tls.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = DEFAULT_PORT,
    tls: TlsOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Run the fleet's Dask scheduler (loopback unless --tls).

    allowed-failures is 0: a job whose device dies fails at once and is never run again. Any Dask
    scheduler works too; this one has the fleet's settings.

    Example: edgebench fleet scheduler --host 0.0.0.0 --tls certs/
    """
    with user_errors():
        from edgebench.fleet.security import tls_paths
        from edgebench.fleet.worker import ALLOWED_FAILURES, quiet_dask, serve_scheduler

        if tls is not None:
            tls_paths(tls, "scheduler")
        quiet_dask(verbose)

        def ready(address: str) -> None:
            _say(f"fleet scheduler listening at {address} (allowed-failures {ALLOWED_FAILURES}; "
                 f"{'TLS with client certificates' if tls else 'loopback only, no TLS'}); Ctrl-C stops it")

        serve_scheduler(host, port, tls, ready)
    _say("fleet scheduler stopped")


@app.command("worker")
def worker_command(
    scheduler: SchedulerOption = DEFAULT_SCHEDULER,
    name: Annotated[Optional[str], typer.Option(
        help="Device name (default: the host name). Unique in the fleet; results are stored under it.")] = None,
    tls: TlsOption = None,
    host: Annotated[Optional[str], typer.Option(
        help="Address this worker listens on (default: 127.0.0.1 for a loopback scheduler, else the "
             "interface that reaches it).")] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")] = 0,
    connect_timeout: TimeoutOption = 60.0,
    rejoin: Annotated[bool, typer.Option(help="Join again when the scheduler restarts (--no-rejoin: exit 1).")] = True,
    verbose: VerboseOption = False,
) -> None:
    """Serve this device to a fleet (a Dask worker, one benchmark at a time).

    The worker advertises the device as Dask resources (device:NAME, and cpu, cuda, edgetpu...
    for what it can run) and publishes its fingerprint and available targets to the scheduler.

    Example: edgebench fleet worker --scheduler tls://workstation:8786 --tls certs/ --name pi4-coral
    """
    with user_errors():
        from edgebench.fleet.device import probe
        from edgebench.fleet.names import check_device_name, default_device_name
        from edgebench.fleet.security import parse_address, tls_paths
        from edgebench.fleet.worker import (check_reachable, quiet_dask, serve_worker,
                                            worker_listen_host)

        device_name = check_device_name(name if name is not None else default_device_name())
        address = parse_address(scheduler, tls is not None)
        if tls is not None:
            tls_paths(tls, "worker")
        host = worker_listen_host(address, host, tls is not None)   # refused before probing
        quiet_dask(verbose)

        def waiting(why: str, left: float) -> None:
            _say(f"waiting for the scheduler at {address} ({why}); giving up in {left:.0f} s "
                 "(--connect-timeout; Ctrl-C stops)")

        check_reachable(address, tls, connect_timeout, waiting)
        _say(f"probing this device ({device_name}): fingerprint and available targets...")
        profile = probe(device_name)

        def ready(listening: str) -> None:
            _say(f"device {profile.name} ({profile.hardware}; store id {profile.fingerprint}) joined "
                 f"{address} from {listening}")
            _say(f"offers: {', '.join(profile.targets) or 'no targets'}; resources: "
                 f"{', '.join(profile.resources())}; Ctrl-C leaves the fleet")

        def lost() -> None:
            _say(f"lost the scheduler at {address}; trying to join again (Ctrl-C stops)")

        why = serve_worker(address, profile, tls, host, port, connect_timeout, ready, lost, rejoin)
    _say(f"device {device_name} left the fleet: {why}")
    if why != "stopped":
        raise typer.Exit(1)


@app.command("certs")
def certs_command(
    directory: Annotated[Path, typer.Argument(help="Where to write ca.pem, ca-key.pem and NAME.pem / "
                                                   "NAME-key.pem for scheduler, worker and client.")],
    host: Annotated[Optional[list[str]], typer.Option(
        "--host", help="The scheduler's host name or IP, for the certificates' names (repeatable).")] = None,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Validity in days.")] = 365,
    force: Annotated[bool, typer.Option(help="Replace certificates already in DIR.")] = False,
) -> None:
    """Make a fleet's certificate authority and a certificate per role (TLS).

    EC P-256 keys; keys are written readable by you only.

    Copy ca.pem + worker.pem + worker-key.pem to each device, ca.pem + client.pem + client-key.pem
    to whoever runs matrices; keep ca-key.pem off the devices. Any holder of a key can run code on
    the fleet.

    Example: edgebench fleet certs ~/fleet-certs --host workstation.local --host 192.168.1.10
    """
    with user_errors():
        from edgebench.fleet.security import make_certs

        written = make_certs(directory, host or [], days=days, force=force)
    _say(f"wrote {len(written)} files to {directory}: " + ", ".join(p.name for p in written))
    _say("devices need ca.pem, worker.pem, worker-key.pem; clients ca.pem, client.pem, client-key.pem; "
         "the scheduler ca.pem, scheduler.pem, scheduler-key.pem. Keep ca-key.pem to yourself.")


# -- status -----------------------------------------------------------------------------------

@app.command("status")
def status_command(
    scheduler: SchedulerOption = DEFAULT_SCHEDULER,
    tls: TlsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    connect_timeout: TimeoutOption = 10.0,
) -> None:
    """List the fleet's devices: hardware, targets, idle or busy (which job, since when).

    Example: edgebench fleet status --scheduler tcp://127.0.0.1:8786
    """
    with user_errors():
        from edgebench.fleet.client import connect, shared_machines, status
        from edgebench.fleet.security import parse_address

        address = parse_address(scheduler, tls is not None)
        client = connect(address, tls, connect_timeout)
        try:
            entries = status(client)
        finally:
            client.close()
        if as_json:
            import json

            print(json.dumps([_status_dict(e) for e in entries], indent=2))
            return
        _print_status(address, entries)
        for group in shared_machines([e.member.profile for e in entries if e.member.profile]):
            _say(f"note: {', '.join(group)} run on one machine: benchmarks on them at the same "
                 "time disturb each other")


def _status_dict(entry) -> dict:
    profile = entry.member.profile
    return {"device": entry.member.name, "address": entry.member.address,
            "edgebench": profile is not None, "profile": profile.to_dict() if profile else None,
            "state": entry.state, "job": entry.job, "since": entry.since, "queued": entry.queued,
            "other_tasks": entry.other_tasks}


def _print_status(address, entries) -> None:
    from rich.markup import escape
    from rich.table import Table

    from edgebench.fleet.client import age

    if not entries:
        _say(f"no devices are connected to {address}: start `edgebench fleet worker --scheduler "
             f"{address}` on each device")
        return
    table = Table(title=escape(f"fleet at {address}: {len(entries)} device(s)"))
    for col in ("device", "hardware", "host", "targets", "state", "job", "since"):
        table.add_column(col, overflow="fold")
    for e in entries:
        p = e.member.profile
        if p is None:
            table.add_row(escape(e.member.name), "[dim]not an edgebench worker[/]", "-", "-",
                          escape(e.state), escape(", ".join(e.other_tasks) or "-"), "-")
            continue
        job = "-"
        if e.job:
            job = f"{e.job.get('model', '?')} (fleet run {str(e.job.get('fleet', ''))[:8]})"
        if e.queued:
            job += f", {e.queued} queued"
        state = "[yellow]busy[/]" if e.state == "busy" else "[green]idle[/]"
        table.add_row(escape(p.name), escape(p.hardware), escape(p.host), escape(", ".join(p.targets)),
                      state, escape(job), escape(age(e.since)))
    console.print(table)


# -- run --------------------------------------------------------------------------------------

@app.command("run")
@bench_options
def run_command(
    scheduler: SchedulerOption = DEFAULT_SCHEDULER,
    tls: TlsOption = None,
    models: Annotated[str, typer.Option(
        "--models", "-m", help="Comma-separated: zoo names, .tflite/.onnx files (sent with each job, "
                               "sha256-checked on the device) and hub://owner/name[@version] (pulled by the device).")] = "mobilenet_v2",
    targets: Annotated[Optional[str], typer.Option(
        "--targets", "-t", help="Comma-separated targets (default: every target each device can run).")] = None,
    devices: Annotated[str, typer.Option(
        "--devices", "-d", help="all (also devices that join during the run) or comma-separated device names.")] = "all",
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="JPEG/PNG/BMP to classify (sent with each job).")] = None,
    options: BenchOptions = BenchOptions(),   # --protocol ... --save, as `edgebench run` takes them
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write every run and the fleet's job record (JSON; `results import` reads it).")] = None,
    push: Annotated[bool, typer.Option(help="Push each run of a hub model to the hub (as `results push`).")] = False,
    max_file_mb: Annotated[float, typer.Option(min=0.001, max=4096.0, help="Largest model file sent with jobs.")] = 256.0,
    connect_timeout: TimeoutOption = 10.0,
) -> None:
    """Benchmark models x devices x targets on the fleet; results stored as they arrive.

    One job per (model, device), pinned to that device; live progress per device; each run is
    stored with its device's fingerprint, so `edgebench report` shows the devices side by side.

    Example: edgebench fleet run --models mobilenet_v2 --targets litert-int8,onnxruntime-fp32 --runs 50
    """
    from edgebench.fleet.orchestrate import FleetInterrupted

    with user_errors():
        fleet, client, address = _prepare_fleet_run(
            scheduler, tls, models, targets, devices, image, options, out, push, max_file_mb, connect_timeout)
        interrupted = False
        try:
            shares = fleet.plan()
            _notes_before(fleet, shares, address)
            screen = FleetScreen([s.device.name for s in shares if s.targets != ()])
            try:
                summary = fleet.run(screen, shares)
            except FleetInterrupted as stop:
                summary, interrupted = stop.summary, True
            finally:
                screen.stop()
        finally:
            client.close()
        _print_summary(summary, fleet.store)
        if out is not None:
            write_text_atomically(out, summary.to_json())
            _say(f"runs and job record written to {out}")
    if interrupted:
        count = {k: sum(s.status == k for s in summary.jobs) for k in ("ok", "interrupted", "cancelled")}
        _say(f"interrupted: {count['ok']} job(s) had finished; {count['interrupted']} running job(s) "
             f"stopped, keeping the targets they finished; {count['cancelled']} queued job(s) cancelled",
             err=True)
        raise typer.Exit(130)
    if summary.failed:
        raise typer.Exit(1)


def _prepare_fleet_run(scheduler, tls, models, targets, devices, image, options: BenchOptions, out, push,
                       max_file_mb, connect_timeout):
    """Everything checked before a job is submitted: names, files, store, push, connection."""
    import os

    from edgebench.bench.config import RunConfig
    from edgebench.errors import UserError
    from edgebench.fleet.client import connect
    from edgebench.fleet.matrix import MAX_IMAGE_MB, FilePayload, resolve_models
    from edgebench.fleet.names import check_device_name, split_names
    from edgebench.fleet.orchestrate import FleetRun
    from edgebench.fleet.security import parse_address

    if out is not None and not out.parent.is_dir():
        raise UserError(f"cannot write {out}: directory {out.parent} does not exist")
    address = parse_address(scheduler, tls is not None)
    names = split_names(models)
    config = RunConfig(model=names[0] if names else "-", image=None, targets=split_targets(targets),
                       **options.config_fields())
    selection: str | tuple[str, ...] = "all"
    if devices.strip() != "all":
        selection = tuple(check_device_name(n) for n in split_names(devices))
        if not selection:
            raise UserError("--devices takes 'all' or comma-separated device names")
    chosen = resolve_models(names, max_file_mb)
    payload = None
    if image is not None:
        from edgebench.models.images import load_image

        payload = FilePayload.read(image, MAX_IMAGE_MB, "image")
        load_image(image)   # not an image: refused here, not once per device
    pusher = _pusher(chosen) if push else None
    recorder = None
    if options.save:
        from edgebench.results.store import Store

        recorder = Store(options.store)
    hub_url = os.environ.get("EDGEBENCH_HUB_URL") if any(m.kind == "hub" for m in chosen) else None
    client = connect(address, tls, connect_timeout)
    fleet = FleetRun(client, config, chosen, selection, store=recorder, image=payload, hub_url=hub_url,
                     push=pusher, scheduler=str(address))
    return fleet, client, address


def _pusher(models):
    """--push: every model must be a hub model (others have no page to show results on)."""
    from edgebench.errors import UserError

    others = [m.label for m in models if m.kind != "hub"]
    if others:
        raise UserError(f"--push sends runs of hub models; {others[0]} is not one (push such runs "
                        "later with `edgebench results push RUN --model owner/name@version`)")

    def push(run) -> str:
        from edgebench.hub.client import HubClient
        from edgebench.results.query import hub_version_of

        ref = hub_version_of(run)
        with HubClient() as hub:
            answer = hub.push_results(ref, run)
        return (f"pushed run {run.run_id[:12]} ({run.device.hostname}) to {ref}: "
                f"{answer['added']} result(s) added, {answer['already_present']} already there")

    return push


def _notes_before(fleet, shares, address) -> None:
    from edgebench import __version__
    from edgebench.fleet.client import shared_machines

    used = [s.device for s in shares if s.targets != ()]
    _say(f"fleet run {fleet.fleet_run[:8]} on {address}: {len(fleet.models)} model(s) x "
         f"{len(used)} device(s) ({', '.join(d.name for d in used)})")
    for group in shared_machines(used):
        _say(f"note: {', '.join(group)} are one machine: their benchmarks run at the same time and "
             "disturb each other's timings")
    for d in used:
        if d.edgebench_version != __version__:
            _say(f"note: {d.name} runs edgebench {d.edgebench_version}, this client {__version__}")


class FleetScreen:
    """Live progress: a line per device (its job, what it does now, jobs done), and a printed
    line per event worth keeping (a job started, a target's result, a job done or failed)."""

    def __init__(self, devices: list[str]):
        from rich.live import Live

        self.rows: dict[str, dict] = {}
        self._steps: dict[str, str] = {}
        for name in devices:
            self._row(name)
        self.live = Live(console=console, get_renderable=self._render, refresh_per_second=4,
                         transient=True)
        self.live.start()

    def stop(self) -> None:
        self.live.stop()

    def _row(self, name: str) -> dict:
        return self.rows.setdefault(name, {"job": "-", "now": "waiting", "done": 0, "total": 0,
                                           "since": None})

    def _render(self):
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for col in ("device", "job", "now", "jobs", "elapsed"):
            table.add_column(col, overflow="ellipsis", no_wrap=True)
        now = time.time()
        for name, row in list(self.rows.items()):
            since = f"{now - row['since']:.0f} s" if row["since"] else "-"
            table.add_row(escape(name), escape(row["job"]), escape(row["now"][:70]),
                          f"{row['done']}/{row['total']}", since)
        return table

    def _line(self, state, text: str) -> None:
        _say(f"[{state.device}] {state.job.model.label}: {text}")

    def note(self, message: str) -> None:
        _say(f"note: {message}")

    def job_submitted(self, state) -> None:
        self._row(state.device)["total"] += 1

    def job_started(self, state) -> None:
        row = self._row(state.device)
        row.update(job=state.job.model.label, now="starting", since=time.time())
        self._line(state, "started")

    def job_step(self, state, message: str) -> None:
        self._row(state.device)["now"] = message
        # Slow steps (a first run's conversions, a hub pull) also get a line, once per step (not
        # per converter stage), so a log shows why a device is quiet.
        step = message.rsplit(": ", 1)[0] if message.startswith("first run") else message
        if self._steps.get(state.job.job_id) != step:
            self._steps[state.job.job_id] = step
            self._line(state, step)

    def target_started(self, state, target: str, runs: int) -> None:
        self._row(state.device)["now"] = f"{target} 0/{runs}"

    def target_progress(self, state, target: str, done: int, total: int) -> None:
        self._row(state.device)["now"] = f"{target} {done}/{total}"

    def target_finished(self, state, result: dict) -> None:
        self._line(state, f"{result.get('target')} {_target_text(result)}")

    def job_done(self, state) -> None:
        row = self._row(state.device)
        row["done"] += 1
        row.update(now="idle" if state.status == "ok" else state.status, since=None)
        if state.status == "ok":
            saved = f"saved as run {state.run.run_id[:12]}" if state.saved else "not saved"
            self._line(state, f"done ({saved})")
        else:
            self._line(state, f"{state.status.upper()}: {state.error}")

    def device_joined(self, profile) -> None:
        self._row(profile.name)
        _say(f"[{profile.name}] joined the fleet ({profile.hardware}): adding the matrix's jobs for it")

    def device_left(self, name: str) -> None:
        self._row(name)["now"] = "left the fleet"
        _say(f"[{name}] left the fleet")


def _target_text(result: dict) -> str:
    if result.get("status") != "ok":
        return f"{result.get('status')}: {result.get('error')}"
    latency = result.get("latency_ms") or {}
    answer = result.get("summary") or (result.get("top1") or {}).get("label", "?")   # the task's answer line
    return f"median {latency.get('median', float('nan')):.3f} ms, {result.get('fps') or 0:.1f} fps, answer: {answer}"


def conditions_cell(device: str, run) -> str:
    """'board-b: governor powersave': what the run's stored conditions warn of, beside its row."""
    from edgebench.conditions import short

    warnings = short(getattr(run, "conditions", None) or [])
    return f"{device}: {warnings}" if warnings else "-"


def _print_summary(summary, store) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not summary.jobs:
        return
    table = Table(title=escape(f"fleet run {summary.fleet_run[:8]}: {len(summary.jobs)} job(s)"))
    for col in ("device", "model", "status", "run", "targets (median ms)", "job s", "conditions"):
        table.add_column(col, overflow="fold")
    for s in sorted(summary.jobs, key=lambda s: (s.device, int(s.job.job_id))):
        results = getattr(s.run, "results", []) or []
        cells = ", ".join(f"{r.target} {r.latency_ms.median:.3f}" if r.status == "ok" and r.latency_ms
                          else f"{r.target} {r.status}" for r in results) or "-"
        wall = f"{s.ended - s.started:.1f}" if s.started and s.ended else "-"
        colour = "green" if s.status == "ok" else "red"
        table.add_row(escape(s.device), escape(s.job.model.label), f"[{colour}]{escape(s.status)}[/]",
                      escape(s.run.run_id[:12] if s.run is not None else "-"), escape(cells), wall,
                      escape(conditions_cell(s.device, s.run)))
    console.print(table)
    for s in summary.failed:
        kept = ""
        if s.run is not None and s.saved:
            n = len(s.run.results)
            kept = (f"; its {n} finished target(s) are kept" if n else "; no target had finished") + \
                f" (run {s.run.run_id[:12]}, status {s.run.status})"
        _say(f"{s.status}: {s.device} / {s.job.model.label}: {s.error}{kept}")
    saved = sum(s.saved for s in summary.jobs)
    if store is not None:
        _say(f"saved {saved} run(s) in {store.engine_url_safe()}; the devices side by side: "
             "edgebench report")

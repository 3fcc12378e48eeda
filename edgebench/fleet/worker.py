"""The fleet's long-running processes: a Dask worker per device, and the scheduler.

Both are plain Dask servers (`distributed.Worker`, `distributed.Scheduler`) configured for the
fleet: the worker has one thread, the device's resources and its profile as metadata; the
scheduler has `allowed-failures` 0, so a job whose worker dies fails at once (KilledWorker)
instead of being run again; and neither listens beyond loopback without TLS.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from edgebench.errors import UserError
from edgebench.fleet.device import DeviceProfile
from edgebench.fleet.names import METADATA_KEY
from edgebench.fleet.security import Address, check_listen_host, security_for

# Dask's own scheduler setting: how many workers may die running a task before it is failed.
# 0: a job whose device dies fails, naming the device; it is never silently run again.
ALLOWED_FAILURES = 0

# Dask servers also start an HTTP server (metrics, JSON state, a proxy) on their own host and
# without TLS. The fleet keeps it to a health check on loopback: nothing unencrypted and
# unauthenticated ever listens beyond this machine.
HTTP_ON_LOOPBACK = "127.0.0.1:0"
HTTP_ROUTES = ["distributed.http.health"]


def quiet_dask(verbose: bool = False) -> None:
    """Dask logs every connection at INFO and explains lost peers with tracebacks; the fleet
    prints its own one-line account of those (naming the device), so by default only Dask's
    warnings about anything else get through. --verbose shows all of Dask's logs.

    Dask sets its loggers' levels when it is first imported (its `logging` config: `distributed`
    at INFO), undoing levels set before: so it is imported first. Otherwise its INFO lines leaked,
    e.g. a worker started after a killed one said `distributed.diskutils - INFO - Found stale
    lock file and directory ..., purging`."""
    import distributed  # noqa: F401 - configures Dask's logging; our levels must come after

    if verbose:
        logging.getLogger("distributed").setLevel(logging.INFO)
        return
    logging.getLogger("distributed").setLevel(logging.WARNING)
    # Each of these reports, with a traceback, something the fleet reports by name: a device
    # that vanished (scheduler), a lost scheduler (client, worker), a cancelled job (state machine).
    for name in ("distributed.scheduler", "distributed.client", "distributed.worker",
                 "distributed.worker.state_machine", "distributed.core", "distributed.comm",
                 "distributed.batched"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


REJOIN_PAUSE_S = 2.0


def check_reachable(scheduler: Address, tls_dir, timeout_s: float,
                    on_wait: Callable[[str, float], None] = lambda why, left: None) -> None:
    """Ask the scheduler who it is, with this worker's certificate, before anything slow (probing
    a board's runtimes takes seconds): a host name that does not resolve is one line at once; a
    scheduler that does not answer (not started yet, or refusing) is waited for up to timeout_s,
    and on_wait hears that, so the wait is never silent; then one line."""
    from edgebench.fleet.reach import Final, reach
    from edgebench.fleet.security import check_resolves

    check_resolves(scheduler)
    security = security_for(tls_dir, "worker")
    args = security.get_connection_args("worker") if security is not None else {}
    why = reach(scheduler, args, timeout_s, patient=True, on_wait=on_wait)
    if why is not None:
        within = "" if isinstance(why, Final) else f" within {timeout_s:g} s"
        raise UserError(f"could not reach the scheduler at {scheduler}{within} ({why})"
                        + ("; are these certificates from its CA?" if tls_dir else ""))


def worker_listen_host(scheduler: Address, listen_host: str | None, tls: bool) -> str | None:
    """Where a worker listens: as asked, else loopback for a loopback scheduler, else the address
    that reaches the scheduler (Dask's choice, None); anything but loopback only with TLS."""
    from edgebench.fleet.security import is_loopback

    if listen_host is None and is_loopback(scheduler.host):
        listen_host = "127.0.0.1"
    check_listen_host(listen_host or "", tls, "worker")
    return listen_host


def serve_worker(scheduler: Address, profile: DeviceProfile, tls_dir, listen_host: str | None,
                 port: int, connect_timeout_s: float, on_ready: Callable[[str], None],
                 on_lost: Callable[[], None] = lambda: None, rejoin: bool = True) -> str:
    """Run the device's worker until Ctrl-C/SIGTERM; returns why it stopped. If the scheduler goes
    away (restarted), keep trying to join it again, unless rejoin is False. UserError if the first
    join fails (unreachable, refused certificate, name taken): a mistake shows at once."""
    from distributed import Worker

    listen_host = worker_listen_host(scheduler, listen_host, tls_dir is not None)
    security = security_for(tls_dir, "worker")
    metadata = profile.to_dict()

    async def one_session(first: bool, stop: asyncio.Event) -> bool:
        """Join, serve until the worker closes; False if this attempt could not join."""
        worker = Worker(str(scheduler), nthreads=1, name=profile.name, resources=profile.resources(),
                        startup_information={METADATA_KEY: lambda _worker: metadata},
                        security=security, host=listen_host, port=port or None,
                        protocol=scheduler.scheme, memory_limit=0, dashboard=False,
                        dashboard_address=HTTP_ON_LOOPBACK, death_timeout=connect_timeout_s)
        closing = asyncio.ensure_future(stop.wait())
        starting = asyncio.ensure_future(worker.start())
        await asyncio.wait([starting, closing], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():   # Ctrl-C while waiting for the scheduler
            starting.cancel()
            await worker.close(reason="edgebench fleet worker stopped")
            return False
        if starting.exception() is not None:   # Dask wraps the reason in RuntimeError
            closing.cancel()
            message = _join_error(starting.exception(), scheduler, profile.name, connect_timeout_s)
            if first or "already has a device named" in message:
                raise UserError(message) from None
            return False
        on_ready(worker.address)
        finished = asyncio.ensure_future(worker.finished())
        await asyncio.wait([finished, closing], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            await worker.close(reason="edgebench fleet worker stopped")
        closing.cancel()
        return True

    async def main() -> str:
        stop = _stop_on_signals()
        first = True
        while True:
            joined = await one_session(first, stop)
            if stop.is_set():
                return "stopped"
            if not rejoin:
                return "the scheduler went away"
            if joined:
                on_lost()
            first = False
            try:
                await asyncio.wait_for(stop.wait(), REJOIN_PAUSE_S)
                return "stopped"
            except TimeoutError:
                pass

    import dask

    with dask.config.set({"distributed.worker.http.routes": HTTP_ROUTES}):
        return asyncio.run(main())


def _join_error(exc: BaseException, scheduler: Address, name: str, timeout_s: float) -> str:
    reasons = []
    while exc is not None:
        reasons.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    text = " ".join(reasons)
    if "name taken" in text or "name" in text and "taken" in text:
        return (f"the fleet at {scheduler} already has a device named {name}: give this one "
                "another name (device names are unique)")
    if "Timed out" in text or "TimeoutError" in text or "timed out" in text:
        return (f"could not join the scheduler at {scheduler} within {timeout_s:g} s (not running, "
                "unreachable, or it refused this worker's certificate)")
    return f"could not join the scheduler at {scheduler}: {reasons[-1] if reasons else 'unknown error'}"


def _stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM (the servers then close cleanly)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stopping.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
    return stopping


def serve_scheduler(host: str, port: int, tls_dir, on_ready: Callable[[str], None]) -> None:
    """Run a Dask scheduler for the fleet until Ctrl-C/SIGTERM."""
    import dask
    from distributed import Scheduler

    check_listen_host(host, tls_dir is not None, "scheduler")
    security = security_for(tls_dir, "scheduler")

    async def main() -> None:
        scheduler = Scheduler(host=host, port=port, protocol="tls" if tls_dir else "tcp",
                              security=security, dashboard=False, jupyter=False,
                              dashboard_address=HTTP_ON_LOOPBACK)
        try:
            await scheduler
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        stop = _stop_on_signals()
        on_ready(scheduler.address)
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([stopping, asyncio.ensure_future(scheduler.finished())],
                           return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            await scheduler.close(reason="edgebench fleet scheduler stopped")

    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "distributed.scheduler.http.routes": HTTP_ROUTES}):
        asyncio.run(main())

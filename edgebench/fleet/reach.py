"""Reaching a fleet's scheduler, before Dask does: Dask retries a refused connection for its
whole timeout, and waits forever for a server that accepts a connection but never answers its
handshake. Here a refused connection is final (nothing listens there), and a scheduler that does
not answer yet is waited for up to a deadline that holds."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from edgebench.fleet.security import Address

FIRST_TRY_S = 1.0   # a scheduler that is there answers within this; otherwise we look closer


def refusal(address: Address, timeout_s: float = 5.0) -> str | None:
    """Why a TCP connection to the scheduler's port fails at once ("connection refused": nothing
    listens there), or None when it connects or times out (a busy scheduler, a slow network:
    those deserve the wait). Asked only after Dask's handshake failed: a bare knock shows up in a
    scheduler's log."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout_s):
            return None
    except TimeoutError:
        return None
    except ConnectionRefusedError:
        return "connection refused: nothing listens there"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


class Final(str):
    """A reason no wait can change: the scheduler refused our certificate (or we its)."""


def ask(address: Address, connection_args: dict, timeout_s: float) -> str | None:
    """None when the scheduler answered Dask's handshake and an identity request within
    timeout_s (with these TLS credentials: a refused certificate ends here, as a Final reason);
    else why not."""
    from distributed.comm import connect
    from distributed.comm.core import FatalCommClosedError

    async def identity() -> None:
        comm = await connect(str(address), timeout=timeout_s, **connection_args)
        try:
            await comm.write({"op": "identity", "reply": True})
            await comm.read()
        finally:
            await comm.close()

    try:
        asyncio.run(asyncio.wait_for(identity(), timeout_s))
    except (TimeoutError, asyncio.TimeoutError):
        return f"no answer within {timeout_s:g} s"
    except FatalCommClosedError as exc:   # Dask's word for a TLS verification failure
        return Final(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - any failure to get an answer is a reason to show
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def reach(address: Address, connection_args: dict, timeout_s: float, *, patient: bool = False,
          on_wait: Callable[[str, float], None] = lambda why, left: None) -> str | None:
    """None once the scheduler answers; else why it could not be reached. A first quick try;
    if it fails, a refused connection ends there unless patient (a worker waits for a scheduler
    that is still to start); anything else is waited for up to timeout_s in all, and on_wait
    hears why and for how many more seconds, once."""
    started = time.monotonic()
    why = ask(address, connection_args, min(timeout_s, FIRST_TRY_S))
    if why is None or isinstance(why, Final):
        return why
    refused = refusal(address)
    left = timeout_s - (time.monotonic() - started)
    if (refused and not patient) or left <= 0:
        return refused or why
    on_wait(refused or why, left)
    why = ask(address, connection_args, left)
    # Dask words a refused port it retried as a timeout: name the refusal instead
    return None if why is None else refusal(address) or why

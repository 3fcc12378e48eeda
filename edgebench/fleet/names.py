"""Names shared by the fleet's workers and clients: device names, Dask resources, event topics.

Nothing here imports Dask, so the CLI can check arguments before anything is connected.
"""

from __future__ import annotations

import re
import socket

from edgebench.errors import UserError

DEFAULT_PORT = 8786
DEFAULT_SCHEDULER = f"tcp://127.0.0.1:{DEFAULT_PORT}"
SCHEDULER_ENV = "EDGEBENCH_FLEET_SCHEDULER"
TLS_ENV = "EDGEBENCH_FLEET_TLS"

# Worker metadata key (Dask's startup_information): the scheduler shows it in each worker's
# identity, so a client sees every device's profile before it submits anything.
METADATA_KEY = "edgebench"

# Event topics (Dask's log_event / subscribe_topic). Jobs: one "started" and one "ended" per
# job (rare, so `fleet status` finds the job a device runs in the scheduler's bounded log).
# Progress: everything a run's screen shows, small messages only.
JOBS_TOPIC = "edgebench-fleet-jobs"
PROGRESS_TOPIC = "edgebench-fleet-progress"

JOB_KEY_PREFIX = "edgebench-job"
RESOURCE_PREFIX = "device:"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def check_device_name(name: str) -> str:
    """A device name: letters, digits, '.', '_' and '-', 1-63 characters, starting with a letter
    or digit (it is a Dask resource, a store device name and a --devices list item)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UserError(f"invalid device name {name!r}: use 1-63 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit")
    return name


def default_device_name() -> str:
    """The host name (its first label), so results match `edgebench run` on the same machine."""
    host = socket.gethostname().split(".")[0]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", host).strip(".-_")[:63]
    return cleaned or "device"


def device_resource(name: str) -> str:
    """The Dask resource that pins a job to one device; each device's worker has exactly 1."""
    return f"{RESOURCE_PREFIX}{name}"


def split_names(value: str | None) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(n.strip() for n in (value or "").split(",") if n.strip())

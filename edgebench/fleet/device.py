"""What a fleet worker says about its device: name, fingerprint, hardware, available targets.

The worker publishes this as Dask worker metadata when it registers, so a client sees every
device before submitting. It is measured once, at start, in a child process
(`python -m edgebench.fleet.device NAME`): checking runtimes imports them, and the worker
itself should stay small while it waits.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field

from edgebench.errors import UserError

PROBE_TIMEOUT_S = 300.0   # imports of every runtime on a slow board, plus the CUDA/NPU probes


@dataclass(frozen=True)
class DeviceProfile:
    """A device as the fleet sees it. fingerprint is the results store's device id for runs on
    it: the DeviceInfo fingerprint with the device's name in place of the host name, so two
    workers named differently on one machine are two devices, and a worker named after its host
    shares its id with `edgebench run` on that host. machine identifies the physical host."""

    name: str
    fingerprint: str
    machine: str
    host: str
    hardware: str
    cpu_model: str
    cores_logical: int | None
    arch: str
    memory_gb: float | None
    gpus: tuple[str, ...] = ()
    edgetpus: tuple[str, ...] = ()
    targets: dict[str, str] = field(default_factory=dict)       # available target -> how it runs
    unavailable: dict[str, str] = field(default_factory=dict)   # target -> why not
    capabilities: tuple[str, ...] = ()                          # cpu, cuda, edgetpu, ...
    edgebench_version: str = ""

    def to_dict(self) -> dict:
        """Plain JSON/msgpack types (Dask sends worker metadata with msgpack)."""
        d = asdict(self)
        d["gpus"], d["edgetpus"], d["capabilities"] = list(self.gpus), list(self.edgetpus), list(self.capabilities)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> DeviceProfile:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("gpus", "edgetpus", "capabilities"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)

    def resources(self) -> dict[str, float]:
        """Dask resources of its worker: the device itself, and one per capability."""
        from edgebench.fleet.names import device_resource

        return {device_resource(self.name): 1, **{cap: 1 for cap in self.capabilities}}


def hardware_label(cpu_model: str, board: dict | None, gpus: list[str], edgetpus: list[str]) -> str:
    """A device as a person names it: its board, else its CPU, plus GPUs and Edge TPUs."""
    base = (board or {}).get("model") or " ".join(re.sub(r"\((R|TM|tm|r)\)", "", cpu_model).split())
    extras = [*gpus, *edgetpus]
    return " + ".join([base or "unknown", *extras])


def profile_here(name: str) -> DeviceProfile:
    """Measure this machine (fingerprint, hardware, every target's availability)."""
    from edgebench import __version__
    from edgebench.fleet.names import check_device_name
    from edgebench.system import device_info
    from edgebench.targets import list_targets

    check_device_name(name)
    info = device_info()
    statuses = list_targets()
    gpus = [g.get("name") or "GPU" for g in info.gpus]
    edgetpus = [t.get("name") or "Edge TPU" for t in info.edgetpus]
    return DeviceProfile(
        name=name,
        fingerprint=info.model_copy(update={"hostname": name}).fingerprint(),
        machine=info.fingerprint(), host=info.hostname,
        hardware=hardware_label(info.cpu_model, info.board, gpus, edgetpus),
        cpu_model=info.cpu_model, cores_logical=info.cores_logical, arch=info.arch,
        memory_gb=info.memory_gb, gpus=tuple(gpus), edgetpus=tuple(edgetpus),
        targets={t.name: f"{t.runtime} {t.version or ''}".strip() for t in statuses if t.available},
        unavailable={t.name: t.detail for t in statuses if not t.available},
        capabilities=tuple(sorted({t.device for t in statuses if t.available})),
        edgebench_version=__version__)


def probe(name: str, timeout_s: float = PROBE_TIMEOUT_S) -> DeviceProfile:
    """profile_here() in a child process, so the worker never imports the runtimes."""
    cmd = [sys.executable, "-m", "edgebench.fleet.device", name]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise UserError(f"probing this device took over {timeout_s:.0f} s (a runtime hangs on import?)") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        raise UserError(f"probing this device failed: {lines[-1] if lines else f'exit code {done.returncode}'}")
    try:
        return DeviceProfile.from_dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError, TypeError) as exc:
        raise UserError(f"probing this device gave no profile ({exc})") from None


def main(argv: list[str]) -> int:
    """Child process: print this device's profile as one JSON line."""
    try:
        profile = profile_here(argv[0] if argv else "")
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps(profile.to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The benchmark matrix: models x devices x targets, expanded into one job per (model, device).

Pure: it reads the user's files and the devices' profiles, and touches no cluster, so every
refusal (an unknown device, a target no device offers, a model file that is absent or too big)
happens before anything is submitted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.bench.config import RunConfig
from edgebench.errors import UserError
from edgebench.fleet.device import DeviceProfile
from edgebench.fleet.names import JOB_KEY_PREFIX

MAX_FILE_MB = 256          # a model or image that travels with a job (sent once per device)
MAX_IMAGE_MB = 64
MB = 1 << 20


@dataclass(frozen=True)
class FilePayload:
    """A user's file that travels with a job: bytes and the sha256 the worker checks them against."""

    name: str
    sha256: str
    size: int
    data: bytes = field(repr=False)

    @classmethod
    def read(cls, path: Path, max_mb: float, what: str) -> FilePayload:
        path = Path(path).expanduser()
        if not path.exists():
            raise UserError(f"{what} not found: {path}")
        if not path.is_file():
            raise UserError(f"{what} {path} is not a regular file")
        size = path.stat().st_size
        if size > max_mb * MB:
            raise UserError(f"{what} {path} is {size / MB:,.1f} MB; a file that travels with fleet jobs "
                            f"may be at most {max_mb:g} MB", "max_file_mb")
        if size == 0:
            raise UserError(f"{what} {path} is empty")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {what} {path}: {exc.strerror}") from None
        return cls(_safe_name(path.name), hashlib.sha256(data).hexdigest(), len(data), data)

    def save_under(self, root: Path) -> Path:
        """Check the bytes against the sha256 they were sent with, then write them (once) under
        root/<sha256>/<name>; an intact earlier copy is reused."""
        digest = hashlib.sha256(self.data).hexdigest()
        if digest != self.sha256 or len(self.data) != self.size:
            raise UserError(f"{self.name} arrived damaged: sha256 {digest[:12]}... (expected "
                            f"{self.sha256[:12]}...)")
        path = Path(root) / self.sha256 / _safe_name(self.name)
        if path.is_file() and _sha256_file(path) == self.sha256:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(self.data)
        os.replace(tmp, path)
        return path


def _safe_name(name: str) -> str:
    """A bare file name (no directories, no odd characters), keeping the extension runtimes need."""
    base = Path(name).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "file"
    return cleaned[:120]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelChoice:
    """A model of the matrix: a zoo name, a hub reference (pulled by the worker), or a file
    (sent with the job)."""

    label: str                      # as the user named it
    kind: str                       # zoo | hub | file | retrained (its folder travels, bundled)
    file: FilePayload | None = None

    @property
    def config_model(self) -> str:
        """What RunConfig.model is before the worker substitutes the file's path."""
        return self.file.name if self.file else self.label


def resolve_models(names: tuple[str, ...], max_file_mb: float = MAX_FILE_MB) -> list[ModelChoice]:
    """Check every model the user named, reading files (bounded, hashed) once for all devices."""
    from edgebench.models.zoo import ZOO, is_model_name

    if not names:
        raise UserError("no model named: give zoo names, .tflite/.onnx files or hub://owner/name", "models")
    choices = []
    for name in dict.fromkeys(names):
        if name.startswith("hub://"):
            from edgebench.refs import parse_ref

            parse_ref(name)
            choices.append(ModelChoice(name, "hub"))
        elif name in ZOO:
            choices.append(ModelChoice(name, "zoo"))
        elif is_model_name(name):   # retrained here: its folder travels (the workers lack it)
            from edgebench.fleet.bundle import bundle_model

            choices.append(ModelChoice(name, "retrained", bundle_model(name, max_file_mb)))
        elif Path(name).suffix.lower() in (".tflite", ".onnx") or Path(name).exists():
            payload = FilePayload.read(Path(name), max_file_mb, "model file")
            from edgebench.models.artifact import inspect_model_file

            inspect_model_file(Path(name).expanduser())   # a corrupt file fails here, once
            choices.append(ModelChoice(name, "file", payload))
        else:
            raise UserError(f"unknown model '{name}': not a zoo model ({', '.join(sorted(ZOO))}), "
                            "a .tflite/.onnx file, nor hub://owner/name[@version]")
    return choices


@dataclass(frozen=True)
class Job:
    """One (model, device) cell of the matrix: what the worker runs with edgebench.bench.execute.run.
    config.targets is this device's share of the requested targets (None: its default choice)."""

    fleet_run: str
    job_id: str
    device: str
    model: ModelChoice
    config: RunConfig
    image: FilePayload | None = None
    hub_url: str | None = None

    @property
    def key(self) -> str:
        """The Dask key: unique per fleet run, readable in Dask's own tools."""
        return f"{JOB_KEY_PREFIX}-{self.fleet_run[:8]}-{self.job_id}"


@dataclass
class DeviceShare:
    """What one device runs of the matrix, and which requested targets it leaves out and why."""

    device: DeviceProfile
    targets: tuple[str, ...] | None
    left_out: dict[str, str] = field(default_factory=dict)


def select_devices(available: list[DeviceProfile], selection: str | tuple[str, ...]) -> list[DeviceProfile]:
    """'all', or the named devices (every name must be in the fleet)."""
    if not available:
        raise UserError("no edgebench devices are connected to the scheduler: start an edgebench fleet "
                        "worker on each device, pointed at this scheduler")
    if selection == "all":
        return sorted(available, key=lambda d: d.name)
    by_name = {d.name: d for d in available}
    unknown = [n for n in selection if n not in by_name]
    if unknown:
        raise UserError(f"no device named '{unknown[0]}' in the fleet (devices: {', '.join(sorted(by_name))})")
    return [by_name[n] for n in dict.fromkeys(selection)]


def share_targets(config: RunConfig, devices: list[DeviceProfile]) -> list[DeviceShare]:
    """Each device's share of the requested targets. A target that none of the devices offers
    fails the whole matrix at once, with what each device said about it (Dask would otherwise
    wait forever for a device that has it)."""
    if config.targets is None:
        return [DeviceShare(d, None) for d in devices]
    nobody = [t for t in config.targets if not any(t in d.targets for d in devices)]
    if nobody:
        target = nobody[0]
        why = "; ".join(f"{d.name}: {d.unavailable.get(target, 'not offered')}" for d in devices)
        raise UserError(f"no device offers {target} ({why})")
    shares = []
    for d in devices:
        mine = tuple(t for t in config.targets if t in d.targets)
        left_out = {t: d.unavailable.get(t, "not offered") for t in config.targets if t not in d.targets}
        shares.append(DeviceShare(d, mine or (), left_out))
    return shares


def jobs_for(fleet_run: str, config: RunConfig, models: list[ModelChoice], share: DeviceShare,
             first_id: int, image: FilePayload | None = None, hub_url: str | None = None) -> list[Job]:
    """One job per model on one device (none when it offers none of the requested targets)."""
    if share.targets == ():
        return []
    jobs = []
    for i, model in enumerate(models):
        device_config = dataclasses.replace(config, model=model.config_model, targets=share.targets,
                                            image=Path(image.name) if image else None)
        jobs.append(Job(fleet_run, str(first_id + i), share.device.name, model, device_config, image,
                        hub_url if model.kind == "hub" else None))
    return jobs

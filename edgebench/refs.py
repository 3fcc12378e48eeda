"""Names that become URL segments and file names: checked once, here, on both sides of the wire.

Nothing user-supplied ever becomes a filesystem path on the server (files live under their
sha256); the checks still refuse '..', slashes and control characters so that a name read back
from the hub is safe to use as a file name on the client too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgebench.errors import UserError

_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
MODEL_SUFFIXES = (".tflite", ".onnx", ".safetensors")


def check_segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value) or ".." in value:
        raise UserError(f"invalid {what} '{value}': use 1-64 lower-case letters, digits, '_', '-', '.'")
    return value


def check_version(value: str) -> str:
    if not _VERSION.match(value) or ".." in value or value == "latest":
        raise UserError(f"invalid version '{value}': use 1-64 letters, digits, '_', '-', '.', '+' "
                        "('latest' is reserved)")
    return value


def check_filename(value: str) -> str:
    if not _FILENAME.match(value) or ".." in value:
        raise UserError(f"invalid file name '{value}': letters, digits, '_', '-', '.', '+' only")
    if not value.lower().endswith(MODEL_SUFFIXES):
        raise UserError(f"unsupported model file {value}: the hub takes .tflite and .onnx files "
                        "(and .safetensors float checkpoints of retrainable models)")
    return value


@dataclass(frozen=True)
class ModelRef:
    """owner/name[@version]; version None means the latest."""

    owner: str
    name: str
    version: str | None = None

    @property
    def path(self) -> str:
        return f"{self.owner}/{self.name}"

    def __str__(self) -> str:
        return self.path + (f"@{self.version}" if self.version else "")


def parse_ref(text: str) -> ModelRef:
    """'owner/name' or 'owner/name@version' (a leading 'hub://' is allowed)."""
    body = text.removeprefix("hub://")
    body, at, version = body.partition("@")
    owner, slash, name = body.partition("/")
    if not slash or (at and not version):
        raise UserError(f"invalid model reference '{text}': expected owner/name[@version]")
    check_segment(owner, "owner")
    check_segment(name, "model name")
    if version == "latest":
        version = ""
    return ModelRef(owner, name, check_version(version) if version else None)

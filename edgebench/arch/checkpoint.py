"""Float checkpoints as safetensors: what the hub keeps so that a model can be retrained.

A torch checkpoint (`.pth`) is a pickle: loading one from a stranger can run their code, so
the hub never takes it. A safetensors file is a JSON header and raw tensors: reading it runs
nothing, and its header can be checked before a byte of it is trusted. The architecture it
belongs to is named on the model card from a fixed list (`ARCHITECTURES`), never imported
from a name a card supplies.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from edgebench.errors import UserError

SUFFIX = ".safetensors"
MAX_HEADER_BYTES = 16 << 20
MAX_TENSORS = 10_000
# The architectures a card may name, and the backbones a retrained model may be built on.
BACKBONES = ("edgebench.arch.mobilenet_v2:MobileNetV2", "edgebench.arch.efficientnet_lite:EfficientNetLite0")
ARCHITECTURES = (*BACKBONES, "edgebench.retrain.model:RetrainedClassifier")
# The names backbones had before the architectures moved from edgebench.models to edgebench.arch:
# hub cards and retrained models' manifests stored them, and they still read.
LEGACY_NAMES = {name.replace("edgebench.arch.", "edgebench.models."): name for name in BACKBONES}


def current_name(arch: str) -> str:
    """An architecture's name as it is now (a stored legacy name mapped to its new home)."""
    return LEGACY_NAMES.get(arch, arch)


def save_state(state: dict, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def load_state(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def inspect_safetensors(path: Path) -> tuple[str, str]:
    """('safetensors', 'fp32') for a well-formed file of float32 tensors; UserError otherwise.
    Reads the header only, and checks it covers the file exactly."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise UserError(f"{path} is not a safetensors file (shorter than its header length)")
        (length,) = struct.unpack("<Q", head)
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise UserError(f"{path} is not a safetensors file (header length {length} out of range)")
        try:
            header = json.loads(f.read(length))
        except (ValueError, RecursionError):
            raise UserError(f"{path} is not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise UserError(f"{path} is not a safetensors file (its header is not an object)")
    header.pop("__metadata__", None)
    if not header or len(header) > MAX_TENSORS:
        raise UserError(f"{path} holds {len(header)} tensors; a checkpoint holds 1 to {MAX_TENSORS}")
    end = 0
    for name, entry in header.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise UserError(f"{path}: tensor {name[:60]!r} has no valid data offsets")
        if entry.get("dtype") not in ("F32", "I64"):   # I64: BatchNorm's num_batches_tracked
            raise UserError(f"{path}: tensor {name[:60]!r} is {entry.get('dtype')}; the float source "
                            "must be float32")
        end = max(end, offsets[1])
    if 8 + length + end != size:
        raise UserError(f"{path} is not a safetensors file (its tensors do not cover the file exactly)")
    return "safetensors", "fp32"

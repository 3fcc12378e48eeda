"""Typed runtime options: the knobs every runtime takes, and one small class per runtime that
has more. They are frozen and validated on construction, so a bad value fails while a run is
being planned, before any target is timed. This module imports nothing heavy: the CLI reads its
choices to build `--help`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from edgebench.errors import UserError

# No edge device has more cores than this; more threads only oversubscribe the CPU, and an
# absurd count makes native thread pools fail to start (or run for ages without output).
MAX_THREADS = 256
MAX_BATCH = 4096
MAX_STREAMS = 64


@dataclass(frozen=True)
class RuntimeOptions:
    """Knobs every runtime understands. threads=None means all cores.

    device: where the target runs (cpu, cuda, tensorrt, edgetpu); precision: the target's
    precision (a runtime may cast, e.g. fp16 on CUDA); batch: images per inference.
    """

    threads: int | None = None
    device: str = "cpu"
    precision: str = "fp32"
    batch: int = 1
    profile: bool = False     # load with the runtime's own op profiler (never for timed runs)
    # Offline scenario, for runtimes with THROUGHPUT: load in the runtime's own throughput mode,
    # with `streams` inferences in flight (None: the runtime picks its optimal number).
    throughput: bool = False
    streams: int | None = None
    # Shapes for inputs whose file leaves dimensions open: ((input name, shape), ...). "" names
    # the first input.
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def __post_init__(self) -> None:
        _check_range("threads", self.threads, 1, MAX_THREADS, optional=True)
        _check_range("batch", self.batch, 1, MAX_BATCH)
        _check_range("streams", self.streams, 1, MAX_STREAMS, optional=True)

    def shape_for(self, name: str, index: int) -> tuple[int, ...] | None:
        """The shape asked for an input (by name, or "" for the first), or None."""
        shapes = dict(self.input_shapes)
        return shapes.get(name) or (shapes.get("") if index == 0 else None)

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """Runtime-specific settings a user may give (`--runtime-option runtime.name=value`)."""
        common = {f.name for f in dataclasses.fields(RuntimeOptions)}
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in common)

    @classmethod
    def build(cls, runtime: str, settings: Mapping[str, str], **common) -> RuntimeOptions:
        """Options from the common knobs plus this runtime's settings (strings, from the CLI)."""
        unknown = sorted(set(settings) - set(cls.setting_names()))
        if unknown:
            takes = ", ".join(cls.setting_names()) or "no options"
            raise UserError(f"{runtime} has no option '{unknown[0]}' (it takes: {takes})")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        typed = {name: _convert(runtime, name, value, fields[name].default)
                 for name, value in settings.items()}
        return cls(**common, **typed)


def _convert(runtime: str, name: str, value, default):
    """A CLI string into the type of the field's default."""
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return value.lower() in ("true", "1", "yes")
        return type(default)(value)
    except ValueError:
        raise UserError(f"{runtime} option {name}={value!r}: expected a "
                        f"{type(default).__name__}") from None


def _check_range(name: str, value, low: int, high: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UserError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"unknown {what} '{value}'; choose from {', '.join(choices)}")


TORCH_CPU_MODES = ("frozen", "eager", "compile")
TORCH_CUDA_MODES = ("graph", "eager", "compile")
TORCH_MODES = ("auto", "frozen", "graph", "compile", "eager")
CUDA_INPUTS = ("auto", "host", "device")
CUDA_LAYOUTS = ("auto", "channels_last", "contiguous")


@dataclass(frozen=True)
class TorchOptions(RuntimeOptions):
    """mode: auto picks what measured fastest (CPU: frozen TorchScript; CUDA: a CUDA graph at
    batch 1, torch.compile for batches). cuda_input: host copies every frame inside the timed
    loop, device stages it once (auto: host at batch 1, device for batches)."""

    mode: str = "auto"
    cuda_input: str = "auto"
    cuda_layout: str = "auto"
    fold_bn: bool = True
    compile_mode: str = "default"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("torch mode", self.mode, TORCH_MODES)
        check_choice("CUDA input residency", self.cuda_input, CUDA_INPUTS)
        check_choice("CUDA layout", self.cuda_layout, CUDA_LAYOUTS)
        check_choice("torch.compile mode", self.compile_mode,
                     ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"))
        device_modes = TORCH_CUDA_MODES if self.device == "cuda" else TORCH_CPU_MODES
        if self.mode != "auto" and self.mode not in device_modes:
            raise UserError(f"torch mode '{self.mode}' does not run on {self.device} "
                            f"(modes there: auto, {', '.join(device_modes)})")

    @property
    def resolved_mode(self) -> str:
        if self.mode != "auto":
            return self.mode
        if self.device != "cuda":
            return "frozen"
        return "compile" if self.batch > 1 else "graph"


@dataclass(frozen=True)
class EdgeTpuOptions(RuntimeOptions):
    """device_path: which Edge TPU (e.g. usb:0, pci:0) when several are attached."""

    device_path: str = ""

"""The Runtime and Session protocols and the target registry.

The runner never asks which runtime it has: everything it needs (layout, dtype,
quantization) comes from the TensorSpec a Session reports, and what a runtime can do
(batching) from the capabilities it declares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from edgebench.packages import load_object, module_importable, package_version
from edgebench.runtimes.options import RuntimeOptions
from edgebench.tensors import TensorSpec

if TYPE_CHECKING:  # numpy stays out of `edgebench --help`
    import numpy as np


@runtime_checkable
class Session(Protocol):
    """A loaded model ready for repeated inference.

    The timed loop calls set_input, invoke and output in that order, as a frame loop
    would; output() must return a host array the caller owns (a copy or a fresh view
    that stays valid after the next invoke is not required).
    """

    input_spec: TensorSpec
    output_spec: TensorSpec
    # The settings the session actually runs with (threads, mode, layout, provider, precision
    # hint...), as the runtime reports them: this, not what was asked for, is what results record.
    settings: dict

    def set_input(self, x: np.ndarray) -> None: ...
    def invoke(self) -> None: ...
    def output(self) -> np.ndarray: ...
    def close(self) -> None: ...
    def arena_bytes(self) -> int | None:
        """The runtime's own figure for the memory it holds (e.g. CUDA allocations), or None."""


class NoArena:
    """For sessions whose runtime reports no memory figure of its own."""

    def arena_bytes(self) -> int | None:
        return None


# Capabilities a runtime may declare.
BATCH = "batch"       # builds its graph for any batch size (RuntimeOptions.batch)
PROFILE = "profile"   # with RuntimeOptions.profile, its sessions are OpProfiler too
THROUGHPUT = "throughput"   # with RuntimeOptions.throughput, its sessions are AsyncSession too


@runtime_checkable
class AsyncSession(Protocol):
    """A session loaded in its runtime's own throughput mode (the offline scenario): it keeps
    `in_flight` inferences going at once in its own request queue, as the runtime's benchmark
    tool does, instead of edgebench running several sessions in threads.

    start() hands one inference of x to a free request, waiting while none is free; when it
    finishes, the callback given to set_callback is called (from the runtime's thread) with
    the userdata passed to start(). wait_all() returns when every started inference is done.
    """

    in_flight: int

    def set_callback(self, done: Callable[[object], None]) -> None: ...
    def start(self, x: np.ndarray, userdata: object) -> None: ...
    def wait_all(self) -> None: ...


@dataclass(frozen=True)
class OpTime:
    """One operator (node) of a model: time summed over the profiled inferences."""

    node: str
    op_type: str
    total_ms: float
    calls: int


class OpProfiler(Protocol):
    """A session loaded with profile=True: after some inferences, the runtime's own per-op times.
    method says which profiler produced them."""

    profile_method: str

    def op_times(self) -> list[OpTime]: ...


class Runtime(Protocol):
    """An inference engine. Importing its module must be cheap; heavy imports happen in load().

    formats: the artifact formats it reads, most preferred first. options_type: its typed
    options class (RuntimeOptions or a subclass with its own knobs). capabilities: what it can
    do beyond one image per inference (e.g. BATCH).
    """

    name: str
    formats: tuple[str, ...]
    options_type: ClassVar[type[RuntimeOptions]]
    capabilities: ClassVar[frozenset[str]]

    def version(self) -> str | None: ...
    def available(self) -> tuple[bool, str]: ...
    def load(self, artifact, options: RuntimeOptions) -> Session: ...


@dataclass(frozen=True)
class TargetDef:
    """A target is a runtime at one precision on one device, e.g. litert-int8."""

    runtime: str      # key in RUNTIMES
    precision: str    # fp32, fp16 or int8
    device: str = "cpu"
    artifact_precision: str | None = None   # the artifact it runs, if not its own precision

    @property
    def name(self) -> str:
        suffix = "" if self.device in ("cpu", self.runtime) else f"@{self.device}"
        return f"{self.runtime}-{self.precision}{suffix}"

    @property
    def runtime_key(self) -> str:
        """Registry key: a runtime may have a separate class per device (torch on CUDA)."""
        key = f"{self.runtime}@{self.device}"
        return key if key in RUNTIMES else self.runtime

    @property
    def source_precision(self) -> str:
        return self.artifact_precision or self.precision


# Explicit registries of import paths: naming a target never imports another runtime.
RUNTIMES: dict[str, str] = {
    "litert": "edgebench.runtimes.litert:LiteRTRuntime",
    "onnxruntime": "edgebench.runtimes.onnxruntime:OnnxRuntime",
    "openvino": "edgebench.runtimes.openvino:OpenVinoRuntime",
    "torch": "edgebench.runtimes.torch:TorchRuntime",
    "torch@cuda": "edgebench.runtimes.torch:TorchCudaRuntime",
    "onnxruntime@cuda": "edgebench.runtimes.onnxruntime:OnnxRuntimeCuda",
    "onnxruntime@tensorrt": "edgebench.runtimes.onnxruntime:OnnxRuntimeTensorRT",
    "edgetpu": "edgebench.runtimes.edgetpu:EdgeTpuRuntime",
    "keras": "edgebench.runtimes.keras:KerasRuntime",
    "keras-predict": "edgebench.runtimes.keras:KerasPredictRuntime",
    "null": "edgebench.runtimes.null:NullRuntime",
}

TARGETS: dict[str, TargetDef] = {
    t.name: t
    for t in (
        TargetDef("litert", "fp32"),
        TargetDef("litert", "int8"),
        TargetDef("onnxruntime", "fp32"),
        TargetDef("onnxruntime", "int8"),
        TargetDef("openvino", "fp32"),
        TargetDef("openvino", "int8"),
        TargetDef("torch", "fp32"),
        TargetDef("torch", "fp32", "cuda"),
        TargetDef("torch", "fp16", "cuda", artifact_precision="fp32"),
        TargetDef("onnxruntime", "fp32", "cuda"),
        TargetDef("onnxruntime", "fp32", "tensorrt"),
        TargetDef("edgetpu", "int8", "edgetpu"),
        # Last: Keras' JAX backend starts threads that stay for the rest of the process.
        TargetDef("keras", "fp32"),
        TargetDef("keras-predict", "fp32"),
    )
}


def load_runtime(name: str) -> Runtime:
    """Instantiate the runtime registered under name (imports only its module)."""
    return load_object(RUNTIMES[name])()


class RuntimeDefaults:
    """What most runtimes declare: the common options only, no capabilities beyond batch 1,
    and availability = its Python package is installed (found without importing it)."""

    options_type: ClassVar[type[RuntimeOptions]] = RuntimeOptions
    capabilities: ClassVar[frozenset[str]] = frozenset()
    distribution: ClassVar[str]          # PyPI distribution whose version results record
    module: ClassVar[str]                # the module that must be importable
    install_hint: ClassVar[str]          # how to install it
    how_it_runs: ClassVar[str] = ""      # what available() says when it is

    def version(self) -> str | None:
        return package_version(self.distribution)

    def available(self) -> tuple[bool, str]:
        if not module_importable(self.module):
            return False, f"{self.distribution} not installed ({self.install_hint})"
        return True, self.how_it_runs


def runtime_class(key: str) -> type:
    """The class registered under key, without instantiating it (its module only is imported)."""
    return load_object(RUNTIMES[key])

"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgebench.errors import TargetUnavailable
from edgebench.runtimes.base import BATCH, PROFILE, NoArena, OpTime, RuntimeDefaults
from edgebench.runtimes.options import RuntimeOptions
from edgebench.tensors import TensorSpec, image_layout

_ONNX_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
               "tensor(uint8)": "uint8", "tensor(int8)": "int8", "tensor(int16)": "int16",
               "tensor(uint16)": "uint16", "tensor(int32)": "int32", "tensor(int64)": "int64",
               "tensor(bool)": "bool"}


def _spec(arg, batch: int, asked: tuple[int, ...] | None = None) -> TensorSpec:
    """The shape asked for (--input-shape) where given; else a symbolic first dimension is the
    batch the session runs and any other symbolic dimension reads as 0 (unresolved: the task
    refuses it in one line before anything is fed)."""
    shape = asked or tuple(d if isinstance(d, int) and d >= 0 else (batch if i == 0 else 0)
                           for i, d in enumerate(arg.shape))
    return TensorSpec(arg.name, tuple(shape), _ONNX_TYPES.get(arg.type, arg.type), image_layout(tuple(shape)))


def _missing_op(exc: BaseException) -> TargetUnavailable | None:
    """ONNX Runtime's 'no implementation' / unknown-op errors as one line naming the op."""
    import re

    text = str(exc)
    found = (re.search(r"Could not find an implementation for (\S+?)\(", text)
             or re.search(r"No Op registered for (\S+) with domain", text))
    if found is None:
        return None
    return TargetUnavailable(f"ONNX Runtime has no kernel for op {found.group(1)}: it cannot run this model")


def _check_batch(session, path: Path, batch: int) -> None:
    """A file exported with a fixed batch runs that batch only: say so before anything is timed."""
    inputs = session.get_inputs()
    shape = inputs[0].shape if inputs else None
    fixed = shape[0] if shape and isinstance(shape[0], int) else None
    if batch > 1 and fixed is not None and fixed != batch:
        raise TargetUnavailable(f"{path.name} has a fixed batch of {fixed}: a batch of {batch} needs an ONNX "
                                "file whose first input dimension is dynamic (export with dynamic_shapes)")


class OnnxRuntimeSession(NoArena):
    """A model with several inputs takes a tuple in set_input (in input_specs order); one with
    several outputs returns a tuple from output()."""

    def __init__(self, session, settings: dict, batch: int = 1, options: RuntimeOptions | None = None):
        self._session = session
        self.settings = settings
        asked = options.shape_for if options is not None else (lambda _name, _i: None)
        self.input_specs = tuple(_spec(a, batch, asked(a.name, i)) for i, a in enumerate(session.get_inputs()))
        self.output_specs = tuple(_spec(a, batch) for a in session.get_outputs())
        self.input_spec = self.input_specs[0] if self.input_specs else None
        self.output_spec = self.output_specs[0] if self.output_specs else None
        self._output_names = [spec.name for spec in self.output_specs]
        self._input_names = [spec.name for spec in self.input_specs]
        self._feed: dict[str, np.ndarray] = {}
        self._result: np.ndarray | tuple | None = None
        self._single = len(self._output_names) == 1

    def set_input(self, x) -> None:
        if isinstance(x, tuple):
            self._feed = dict(zip(self._input_names, x))
        else:
            self._feed = {self._input_names[0]: x}

    def invoke(self) -> None:
        results = self._session.run(self._output_names, self._feed)
        self._result = results[0] if self._single else tuple(results)

    def output(self):
        return self._result

    def close(self) -> None:
        self._session = None

    profile_method = "ONNX Runtime session profiling (SessionOptions.enable_profiling), node events"

    def op_times(self) -> list[OpTime]:
        """Per-node times from ONNX Runtime's profile file (written when profiling ends)."""
        import json

        path = Path(self._session.end_profiling())
        try:
            events = json.loads(path.read_text())
        finally:
            path.unlink(missing_ok=True)
        totals: dict[str, list] = {}
        for e in events:
            if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
                continue
            node = e["name"].removesuffix("_kernel_time")
            entry = totals.setdefault(node, [e.get("args", {}).get("op_name", "?"), 0.0, 0])
            entry[1] += e.get("dur", 0) / 1000.0   # microseconds
            entry[2] += 1
        return [OpTime(node, op, ms, calls) for node, (op, ms, calls) in totals.items()]


class OnnxRuntime(RuntimeDefaults):
    name = "onnxruntime"
    formats = ("onnx",)
    provider = "CPUExecutionProvider"
    capabilities = frozenset({BATCH, PROFILE})   # any batch, where the file's batch dimension is dynamic
    distribution = module = "onnxruntime"
    install_hint = "pip install 'edgebench[onnx]'"
    how_it_runs = "CPUExecutionProvider"

    def available(self) -> tuple[bool, str]:
        """Installed, and imported now, while the run is being planned: imported for the first
        time after another runtime's timed loop (LiteRT's, in the same process), onnxruntime's
        extension has failed its initialisation on this VM now and then ("ImportError:
        initialization failed"); imported before any target runs, it never did."""
        ok, reason = super().available()
        if not ok:
            return ok, reason
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            return False, f"onnxruntime is installed but does not import: {exc}"
        return ok, reason

    def load(self, artifact, options: RuntimeOptions) -> OnnxRuntimeSession:
        import onnxruntime as ort

        so = ort.SessionOptions()
        threads = options.threads or os.cpu_count() or 1
        so.intra_op_num_threads = threads
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        if options.profile:
            import tempfile

            so.enable_profiling = True
            so.profile_file_prefix = str(Path(tempfile.gettempdir()) / f"edgebench-ort-{os.getpid()}")
        providers = [self.provider] + (["CPUExecutionProvider"] if self.provider != "CPUExecutionProvider" else [])
        try:
            session = ort.InferenceSession(str(artifact.path), so, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise _missing_op(exc) or exc
        if session.get_providers()[0] != self.provider:
            raise RuntimeError(f"onnxruntime fell back from {self.provider} to {session.get_providers()[0]}")
        _check_batch(session, artifact.path, options.batch)
        return OnnxRuntimeSession(session, {"threads": threads, "provider": session.get_providers()[0],
                                            "graph_optimization": "ORT_ENABLE_ALL"}, options.batch, options)


class _OnnxRuntimeGpu(OnnxRuntime):
    """ONNX Runtime with a GPU execution provider, where the installed build has it."""

    def available(self) -> tuple[bool, str]:
        ok, reason = super().available()
        if not ok:
            return ok, reason
        import onnxruntime as ort

        if self.provider not in ort.get_available_providers():
            return False, (f"the installed onnxruntime {ort.__version__} has no {self.provider} "
                           "(install onnxruntime-gpu on a machine with an NVIDIA GPU)")
        return True, self.provider


class OnnxRuntimeCuda(_OnnxRuntimeGpu):
    provider = "CUDAExecutionProvider"


class OnnxRuntimeTensorRT(_OnnxRuntimeGpu):
    provider = "TensorrtExecutionProvider"

"""OpenVINO on the CPU. Reads ONNX (fp32, or int8 QDQ) and TFLite files directly."""

from __future__ import annotations

import os

import numpy as np

from edgebench.runtimes.base import BATCH, PROFILE, NoArena, OpTime, RuntimeDefaults
from edgebench.runtimes.options import RuntimeOptions
from edgebench.tensors import Quantization, TensorSpec, image_layout


def _spec(port, file_quantization: tuple[float, int] | None) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else 1 for d in port.get_partial_shape())
    dtype = np.dtype(port.get_element_type().to_dtype()).name
    name = port.get_any_name() if port.get_names() else f"port{port.get_index()}"
    # OpenVINO keeps a quantized TFLite model's integer I/O but not its scale/zero-point:
    # those come from the file itself.
    quant = Quantization(*file_quantization) if file_quantization and np.dtype(dtype).kind in "iu" else None
    return TensorSpec(name, shape, dtype, image_layout(shape), quant)


def _text(value) -> str:
    """OpenVINO property values as they are written in configs ("f32", "LATENCY")."""
    return value.get_type_name() if hasattr(value, "get_type_name") else str(value)


class OpenVinoSession(NoArena):
    def __init__(self, compiled, io_quantization: dict[str, tuple[float, int]], profile: bool = False):
        self._compiled = compiled
        self._profile: dict | None = {} if profile else None
        self._request = compiled.create_infer_request()
        self._input: np.ndarray | None = None
        self.input_spec = _spec(compiled.input(0), io_quantization.get("input"))
        self.output_spec = _spec(compiled.output(0), io_quantization.get("output"))
        # What the compiled model really uses, read back from OpenVINO rather than assumed.
        self.settings = {"threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
                         "inference_precision_hint": _text(compiled.get_property("INFERENCE_PRECISION_HINT")),
                         "performance_hint": _text(compiled.get_property("PERFORMANCE_HINT")),
                         "num_streams": int(compiled.get_property("NUM_STREAMS"))}

    def set_input(self, x: np.ndarray) -> None:
        import openvino as ov

        # The tensor wraps the frame's memory instead of copying it (602 KB a frame at fp32:
        # ~40 us of the ~140 us edgebench's frame cost beyond benchmark_app's, see RESULTS.md),
        # as a tuned application does; the array is held until the next frame replaces it.
        self._input = np.ascontiguousarray(x)
        self._request.set_input_tensor(ov.Tensor(self._input, shared_memory=True))

    def invoke(self) -> None:
        self._request.infer()
        if self._profile is not None:   # counters describe the last inference only: add them up
            for info in self._request.profiling_info:
                entry = self._profile.setdefault(info.node_name, [info.node_type, 0.0, 0])
                entry[1] += info.real_time.total_seconds() * 1e3
                entry[2] += 1

    def output(self) -> np.ndarray:
        return self._request.get_output_tensor(0).data.copy()

    def close(self) -> None:
        self._request = self._compiled = self._input = None

    profile_method = "OpenVINO performance counters (PERF_COUNT), real time per node"

    def op_times(self) -> list[OpTime]:
        return [OpTime(node, op, ms, calls) for node, (op, ms, calls) in (self._profile or {}).items()
                if ms > 0]


class OpenVinoRuntime(RuntimeDefaults):
    name = "openvino"
    formats = ("onnx", "tflite")
    distribution = module = "openvino"
    install_hint = "pip install 'edgebench[openvino]'"
    how_it_runs = "CPU plugin, f32 inference-precision hint"
    capabilities = frozenset({BATCH, PROFILE})   # any batch size, by reshaping the model's input

    def load(self, artifact, options: RuntimeOptions) -> OpenVinoSession:
        import openvino as ov

        config = {
            # Without this hint OpenVINO runs "fp32" models in bf16 on CPUs with AMX/AVX512-bf16;
            # int8 targets keep their non-quantized ops in f32 too, so precision means what it says.
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": str(options.threads or os.cpu_count() or 1),
            **({"PERF_COUNT": "YES"} if options.profile else {}),
        }
        core = ov.Core()
        model = core.read_model(str(artifact.path))
        if options.batch > 1:
            shape = list(model.input(0).get_partial_shape())
            model.reshape({model.input(0): ov.PartialShape([options.batch, *shape[1:]])})
        compiled = core.compile_model(model, "CPU", config)
        return OpenVinoSession(compiled, artifact.io_quantization or {}, options.profile)

"""OpenVINO on the CPU. Reads ONNX (fp32, or int8 QDQ) and TFLite files directly."""

from __future__ import annotations

import os

import numpy as np

from edgebench.runtimes.base import BATCH, PROFILE, THROUGHPUT, NoArena, OpTime, RuntimeDefaults
from edgebench.runtimes.options import RuntimeOptions
from edgebench.tensors import Quantization, TensorSpec, image_layout


def _spec(port, file_quantization: tuple[float, int] | None) -> TensorSpec:
    # An open dimension left in a compiled model reads as 0: unresolved (the task says so).
    shape = tuple(d.get_length() if d.is_static else 0 for d in port.get_partial_shape())
    dtype = np.dtype(port.get_element_type().to_dtype()).name
    name = port.get_any_name() if port.get_names() else f"port{port.get_index()}"
    # OpenVINO keeps a quantized TFLite model's integer I/O but not its scale/zero-point:
    # those come from the file itself.
    quant = Quantization(*file_quantization) if file_quantization and np.dtype(dtype).kind in "iu" else None
    return TensorSpec(name, shape, dtype, image_layout(shape), quant)


def _file_quantization(io_quantization: dict, port, role: str, index: int) -> tuple[float, int] | None:
    """The file's scale/zero-point for a port: by tensor name, else the first input/output's."""
    for name in port.get_names():
        if f"{role}:{name}" in io_quantization:
            return io_quantization[f"{role}:{name}"]
    return io_quantization.get(role) if index == 0 else None


def _missing_op(exc: BaseException):
    """OpenVINO's 'no translator' (an op its front end cannot read) as one line naming the op."""
    import re

    from edgebench.errors import TargetUnavailable

    found = re.search(r"No translator found for (\S+) node", str(exc))
    if found is None:
        return None
    return TargetUnavailable(f"OpenVINO's front end has no translator for op {found.group(1)}: "
                             "it cannot read this model")


def _text(value) -> str:
    """OpenVINO property values as they are written in configs ("f32", "LATENCY")."""
    return value.get_type_name() if hasattr(value, "get_type_name") else str(value)


class OpenVinoSession(NoArena):
    def __init__(self, compiled, io_quantization: dict[str, tuple[float, int]], profile: bool = False):
        self._compiled = compiled
        self._profile: dict | None = {} if profile else None
        self._request = compiled.create_infer_request()
        self._input: np.ndarray | tuple | None = None
        self.input_specs = tuple(_spec(port, _file_quantization(io_quantization, port, "input", i))
                                 for i, port in enumerate(compiled.inputs))
        self.output_specs = tuple(_spec(port, _file_quantization(io_quantization, port, "output", i))
                                  for i, port in enumerate(compiled.outputs))
        self.input_spec = self.input_specs[0] if self.input_specs else None
        self.output_spec = self.output_specs[0] if self.output_specs else None
        # One output: the frame loop reads it alone; several: a tuple, in output_specs order.
        self.output = self._one_output if len(self.output_specs) == 1 else self._outputs
        # What the compiled model really uses, read back from OpenVINO rather than assumed.
        self.settings = {"threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
                         "inference_precision_hint": _text(compiled.get_property("INFERENCE_PRECISION_HINT")),
                         "performance_hint": _text(compiled.get_property("PERFORMANCE_HINT")),
                         "num_streams": int(compiled.get_property("NUM_STREAMS"))}

    def set_input(self, x) -> None:
        import openvino as ov

        if isinstance(x, tuple):   # several inputs: each wrapped, as the single input is below
            if x is not self._input:
                self._input = x
                for i, array in enumerate(x):
                    self._request.set_input_tensor(i, ov.Tensor(np.ascontiguousarray(array), shared_memory=True))
            return

        # The tensor wraps the frame's memory instead of copying it (602 KB a frame at fp32), as
        # a tuned application does; the array is held until another one replaces it. The same
        # array handed over again (a reused frame buffer) is not wrapped again: the request
        # already reads its memory at every inference (~60 us a frame, benchmarks/RESULTS.md).
        x = np.ascontiguousarray(x)
        if x is self._input:
            return
        self._input = x
        self._request.set_input_tensor(ov.Tensor(x, shared_memory=True))

    def invoke(self) -> None:
        # infer(), not start_async() + wait(): that skips building infer()'s dict of outputs
        # (~20 us) but measured 7% slower at 1 thread on this VM (benchmarks/RESULTS.md).
        self._request.infer()
        if self._profile is not None:   # counters describe the last inference only: add them up
            for info in self._request.profiling_info:
                entry = self._profile.setdefault(info.node_name, [info.node_type, 0.0, 0])
                entry[1] += info.real_time.total_seconds() * 1e3
                entry[2] += 1

    def _one_output(self) -> np.ndarray:
        return self._request.get_output_tensor(0).data.copy()

    def _outputs(self) -> tuple[np.ndarray, ...]:
        get = self._request.get_output_tensor
        return tuple(get(i).data.copy() for i in range(len(self.output_specs)))

    def close(self) -> None:
        self._request = self._compiled = self._input = None

    profile_method = "OpenVINO performance counters (PERF_COUNT), real time per node"

    def op_times(self) -> list[OpTime]:
        return [OpTime(node, op, ms, calls) for node, (op, ms, calls) in (self._profile or {}).items()
                if ms > 0]


class OpenVinoThroughputSession(OpenVinoSession):
    """The offline scenario as benchmark_app runs it: compiled with the THROUGHPUT hint, an
    AsyncInferQueue of OPTIMAL_NUMBER_OF_INFER_REQUESTS requests sharing one input tensor."""

    def __init__(self, compiled, io_quantization: dict[str, tuple[float, int]], streams_asked: int | None = None):
        import openvino as ov

        super().__init__(compiled, io_quantization)
        self.in_flight = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self._queue = ov.AsyncInferQueue(compiled, self.in_flight)
        self._fed: np.ndarray | None = None     # the caller's array the requests read
        self.settings["infer_requests"] = self.in_flight
        if streams_asked and streams_asked != self.settings["num_streams"]:
            # OpenVINO runs no more streams than threads: record what was asked beside what ran.
            self.settings["num_streams_asked"] = streams_asked

    def set_callback(self, done) -> None:
        self._queue.set_callback(lambda _request, userdata: done(userdata))

    def start(self, x: np.ndarray, userdata: object) -> None:
        import openvino as ov

        # A new frame: every request reads it (read-only, so shared). Compared with the caller's
        # array, not a contiguous copy of it, so the same frame never drains the queue again.
        if x is not self._fed:
            self._queue.wait_all()
            self._fed = x
            tensor = ov.Tensor(np.ascontiguousarray(x), shared_memory=True)
            for request in self._queue:
                request.set_input_tensor(tensor)
        self._queue.start_async(userdata=userdata)

    def wait_all(self) -> None:
        self._queue.wait_all()

    def close(self) -> None:
        if self._queue is not None:
            self._queue.wait_all()
        self._queue = self._fed = None
        super().close()


class OpenVinoRuntime(RuntimeDefaults):
    name = "openvino"
    # "openvino": IR (.xml + .bin), as NNCF writes a user's model quantized for it
    formats = ("openvino", "onnx", "tflite")
    distribution = module = "openvino"
    install_hint = "pip install 'edgebench[openvino]'"
    how_it_runs = "CPU plugin, f32 inference-precision hint"
    # any batch size, by reshaping the model's input; offline in its own THROUGHPUT mode
    capabilities = frozenset({BATCH, PROFILE, THROUGHPUT})

    def load(self, artifact, options: RuntimeOptions) -> OpenVinoSession:
        try:
            compiled = compile_model(artifact.path, options)
        except RuntimeError as exc:
            raise _missing_op(exc) or exc
        if options.throughput:
            return OpenVinoThroughputSession(compiled, artifact.io_quantization or {}, options.streams)
        return OpenVinoSession(compiled, artifact.io_quantization or {}, options.profile)


def compile_model(path, options: RuntimeOptions):
    """The model at path compiled for the CPU as every openvino target runs it (the benchmarks
    compile through this too, so they time what `run` times)."""
    import openvino as ov

    config = {
        # Without this hint OpenVINO runs "fp32" models in bf16 on CPUs with AMX/AVX512-bf16;
        # int8 targets keep their non-quantized ops in f32 too, so precision means what it says.
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "THROUGHPUT" if options.throughput else "LATENCY",
        "INFERENCE_NUM_THREADS": str(options.threads or os.cpu_count() or 1),
        **({"NUM_STREAMS": str(options.streams)} if options.throughput and options.streams else {}),
        **({"PERF_COUNT": "YES"} if options.profile else {}),
    }
    core = ov.Core()
    model = core.read_model(str(path))
    shapes = _static_shapes(model, options)
    if shapes:
        model.reshape(shapes)
    return core.compile_model(model, "CPU", config)


def _static_shapes(model, options: RuntimeOptions) -> dict:
    """New shapes for inputs: the one asked for (--input-shape), else the batch asked for in an
    open or different first dimension. Always static: a model compiled with a dynamic batch
    dimension runs slower kernels."""
    import openvino as ov

    shapes = {}
    for i, port in enumerate(model.inputs):
        shape = port.get_partial_shape()
        asked = next((options.shape_for(name, i) for name in port.get_names() if options.shape_for(name, i)),
                     options.shape_for("", i))
        if asked is not None:
            shapes[port] = ov.PartialShape(list(asked))
        elif i == 0 and (options.batch > 1 or (shape.rank.is_static and len(shape) and shape[0].is_dynamic)):
            shapes[port] = ov.PartialShape([options.batch, *list(shape)[1:]])
    return shapes

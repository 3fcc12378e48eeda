"""PyTorch on the CPU or a CUDA GPU.

CPU modes: 'frozen' (TorchScript trace + freeze + optimize_for_inference; the fastest CPU mode
measured here, see benchmarks/RESULTS.md), 'eager', 'compile'.
CUDA modes: 'graph' (the whole frame - host-to-device copy, forward, device-to-host copy - captured
in one CUDA graph and replayed), 'compile' (torch.compile), 'eager' (a naive loop). 'auto' picks
what measured fastest on an H100 (benchmarks/RESULTS.md): at batch 1 a CUDA graph in NCHW layout
(channels_last was 0.78 vs 0.49 ms); for batches torch.compile in channels_last. fp16 runs the
model in half precision.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgebench.errors import TargetUnavailable
from edgebench.runtimes.base import BATCH, PROFILE, NoArena, OpTime, RuntimeDefaults
from edgebench.runtimes.native_log import drop_native_stderr
from edgebench.runtimes.options import TorchOptions
from edgebench.tensors import TensorSpec


class TorchSession(NoArena):
    """CPU session: tensors stay on the host."""

    def __init__(self, module, input_spec: TensorSpec, output_spec: TensorSpec, settings: dict):
        import torch

        self.settings = settings
        self._torch = torch
        self._module = module
        self._profiler, self._profiling = None, False
        self._x = None
        self._y = None
        self.input_spec, self.output_spec = input_spec, output_spec

    def set_input(self, x: np.ndarray) -> None:
        self._x = self._torch.from_numpy(x)

    def invoke(self) -> None:
        with self._torch.inference_mode():
            self._y = self._module(self._x)

    def output(self) -> np.ndarray:
        return self._y.numpy()

    def close(self) -> None:
        self._module = None
        if self._profiler is not None and self._profiling:
            with drop_native_stderr(KINETO_ANNOUNCEMENTS):
                self._profiler.__exit__(None, None, None)

    profile_method = ("torch.profiler (CPU activities), self time per operator; a TorchScript graph's "
                      "fused ops that the profiler does not record (frozen mode's MKLDNN convolutions) "
                      "count as the graph's own time, named after them")

    def start_profiling(self) -> None:
        from torch.profiler import ProfilerActivity, profile

        self._profiler = profile(activities=[ProfilerActivity.CPU])
        with drop_native_stderr(KINETO_ANNOUNCEMENTS):
            self._profiler.__enter__()
        self._profiling = True

    def op_times(self) -> list[OpTime]:
        with drop_native_stderr(KINETO_ANNOUNCEMENTS):
            self._profiler.__exit__(None, None, None)
        self._profiling = False
        events = self._profiler.key_averages()
        hidden = _unrecorded_graph_ops(self._module, {e.key for e in events})
        return [_op_time(e, hidden) for e in events if e.self_cpu_time_total > 0]


KINETO_ANNOUNCEMENTS = ("USDT:",)   # torch 2.13's profiler start/stop lines, written from C++
TORCHSCRIPT_GRAPH = "TorchScript graph"
_GRAPH_PLUMBING = ("prim::Constant", "prim::ListConstruct", "prim::TupleConstruct", "prim::GetAttr",
                   "prim::ConstantMKLDNNTensor", "prim::BroadcastMKLDNNTensors")


def _unrecorded_graph_ops(module, recorded: set[str]) -> str | None:
    """For a TorchScript module, 'prim::mkldnn_convolution (52 nodes), ...': the graph's ops that
    ran without a profiler event of their own. Their time is the self time of the graph's
    'forward' event; without their names it reads as one opaque op."""
    from collections import Counter

    graph = getattr(module, "graph", None)
    if graph is None or "forward" not in recorded:
        return None
    counts = Counter(node.kind() for node in graph.nodes())
    ranked = [(kind, n) for kind, n in counts.most_common() if kind not in recorded and kind not in _GRAPH_PLUMBING]
    if not ranked:
        return None
    more = f", {len(ranked) - 3} more kinds" if len(ranked) > 3 else ""
    return ", ".join(f"{kind} ({n} nodes)" for kind, n in ranked[:3]) + more


def _op_time(event, hidden: str | None) -> OpTime:
    ms = event.self_cpu_time_total / 1000.0
    if event.key == "forward" and hidden:
        # "among them": an unrecorded op may still call a recorded one (MKLDNNHardTanh_ -> aten::clamp)
        return OpTime(f"forward, ops without an event of their own among them: {hidden}", TORCHSCRIPT_GRAPH,
                      ms, event.count)
    return OpTime(event.key, event.key, ms, event.count)


class CudaSession:
    """CUDA session. Input and output live in pinned host buffers with device twins.

    input_on="host": each frame is copied into pinned memory and then to the GPU inside the
    timed region (a camera frame loop, as in the article). input_on="device": the frame is
    staged on the GPU once and reused, as a throughput pipeline that prefetches batches
    would; the timed region is the forward pass plus reading the output back.
    """

    def __init__(self, forward, input_spec: TensorSpec, output_spec: TensorSpec, dtype,
                 settings: dict, layout=None):
        import torch

        self.settings = settings
        self.input_on = settings["cuda_input"]
        self._staged = None
        use_graph = settings["mode"] == "graph"
        self._torch = torch
        self.input_spec, self.output_spec = input_spec, output_spec
        self._host_in = torch.empty(input_spec.shape, dtype=dtype, pin_memory=True)
        self._host_in_np = self._host_in.numpy()
        self._dev_in = torch.empty(input_spec.shape, dtype=dtype, device="cuda").contiguous(
            memory_format=layout or torch.channels_last)
        self._host_out = torch.empty(output_spec.shape, dtype=torch.float32, pin_memory=True)
        self._stream = torch.cuda.Stream()
        self._forward = forward
        self._graph = None
        if use_graph:
            self._capture()

    def _frame(self) -> None:
        if self.input_on == "host":
            self._dev_in.copy_(self._host_in, non_blocking=True)
        y = self._forward(self._dev_in)
        self._host_out.copy_(y.float(), non_blocking=True)

    def _capture(self) -> None:
        torch = self._torch
        with torch.cuda.stream(self._stream), torch.inference_mode():
            for _ in range(3):  # warm up cuDNN algorithm choice before capture
                self._frame()
        self._stream.synchronize()
        self._graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(self._graph, stream=self._stream):
            self._frame()

    def set_input(self, x: np.ndarray) -> None:
        if self.input_on == "host":
            np.copyto(self._host_in_np, x, casting="same_kind")
        elif x is not self._staged:  # device residency: stage a new frame once
            np.copyto(self._host_in_np, x, casting="same_kind")
            self._dev_in.copy_(self._host_in)
            self._staged = x

    def invoke(self) -> None:
        torch = self._torch
        # replay() launches on the *current* stream: enter the session's stream so that the
        # synchronize in output() waits for exactly this work (PyTorch's side streams do not
        # synchronize with the default stream).
        with torch.cuda.stream(self._stream):
            if self._graph is not None:
                self._graph.replay()
                return
            with torch.inference_mode():
                self._frame()

    def arena_bytes(self) -> int | None:
        """Peak CUDA memory torch's caching allocator handed out on this device."""
        return int(self._torch.cuda.max_memory_allocated())

    def output(self) -> np.ndarray:
        # The timed region ends only when the GPU has finished and the result is on the host.
        self._stream.synchronize()
        return self._host_out.numpy().copy()

    def close(self) -> None:
        self._graph = self._forward = None


def fold_batchnorm(module):
    """Fold every BatchNorm2d that follows a Conv2d inside a Sequential into the conv (eval mode):
    the same function with about half the kernels, as TorchScript's optimize_for_inference does on
    the CPU. Returns the number of folds."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for container in module.modules():
        if not isinstance(container, nn.Sequential):
            continue
        children = list(container._modules.items())
        for (name, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                container._modules[name] = fuse_conv_bn_eval(conv, bn)
                container._modules[bn_name] = nn.Identity()
                folded += 1
    return folded


class TorchRuntime(RuntimeDefaults):
    name = "torch"
    formats = ("torch",)
    options_type = TorchOptions
    capabilities = frozenset({BATCH, PROFILE})
    distribution = module = "torch"
    install_hint = "pip install torch"
    how_it_runs = "CPU"

    def load(self, artifact, options: TorchOptions):
        from edgebench.arch.torch_module import load_torch_module

        input_shape = (options.batch, *artifact.input_shape[1:])
        if artifact.arch is None and Path(artifact.path).suffix.lower() == ".pt2":   # a user's torch.export file
            from edgebench.arch.pt2 import load_exported_module

            module = load_exported_module(artifact.path)
        else:
            module = load_torch_module(artifact.arch, artifact.path, artifact.arch_kwargs)
        if options.device == "cuda":
            return _load_cuda(module, input_shape, options)
        return _load_cpu(module, input_shape, options)


def _load_cpu(module, input_shape, options: TorchOptions) -> TorchSession:
    import torch

    mode = options.resolved_mode
    torch.set_num_threads(options.threads or os.cpu_count() or 1)
    sample = torch.zeros(input_shape)
    with torch.no_grad():
        if mode == "frozen":
            module = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(module, sample)))
        elif mode == "compile":
            module = torch.compile(module)
        output_shape = tuple(module(sample).shape)
    session = TorchSession(module, TensorSpec("input", input_shape, "float32", "NCHW"),
                           TensorSpec("logits", output_shape, "float32"),
                           {"threads": torch.get_num_threads(), "mode": mode})
    if options.profile:
        session.start_profiling()
    return session


def _load_cuda(module, input_shape, options: TorchOptions) -> CudaSession:
    import torch

    if not torch.cuda.is_available():
        raise TargetUnavailable("no CUDA GPU visible to torch")
    torch.cuda.reset_peak_memory_stats()   # the arena figure is this session's, not the process's
    batched = input_shape[0] > 1
    half = options.precision == "fp16"
    dtype = torch.float16 if half else torch.float32
    input_on = options.cuda_input
    if input_on == "auto":  # a frame loop at batch 1, a prefetching pipeline for batches
        input_on = "device" if batched else "host"
    torch.backends.cudnn.benchmark = True
    folds = fold_batchnorm(module.eval()) if options.fold_bn else 0
    layout_name = options.cuda_layout
    if layout_name == "auto":
        layout_name = "channels_last" if batched else "contiguous"
    layout = torch.channels_last if layout_name == "channels_last" else torch.contiguous_format
    module = module.to("cuda", dtype=dtype, memory_format=layout).eval()
    forward = module
    if options.resolved_mode == "compile":
        # Inductor's default mode: as fast as max-autotune here (41.1k vs 40.7k images/s at
        # batch 256) and minutes quicker to compile.
        forward = torch.compile(module, mode=options.compile_mode)
    with torch.inference_mode():
        probe = torch.zeros(input_shape, dtype=dtype, device="cuda").contiguous(memory_format=layout)
        output_shape = tuple(forward(probe).shape)
    torch.cuda.synchronize()
    input_spec = TensorSpec("input", input_shape, "float16" if half else "float32", "NCHW")
    settings = {"mode": options.resolved_mode, "cuda_input": input_on, "cuda_layout": layout_name,
                "dtype": str(dtype).removeprefix("torch."), "batchnorm_folds": folds,
                "gpu": torch.cuda.get_device_name(0)}
    return CudaSession(forward, input_spec, TensorSpec("logits", output_shape, "float32"), dtype,
                       settings, layout)


class TorchCudaRuntime(TorchRuntime):
    """The same runtime on a CUDA GPU: available only where torch sees one."""

    capabilities = frozenset({BATCH})   # op profiles: the CPU target only

    def available(self) -> tuple[bool, str]:
        ok, reason = super().available()
        if not ok:
            return ok, reason
        import torch

        if not torch.cuda.is_available():
            build = "a CPU-only build" if not torch.version.cuda else f"CUDA {torch.version.cuda}"
            return False, f"no CUDA GPU visible (torch {torch.__version__}, {build})"
        return True, f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}"

"""Each edgebench target against the best configuration of its runtime found on this machine.

For every runtime it tries the knobs that matter on a CPU (threads, delegates, graph
optimisation, spinning, performance and precision hints, torch execution modes), times each
with the same bare loop, then times edgebench's own target. Goal: every target within 10% of
the best configuration of its runtime at the same precision. Configurations that change the
precision (OpenVINO's default bf16 on AMX CPUs) are shown but not counted as fp32.

    .venv/bin/python benchmarks/best_config.py [--runs 300] [--skip-compile]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

import numpy as np

from benchmarks.common import artifact, bare_loop, image_nchw, machine
from edgebench.bench.runner import measure
from edgebench.models.images import to_input
from edgebench.protocol import Protocol
from edgebench.runtimes.base import TARGETS, load_runtime

THREADS = sorted({1, os.cpu_count() or 1})


def litert_configs(path: str, x_for):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    for threads in THREADS:
        for label, resolver in (("XNNPACK", OpResolverType.AUTO),
                                ("no delegate", OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)):
            it = Interpreter(model_path=path, num_threads=threads, experimental_op_resolver_type=resolver)
            it.allocate_tensors()
            i, o = it.get_input_details()[0], it.get_output_details()[0]["index"]
            x = x_for(i["dtype"], i["quantization"], layout="NHWC")

            def call(it=it, i=i["index"], o=o, x=x):
                it.set_tensor(i, x)
                it.invoke()
                return it.get_tensor(o)
            yield f"threads={threads} {label}", call, True


def onnxruntime_configs(path: str, x_for):
    import onnxruntime as ort

    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    x = x_for(np.float32, (0.0, 0), layout="NCHW")
    for threads in THREADS:
        for level_name, level in levels.items():
            for spinning in ("1", "0"):
                so = ort.SessionOptions()
                so.intra_op_num_threads = threads
                so.graph_optimization_level = level
                so.add_session_config_entry("session.intra_op.allow_spinning", spinning)
                s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                name = s.get_inputs()[0].name
                yield (f"threads={threads} opt={level_name} spin={spinning}",
                       lambda s=s, name=name: s.run(None, {name: x}), True)


def openvino_configs(path: str, x_for):
    import openvino as ov

    core = ov.Core()
    x = x_for(np.float32, (0.0, 0), layout="NCHW")
    for threads in THREADS:
        for perf in ("LATENCY", "THROUGHPUT"):
            for precision in ("f32", None):
                config = {"PERFORMANCE_HINT": perf, "INFERENCE_NUM_THREADS": str(threads)}
                if precision:
                    config["INFERENCE_PRECISION_HINT"] = precision
                compiled = core.compile_model(path, "CPU", config)
                actual = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
                request = compiled.create_infer_request()
                keeps_f32 = actual == "f32"  # the default on AMX CPUs is bf16: not fp32
                yield (f"threads={threads} {perf} precision={actual}",
                       lambda r=request: r.infer({0: x}), keeps_f32)


def torch_configs(path: str, x_for, skip_compile: bool):
    import torch

    from edgebench.arch.torch_module import load_torch_module
    from edgebench.models.zoo import MOBILENET_V2

    x = torch.from_numpy(x_for(np.float32, (0.0, 0), layout="NCHW"))
    for threads in THREADS:
        torch.set_num_threads(threads)
        model = load_torch_module(MOBILENET_V2.arch, path)
        with torch.no_grad():
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
        cl_model = load_torch_module(MOBILENET_V2.arch, path).to(memory_format=torch.channels_last)
        x_cl = x.to(memory_format=torch.channels_last)
        modes = {"eager": lambda m=model: m(x), "eager channels_last": lambda: cl_model(x_cl),
                 "frozen (TorchScript)": lambda f=frozen: f(x)}
        if not skip_compile and threads == THREADS[-1]:
            compiled = torch.compile(load_torch_module(MOBILENET_V2.arch, path))
            modes["torch.compile"] = lambda c=compiled: c(x)
        for label, fn in modes.items():
            def call(fn=fn, threads=threads):
                with torch.inference_mode():
                    return fn()
            yield f"threads={threads} {label}", call, True
    torch.set_num_threads(THREADS[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()
    x_float = image_nchw()

    def x_for(dtype, quantization, layout):
        x = x_float.transpose(0, 2, 3, 1) if layout == "NHWC" else x_float
        scale, zero_point = quantization
        if scale:
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
        return np.ascontiguousarray(x.astype(dtype))

    sources = {"litert": {"fp32": ("tflite", "fp32"), "int8": ("tflite", "int8")},
               "onnxruntime": {"fp32": ("onnx", "fp32"), "int8": ("onnx", "int8")},
               "openvino": {"fp32": ("onnx", "fp32"), "int8": ("onnx", "int8")},
               "torch": {"fp32": ("torch", "fp32")}}
    makers = {"litert": litert_configs, "onnxruntime": onnxruntime_configs,
              "openvino": openvino_configs,
              "torch": lambda p, xf: torch_configs(p, xf, args.skip_compile)}
    print(f"# best configuration per runtime, {dt.date.today()}, {machine()}")
    print(f"# median of {args.runs} runs per configuration, ms (bare loop: set input, invoke, read output)")
    summary = []
    protocol = Protocol("best-config", warmup=20, settle_s=0.0, runs=args.runs)
    for target in TARGETS.values():
        if target.runtime not in makers or target.device != "cpu":
            continue  # this script compares the CPU runtimes' own best settings
        art = artifact(*sources[target.runtime][target.precision])
        rows = []
        for label, call, same_precision in makers[target.runtime](str(art.path), x_for):
            rows.append((float(np.median(bare_loop(call, args.runs))), label, same_precision))
        runtime = load_runtime(target.runtime)
        session = runtime.load(art, runtime.options_type())
        ours = float(np.median(measure(session, to_input(x_float, session.input_spec), protocol).samples_ms))
        session.close()
        for ms, label, same in sorted(rows):
            print(f"{target.name:17s} {label:48s} {ms:8.3f}{'' if same else '  (changes precision: not counted)'}")
        best_ms, best_label, _ = min(r for r in rows if r[2])
        summary.append((target.name, ours, best_label, best_ms))
    print()
    print(f"{'target':17s} {'edgebench ms':>12s} {'best config':48s} {'best ms':>8s} {'ratio':>6s}  goal <= 1.10")
    for name, ours, label, best in summary:
        print(f"{name:17s} {ours:12.3f} {label:48s} {best:8.3f} {ours / best:6.3f}  "
              f"{'ok' if ours / best <= 1.10 else 'MISSED'}")


if __name__ == "__main__":
    main()

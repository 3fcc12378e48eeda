"""edgebench's timed loop vs a bare loop of the same runtime call, in one process.

Goal: median(edgebench) / median(bare) <= 1.02 for litert-int8 and onnxruntime-fp32.
Rounds alternate edgebench and bare loops so drift on a shared machine hits both alike.

    .venv/bin/python benchmarks/harness_overhead.py [--rounds 6] [--runs 500]
"""

from __future__ import annotations

import argparse
import datetime as dt

import numpy as np

from benchmarks.common import artifact, bare_loop, cores, image_nchw, machine
from edgebench.bench.runner import measure
from edgebench.models.images import to_input
from edgebench.protocol import Protocol
from edgebench.runtimes.base import load_runtime


def bare_litert(path: str, x: np.ndarray):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=cores())
    interpreter.allocate_tensors()
    i, o = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def call():
        interpreter.set_tensor(i, x)
        interpreter.invoke()
        return interpreter.get_tensor(o)
    return call


def bare_onnxruntime(path: str, x: np.ndarray):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = cores()
    session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})


CASES = {
    "litert-int8": ("litert", ("tflite", "int8"), bare_litert),
    "onnxruntime-fp32": ("onnxruntime", ("onnx", "fp32"), bare_onnxruntime),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    x_float = image_nchw()
    protocol = Protocol("overhead", warmup=20, settle_s=0.0, runs=args.runs)
    print(f"# harness overhead vs bare loop, {dt.date.today()}, {machine()}")
    print(f"# {args.rounds} alternating rounds x {args.runs} runs; medians in ms")
    print(f"{'target':18s} {'edgebench':>10s} {'bare loop':>10s} {'ratio':>7s}  goal <= 1.02")
    for target, (runtime_name, variant, make_bare) in CASES.items():
        art = artifact(*variant)
        runtime = load_runtime(runtime_name)
        session = runtime.load(art, runtime.options_type())
        x = to_input(x_float, session.input_spec)
        bare = make_bare(str(art.path), x)
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(measure(session, x, protocol).samples_ms)
            theirs.append(bare_loop(bare, args.runs))
        a, b = np.median(np.concatenate(ours)), np.median(np.concatenate(theirs))
        print(f"{target:18s} {a:10.3f} {b:10.3f} {a / b:7.3f}  {'ok' if a / b <= 1.02 else 'MISSED'}")
        session.close()


if __name__ == "__main__":
    main()

"""edgebench against the runtimes' own benchmark tools, on the same artifact files.

The tools are the ones the installed packages ship: OpenVINO's `benchmark_app` and
ai-edge-litert's `litert-benchmark`. For each target and thread count, rounds alternate the
tool (a fresh process each round) and edgebench (a fresh session each round, timed by
`edgebench.bench.runner.measure`, exactly what `edgebench run` times: set input, invoke, read
output). The order within a round flips every round, so drift on a shared machine hits both
alike. Each side's figure is the median of its per-round medians; goal: edgebench / tool
within 0.95-1.05.

What each tool reports (and times):
  litert-benchmark  JSON `latency.median_ms` (2 decimals): perf_counter around
                    `CompiledModel.run_by_name` only (LiteRT's CompiledModel API, CPU accelerator);
                    input buffers filled once with random data, outputs never read.
  benchmark_app     JSON `latency (ms)`, the median of `InferRequest.latency` (OpenVINO's own
                    per-request time, measured in C++) over `-api sync -nireq 1 -niter N`;
                    inputs filled once with random data (inference-only mode), outputs never read.
                    Run with `-hint latency -infer_precision f32` and INFERENCE_NUM_THREADS from
                    `-load_config` (benchmark_app refuses `-nthreads` unless `-hint none`): the
                    same settings edgebench's openvino targets compile with.

    .venv/bin/python -m benchmarks.official_tools [--rounds 5] [--runs 100] [--threads 2,1]
                                                  [--targets litert-int8,openvino-fp32]
                                                  [--explain | --explain-only] [--calls 300]
                                                  [--offline | --offline-only] [--offline-runs 1000]

`--offline` adds the offline scenario: `edgebench run --scenario offline`'s path (OpenVINO's
THROUGHPUT hint, an AsyncInferQueue of its optimal requests, timed by
`edgebench.bench.runner.measure_async`) against `benchmark_app -hint throughput -api async`,
images/s, rounds alternating as above.

`--explain` adds in-process variants of each runtime's call (the tool's own call, edgebench's
frame, input copied or shared, random or real input), interleaved call by call, with the cost
outside OpenVINO's own timer: what accounts for a gap.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import artifact, cores, image_nchw, machine
from edgebench.bench.runner import measure, measure_async
from edgebench.models.images import to_input
from edgebench.protocol import Protocol
from edgebench.runtimes.base import load_runtime
from edgebench.runtimes.native_log import drop_native_stderr
from edgebench.runtimes.options import RuntimeOptions

BIN = Path(sys.executable).parent
GOAL = (0.95, 1.05)
# LiteRT's CompiledModel logs every accelerator and plugin it looks for, from C++, on fd 2.
NATIVE_CHATTER = ("INFO: [", "WARNING: [npu_registry", "WARNING: [compiler_plugin", "\u2514 Could not load")


@dataclass(frozen=True)
class Case:
    target: str
    runtime: str
    variant: tuple[str, str]
    tool: str


CASES = [
    Case("litert-int8", "litert", ("tflite", "int8"), "litert-benchmark"),
    Case("litert-fp32", "litert", ("tflite", "fp32"), "litert-benchmark"),
    Case("openvino-fp32", "openvino", ("onnx", "fp32"), "benchmark_app"),
    Case("openvino-int8", "openvino", ("onnx", "int8"), "benchmark_app"),
]


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{tail}")


def litert_tool(path: Path, threads: int, runs: int, warmup: int, tmp: Path) -> tuple[float, float]:
    """Its median and its mean (perf_counter around each run_by_name), ms."""
    out = tmp / "litert.json"
    out.unlink(missing_ok=True)
    _run([str(BIN / "litert-benchmark"), "--model", str(path), "--num_runs", str(runs),
          "--warmup_runs", str(warmup), "--num_threads", str(threads), "--result_json", str(out)])
    result = json.loads(out.read_text())
    assert result["num_threads"] == threads and result["accelerators"] == ["CPU"], result
    return float(result["latency"]["median_ms"]), float(result["latency"]["avg_ms"])


def _benchmark_app(path: Path, args: list[str], tmp: Path) -> dict:
    """benchmark_app's JSON report of one run on the CPU, at the static batch-1 shape edgebench
    compiles (the zoo's ONNX files have a dynamic batch dimension)."""
    folder = tmp / "ov_report"
    folder.mkdir(exist_ok=True)
    report = folder / "benchmark_report.json"
    report.unlink(missing_ok=True)
    _run([str(BIN / "benchmark_app"), "-m", str(path), "-d", "CPU", "-infer_precision", "f32",
          "-shape", _batch_one_shape(path), *args, "-report_type", "no_counters",
          "-report_folder", str(folder), "-json_stats"])
    return json.loads(report.read_text())


def _batch_one_shape(path: Path) -> str:
    import openvino as ov

    dims = [d.get_length() if d.is_static else 1 for d in ov.Core().read_model(str(path)).input(0).get_partial_shape()]
    return "[" + ",".join(str(d) for d in dims) + "]"


def openvino_tool(path: Path, threads: int, runs: int, warmup: int, tmp: Path) -> tuple[float, float]:
    """Its median latency, and its loop's wall time per inference (1000 / its Throughput FPS), ms."""
    del warmup   # benchmark_app always does exactly one warm-up inference ("first inference")
    config = tmp / "ov_config.json"
    config.write_text(json.dumps({"CPU": {"INFERENCE_NUM_THREADS": str(threads)}}))
    result = _benchmark_app(path, ["-hint", "latency", "-api", "sync", "-nireq", "1", "-niter", str(runs),
                                   "-load_config", str(config)], tmp)
    setup = result["configuration_setup"]
    assert setup["API"] == "sync" and setup["number of parallel infer requests"] == "1", setup
    figures = result["execution_results"]
    wall = float(figures["total execution time (ms)"]) / int(figures["total number of iterations"])
    return float(figures["latency (ms)"]), wall


def openvino_throughput_tool(path: Path, runs: int, tmp: Path) -> tuple[float, int]:
    """`benchmark_app -hint throughput -api async`: its Throughput FPS and its infer requests."""
    result = _benchmark_app(path, ["-hint", "throughput", "-api", "async", "-niter", str(runs)], tmp)
    setup = result["configuration_setup"]
    assert setup["API"] == "async", setup
    return float(result["execution_results"]["throughput"]), int(setup["number of parallel infer requests"])


TOOLS = {"litert-benchmark": litert_tool, "benchmark_app": openvino_tool}
TOOL_FIGURE = {"litert-benchmark": "median_ms from --result_json",
               "benchmark_app": "median 'latency (ms)' from -json_stats"}
TOOL_WALL = {"litert-benchmark": "avg_ms (mean of its per-call perf_counter times)",
             "benchmark_app": "total execution time / iterations = 1000 / its Throughput FPS"}


def edgebench_round(case: Case, path_art, threads: int, x_float: np.ndarray,
                    protocol: Protocol) -> tuple[float, float, dict]:
    """One fresh session, timed by edgebench's own runner: the median and elapsed/runs
    (1000 / fps, the article's figure) in ms, and the settings the session runs with."""
    runtime = load_runtime(case.runtime)
    session = runtime.load(path_art, runtime.options_type(threads=threads))
    try:
        x = to_input(x_float, session.input_spec)
        m = measure(session, x, protocol)
        return float(np.median(m.samples_ms)), 1e3 / m.fps, dict(session.settings)
    finally:
        session.close()


def compare(case: Case, threads: int, rounds: int, runs: int, warmup: int,
            x_float: np.ndarray, tmp: Path) -> dict:
    art = artifact(*case.variant)
    protocol = Protocol("official-tools", warmup=warmup, settle_s=0.0, runs=runs)
    tool = TOOLS[case.tool]
    ours, theirs, ours_wall, theirs_wall, settings = [], [], [], [], {}
    for r in range(rounds):
        steps = ["tool", "edgebench"] if r % 2 == 0 else ["edgebench", "tool"]
        for step in steps:
            if step == "tool":
                median, wall = tool(art.path, threads, runs, warmup, tmp)
                theirs.append(median)
                theirs_wall.append(wall)
            else:
                median, wall, settings = edgebench_round(case, art, threads, x_float, protocol)
                ours.append(median)
                ours_wall.append(wall)
    assert settings.get("threads") == threads, settings
    a, b = float(np.median(ours)), float(np.median(theirs))
    # Each round's two figures were taken back to back: their ratio cancels slower drift.
    paired = float(np.median(np.array(ours) / np.array(theirs)))
    return {"target": case.target, "file": art.path.name, "threads": threads, "tool": case.tool,
            "edgebench_ms": a, "tool_ms": b, "ratio": a / b, "paired_ratio": paired,
            "edgebench_rounds": ours, "tool_rounds": theirs,
            "edgebench_wall_ms": float(np.median(ours_wall)), "tool_wall_ms": float(np.median(theirs_wall))}


def edgebench_offline_round(case: Case, art, x_float: np.ndarray, protocol: Protocol) -> tuple[float, int]:
    """One fresh session in OpenVINO's throughput mode, timed by edgebench's offline runner
    (what `run --scenario offline` times): images/s and the requests it kept in flight."""
    runtime = load_runtime(case.runtime)
    session = runtime.load(art, runtime.options_type(throughput=True))
    try:
        m = measure_async(session, to_input(x_float, session.input_spec), protocol)
        return m.fps, session.in_flight
    finally:
        session.close()


def compare_offline(case: Case, rounds: int, runs: int, x_float: np.ndarray, tmp: Path) -> dict:
    """The offline scenario against `benchmark_app -hint throughput`, rounds alternating."""
    art = artifact(*case.variant)
    protocol = Protocol("official-tools-offline", warmup=10, settle_s=0.0, runs=runs)
    ours, theirs, requests = [], [], {}
    for r in range(rounds):
        for step in (["tool", "edgebench"] if r % 2 == 0 else ["edgebench", "tool"]):
            if step == "tool":
                fps, requests["tool"] = openvino_throughput_tool(art.path, runs, tmp)
                theirs.append(fps)
            else:
                fps, requests["edgebench"] = edgebench_offline_round(case, art, x_float, protocol)
                ours.append(fps)
    a, b = float(np.median(ours)), float(np.median(theirs))
    return {"target": case.target, "file": art.path.name, "edgebench_fps": a, "tool_fps": b, "ratio": a / b,
            "paired_ratio": float(np.median(np.array(ours) / np.array(theirs))), "requests": requests,
            "edgebench_rounds": ours, "tool_rounds": theirs}


# ---- --explain: variants of each runtime's call, interleaved call by call in this process ----
#
# Machine load on a shared 2-core VM moves round medians by 10-30%; calling every variant in turn,
# call after call, and taking per-call ratios cancels that drift far better than rounds do.
# Each variant yields (label, call, request): `request` is an OpenVINO InferRequest whose
# `latency` (OpenVINO's own C++-side time of the last infer(), the figure benchmark_app reports)
# is read after each call, so "wall - latency" is the cost outside the runtime's own timer.
# The first variant is the tool's call: every ratio is paired against it, per call.

def litert_variants(path: Path, threads: int, x: np.ndarray):
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.tools.benchmark_litert_model import _import_litert

    compiled_cls, accel_cls, env_cls, env_opts_cls, opts_cls, cpu_opts_cls = _import_litert()
    env = env_cls.create(options=env_opts_cls())
    model = compiled_cls.from_file(str(path), environment=env, options=opts_cls(
        hardware_accelerators=accel_cls(accel_cls.CPU), cpu_options=cpu_opts_cls(num_threads=threads)))
    sig = next(iter(model.get_signature_list()))
    names_in = list(model.get_input_tensor_details(sig).keys())
    names_out = list(model.get_output_tensor_details(sig).keys())
    ins = {n: model.create_input_buffer_by_name(sig, n) for n in names_in}
    outs = {n: model.create_output_buffer_by_name(sig, n) for n in names_out}
    ins[names_in[0]].write(x)
    yield "litert-benchmark's call: CompiledModel.run_by_name", lambda: model.run_by_name(sig, ins, outs), None

    # What edgebench.runtimes.litert.create_interpreter does (its stderr filter is not
    # re-entrant, and explain() already filters around this generator).
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    rng = np.random.default_rng(0)
    noise = (rng.integers(-128, 128, x.shape).astype(x.dtype) if x.dtype == np.int8
             else rng.uniform(-1, 1, x.shape).astype(x.dtype))

    def frame(data=x):
        it.set_tensor(i, data)
        it.invoke()
        return it.get_tensor(o)
    yield "edgebench's frame: Interpreter set_tensor, invoke, get_tensor", frame, None
    yield "Interpreter invoke only", it.invoke, None
    yield "Interpreter frame, random input (as the tool fills)", lambda: frame(noise), None

    def compiled_frame():
        ins[names_in[0]].write(x)
        model.run_by_name(sig, ins, outs)
        return outs[names_out[0]].read(1000, x.dtype)
    yield "CompiledModel frame: write, run_by_name, read", compiled_frame, None


def openvino_variants(path: Path, threads: int, x: np.ndarray):
    import openvino as ov

    from edgebench.runtimes.openvino import OpenVinoSession, compile_model

    compiled = compile_model(path, RuntimeOptions(threads=threads))   # as edgebench compiles
    noise = np.random.default_rng(0).uniform(0, 255, x.shape).astype(x.dtype)  # benchmark_app's fill

    def request(fill=None):
        r = compiled.create_infer_request()
        r.get_input_tensor(0).data[:] = x if fill is None else fill
        return r
    tool = request()
    yield "benchmark_app's loop: infer(), input filled once", tool.infer, tool
    r1 = request()
    yield ("a frame copying x: set_input_tensor(Tensor(x)), infer(), copy output",
           lambda: (r1.set_input_tensor(ov.Tensor(x)), r1.infer(), r1.get_output_tensor(0).data.copy()), r1)
    r2 = request()
    yield ("the same with Tensor(x, shared_memory=True) [no copy] (edgebench until 2026-12-03)",
           lambda: (r2.set_input_tensor(ov.Tensor(x, shared_memory=True)), r2.infer(),
                    r2.get_output_tensor(0).data.copy()), r2)
    r5 = request()
    yield ("the same, shared, with start_async(); wait() for infer()",
           lambda: (r5.set_input_tensor(ov.Tensor(x, shared_memory=True)), r5.start_async(), r5.wait(),
                    r5.get_output_tensor(0).data.copy()), r5)
    session = OpenVinoSession(compiled, {})   # edgebench's own frame, as `run` times it
    yield ("edgebench's session now: set_input (same array: wrapped once), infer(), output",
           lambda: (session.set_input(x), session.invoke(), session.output()), session._request)
    r3 = request()
    yield ("copy x into the request's own tensor, infer(), copy output",
           lambda: (r3.get_input_tensor(0).data.__setitem__(slice(None), x), r3.infer(),
                    r3.get_output_tensor(0).data.copy()), r3)
    r4 = request(noise)
    yield "infer(), random input filled once (as benchmark_app fills)", r4.infer, r4


VARIANTS = {"litert": litert_variants, "openvino": openvino_variants}


def explain(case: Case, threads: int, calls: int, x_float: np.ndarray) -> list[tuple]:
    """Per variant: median wall ms, median wall/tool-figure per call, median wall-latency us."""
    art = artifact(*case.variant)
    runtime = load_runtime(case.runtime)
    probe = runtime.load(art, runtime.options_type(threads=threads))
    x = to_input(x_float, probe.input_spec)
    probe.close()
    with drop_native_stderr(NATIVE_CHATTER):
        variants = list(VARIANTS[case.runtime](art.path, threads, x))
    clock = time.perf_counter_ns
    for _, call, _ in variants:
        for _ in range(10):
            call()
    wall = np.empty((len(variants), calls))
    latency = np.full((len(variants), calls), np.nan)
    order = list(range(len(variants)))
    for n in range(calls):
        for k in (order if n % 2 == 0 else order[::-1]):
            _, call, request = variants[k]
            t0 = clock()
            call()
            wall[k, n] = (clock() - t0) / 1e6
            if request is not None:
                latency[k, n] = request.latency
    # The tool's figure per call: OpenVINO's own latency of benchmark_app's request, else its wall time.
    tool = latency[0] if variants[0][2] is not None else wall[0]
    rows = []
    for k, (label, _, request) in enumerate(variants):
        outside = float(np.median(wall[k] - latency[k]) * 1e3) if request is not None else None
        rows.append((label, float(np.median(wall[k])), float(np.median(wall[k] / tool)), outside))
    with drop_native_stderr(NATIVE_CHATTER):   # LiteRT logs each accelerator it destroys
        call = request = _ = None   # the loops' last bindings keep the last variant alive
        variants.clear()
        gc.collect()
    return rows


def _span(values) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100, help="timed inferences per round and side")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", default=f"{cores()},1")
    parser.add_argument("--targets", default=",".join(c.target for c in CASES))
    parser.add_argument("--offline", action="store_true",
                        help="also compare the offline scenario with benchmark_app -hint throughput")
    parser.add_argument("--offline-runs", type=int, default=1000, help="--offline: inferences per round and side")
    parser.add_argument("--explain", action="store_true", help="also time in-process variants of each call")
    parser.add_argument("--explain-only", action="store_true", help="only the variants, no tools")
    parser.add_argument("--offline-only", action="store_true", help="only the offline comparison")
    parser.add_argument("--calls", type=int, default=300, help="--explain: interleaved calls per variant")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    wanted = args.targets.split(",")
    cases = [c for c in CASES if c.target in wanted]
    x_float = image_nchw()

    print(f"# edgebench vs the runtimes' own tools, {dt.datetime.now():%Y-%m-%d %H:%M}, {machine()}")
    print(f"# {args.rounds} alternating rounds x {args.runs} timed runs per side "
          f"(warm-up {args.warmup}; benchmark_app: 1); each side: median of per-round medians, ms")
    print("# tool figures: " + "; ".join(f"{k}: {v}" for k, v in TOOL_FIGURE.items()))
    print(f"# {load()} at start")
    if args.explain_only:
        explain_all(cases, threads, args.calls, x_float)
        return
    if args.offline_only:
        offline_all(cases, args.rounds, args.offline_runs, x_float)
        return
    print(f"{'target':14s} {'thr':>3s} {'file':36s} {'tool':16s} {'edgebench':>9s} {'tool':>8s} "
          f"{'ratio':>6s} {'paired':>6s} {'paired range':12s} goal 0.95-1.05")
    rows = []
    with tempfile.TemporaryDirectory(prefix="official-tools-") as tmp:
        for case in cases:
            for t in threads:
                row = compare(case, t, args.rounds, args.runs, args.warmup, x_float, Path(tmp))
                rows.append(row)
                ok = GOAL[0] <= row["ratio"] <= GOAL[1]
                pairs = np.array(row["edgebench_rounds"]) / np.array(row["tool_rounds"])
                print(f"{row['target']:14s} {t:3d} {row['file']:36s} {row['tool']:16s} "
                      f"{row['edgebench_ms']:9.3f} {row['tool_ms']:8.2f} {row['ratio']:6.3f} "
                      f"{row['paired_ratio']:6.3f} {_span(pairs):12s} {'ok' if ok else 'OUTSIDE'}", flush=True)
    print("# paired: median over rounds of (edgebench / tool) within a round; range: min-max of those")
    print("\n# the same runs: per-round medians (min-max), and wall time per inference from throughput:")
    print("# edgebench elapsed/runs = 1000/fps; " + "; ".join(f"{k}: {v}" for k, v in TOOL_WALL.items()))
    print(f"{'target':14s} {'thr':>3s} {'edgebench rounds':16s} {'tool rounds':16s} "
          f"{'edgebench 1000/fps':>18s} {'tool wall':>9s} {'ratio':>6s}")
    for row in rows:
        print(f"{row['target']:14s} {row['threads']:3d} {_span(row['edgebench_rounds']):16s} "
              f"{_span(row['tool_rounds']):16s} {row['edgebench_wall_ms']:18.3f} "
              f"{row['tool_wall_ms']:9.3f} {row['edgebench_wall_ms'] / row['tool_wall_ms']:6.3f}")
    print(f"# {load()} at end")
    if args.offline:
        offline_all(cases, args.rounds, args.offline_runs, x_float)
    if args.explain:
        explain_all(cases, threads, args.calls, x_float)


def offline_all(cases, rounds: int, runs: int, x_float) -> None:
    ov_cases = [c for c in cases if c.tool == "benchmark_app"]
    print(f"\n# offline: edgebench --scenario offline (OpenVINO THROUGHPUT hint, AsyncInferQueue) vs "
          f"benchmark_app -hint throughput -api async, {rounds} alternating rounds x {runs} inferences "
          f"(edgebench: and >= 2 s); images/s, median of rounds; {load()}")
    print(f"{'target':14s} {'file':36s} {'requests':>8s} {'edgebench':>9s} {'tool':>8s} {'ratio':>6s} "
          f"{'paired':>6s} {'paired range':12s} goal 0.95-1.05")
    with tempfile.TemporaryDirectory(prefix="official-tools-") as tmp:
        for case in ov_cases:
            row = compare_offline(case, rounds, runs, x_float, Path(tmp))
            ok = GOAL[0] <= row["ratio"] <= GOAL[1]
            pairs = np.array(row["edgebench_rounds"]) / np.array(row["tool_rounds"])
            req = f"{row['requests']['edgebench']}/{row['requests']['tool']}"
            print(f"{row['target']:14s} {row['file']:36s} {req:>8s} {row['edgebench_fps']:9.1f} "
                  f"{row['tool_fps']:8.1f} {row['ratio']:6.3f} {row['paired_ratio']:6.3f} {_span(pairs):12s} "
                  f"{'ok' if ok else 'OUTSIDE'}", flush=True)
    print(f"# requests: edgebench's/benchmark_app's infer requests in flight; {load()} at end")


def explain_all(cases, threads, calls, x_float) -> None:
    print(f"\n# variants of each runtime's call in this process, interleaved call by call, {calls} calls "
          f"each; {load()}\n# wall: median ms; / tool: median per-call ratio to the tool's figure "
          f"(first row of each block); outside: median wall - InferRequest.latency, us")
    print(f"{'target':14s} {'thr':>3s}  {'variant':80s} {'wall':>7s} {'/ tool':>6s} {'outside':>7s}")
    for case in cases:
        for t in threads:
            for label, ms, ratio, outside in explain(case, t, calls, x_float):
                extra = f"{outside:7.0f}" if outside is not None else f"{'':7s}"
                print(f"{case.target:14s} {t:3d}  {label:80s} {ms:7.3f} {ratio:6.3f} {extra}", flush=True)
    print(f"# {load()} at end")


if __name__ == "__main__":
    main()

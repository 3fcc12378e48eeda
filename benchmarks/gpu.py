"""CUDA targets on a GPU machine (run through the device tool; see RESULTS.md):
batch-1 latency per torch mode, batch-256 throughput, NVML energy per image, and top-1
agreement of the GPU targets with the CPU targets on the chickadee photo.

Goals: best batch-1 CUDA median <= 0.5 ms; fp16 batch-256 >= 40,000 images/s.

    python -m benchmarks.gpu --image bird.bmp --out DIR --phase modes|compile
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from edgebench import RunConfig, run
from edgebench.protocol import CLASSIC, RIGOROUS, sustained

ROWS: list[str] = []


def torch(**settings) -> dict[str, dict[str, str]]:
    """RunConfig.runtime_settings for the torch runtime's typed options."""
    return {"torch": {name: str(value) for name, value in settings.items()}}


def record(result, mode: str, out: Path, tag: str) -> None:
    (out / f"{tag}.json").write_text(result.model_dump_json())
    for r in result.results:
        if r.status != "ok":
            ROWS.append(f"{r.target:18s} {mode:8s} {'-':>5s}  {r.status}: {r.error}")
            continue
        e = r.energy
        energy = (f"{e.j_per_inference / r.batch * 1e3:9.3f} {e.avg_power_w:7.1f}  {e.method.split(':')[0]}"
                  if e else f"{'-':>9s} {'-':>7s}  none")
        ROWS.append(f"{r.target:18s} {r.options.get('mode', mode):8s} {r.batch:5d} {r.latency_ms.median:9.3f} "
                    f"{r.latency_ms.p99:9.3f} {r.images_per_s:11,.0f} {energy}  {r.top1.label} "
                    f"{'ref' if r.is_reference else r.agrees_with_reference}")
        extra = []
        if r.memory:
            extra.append(f"memory MiB load +{r.memory.load_peak_added_mb:.0f} run +{r.memory.run_peak_added_mb:.0f}"
                         f" arena {r.memory.runtime_arena_mb}")
        if r.sustained:
            s = r.sustained
            extra.append(f"sustained {len(s.windows)} windows: {s.first_minute_fps:,.0f} -> "
                         f"{s.last_minute_fps:,.0f} fps ({s.last_vs_first:.3f}x), throttled={s.throttled}: "
                         f"{s.evidence}; gpu at end {s.windows[-1].gpu}")
        if extra:
            ROWS.append(f"{'':18s} " + "; ".join(extra) + f"; settings {r.options}")
    print("\n".join(ROWS[-len(result.results):]), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--phase", choices=("modes", "compile", "residency", "throughput", "final", "fold", "check"),
                        default="modes")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    header = (f"{'target':18s} {'mode':8s} {'batch':>5s} {'median ms':>9s} {'p99 ms':>9s} {'images/s':>11s} "
              f"{'mJ/image':>9s} {'avg W':>7s}  meter  top-1 agrees")
    print(header, flush=True)
    started = time.time()
    if args.phase == "check":
        # After the orchestration rework: typed torch options, settings read back from the session,
        # CUDA memory (torch's allocator peak), a batch sweep, a sustained run with NVML sampling.
        record(run(RunConfig(targets=("torch-fp32", "torch-fp32@cuda", "torch-fp16@cuda"), image=Path(args.image),
                             protocol=RIGOROUS)), "auto", out, "check-b1")
        record(run(RunConfig(targets=("torch-fp32@cuda", "torch-fp16@cuda"), image=Path(args.image),
                             protocol=CLASSIC.with_overrides(runs=200), batch_sizes=(1, 64, 256))),
               "auto", out, "check-batch-sweep")
        record(run(RunConfig(targets=("torch-fp16@cuda",), image=Path(args.image), protocol=sustained(30.0))),
               "auto", out, "check-sustained")
    elif args.phase == "modes":
        # CPU references and both GPU precisions in one run: agreement is judged against torch-fp32 (CPU).
        record(run(RunConfig(targets=("torch-fp32", "onnxruntime-fp32", "torch-fp32@cuda", "torch-fp16@cuda"),
                             image=Path(args.image), protocol=CLASSIC)), "auto", out, "agreement")
        for mode in ("graph", "eager"):
            record(run(RunConfig(targets=("torch-fp32@cuda", "torch-fp16@cuda"), image=Path(args.image),
                                 protocol=RIGOROUS, runtime_settings=torch(mode=mode))), mode, out, f"b1-{mode}")
            record(run(RunConfig(targets=("torch-fp32@cuda", "torch-fp16@cuda"), image=Path(args.image),
                                 protocol=CLASSIC.with_overrides(runs=200), runtime_settings=torch(mode=mode), batch=256)),
                   mode, out, f"b256-{mode}")
    elif args.phase == "fold":
        # Batch 1 with Conv+BN folded (the default now) vs not, and with the frame staged on the GPU.
        record(run(RunConfig(targets=("torch-fp32", "torch-fp32@cuda", "torch-fp16@cuda"), image=Path(args.image),
                             protocol=RIGOROUS)), "graph+fold", out, "fold-b1")
        record(run(RunConfig(targets=("torch-fp32@cuda", "torch-fp16@cuda"), image=Path(args.image),
                             protocol=RIGOROUS, runtime_settings=torch(cuda_input="device"))), "graph+fold/dev", out, "fold-b1-device")
        record(run(RunConfig(targets=("torch-fp32@cuda",), image=Path(args.image), protocol=RIGOROUS,
                             runtime_settings=torch(fold_bn=False))), "graph", out, "nofold-b1")
    elif args.phase == "final":
        # The defaults (auto) at batch 1 and 256, with the CPU references beside them.
        record(run(RunConfig(targets=("torch-fp32", "onnxruntime-fp32", "torch-fp32@cuda", "torch-fp16@cuda"),
                             image=Path(args.image), protocol=RIGOROUS)), "auto", out, "final-b1")
        record(run(RunConfig(targets=("torch-fp16@cuda", "torch-fp32@cuda"), image=Path(args.image),
                             protocol=RIGOROUS.with_overrides(runs=300, min_duration_s=5.0), batch=256)),
               "auto", out, "final-b256")
        record(run(RunConfig(targets=("torch-fp32@cuda",), image=Path(args.image), protocol=RIGOROUS,
                             runtime_settings=torch(mode="eager"))), "eager", out, "final-b1-eager")
    elif args.phase == "residency":
        # Batch 1 with the frame staged on the GPU, and fp32 in NCHW-contiguous layout.
        for input_on in ("host", "device"):
            record(run(RunConfig(targets=("torch-fp32@cuda", "torch-fp16@cuda"), image=Path(args.image),
                                 protocol=RIGOROUS, runtime_settings=torch(cuda_input=input_on))), f"graph/{input_on}", out,
                   f"b1-graph-{input_on}")
        record(run(RunConfig(targets=("torch-fp32@cuda",), image=Path(args.image), protocol=RIGOROUS,
                             runtime_settings=torch(cuda_layout="contiguous"))), "graph/nchw", out, "b1-graph-nchw")
        for input_on in ("device", "host"):
            record(run(RunConfig(targets=("torch-fp16@cuda",), image=Path(args.image), batch=256,
                                 protocol=CLASSIC.with_overrides(runs=200), runtime_settings=torch(cuda_input=input_on))),
                   f"graph/{input_on}", out, f"b256-graph-{input_on}")
    elif args.phase == "throughput":
        record(run(RunConfig(targets=("torch-fp16@cuda",), image=Path(args.image), protocol=RIGOROUS,
                             runtime_settings=torch(cuda_layout="contiguous"))), "graph/nchw", out, "b1-fp16-nchw")
        for compile_mode in ("default", "max-autotune"):
            record(run(RunConfig(targets=("torch-fp16@cuda",), image=Path(args.image), batch=256,
                                 protocol=CLASSIC.with_overrides(runs=300), runtime_settings=torch(mode="compile", compile_mode=compile_mode))),
                   f"compile/{compile_mode}", out, f"b256-compile-{compile_mode}")
    else:
        for batch, protocol in ((1, RIGOROUS), (256, CLASSIC.with_overrides(runs=200))):
            record(run(RunConfig(targets=("torch-fp16@cuda",), image=Path(args.image), protocol=protocol,
                                 runtime_settings=torch(mode="compile"), batch=batch)), "compile", out, f"b{batch}-compile")
    print(f"\n{header}\n" + "\n".join(ROWS) + f"\n(elapsed {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()

"""Measurement depth on this machine: one thread sweep and one sustained run, as RESULTS.md
records them (issue 15).

    python -m benchmarks.depth [--duration 300] [--target litert-int8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

from benchmarks.common import machine
from edgebench import RunConfig, run
from edgebench.protocol import CLASSIC, sustained


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--target", default="litert-int8")
    args = parser.parse_args()
    print(f"# measurement depth, {dt.date.today()}, {machine()}, load average {os.getloadavg()}")
    sweep = run(RunConfig(targets=("litert-int8", "onnxruntime-fp32", "openvino-fp32", "torch-fp32"),
                          thread_counts=(1, 2), protocol=CLASSIC))
    print("\n## thread sweep (classic protocol): median ms [95% CI]")
    for r in sweep.results:
        if r.status == "ok":
            lo, hi = r.latency_ms.ci95_median
            print(f"{r.target:18s} threads {r.sweep['threads']}: {r.latency_ms.median:8.3f} [{lo:.3f}, {hi:.3f}]"
                  f"  load +{r.memory.load_peak_added_mb:.0f} MiB, run +{r.memory.run_peak_added_mb:.0f} MiB")
    result = run(RunConfig(targets=(args.target,), protocol=sustained(args.duration)))
    (r,) = result.results
    s = r.sustained
    print(f"\n## sustained {args.duration:.0f} s on {r.target}: {len(s.windows)} windows")
    print(f"first minute {s.first_minute_fps:.1f} fps, last minute {s.last_minute_fps:.1f} fps, "
          f"ratio {s.last_vs_first:.3f}; throttled={s.throttled}: {s.evidence}")
    print("fps per 10 s: " + ", ".join(f"{sum(w.fps for w in s.windows[i:i + 10]) / len(s.windows[i:i + 10]):.1f}"
                                       for i in range(0, len(s.windows), 10)))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""Run-to-run noise of this machine: 5 separate classic runs of litert-int8, each in a fresh
process as a user would run them, and the harness's own cost from the NullRuntime.

Goal: CV of the five medians <= 3% (record what this machine really does).

    .venv/bin/python benchmarks/repeatability.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import machine

EDGEBENCH = str(Path(sys.executable).with_name("edgebench"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--protocol", default="classic", help="classic (the goal's) or rigorous")
    args = parser.parse_args()
    print(f"# repeatability, protocol {args.protocol}, {dt.date.today()}, {machine()}")
    medians, overhead_med, overhead_p99 = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            out = Path(tmp) / f"r{i}.json"
            subprocess.run([EDGEBENCH, "run", "--targets", "litert-int8", "--protocol", args.protocol,
                            "--no-save", "--out", str(out)],
                           check=True, capture_output=True, env=os.environ.copy())
            data = json.loads(out.read_text())
            r = data["results"][0]
            medians.append(r["latency_ms"]["median"])
            overhead_med.append(data["harness_overhead"]["median_us"])
            overhead_p99.append(data["harness_overhead"]["p99_us"])
            print(f"run {i + 1}: litert-int8 {args.protocol} median {medians[-1]:.3f} ms, fps {r['fps']:.1f}, "
                  f"run CV {r['latency_ms']['cv'] * 100:.1f}%; harness overhead median "
                  f"{overhead_med[-1]:.3f} us, p99 {overhead_p99[-1]:.3f} us")
    m = np.asarray(medians)
    cv = m.std(ddof=1) / m.mean()
    print(f"medians: mean {m.mean():.3f} ms, min {m.min():.3f}, max {m.max():.3f}; "
          f"CV of the medians {cv * 100:.2f}%  goal <= 3%  {'ok' if cv <= 0.03 else 'MISSED'}")
    print(f"harness overhead (NullRuntime): median {np.median(overhead_med):.3f} us per inference "
          f"= {np.median(overhead_med) / 1e3 / m.mean() * 100:.3f}% of the litert-int8 median")


if __name__ == "__main__":
    main()

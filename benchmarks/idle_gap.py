"""One inference after an idle gap, against back-to-back inferences (issue 28's server search):
on a VM whose vCPUs idle between queries, an inference that follows a pause runs slower, which
bounds what a Poisson server scenario can reach at low rates whatever the engine.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/idle_gap.py --target litert-int8
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from edgebench.bench.config import RunConfig
from edgebench.bench.execute import Photo, feed_inputs
from edgebench.bench.plan import make_plan, open_session
from edgebench.models.images import default_image


def timed(session, x, gap_s: float, runs: int) -> np.ndarray:
    """ms of each inference (set_input + invoke + output), each after sleeping gap_s."""
    out = []
    for _ in range(runs):
        if gap_s:
            time.sleep(gap_s)
        t0 = time.perf_counter()
        session.set_input(x)
        session.invoke()
        session.output()
        out.append((time.perf_counter() - t0) * 1e3)
    return np.array(out[5:])   # the first few warm the session up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="litert-int8")
    parser.add_argument("--runs", type=int, default=80)
    args = parser.parse_args()
    for threads in (2, 1):
        plan = make_plan(RunConfig(targets=(args.target,), threads=threads))
        session = open_session(plan.targets[0], plan.task.task)
        x = feed_inputs(plan, session, Photo(default_image())).x
        for gap_ms in (0, 1, 10, 50):
            t = timed(session, x, gap_ms / 1e3, args.runs)
            print(f"{args.target} threads {threads} gap {gap_ms:3d} ms: median {np.median(t):.2f} "
                  f"p90 {np.percentile(t, 90):.2f} p99 {np.percentile(t, 99):.2f} ms  "
                  f"(load {' '.join(f'{v:.2f}' for v in os.getloadavg())})", flush=True)
        session.close()


if __name__ == "__main__":
    main()

"""Wall-clock goals of the command line, measured as a user meets them.

  edgebench --help                         <= 0.5 s   (median of 10)
  edgebench models prepare (empty cache)   <= 180 s   (first-time prepare of every variant)
  edgebench run (models prepared)          <= 60 s    (all targets, classic protocol)

    .venv/bin/python benchmarks/cli_timings.py
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine

EDGEBENCH = [str(Path(sys.executable).with_name("edgebench"))]


def timed(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.run(EDGEBENCH + args, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"edgebench {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main() -> None:
    print(f"# CLI timings, {dt.date.today()}, {machine()}")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "EDGEBENCH_CACHE_DIR": cache}
        help_s = statistics.median(timed(["--help"], env) for _ in range(10))
        prepare_s = timed(["models", "prepare", "mobilenet_v2"], env)
        run_s = timed(["run"], env)
    for label, value, goal in (("edgebench --help (median of 10)", help_s, 0.5),
                               ("first-time prepare, empty cache", prepare_s, 180.0),
                               ("edgebench run, models prepared", run_s, 60.0)):
        print(f"{label:36s} {value:8.2f} s   goal <= {goal:g} s  {'ok' if value <= goal else 'MISSED'}")


if __name__ == "__main__":
    main()

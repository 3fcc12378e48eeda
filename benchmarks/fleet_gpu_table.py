"""The stored results of a fleet run as a compact table, and its jobs' times per device
(used by fleet_gpu.sh): python -m benchmarks.fleet_gpu_table STORE.db [FLEET.json]"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path


def main(store_path: str, fleet_json: str | None = None) -> None:
    from edgebench.results.store import Store

    store = Store(store_path, create=False)
    runs = store.all_runs()
    print(f"# {len(runs)} runs in {store_path}")
    print(f"{'device':10s} {'status':9s} {'target':18s} {'on':5s} {'median ms':>9s} {'p99 ms':>8s} "
          f"{'fps':>8s}  {'top-1':14s} {'agrees':6s} gpu / threads")
    for run in sorted(runs, key=lambda r: r.device.hostname):
        for r in run.results:
            lat = r.latency_ms
            where = r.options.get("gpu") or f"threads={r.options.get('threads', r.sweep.get('threads', '?'))}"
            agrees = "ref" if r.is_reference else str(r.agrees_with_reference)
            print(f"{run.device.hostname:10s} {run.status:9s} {r.target:18s} {r.device:5s} "
                  f"{lat.median if lat else float('nan'):9.3f} {lat.p99 if lat else float('nan'):8.3f} "
                  f"{r.fps or 0:8.1f}  {(r.top1.label if r.top1 else '-'):14s} {agrees:6s} {where}"
                  + (f"  [{r.status}: {r.error}]" if r.status != "ok" else ""))
        for s in run.skipped:
            print(f"{run.device.hostname:10s} {'skipped':9s} {s.target:18s} {'':5s} {s.reason}")
    if not fleet_json:
        return
    fleet = json.loads(Path(fleet_json).read_text())["fleet"]
    print("# jobs (worker clock)")
    for d in fleet["devices"]:
        print(f"device {d['name']}: capabilities {d['capabilities']}, gpus {d['gpus']}, "
              f"targets {sorted(d['targets'])}")
    jobs = sorted(fleet["jobs"], key=lambda j: (j["device"], j["started"] or 0))
    t0 = min((j["started"] for j in jobs if j["started"]), default=0)
    for j in jobs:
        start = (j["started"] or t0) - t0
        end = (j["ended"] or t0) - t0
        print(f"{j['device']:10s} job {j['job']} {j['status']:8s} {','.join(j['targets'] or []):40s} "
              f"start {start:7.2f} s  end {end:7.2f} s" + (f"  error: {j['error']}" if j["error"] else ""))
    overlap = []
    for dev in {j["device"] for j in jobs}:
        mine = [j for j in jobs if j["device"] == dev and j["started"] and j["ended"]]
        overlap += [(dev, a["job"], b["job"]) for a, b in itertools.pairwise(mine) if b["started"] < a["ended"]]
    print(f"overlap per device: {overlap or 'none'}")


if __name__ == "__main__":
    main(*sys.argv[1:3])

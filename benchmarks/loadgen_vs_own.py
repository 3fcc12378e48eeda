"""LoadGen's figures beside edgebench's own loops, alternating in one process (issue 28), then the
server scenario's highest rate at p99 <= 10 ms.

For each round, for each target: edgebench's single-stream loop, LoadGen SingleStream, edgebench's
offline loop, LoadGen Offline - so drift of a shared machine's load hits both sides alike.
Printed: single-stream p90 (edgebench: numpy's p90 of the per-inference samples; LoadGen: its
90th percentile, issue to completion) and offline images/s, with the ratio LoadGen / own; and
each target's server search. Runs are saved in --store (for the report's server chart).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/loadgen_vs_own.py --rounds 2 --store /tmp/lg.db
"""

from __future__ import annotations

import argparse
import os
import statistics

from edgebench.bench.config import LoadGenSettings, RunConfig
from edgebench.bench.execute import run
from edgebench.protocol import CLASSIC
from edgebench.results.store import Store

TARGETS = ("litert-int8", "openvino-int8")


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def one(store, scenario: str, loadgen: LoadGenSettings | None, runs: int, threads: int | None) -> dict:
    protocol = CLASSIC.with_overrides(runs=runs, settle_s=0.0, warmup=20)
    result = run(RunConfig(targets=TARGETS, scenario=scenario, streams=2, protocol=protocol, loadgen=loadgen,
                           threads=threads), recorder=store)
    out = {}
    for r in result.results:
        if r.status != "ok":
            out[r.target] = None
            continue
        if loadgen is None:
            out[r.target] = r.latency_ms.p90 if scenario == "single-stream" else r.images_per_s
        else:
            f = r.loadgen.figures
            out[r.target] = (f.get("p90_ms") if scenario == "single-stream" else f.get("qps"), r.loadgen.verdict)
        if scenario == "single-stream":   # the medians too, and the SUT's own p90 inside LoadGen
            MEDIANS.setdefault(r.target, {}).setdefault("lg" if loadgen else "own", []).append(r.latency_ms.median)
            if loadgen is not None:
                MEDIANS[r.target].setdefault("sut_p90", []).append(r.latency_ms.p90)
    return out


MEDIANS: dict = {}   # target -> {"own": [p50 ms per round], "lg": [...], "sut_p90": [...]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--store", default="/tmp/loadgen-bench.db")
    parser.add_argument("--server-only", action="store_true", help="only the server search at p99 <= 10 ms")
    parser.add_argument("--threads", type=int, default=None, help="threads per session (default: the runtime's)")
    args = parser.parse_args()
    store = Store(args.store)
    lg_single = LoadGenSettings(min_duration_s=3.0, min_query_count=args.queries)
    lg_offline = LoadGenSettings(min_duration_s=3.0)
    rows = {t: {"own_p90": [], "lg_p90": [], "own_ips": [], "lg_ips": []} for t in TARGETS}
    for n in range(1, 0 if args.server_only else args.rounds + 1):
        for key, scenario, settings in (("own_p90", "single-stream", None), ("lg_p90", "single-stream", lg_single),
                                        ("own_ips", "offline", None), ("lg_ips", "offline", lg_offline)):
            before = load()
            got = one(store, scenario, settings, args.queries, args.threads)
            print(f"round {n} {key:8s} {got}  load {before} -> {load()}", flush=True)
            for target, value in got.items():
                if value is not None:
                    rows[target][key].append(value[0] if isinstance(value, tuple) else value)
    if not args.server_only:
        print("\ntarget | own p90 ms | LoadGen p90 ms | ratio | own offline img/s | LoadGen offline img/s | ratio")
        for target, r in rows.items():
            med = {k: statistics.median(v) if v else float("nan") for k, v in r.items()}
            print(f"{target} | {med['own_p90']:.2f} | {med['lg_p90']:.2f} | {med['lg_p90'] / med['own_p90']:.3f} | "
                  f"{med['own_ips']:.1f} | {med['lg_ips']:.1f} | {med['lg_ips'] / med['own_ips']:.3f}")
        print("\ntarget | own p50 ms | LoadGen-run p50 ms (SUT-timed) | ratio | SUT-timed p90 inside LoadGen ms")
        for target, m in MEDIANS.items():
            own, lg = statistics.median(m["own"]), statistics.median(m["lg"])
            print(f"{target} | {own:.3f} | {lg:.3f} | {lg / own:.3f} | {statistics.median(m['sut_p90']):.3f}")
    server = LoadGenSettings(latency_bound_ms=10.0, min_duration_s=1.0, min_query_count=args.queries)
    before = load()
    result = run(RunConfig(targets=TARGETS, scenario="server", streams=2, loadgen=server, threads=args.threads),
                 recorder=store)
    print(f"\nserver, p99 <= 10 ms (load {before} -> {load()}); run {result.run_id[:12]}")
    for r in result.results:
        if r.loadgen is None:
            print(f"{r.target}: {r.status} {r.error}")
            continue
        lg = r.loadgen
        probes = ", ".join(f"{p['target_qps']:.4g}:{p['verdict'][0]}({p['p99_ms']})" for p in lg.search["probes"])
        print(f"{r.target}: {lg.verdict} server_qps={lg.server_qps} p99={lg.server_p99_ms} ms; "
              f"{lg.search['stopped_because']}; probes {probes}; reasons {lg.reasons}")


if __name__ == "__main__":
    main()

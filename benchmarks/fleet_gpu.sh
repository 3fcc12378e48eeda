#!/usr/bin/env bash
# A CPU+GPU fleet matrix on one GPU machine (issue 12; run through the `device` tool, see RESULTS.md).
#
# Scheduler, two workers and the client on one machine, everything on 127.0.0.1:
#   h200-gpu  the whole machine's GPU (advertises the `cuda` resource), cores 0..N/2-1
#   h200-cpu  the GPU hidden (CUDA_VISIBLE_DEVICES=""), cores N/2..N-1
# Each worker has its own model cache (as separate devices would) and is pinned to its half of the
# cores (taskset), and the benchmarks use that many threads, so the two devices' CPU targets do not
# fight for cores. Then one `fleet run` of the matrix, the HTML report, and a table read back
# from the results store.
#
#   OUT=DIR [RUNS=50] [TARGETS=torch-fp32,torch-fp32@cuda,onnxruntime-fp32] benchmarks/fleet_gpu.sh
# Writes under OUT: run.log is the caller's; scheduler.log, worker-h200-gpu.log, worker-h200-cpu.log,
# fleet-run.log, fleet.db, fleet.json, report.html.
set -u
OUT=${OUT:?set OUT to a folder}
PY=${PYTHON:-python3}
RUNS=${RUNS:-50}
TARGETS=${TARGETS:-torch-fp32,torch-fp32@cuda,onnxruntime-fp32}
PORT=${PORT:-8786}
SCHED=tcp://127.0.0.1:$PORT
GPU_NAME=${GPU_NAME:-h200-gpu}
CPU_NAME=${CPU_NAME:-h200-cpu}
export EDGEBENCH_CACHE_DIR=${EDGEBENCH_CACHE_DIR:-/tmp/eb/cache}
export EDGEBENCH_DATA_DIR=${EDGEBENCH_DATA_DIR:-/tmp/eb/data}
export EDGEBENCH_STORE=${EDGEBENCH_STORE:-/tmp/eb/default.db}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$EDGEBENCH_CACHE_DIR" "$EDGEBENCH_DATA_DIR"
eb() { "$PY" -m edgebench "$@"; }

cores=$(nproc); half=$((cores / 2))
# pin CPUS CMD... (run in the background: exec keeps $! the worker's own pid)
pin() { if command -v taskset >/dev/null; then exec taskset -c "$@"; else shift; exec "$@"; fi; }
pids=()
stop() {   # only the processes this script started, by pid
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  for _ in $(seq 20); do alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 0.5; done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
}
trap stop EXIT

echo "# machine, $(date -u '+%Y-%m-%d %H:%M UTC')"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
"$PY" -c 'import sys, torch, onnxruntime, distributed; print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU", "| onnxruntime", onnxruntime.__version__, "| distributed", distributed.__version__)'
echo "cores $cores: $GPU_NAME on 0-$((half - 1)), $CPU_NAME on $half-$((cores - 1)), --threads $half"

"$PY" -m edgebench fleet scheduler --host 127.0.0.1 --port "$PORT" >"$OUT/scheduler.log" 2>&1 & pids+=($!)
sleep 2
EDGEBENCH_CACHE_DIR=$EDGEBENCH_CACHE_DIR/$GPU_NAME pin "0-$((half - 1))" "$PY" -m edgebench fleet worker --scheduler "$SCHED" --name "$GPU_NAME" \
  >"$OUT/worker-$GPU_NAME.log" 2>&1 & pids+=($!)
CUDA_VISIBLE_DEVICES="" EDGEBENCH_CACHE_DIR=$EDGEBENCH_CACHE_DIR/$CPU_NAME pin "$half-$((cores - 1))" "$PY" -m edgebench fleet worker --scheduler "$SCHED" \
  --name "$CPU_NAME" >"$OUT/worker-$CPU_NAME.log" 2>&1 & pids+=($!)

t0=$(date +%s)
until [ "$(eb fleet status --scheduler "$SCHED" --json 2>/dev/null | "$PY" -c 'import json,sys; print(sum(1 for d in json.load(sys.stdin) if d["profile"]))' 2>/dev/null)" = 2 ]; do
  if [ $(( $(date +%s) - t0 )) -gt 300 ]; then echo "workers did not join in 300 s"; tail -n 20 "$OUT"/*.log; exit 1; fi
  sleep 1
done
echo "# both workers joined after $(( $(date +%s) - t0 )) s"
COLUMNS=200 eb fleet status --scheduler "$SCHED"
"$PY" - "$SCHED" <<'PYEOF'
import sys
from distributed import Client
with Client(sys.argv[1], timeout=10) as client:   # Dask's own view: each worker's resources
    for w in sorted(client.scheduler_info(n_workers=-1)["workers"].values(), key=lambda w: w["name"]):
        print(f"dask worker {w['name']}: resources {w.get('resources')}")
PYEOF
echo "# fleet run"
start=$(date +%s)
set -o pipefail
COLUMNS=160 eb fleet run --scheduler "$SCHED" --models mobilenet_v2 --targets "$TARGETS" --runs "$RUNS" \
  --threads "$half" --offline --store "$OUT/fleet.db" --out "$OUT/fleet.json" 2>&1 | tee "$OUT/fleet-run.log"
rc=$?
echo "# fleet run exit $rc, wall $(( $(date +%s) - start )) s"
eb report --store "$OUT/fleet.db" --out "$OUT/report.html" 2>&1 | tail -n 5
"$PY" -m benchmarks.fleet_gpu_table "$OUT/fleet.db" "$OUT/fleet.json"
exit $rc

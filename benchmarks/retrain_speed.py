"""How long `edgebench retrain` takes on 3 classes x 20 images, split into feature extraction,
training and conversion (+ validation), for imprint and head.

Goals (issue 13): imprinted head ready in <= 5 s excluding the variant conversion; the whole
`head` run, all four variants included, <= 90 s on the 2-core VM. Coral publishes ~0.8 s for
imprinting 10 classes x 20 images on x86 (its last layer only, on precomputed embeddings).

Each run is a fresh `edgebench retrain` process with an empty data dir (so every variant is
built) and the 3 x 20 training images and 3 x 6 validation images of tests/retrain_photos.py.

    .venv/bin/python -m benchmarks.retrain_speed [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine
from tests.retrain_photos import make_photo_classes


def one_run(method: str, train: Path, val: Path, root: Path) -> dict:
    data = root / f"data-{method}-{time.monotonic_ns()}"
    env = {**os.environ, "EDGEBENCH_DATA_DIR": str(data)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "edgebench", "retrain", "--base", "mobilenet_v2",
                           "--images", str(train), "--val", str(val), "--name", "bench", "--method", method],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    manifest = json.loads((data / "models" / "bench" / "model.json").read_text())
    timings = manifest["lineage"]["timings_s"]
    low = min(v["top1"] for v in manifest["lineage"]["validation"].values() if v["status"] == "ok")
    return {"wall_s": wall, **timings, "lowest_validation_top1": low}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train, val = make_photo_classes(root / "photos", per_class=20, val_per_class=6)
        print(f"# retrain speed, {machine()}; load before: {os.getloadavg()[0]:.2f}")
        print(f"{'method':8} {'run':>3} {'base s':>7} {'features s':>10} {'train s':>8} {'head ready s':>12} "
              f"{'variants+val s':>14} {'whole process s':>15} {'lowest val top-1':>16}")
        for method in ("imprint", "head"):
            for n in range(args.repeats):
                r = one_run(method, train, val, root)
                print(f"{method:8} {n + 1:>3} {r['load_base_s']:7.2f} {r['feature_extraction_s']:10.2f} "
                      f"{r['training_s']:8.3f} {r['head_ready_s']:12.2f} {r['conversion_and_validation_s']:14.1f} "
                      f"{r['wall_s']:15.1f} {r['lowest_validation_top1']:16.1%}", flush=True)
        print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

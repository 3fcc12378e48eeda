"""How fast the hub serves: metadata requests/s and download MB/s, against a real
`edgebench hub serve` process on loopback (SQLite; PostgreSQL too when --postgres URL is given).

  metadata: GET /api/models?q=mobilenet and GET /api/models/{model}/versions/1, alternating,
            from 1 and 8 concurrent keep-alive clients for 10 s each
  download: the 14 MB fp32 TFLite and the 4 MB int8 ONNX, 10 times each, through HubClient.pull
            (streamed, sha256-checked, written to disk) and as a bare streamed GET (no hashing)

    .venv/bin/python -m benchmarks.hub_throughput [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.common import artifact, machine
from edgebench.hub.client import HubClient
from edgebench.refs import ModelRef

METADATA_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, db_args: list[str]) -> tuple[subprocess.Popen, str, str]:
    token = subprocess.run([sys.executable, "-m", "edgebench", "hub", "token", "create", "bench", "--data",
                            str(data), *db_args], capture_output=True, text=True, check=True).stdout.strip()
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "edgebench", "hub", "serve", "--port", str(port),
                               "--data", str(data), *db_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return server, url, token
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("hub did not start")


def metadata_rate(url: str, clients: int) -> tuple[float, float, float]:
    """(requests/s, median ms, p99 ms) over METADATA_SECONDS with `clients` threads."""
    paths = ["/api/models?q=mobilenet", "/api/models/bench/mobilenet_v2/versions/1"]
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + METADATA_SECONDS

    def worker(offset: int) -> None:
        own = []
        with httpx.Client(base_url=url) as http:
            i = offset
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                response = http.get(paths[i % 2])
                own.append(time.perf_counter() - t0)
                response.raise_for_status()
                i += 1
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return (len(latencies) / elapsed, statistics.median(latencies) * 1e3,
            latencies[int(0.99 * (len(latencies) - 1))] * 1e3)


def download_rates(url: str, version: dict, dest: Path) -> list[tuple[str, float, float, float]]:
    """(file, MB, pull MB/s (hashed + written), bare GET MB/s) per artifact; 10 rounds each."""
    rows = []
    for a in version["artifacts"]:
        mb = a["size"] / 1e6
        pulled, bare = [], []
        with HubClient(url, token="") as client, httpx.Client(base_url=url) as http:
            for _ in range(10):
                target = dest / a["filename"]
                target.unlink(missing_ok=True)
                t0 = time.perf_counter()
                client._download(version, a, dest)
                pulled.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                with http.stream("GET", a["url"]) as response:
                    for _chunk in response.iter_bytes(1 << 20):
                        pass
                bare.append(time.perf_counter() - t0)
        rows.append((a["filename"], mb, mb / statistics.median(pulled), mb / statistics.median(bare)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="SQLAlchemy URL of an empty PostgreSQL database")
    args = parser.parse_args()
    files = [artifact("tflite", "fp32").path, artifact("onnx", "int8").path]
    backends = [("sqlite", [])] + ([("postgresql", ["--db", args.postgres])] if args.postgres else [])
    print(f"# hub throughput, {dt.date.today()}, {machine()}")
    for backend, db_args in backends:
        with tempfile.TemporaryDirectory() as tmp:
            server, url, token = start_server(Path(tmp) / "data", db_args)
            try:
                with HubClient(url, token=token) as client:
                    renamed = []
                    for f in files:  # the hub shows readable names, not cache keys
                        link = Path(tmp) / f"mobilenet_v2-{f.stem.split('-')[0]}-{f.stem.split('-')[1]}{f.suffix}"
                        os.link(f, link)
                        renamed.append((link, None))
                    client.publish(ModelRef("bench", "mobilenet_v2", "1"), {"description": "benchmark"}, renamed)
                    version = client.version(ModelRef("bench", "mobilenet_v2", "1"))
                print(f"\n## {backend}\nmetadata (GET search / GET version, alternating, {METADATA_SECONDS:g} s)")
                print(f"{'clients':>8} {'requests/s':>11} {'median ms':>10} {'p99 ms':>8}")
                for clients in (1, 8):
                    rate, p50, p99 = metadata_rate(url, clients)
                    print(f"{clients:>8} {rate:>11.0f} {p50:>10.2f} {p99:>8.2f}")
                print("download (median of 10)")
                print(f"{'file':<36} {'MB':>6} {'pull MB/s':>10} {'bare GET MB/s':>14}")
                dest = Path(tmp) / "pulled"
                dest.mkdir()
                for name, mb, pull, bare in download_rates(url, version, dest):
                    print(f"{name:<36} {mb:>6.1f} {pull:>10.0f} {bare:>14.0f}")
            finally:
                server.terminate()
                server.wait()


if __name__ == "__main__":
    main()

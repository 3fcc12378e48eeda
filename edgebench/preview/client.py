"""A Python client of the preview's WebSocket: what the tests and the load benchmark drive the
server with, one frame in flight at a time, as the page does.

Example (a server from `edgebench preview` running; the URL as printed, token included):
    python -m edgebench.preview.client "http://127.0.0.1:8000/" --image photo.jpg --seconds 10 --clients 2
"""

from __future__ import annotations

import argparse
import io
import json
import ssl
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from edgebench.preview.protocol import encode_frame


def socket_url(page_url: str) -> str:
    """The WebSocket URL of a page URL (http -> ws, https -> wss, path /ws, the token kept)."""
    parts = urlsplit(page_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "/ws", parts.query, ""))


class PreviewClient:
    """One connection. hello: the server's first message."""

    def __init__(self, page_url: str, timeout_s: float = 30.0, origin: str | None = None,
                 ssl_context: ssl.SSLContext | None = None):
        from websockets.sync.client import connect

        url = socket_url(page_url)
        if url.startswith("wss://") and ssl_context is None:
            ssl_context = ssl.create_default_context()
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE   # the preview's certificate is self-signed
        self.timeout_s = timeout_s
        # No compression: JPEG does not shrink, deflating it only costs both ends CPU.
        # An unbounded receive queue: a client that sends many frames before reading its answers
        # must not stop reading the socket (the server would block on it, and it on the server).
        self._ws = connect(url, open_timeout=timeout_s, max_size=None, max_queue=None, origin=origin,
                           compression=None,
                           ssl=ssl_context if url.startswith("wss://") else None).__enter__()
        self.hello = self.receive()
        self._next_id = 1

    def close(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            self._ws.close()
        except ConnectionClosed:
            pass   # the server closed it first

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def send_raw(self, data: bytes | str) -> None:
        self._ws.send(data)

    def send_frame(self, image: bytes, frame_id: int | None = None) -> int:
        if frame_id is None:
            frame_id, self._next_id = self._next_id, self._next_id + 1
        self._ws.send(encode_frame(frame_id, image))
        return frame_id

    def receive(self, timeout_s: float | None = None) -> dict:
        return json.loads(self._ws.recv(timeout=timeout_s or self.timeout_s))

    def answer(self, frame_id: int, timeout_s: float | None = None) -> dict:
        """The answer (result, dropped or error) to frame_id; other messages are skipped."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            message = self.receive(max(0.01, deadline - time.monotonic()))
            if message.get("id") == frame_id and message["type"] in ("result", "dropped", "error"):
                return message

    def classify(self, image: bytes) -> dict:
        return self.answer(self.send_frame(image))


def jpeg_frame(path, size: tuple[int, int] = (640, 480), quality: int = 80,
               repeats: int = 1) -> tuple[bytes, float]:
    """A photo as the page would send it: fitted into size (cropped to its aspect), JPEG. Returns
    the bytes and the median encoding time of `repeats` encodings in ms (what the sender spends
    on each frame)."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        frame = ImageOps.fit(img.convert("RGB"), size)
    times = []
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        out = io.BytesIO()
        frame.save(out, "JPEG", quality=quality)
        times.append((time.perf_counter() - started) * 1000)
    return out.getvalue(), statistics.median(times)


@dataclass
class LoadResult:
    frames: int = 0
    dropped: int = 0
    errors: int = 0
    seconds: float = 0.0
    rtt_ms: list[float] = field(default_factory=list)
    server_ms: dict[str, list[float]] = field(default_factory=dict)
    top1: dict[str, int] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def summary(self) -> dict:
        def stats(values):
            if not values:
                return None
            ordered = sorted(values)
            return {"median": round(statistics.median(ordered), 2),
                    "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2)}

        return {"frames": self.frames, "dropped": self.dropped, "errors": self.errors,
                "seconds": round(self.seconds, 2), "fps": round(self.fps, 1), "rtt_ms": stats(self.rtt_ms),
                "server_ms": {k: stats(v) for k, v in self.server_ms.items()}, "top1": self.top1}


def sustained(page_url: str, image: bytes, seconds: float, warmup_frames: int = 5) -> LoadResult:
    """Send frames one at a time, each as soon as the previous is answered (and no faster than
    the server's per-client rate, as the page paces itself), for `seconds`."""
    out = LoadResult()
    with PreviewClient(page_url) as client:
        interval = 1.0 / float(client.hello["limits"]["max_fps"])
        for _ in range(warmup_frames):
            client.classify(image)
            time.sleep(interval)
        started = next_at = time.perf_counter()
        while (now := time.perf_counter()) - started < seconds:
            if now < next_at:
                time.sleep(next_at - now)
                now = time.perf_counter()
            next_at = now + interval
            answer = client.classify(image)
            rtt = (time.perf_counter() - now) * 1000
            if answer["type"] == "result":
                out.frames += 1
                out.rtt_ms.append(rtt)
                for k, v in answer["ms"].items():
                    out.server_ms.setdefault(k, []).append(v)
                label = _answer_line(answer)
                out.top1[label] = out.top1.get(label, 0) + 1
            elif answer["type"] == "dropped":
                out.dropped += 1
                time.sleep(0.002)   # rate-limited: the page waits too
            else:
                out.errors += 1
        out.seconds = time.perf_counter() - started
    return out


def sustained_many(page_url: str, image: bytes, seconds: float, clients: int) -> list[LoadResult]:
    """`clients` connections at once, each one frame in flight, on threads."""
    results: list[LoadResult | BaseException] = [None] * clients   # type: ignore[list-item]

    def work(i: int) -> None:
        try:
            results[i] = sustained(page_url, image, seconds)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drive a preview server with one frame in flight per client.")
    parser.add_argument("url", help="the page URL edgebench preview printed (token included)")
    parser.add_argument("--image", required=True, help="a photo; sent as a JPEG of --size")
    parser.add_argument("--size", default="640x480", help="frame size, WIDTHxHEIGHT (default 640x480)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args(argv)
    width, _, height = args.size.partition("x")
    image, encode_ms = jpeg_frame(args.image, (int(width), int(height)), repeats=50)
    runs = sustained_many(args.url, image, args.seconds, args.clients)
    print(json.dumps({"frame_bytes": len(image), "encode_ms_median_of_50": round(encode_ms, 2),
                      "clients": [r.summary() for r in runs],
                      "total_fps": round(sum(r.fps for r in runs), 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _answer_line(answer: dict) -> str:
    """A classifier's top-1 label, else the task's one-line answer."""
    if answer.get("top5"):
        return answer["top5"][0]["label"]
    return (answer.get("answer") or {}).get("summary") or "-"

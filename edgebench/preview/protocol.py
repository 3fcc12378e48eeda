"""The preview's WebSocket protocol, version 1: parsing what a client sends and wording what the
server answers. Pure functions over bytes and dicts (no numpy, no PIL, no sockets), so every
rule here is tested on its own, property-based.

Client -> server:
  * a frame: one binary message, an 8-byte header then the encoded image:
      bytes 0-3  b"EBF1" (magic and protocol version)
      bytes 4-7  frame id, unsigned 32-bit big-endian, chosen by the client and echoed back
      bytes 8-   a JPEG, PNG or WebP image (the page sends JPEG, downscaled in the browser)
  * a ping: one text message, {"type": "ping", "t": <any JSON number>}; answered with a pong.

Server -> client, text messages of JSON, each with a "type":
  * hello   once, on connecting: the model, target, device, limits and the hub's figures
  * result  one frame's top-5 and timings (ms: decode, preprocess, wait, inference, post, server)
  * dropped a frame not run: another of the same client's frames was in flight, or it came
            faster than the per-client rate limit. Dropped, never queued.
  * error   a frame or message refused (code: too_large, bad_frame, bad_image, bad_message,
            server_error, too_many_clients); the connection stays open (except too_many_clients)
  * pong    the ping's "t", unchanged

Every frame gets exactly one answer (result, dropped or error) carrying its id, so a client can
keep exactly one frame in flight.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

PROTOCOL_VERSION = 1
MAGIC = b"EBF1"
HEADER = struct.Struct(">4sI")
HEADER_BYTES = HEADER.size
MAX_FRAME_ID = 2**32 - 1
MAX_TEXT_BYTES = 1024            # a ping is a few dozen bytes; anything longer is not ours

# Error codes a client may see (the page words them; the message says the specifics).
TOO_LARGE, BAD_FRAME, BAD_IMAGE, BAD_MESSAGE = "too_large", "bad_frame", "bad_image", "bad_message"
SERVER_ERROR, TOO_MANY_CLIENTS = "server_error", "too_many_clients"
ERROR_CODES = (TOO_LARGE, BAD_FRAME, BAD_IMAGE, BAD_MESSAGE, SERVER_ERROR, TOO_MANY_CLIENTS)
# Why a frame was dropped.
IN_FLIGHT, RATE = "in_flight", "rate"

# Image formats accepted, by their leading bytes (checked before any decoder sees them).
_SIGNATURES = (("JPEG", b"\xff\xd8\xff"), ("PNG", b"\x89PNG\r\n\x1a\n"))


class ProtocolError(ValueError):
    """A message the protocol refuses: code is one of ERROR_CODES; frame_id when known."""

    def __init__(self, code: str, message: str, frame_id: int | None = None):
        super().__init__(message)
        self.code = code
        self.frame_id = frame_id


@dataclass(frozen=True)
class Limits:
    """Per-client limits. max_frame_bytes counts the image, not the header; max_pixels is
    checked from the image header before decoding; max_fps is each client's sustained frame
    rate (a burst of `burst` frames is allowed); max_side is what the page downscales to."""

    max_frame_bytes: int = 1 << 20
    max_pixels: int = 2048 * 2048
    max_fps: float = 30.0
    burst: int = 2
    max_side: int = 640
    max_clients: int = 8

    def __post_init__(self) -> None:
        if not (isinstance(self.max_frame_bytes, int) and self.max_frame_bytes >= 1024):
            raise ValueError("max_frame_bytes must be an integer of at least 1024")
        if not (isinstance(self.max_pixels, int) and self.max_pixels >= 64 * 64):
            raise ValueError("max_pixels must be an integer of at least 4096")
        if not (isinstance(self.max_fps, (int, float)) and math.isfinite(self.max_fps) and self.max_fps > 0):
            raise ValueError("max_fps must be a positive number")
        if not (isinstance(self.burst, int) and self.burst >= 1):
            raise ValueError("burst must be an integer of at least 1")
        if not (isinstance(self.max_side, int) and 64 <= self.max_side <= 4096):
            raise ValueError("max_side must be an integer from 64 to 4096")
        if not (isinstance(self.max_clients, int) and self.max_clients >= 1):
            raise ValueError("max_clients must be an integer of at least 1")

    def as_dict(self) -> dict:
        return {"max_frame_bytes": self.max_frame_bytes, "max_pixels": self.max_pixels,
                "max_fps": self.max_fps, "burst": self.burst, "max_side": self.max_side,
                "max_clients": self.max_clients}


@dataclass(frozen=True)
class Frame:
    id: int
    image: bytes
    image_format: str


@dataclass(frozen=True)
class Ping:
    t: float | int


def encode_frame(frame_id: int, image: bytes) -> bytes:
    """The binary message carrying one frame (what the page builds in JavaScript)."""
    return HEADER.pack(MAGIC, frame_id) + image


def peek_frame_id(data: bytes) -> int | None:
    """The id of a binary message that has our header, whatever follows; else None."""
    if len(data) >= HEADER_BYTES and data[:4] == MAGIC:
        return HEADER.unpack_from(data)[1]
    return None


def image_format(data: bytes) -> str | None:
    """JPEG, PNG or WEBP from an image's leading bytes; None for anything else."""
    for name, signature in _SIGNATURES:
        if data.startswith(signature):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def parse_frame(data: bytes, limits: Limits) -> Frame:
    """A binary message -> Frame, or ProtocolError (too_large, bad_frame, bad_image). Only the
    header and the image's leading bytes are read; decoding is the engine's job."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(BAD_FRAME, "a frame must be a binary message")
    data = bytes(data)
    frame_id = peek_frame_id(data)
    if frame_id is None:
        raise ProtocolError(BAD_FRAME, f"not an edgebench frame: a binary message starts with "
                                       f"{MAGIC.decode()} and a 4-byte frame id ({len(data)} bytes received)")
    size = len(data) - HEADER_BYTES
    if size > limits.max_frame_bytes:
        raise ProtocolError(TOO_LARGE, f"frame of {_kib(size)} is over the {_kib(limits.max_frame_bytes)} "
                                       "limit: send a smaller JPEG", frame_id)
    if size == 0:
        raise ProtocolError(BAD_IMAGE, "the frame holds no image", frame_id)
    image = data[HEADER_BYTES:]
    fmt = image_format(image)
    if fmt is None:
        raise ProtocolError(BAD_IMAGE, "the frame is not a JPEG, PNG or WebP image", frame_id)
    return Frame(frame_id, image, fmt)


def parse_text(text: str) -> Ping:
    """A text message -> Ping, or ProtocolError(bad_message)."""
    if not isinstance(text, str) or len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise ProtocolError(BAD_MESSAGE, f"text messages are pings of at most {MAX_TEXT_BYTES} bytes; "
                                         "frames go as binary messages")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError(BAD_MESSAGE, "a text message must be JSON: {\"type\": \"ping\", \"t\": 0}") from None
    if not isinstance(message, dict) or message.get("type") != "ping":
        raise ProtocolError(BAD_MESSAGE, "the only text message is {\"type\": \"ping\", \"t\": <number>}; "
                                         "frames go as binary messages")
    t = message.get("t", 0)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise ProtocolError(BAD_MESSAGE, "a ping's t must be a finite number")
    return Ping(t)


# -- server -> client ------------------------------------------------------------------------------
def dumps(message: dict) -> str:
    # allow_nan=False: a NaN would make the browser's JSON.parse throw and stall the page.
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def error_message(code: str, message: str, frame_id: int | None = None) -> dict:
    return {"type": "error", "id": frame_id, "code": code, "message": message}


def dropped_message(frame_id: int, reason: str) -> dict:
    return {"type": "dropped", "id": frame_id, "reason": reason}


def pong_message(ping: Ping) -> dict:
    return {"type": "pong", "t": ping.t}


def result_message(frame_id: int, top5: list[dict], ms: dict[str, float], image_size: tuple[int, int],
                   clients: int, answer: dict | None = None) -> dict:
    """top5: a classifier's (empty for other tasks); answer: the task, its one-line summary and
    the overlay the page draws (boxes, a class map, a skeleton), relative to the frame."""
    return {"type": "result", "id": frame_id, "top5": top5,
            "ms": {k: round(float(v), 3) for k, v in ms.items()},
            "image": list(image_size), "clients": clients, **({"answer": answer} if answer else {})}


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size < 1 << 20 else f"{size / (1 << 20):.1f} MiB"


class RateLimit:
    """A token bucket: `rate` frames per second sustained, bursts of up to `burst` frames.
    Time is passed in (seconds, monotonic), so the rule is tested without sleeping."""

    def __init__(self, rate: float, burst: int, now: float):
        self.rate, self.burst = float(rate), int(burst)
        self._tokens, self._last = float(burst), now

    def allow(self, now: float) -> bool:
        elapsed = max(0.0, now - self._last)   # a clock that steps back grants nothing
        self._last = max(self._last, now)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

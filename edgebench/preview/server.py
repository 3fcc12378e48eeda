"""The preview's HTTP server (FastAPI): one page at /, one WebSocket at /ws, one shared Engine.

Example:
    edgebench preview --model mobilenet_v2 --target litert-int8 --host 0.0.0.0 --tls
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, PlainTextResponse

from edgebench.preview import protocol as p
from edgebench.preview.access import Access
from edgebench.preview.engine import Engine

log = logging.getLogger("edgebench.preview")

# Close codes (4000-4999 are the application's): a page seeing them does not reconnect.
CLOSE_REFUSED = 4403


@dataclass(frozen=True)
class PreviewInfo:
    """What the page says about this server: the model, target and device, how it is served
    (tls: {"self_signed", "fingerprint"} or None) and what the hub publishes about the model
    (hub: {"ref", "version", "url", "results", "error"} or None when not a hub model)."""

    model: dict
    target: str
    device: str
    tls: dict | None = None
    hub: dict | None = None


@dataclass(eq=False)   # compared and hashed by identity: clients live in a set
class Client:
    websocket: WebSocket
    rate: p.RateLimit
    in_flight: bool = False
    closed: bool = False
    frames: int = 0
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, message: dict) -> None:
        if self.closed:
            return
        try:
            async with self.send_lock:   # a result and a "dropped" must not interleave
                await self.websocket.send_text(p.dumps(message))
        except Exception:  # noqa: BLE001 - the client went away mid-send; its loop ends on its own
            self.closed = True


@dataclass
class PreviewState:
    engine: Engine
    limits: p.Limits
    access: Access
    info: PreviewInfo
    clients: set = field(default_factory=set)
    tasks: set = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)
    connections: int = 0
    dropped: int = 0
    refused: int = 0

    def hello(self) -> dict:
        engine = self.engine
        return {"type": "hello", "protocol": p.PROTOCOL_VERSION, "model": self.info.model,
                "target": self.info.target, "device": self.info.device, "tls": self.info.tls,
                "hub": self.info.hub, "limits": self.limits.as_dict(), "clients": len(self.clients),
                "session": {"settings": _plain(engine.settings),
                            "input": engine.input_spec.describe() if engine.input_spec else None,
                            "labels": engine.label_set, "load_s": engine.load_s,
                            "warmup_ms": engine.warmup_ms,
                            "median_inference_ms": engine.stats.median_inference_ms()}}


def create_app(engine: Engine, limits: p.Limits, access: Access, info: PreviewInfo) -> FastAPI:
    """The preview app over a started engine (the caller closes the engine after serving)."""
    app = FastAPI(title="edgebench preview", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.preview = PreviewState(engine, limits, access, info)
    app.add_api_route("/", page, methods=["GET"], response_class=HTMLResponse)
    app.add_api_websocket_route("/ws", preview_socket)
    return app


def page(request: Request):
    from edgebench.preview.page import render_page

    state: PreviewState = request.app.state.preview
    refusal = state.access.refusal(request.query_params.get("token"), request.headers.get("host"))
    if refusal is not None:
        state.refused += 1
        return PlainTextResponse(f"403 forbidden: {refusal}\n", status_code=403,
                                 headers={"Cache-Control": "no-store"})
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(render_page(state.info, state.limits, state.access.needs_token, nonce),
                        headers=_page_headers(nonce))


def _page_headers(nonce: str) -> dict[str, str]:
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
           "img-src blob: data:; media-src blob: mediastream:; connect-src 'self'; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
            # The URL holds the token: never send it on as a Referer, never cache the page.
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
            "Permissions-Policy": "camera=(self), microphone=()"}


async def preview_socket(websocket: WebSocket) -> None:
    state: PreviewState = websocket.app.state.preview
    refusal = state.access.refusal(websocket.query_params.get("token"), websocket.headers.get("host"),
                                   websocket.headers.get("origin"))
    if refusal is not None:
        state.refused += 1
        await websocket.close(code=CLOSE_REFUSED, reason=refusal[:120])   # before accept: HTTP 403
        return
    await websocket.accept()
    client = Client(websocket, p.RateLimit(state.limits.max_fps, state.limits.burst, time.monotonic()))
    if len(state.clients) >= state.limits.max_clients:
        await client.send(p.error_message(
            p.TOO_MANY_CLIENTS, f"{state.limits.max_clients} pages are already connected; "
                                "close one and reload"))
        await websocket.close(code=1013)   # "try again later"
        return
    state.clients.add(client)
    state.connections += 1
    try:
        await client.send(state.hello())
        while not client.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await _on_frame(state, client, message["bytes"])
            elif message.get("text") is not None:
                await _on_text(client, message["text"])
    except Exception as exc:  # noqa: BLE001 - one client's broken connection must not end the server
        log.debug("preview client ended: %r", exc)
    finally:
        client.closed = True
        state.clients.discard(client)


async def _on_text(client: Client, text: str) -> None:
    try:
        ping = p.parse_text(text)
    except p.ProtocolError as exc:
        await client.send(p.error_message(exc.code, str(exc)))
        return
    await client.send(p.pong_message(ping))


async def _on_frame(state: PreviewState, client: Client, data: bytes) -> None:
    """Answer at once (dropped or error) or start the frame's work and return: the loop keeps
    reading, so frames a client sends while one is in flight are dropped, never queued."""
    try:
        frame = p.parse_frame(data, state.limits)   # header, size, image signature: no decoding
    except p.ProtocolError as exc:
        await client.send(p.error_message(exc.code, str(exc), exc.frame_id))
        return
    if client.in_flight:
        state.dropped += 1
        await client.send(p.dropped_message(frame.id, p.IN_FLIGHT))
        return
    if not client.rate.allow(time.monotonic()):
        state.dropped += 1
        await client.send(p.dropped_message(frame.id, p.RATE))
        return
    client.in_flight = True
    client.frames += 1
    task = asyncio.get_running_loop().create_task(_run_frame(state, client, frame))
    state.tasks.add(task)   # held until done: the loop keeps only weak references to tasks
    task.add_done_callback(state.tasks.discard)


async def _run_frame(state: PreviewState, client: Client, frame: p.Frame) -> None:
    try:
        done = await state.engine.classify(frame, state.limits.max_pixels)
        answer = p.result_message(frame.id, done.top5, done.ms, done.image_size, len(state.clients), done.answer)
    except p.ProtocolError as exc:
        answer = p.error_message(exc.code, str(exc), frame.id)
    except Exception as exc:  # noqa: BLE001 - the runtime failing on one frame is reported to its page
        from edgebench.bench.plan import describe_error

        state.engine.stats.failed += 1
        log.warning("preview: inference failed: %s", describe_error(exc))
        answer = p.error_message(p.SERVER_ERROR, f"the model failed on this frame: {describe_error(exc)}",
                                 frame.id)
    try:
        await client.send(answer)
    finally:
        client.in_flight = False


def _plain(settings: dict) -> dict:
    """Settings as JSON-safe scalars."""
    return {str(k): (v if isinstance(v, (str, int, float, bool)) or v is None else str(v))
            for k, v in settings.items()}

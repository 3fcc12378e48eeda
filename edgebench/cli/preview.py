"""`edgebench preview`: serve a page that runs a phone camera's frames through this device's model and draws its answer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from edgebench.bench.config import PREPROCESS_CHOICES
from edgebench.cli.common import console, err_console, user_errors
from edgebench.runtimes.options import MAX_THREADS
from edgebench.tasks import TASK_CHOICES


def _say(text: str, *, err: bool = False) -> None:
    """Plain text: model names, paths and reasons may hold "[...]" that rich would take for markup."""
    (err_console if err else console).print(text, markup=False, emoji=False, highlight=False,
                                            soft_wrap=True)


def preview_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo model name, a .tflite/.onnx file, or hub://owner/name@version (the version optional).")] = "mobilenet_v2",
    target: Annotated[str, typer.Option("--target", "-t", help="The one target that runs the model (`edgebench targets` lists them).")] = "litert-int8",
    host: Annotated[str, typer.Option(help="Address to listen on. Beyond loopback (e.g. 0.0.0.0) the page needs the printed link's token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS with a self-signed certificate (phones allow the camera only on secure pages).")] = False,
    cert: Annotated[Path | None, typer.Option(help="Your own TLS certificate (PEM); implies HTTPS. Needs --key.")] = None,
    key: Annotated[Path | None, typer.Option(help="The private key of --cert (PEM).")] = None,
    threads: Annotated[int | None, typer.Option(min=1, max=MAX_THREADS, help="CPU threads for the runtime (default: all cores).")] = None,
    preprocess: Annotated[Literal[PREPROCESS_CHOICES], typer.Option(help="Normalisation for your own model (auto reads a quantized input's range).")] = "auto",
    runtime_option: Annotated[list[str] | None, typer.Option("--runtime-option", help="A runtime's own option, RUNTIME.NAME=VALUE (repeatable).")] = None,
    offline: Annotated[bool, typer.Option(help="Never download weights; fail if they are not installed.")] = False,
    max_fps: Annotated[float, typer.Option(min=0.1, max=1000.0, help="Frames per second each page may send.")] = 30.0,
    max_frame_kb: Annotated[int, typer.Option(min=8, max=65536, help="Largest frame accepted (KiB).")] = 1024,
    max_clients: Annotated[int, typer.Option(min=1, max=256, help="Pages connected at once.")] = 8,
    qr: Annotated[bool, typer.Option(help="Print a QR code of the page's link.")] = True,
    task: Annotated[Literal[TASK_CHOICES], typer.Option(help="What the model does (auto: its card or zoo entry, else inferred from the file); the page draws it.")] = "auto",
    labels: Annotated[Path | None, typer.Option(help="Class names: one per line, or JSON.")] = None,
) -> None:
    """Preview a model live: a phone's camera, this device's model, the labels on the phone.

    Example: edgebench preview --model mobilenet_v2 --target litert-int8 --host 0.0.0.0 --tls
    """
    with user_errors():
        from edgebench.cli.run import runtime_settings
        from edgebench.errors import UserError

        if (cert is None) != (key is None):
            raise UserError("--cert and --key go together: give both, or use --tls for a self-signed certificate")
        if not host.strip():
            raise UserError("--host is empty: give an address such as 127.0.0.1 or 0.0.0.0")
        _check_port_free(host, port)

        from edgebench.bench.config import RunConfig
        from edgebench.preview import access
        from edgebench.preview.protocol import Limits

        limits = Limits(max_frame_bytes=max_frame_kb * 1024, max_fps=float(max_fps), max_clients=max_clients)
        config = RunConfig(model=model, targets=(target,), threads=threads, preprocess=preprocess,
                           allow_download=not offline, task=task, labels=labels,
                           runtime_settings=runtime_settings("auto", "auto", runtime_option))
        loopback = access.is_loopback(host)
        tls_files = _tls(host, tls, cert, key)
        engine, plan = _start_engine(config)
        try:
            _serve(engine, plan, host, port, limits, None if loopback else access.new_token(), tls_files, qr)
        finally:
            engine.close()


def _start_engine(config):
    """Plan the one target (preparing its artifact on first use), open its session, warm it up."""
    from edgebench.bench.plan import describe_error, make_plan, open_session
    from edgebench.errors import TargetUnavailable, UserError
    from edgebench.preview.engine import Engine

    plan = make_plan(config, on_step=lambda message: _say(message, err=True))
    planned = plan.targets[0]
    if not planned.runnable:
        raise UserError(f"{planned.name} cannot run {plan.source.name}: {planned.error}")
    source = plan.source
    task = plan.task.task
    if not task.uses_image:
        raise UserError(f"the preview shows a camera's frames to a model that reads a photo; {source.name} is read "
                        f"as {plan.task.name} ({plan.task.why})")
    engine = Engine(lambda: open_session(planned, task),
                    lambda spec: source.preprocessing(spec, config.preprocess)[0], plan.labels_for, task=task)
    try:
        engine.start()
    except TargetUnavailable as exc:
        engine.close()
        raise UserError(f"{planned.name} cannot run {source.name}: {exc}") from None
    except UserError:
        engine.close()
        raise
    except Exception as exc:  # noqa: BLE001 - the runtime's own failure, in one line
        engine.close()
        raise UserError(f"{planned.name} failed to load {source.name}: {describe_error(exc)}") from None
    return engine, plan


def _tls(host: str, tls: bool, cert: Path | None, key: Path | None):
    from edgebench.preview import tls as tls_module

    if cert is not None:
        _regular_tls_files(cert, key)
        return tls_module.own(cert, key)
    if not tls:
        return None
    import socket

    from edgebench.paths import cache_dir
    from edgebench.preview.access import is_wildcard, lan_addresses

    names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), *lan_addresses()]
    if not is_wildcard(host):
        names.append(host)
    return tls_module.self_signed(cache_dir() / "preview-tls", names)


def _regular_tls_files(cert: Path, key: Path) -> None:
    """The shared file rules for --cert and --key: /dev/null or a FIFO is "not a regular file"
    (not "not found"), a directory says so, a symlink loop or an unreadable path says why."""
    from edgebench.fileio import regular_file

    regular_file(cert, "TLS certificate file")
    regular_file(key, "TLS key file")


def _hub_figures(source) -> dict | None:
    """What the hub publishes about a hub model (every device, every version); None otherwise."""
    described = source.describe()
    if described.get("source") != "hub":
        return None
    from edgebench.errors import UserError
    from edgebench.hub.client import HubClient
    from edgebench.refs import parse_ref

    figures = {"ref": described["ref"], "version": described["version"], "url": described.get("hub"),
               "results": [], "error": None}
    try:
        with HubClient(url=described.get("hub"), timeout_s=10.0) as client:
            figures["results"] = [
                {k: r.get(k) for k in ("device", "target", "version", "median_ms", "fps", "runtime", "precision")}
                for r in client.results(parse_ref(described["ref"]))]
    except UserError as exc:   # offline, or the hub went away: the preview still runs
        figures["error"] = str(exc)
    return figures


def _serve(engine, plan, host: str, port: int, limits, token: str | None, tls_files, qr: bool) -> None:
    import uvicorn

    from edgebench.preview.access import page_urls
    from edgebench.preview.protocol import HEADER_BYTES
    from edgebench.preview.server import PreviewInfo, create_app
    from edgebench.preview.terminal import device_label, qr_text

    target = plan.targets[0].name
    hub = _hub_figures(plan.source)
    tls_info = ({"self_signed": tls_files.self_signed, "fingerprint": tls_files.fingerprint_sha256}
                if tls_files is not None else None)
    described = plan.source.describe()
    info = PreviewInfo(model={"name": plan.source.name, "source": described.get("source")}, target=target,
                       device=device_label(), tls=tls_info, hub=hub)
    app = create_app(engine, limits, _access(token), info)

    settings = ", ".join(f"{k} {v}" for k, v in engine.settings.items())
    _say(f"{plan.source.name} on {target}" + (f" ({settings})" if settings else "") +
         f": loaded in {engine.load_s:.2f} s, first inference {engine.warmup_ms:.1f} ms", err=True)
    if hub is not None:
        _say(f"hub: {len(hub['results'])} published result(s) for {hub['ref']}" +
             (f" (could not ask the hub: {hub['error']})" if hub["error"] else ""), err=True)
    scheme = "https" if tls_files is not None else "http"
    urls = page_urls(host, port, scheme, token)
    if token is None:
        _say(f"Open {urls[0]} in a browser on this machine.")
        _say(f"Only this machine can connect (--host {host}). For a phone on your network: "
             "--host 0.0.0.0 --tls", err=True)
    else:
        _say("Open this link on your phone (same network):")
        _say(f"  {urls[0]}")
        if qr:
            _say(qr_text(urls[0]))
        for other in urls[1:]:
            _say(f"  also: {other}")
        _say(f"Listening on {host}:{port}; the page and its WebSocket refuse requests without this link's "
             "token (new on every start).", err=True)
        if tls_files is None:
            _say("Plain HTTP: phones allow the camera only on HTTPS pages, so the page will offer photos "
                 "instead. Add --tls for the camera.", err=True)
    if tls_files is not None and tls_files.self_signed:
        _say(f"Certificate: self-signed by edgebench, SHA-256 {tls_files.fingerprint_sha256}", err=True)
        _say("The phone will warn that the connection is not private: expected for a self-signed "
             "certificate. Continue, then open the browser's certificate viewer (the padlock or "
             "'Not secure' beside the address) and check that it shows this fingerprint.", err=True)
    _say("Ctrl-C stops.", err=True)
    console.file.flush()

    # No per-message deflate: JPEG frames do not compress, deflating them only costs CPU.
    server = uvicorn.Server(uvicorn.Config(
        app, host=host.strip("[]"), port=port, log_level="warning", access_log=False,
        ws_per_message_deflate=False,
        ws_max_size=max(4 * limits.max_frame_bytes, limits.max_frame_bytes + (1 << 20)) + HEADER_BYTES,
        ssl_certfile=str(tls_files.cert) if tls_files else None,
        ssl_keyfile=str(tls_files.key) if tls_files else None,
        timeout_graceful_shutdown=3))
    _run_until_stopped(server, host, port)
    state = app.state.preview
    _say(f"stopped: {engine.stats.served} frame(s) classified for {state.connections} page(s), "
         f"{state.dropped} dropped", err=True)


def _run_until_stopped(server, host: str, port: int) -> None:
    """Serve until Ctrl-C or SIGTERM, then return normally (exit 0). uvicorn catches those signals
    while it serves, shuts down, then raises them again to the handlers it found: ours ignore
    them once it has shut down, and before it serves they interrupt like Ctrl-C."""
    import signal

    from edgebench.errors import UserError

    def stop(_signum, _frame):
        if not server.should_exit:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not server.started and not server.should_exit:
        raise UserError(f"cannot listen on {host}:{port} (see the message above)")


def _access(token: str | None):
    from edgebench.preview.access import Access

    return Access(token)


def _check_port_free(host: str, port: int) -> None:
    """uvicorn reports a busy port as a logged traceback; say it in one line first."""
    import socket

    from edgebench.errors import UserError

    address = host.strip().strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.create_server((address, port), family=family):
            pass
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

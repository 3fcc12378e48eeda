"""The hub's HTTP server (FastAPI). JSON API under /api, server-rendered pages at / and /models/.

Example:
    edgebench hub token create alice --data ./hub
    edgebench hub serve --data ./hub --port 8765
"""

# No "from __future__ import annotations": FastAPI reads the endpoints' annotations at
# definition time, and the local `User` dependency alias must be a real object then.
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from edgebench.errors import UserError
from edgebench.hub import db as hubdb
from edgebench.hub.blobs import BlobStore
from edgebench.hub.db import HubDB, HubRefusal
from edgebench.hub.names import check_filename, check_segment, check_version
from edgebench.hub.schema import (FeedPage, ModelDetail, ModelSummary, PublishRequest, ResultsPush,
                                  SubscribeRequest, UploadOut, VersionOut)
from edgebench.hub.webhooks import Deliverer

log = logging.getLogger("edgebench.hub")
JSON_BODY_LIMIT = 32 * 1024 * 1024   # results and cards; model files go through /api/uploads


@dataclass(frozen=True)
class HubConfig:
    data_dir: Path
    db_url: str | None = None
    max_upload_bytes: int = 1024 * 1024 * 1024
    webhook_attempts: int = 6
    webhook_backoff_s: float = 2.0


def create_app(config: HubConfig) -> FastAPI:
    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    db = HubDB(hubdb.database_url(data_dir, config.db_url))
    blobs = BlobStore(data_dir)
    deliverer = Deliverer(db, config.webhook_attempts, config.webhook_backoff_s)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        deliverer.start()
        yield
        deliverer.stop()
        db.close()

    app = FastAPI(title="edgebench hub", lifespan=lifespan)
    app.state.db, app.state.blobs = db, blobs

    # -- errors: one line of JSON, {"detail": "..."} -------------------------------------------
    @app.exception_handler(HubRefusal)
    async def refused(_request, exc: HubRefusal):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(UserError)
    async def bad_name(_request, exc: UserError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse({"detail": f"invalid request: {where}: {first.get('msg', 'invalid')}"},
                            status_code=422)

    @app.middleware("http")
    async def limit_json_bodies(request: Request, call_next):
        if request.url.path != "/api/uploads":
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > JSON_BODY_LIMIT:
                return JSONResponse({"detail": f"request body over {JSON_BODY_LIMIT // 2**20} MiB"},
                                    status_code=413)
        return await call_next(request)

    # -- authentication -------------------------------------------------------------------------
    def require_user(authorization: Annotated[str | None, Header()] = None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise HubRefusal(401, "a token is needed: set EDGEBENCH_HUB_TOKEN "
                                  "(the hub's admin creates one with `edgebench hub token create USER`)")
        user = db.user_for_token(authorization.removeprefix("Bearer ").strip())
        if user is None:
            raise HubRefusal(401, "the token is not known to this hub")
        return user

    User = Annotated[str, Depends(require_user)]

    def model_path(owner: str, name: str) -> str:
        return f"{check_segment(owner, 'owner')}/{check_segment(name, 'model name')}"

    # -- API ------------------------------------------------------------------------------------
    @app.get("/api/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/api/whoami")
    def whoami(user: User) -> dict:
        return {"user": user}

    @app.post("/api/uploads", status_code=201)
    async def upload(request: Request, user: User, filename: Annotated[str, Query()]) -> UploadOut:
        """Receive one model file as the raw request body; validated before it is kept."""
        check_filename(filename)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > config.max_upload_bytes:
            raise HubRefusal(413, f"{filename} is {int(declared) / 1e6:.1f} MB, over this hub's "
                                  f"limit of {config.max_upload_bytes / 1e6:g} MB")
        received = blobs.new_upload(Path(filename).suffix.lower())
        try:
            async for chunk in request.stream():
                received.write(chunk, config.max_upload_bytes)
            received.finish()
            if received.size == 0:
                raise HubRefusal(422, f"{filename} is empty")
            fmt, precision = await run_in_threadpool(_validate_model_file, received.path, filename)
            await run_in_threadpool(blobs.keep, received)
        except ClientDisconnect:  # killed halfway: nothing was kept, and nobody is listening
            received.discard()
            log.info("upload of %s by %s cut off after %d bytes; discarded", filename, user, received.size)
            raise HubRefusal(400, "upload cut off before the end") from None
        except BaseException:  # refused or invalid: keep nothing
            received.discard()
            raise
        await run_in_threadpool(db.add_blob, received.sha256, received.size, fmt, precision)
        log.info("%s uploaded %s (%s %s, %d bytes)", user, filename, fmt, precision, received.size)
        return UploadOut(sha256=received.sha256, size=received.size, format=fmt, precision=precision)

    @app.post("/api/models/{owner}/{name}/versions", status_code=201)
    def publish(owner: str, name: str, body: PublishRequest, user: User) -> VersionOut:
        path = model_path(owner, name)
        check_version(body.version)
        for artifact in body.artifacts:
            check_filename(artifact.filename)
        db.publish(user, owner, name, body.version, body.card.model_dump(mode="json"),
                   [a.model_dump() for a in body.artifacts])
        deliverer.wake()
        with db.session() as s:
            return VersionOut.model_validate(hubdb.version_out(db.find_version(s, path, body.version)))

    @app.get("/api/models")
    def search(q: str = "", task: str = "", tag: str = "", format: str = "",
               limit: Annotated[int, Query(ge=1, le=500)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> list[ModelSummary]:
        with db.session() as s:
            return [ModelSummary.model_validate(hubdb.model_summary(m))
                    for m in db.search(s, q, task, tag, format, limit, offset)]

    @app.get("/api/models/{owner}/{name}")
    def show(owner: str, name: str) -> ModelDetail:
        with db.session() as s:
            model = db.find_model(s, model_path(owner, name))
            return ModelDetail.model_validate({**hubdb.model_summary(model), "card": model.card,
                                               "versions": [hubdb.version_out(v) for v in model.versions]})

    @app.get("/api/models/{owner}/{name}/versions/{version}")
    def show_version(owner: str, name: str, version: str) -> VersionOut:
        with db.session() as s:
            row = db.find_version(s, model_path(owner, name), _version_or_latest(version))
            return VersionOut.model_validate(hubdb.version_out(row))

    @app.get("/api/models/{owner}/{name}/versions/{version}/files/{filename}")
    def download(owner: str, name: str, version: str, filename: str) -> FileResponse:
        with db.session() as s:
            row = db.find_version(s, model_path(owner, name), _version_or_latest(version))
            artifact = next((a for a in row.artifacts if a.filename == filename), None)
            if artifact is None:
                raise HubRefusal(404, f"{row.model.path}@{row.version} has no file {filename}")
        path = blobs.path(artifact.sha256)
        if not path.is_file():
            raise HubRefusal(500, f"stored file for {filename} is missing on the server")
        return FileResponse(path, media_type="application/octet-stream", filename=filename,
                            headers={"X-Content-Sha256": artifact.sha256})

    @app.get("/api/models/{owner}/{name}/results")
    def model_results(owner: str, name: str) -> list[dict]:
        with db.session() as s:
            model = db.find_model(s, model_path(owner, name))
            return [_result_out(r, v) for r, v in db.results_for(s, model)]

    @app.post("/api/subscriptions", status_code=201)
    def subscribe(body: SubscribeRequest, user: User) -> dict:
        path = model_path(*_split_path(body.model))
        if body.webhook_url is not None and not body.webhook_url.startswith(("http://", "https://")):
            raise HubRefusal(422, f"webhook URL must be http:// or https://, not {body.webhook_url[:80]}")
        secret = db.subscribe(user, path, body.webhook_url)
        return {"model": path, "webhook_url": body.webhook_url, "webhook_secret": secret}

    @app.get("/api/subscriptions")
    def list_subscriptions(user: User) -> list[dict]:
        return db.subscriptions(user)

    @app.delete("/api/subscriptions/{owner}/{name}")
    def unsubscribe(owner: str, name: str, user: User) -> dict:
        db.unsubscribe(user, model_path(owner, name))
        return {"model": f"{owner}/{name}", "subscribed": False}

    @app.get("/api/feed")
    def feed(user: User, cursor: Annotated[int, Query(ge=0)] = 0,
             limit: Annotated[int, Query(ge=1, le=500)] = 50) -> FeedPage:
        with db.session() as s:
            events = [hubdb.event_payload(e) for e in db.feed(s, user, cursor, limit)]
        return FeedPage.model_validate({"events": events,
                                        "next_cursor": events[-1]["cursor"] if events else cursor})

    @app.post("/api/results", status_code=201)
    def push_results(body: ResultsPush, user: User) -> dict:
        path = model_path(*_split_path(body.model))
        version = check_version(body.version)
        rows, skipped = _result_rows(body.run, db.artifact_shas(path, version))
        if not rows:
            raise HubRefusal(422, f"no target of run {body.run.get('run_id', '?')} ran a file of "
                                  f"{path}@{version}: " + "; ".join(f"{s['target']}: {s['reason']}"
                                                                    for s in skipped)[:400])
        added, present = db.add_results(user, path, version, rows)
        return {"model": path, "version": version, "added": added, "already_present": present,
                "skipped": skipped}

    # -- pages ----------------------------------------------------------------------------------
    from edgebench.hub import pages

    @app.get("/", response_class=HTMLResponse)
    def search_page(q: str = "", task: str = "", tag: str = "", format: str = "") -> HTMLResponse:
        with db.session() as s:
            models = [hubdb.model_summary(m) for m in db.search(s, q, task, tag, format, 200, 0)]
            facets = pages.facets(s)
        return pages.html(pages.render("search.html.j2", models=models, q=q, task=task, tag=tag,
                                       format=format, facets=facets))

    @app.get("/models/{owner}/{name}", response_class=HTMLResponse)
    def model_page(owner: str, name: str) -> HTMLResponse:
        with db.session() as s:
            try:
                model = db.find_model(s, model_path(owner, name))
            except (HubRefusal, UserError) as exc:
                return pages.html(pages.render("missing.html.j2", message=str(exc)), status=404)
            results = [_result_out(r, v) for r, v in db.results_for(s, model)]
            context = {"model": hubdb.model_summary(model), "card": model.card,
                       "versions": [hubdb.version_out(v) for v in reversed(model.versions)]}
        return pages.html(pages.render("model.html.j2", results=results,
                                       chart=pages.fps_chart(results), **context))

    return app


def _version_or_latest(version: str) -> str | None:
    return None if version == "latest" else check_version(version)


def _split_path(text: str) -> tuple[str, str]:
    owner, slash, name = text.partition("/")
    if not slash:
        raise HubRefusal(422, f"model must be owner/name, not '{text[:80]}'")
    return owner, name


def _validate_model_file(path: Path, filename: str) -> tuple[str, str]:
    """(format, precision) of an uploaded file; 422 for anything that is not a readable model."""
    from edgebench.models.artifact import inspect_model_file

    try:
        artifact = inspect_model_file(path)
    except UserError as exc:
        raise HubRefusal(422, str(exc).replace(str(path), filename)) from None
    return artifact.format, artifact.precision


def _device_label(device, target_device: str) -> str:
    """What a result's device is called on the hub: board or CPU, plus the GPU for CUDA targets.
    (No host names: the hub is shared; the fingerprint tells machines apart.)"""
    label = (device.board or {}).get("model") or device.cpu_model
    if target_device.startswith("cuda") and device.gpus:
        label += f" + {device.gpus[0].get('name', 'GPU')}"
    return label[:300]


def _result_rows(document: dict, version_shas: set[str]) -> tuple[list[dict], list[dict]]:
    """Rows for the targets that ran one of the version's own files; the rest, with why not."""
    from edgebench.results.schema import RunResult

    try:
        run = RunResult.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise HubRefusal(422, f"not an edgebench run: {'.'.join(map(str, first['loc']))}: "
                              f"{first['msg']}") from None
    rows, skipped = [], []
    for r in run.results:
        sha = (r.artifact or {}).get("sha256")
        if r.status != "ok" or r.latency_ms is None or not r.fps:
            skipped.append({"target": r.target, "reason": f"status {r.status}"})
        elif sha not in version_shas:
            skipped.append({"target": r.target, "reason": "its model file is not one of this version's"})
        else:
            rows.append({
                "run_id": run.run_id, "target": r.target, "runtime": r.runtime, "precision": r.precision,
                "fingerprint": run.device.fingerprint(), "device": _device_label(run.device, r.device),
                "median_ms": r.latency_ms.median, "fps": r.fps,
                "energy_j": r.energy.j_per_inference if r.energy else None,
                "energy_method": r.energy.method if r.energy else None,
                "document": {"result": r.model_dump(mode="json", exclude={"samples_ms"}),
                             "device": run.device.model_dump(mode="json", exclude={"hostname"}),
                             "run_created": run.created, "edgebench_version": run.edgebench_version}})
    return rows, skipped


def _result_out(row, version: str) -> dict:
    return {"device": row.device, "fingerprint": row.fingerprint, "version": version, "target": row.target,
            "runtime": row.runtime, "precision": row.precision, "median_ms": row.median_ms,
            "fps": row.fps, "energy_j_per_inference": row.energy_j, "energy_method": row.energy_method,
            "run_id": row.run_id, "created": row.document.get("run_created", row.created)}

"""Models and their versions: publish, search, show, download a file."""

from fastapi import APIRouter
from fastapi.responses import FileResponse

from edgebench.hub import db as hubdb
from edgebench.hub.cards import given_fields
from edgebench.hub.db import HubRefusal
from edgebench.refs import check_filename, check_version
from edgebench.hub.routes.deps import (Facet, Hub, Limit, Offset, SearchText, User, model_path,
                                       version_or_latest)
from edgebench.hub.schema import ModelDetail, ModelSummary, PublishRequest, VersionOut

router = APIRouter()


@router.post("/api/models/{owner}/{name}/versions", status_code=201)
def publish(owner: str, name: str, body: PublishRequest, hub: Hub, user: User) -> VersionOut:
    path = model_path(owner, name)
    check_version(body.version)
    for artifact in body.artifacts:
        check_filename(artifact.filename)
    _check_float_source(body)
    hub.db.publish(user, owner, name, body.version, given_fields(body.card),
                   [a.model_dump() for a in body.artifacts])
    hub.deliverer.wake()
    with hub.db.session() as s:
        return VersionOut.model_validate(hubdb.version_out(hub.db.find_version(s, path, body.version)))


def _check_float_source(body: PublishRequest) -> None:
    """A retrainable card's float source must be one of the version's files, a .safetensors
    (its content was validated when it was uploaded)."""
    from edgebench.arch.checkpoint import SUFFIX

    arch = body.card.architecture
    if arch is None:
        return
    if not arch.weights_file.lower().endswith(SUFFIX) or \
            arch.weights_file not in {a.filename for a in body.artifacts}:
        raise HubRefusal(422, f"card.architecture.weights_file {arch.weights_file!r} must be one of this "
                              f"version's files, a {SUFFIX} float checkpoint")


@router.get("/api/models")
def search(hub: Hub, q: SearchText = "", task: Facet = "", tag: Facet = "", format: Facet = "",
           limit: Limit = 50, offset: Offset = 0) -> list[ModelSummary]:
    with hub.db.session() as s:
        return [ModelSummary.model_validate(hubdb.model_summary(m))
                for m in hub.db.search(s, q, task, tag, format, limit, offset)]


@router.get("/api/models/{owner}/{name}")
def show(owner: str, name: str, hub: Hub) -> ModelDetail:
    with hub.db.session() as s:
        model = hub.db.find_model(s, model_path(owner, name))
        return ModelDetail.model_validate({**hubdb.model_summary(model), "card": model.card,
                                           "versions": [hubdb.version_out(v) for v in model.versions]})


@router.get("/api/models/{owner}/{name}/versions/{version}")
def show_version(owner: str, name: str, version: str, hub: Hub) -> VersionOut:
    with hub.db.session() as s:
        row = hub.db.find_version(s, model_path(owner, name), version_or_latest(version))
        return VersionOut.model_validate(hubdb.version_out(row))


@router.get("/api/models/{owner}/{name}/versions/{version}/files/{filename}")
def download(owner: str, name: str, version: str, filename: str, hub: Hub) -> FileResponse:
    with hub.db.session() as s:
        row = hub.db.find_version(s, model_path(owner, name), version_or_latest(version))
        artifact = next((a for a in row.artifacts if a.filename == filename), None)
        if artifact is None:
            raise HubRefusal(404, f"{row.model.path}@{row.version} has no file {filename}")
    path = hub.blobs.path(artifact.sha256)
    if not path.is_file():
        raise HubRefusal(500, f"stored file for {filename} is missing on the server")
    return FileResponse(path, media_type="application/octet-stream", filename=filename,
                        headers={"X-Content-Sha256": artifact.sha256})

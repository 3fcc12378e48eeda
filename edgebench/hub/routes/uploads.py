"""POST /api/uploads: one model file as the raw request body, validated before it is kept."""

import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from edgebench.errors import UserError
from edgebench.hub.blobs import Upload
from edgebench.hub.db import HubRefusal
from edgebench.refs import check_filename
from edgebench.hub.routes.deps import Hub, User
from edgebench.hub.schema import UploadOut

log = logging.getLogger("edgebench.hub")
router = APIRouter()


@router.post("/api/uploads", status_code=201)
async def upload(request: Request, hub: Hub, user: User,
                 filename: Annotated[str, Query(max_length=128)]) -> UploadOut:
    """Receive one model file as the raw request body; validated before it is kept."""
    check_filename(filename)
    limit = hub.config.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HubRefusal(413, f"{filename} is {int(declared) / 1e6:.1f} MB, over this hub's "
                              f"limit of {limit / 1e6:g} MB")
    received = hub.blobs.new_upload(Path(filename).suffix.lower())
    try:
        fmt, precision = await _receive(request, received, filename, limit)
        await run_in_threadpool(hub.blobs.keep, received)
    except ClientDisconnect:  # killed halfway: nothing was kept, and nobody is listening
        received.discard()
        log.info("upload of %s by %s cut off after %d bytes; discarded", filename, user, received.size)
        raise HubRefusal(400, "upload cut off before the end") from None
    except BaseException:  # refused or invalid: keep nothing
        received.discard()
        raise
    await run_in_threadpool(hub.db.add_blob, received.sha256, received.size, fmt, precision)
    log.info("%s uploaded %s (%s %s, %d bytes)", user, filename, fmt, precision, received.size)
    return UploadOut(sha256=received.sha256, size=received.size, format=fmt, precision=precision)


async def _receive(request: Request, received: Upload, filename: str, limit: int) -> tuple[str, str]:
    """Stream the body into received (refusing it past limit); (format, precision) of the file."""
    async for chunk in request.stream():
        received.write(chunk, limit)
    received.finish()
    if received.size == 0:
        raise HubRefusal(422, f"{filename} is empty")
    return await run_in_threadpool(_validate_model_file, received.path, filename)


def _validate_model_file(path: Path, filename: str) -> tuple[str, str]:
    """(format, precision) of an uploaded file; 422 for anything that is not a readable model."""
    from edgebench.models.artifact import inspect_model_file
    from edgebench.arch.checkpoint import SUFFIX, inspect_safetensors

    try:
        if filename.lower().endswith(SUFFIX):   # a float source for retraining
            return inspect_safetensors(path)
        artifact = inspect_model_file(path)
    except UserError as exc:
        raise HubRefusal(422, str(exc).replace(str(path), filename)) from None
    return artifact.format, artifact.precision

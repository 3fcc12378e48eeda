"""The hub's HTTP server (FastAPI). JSON API under /api, server-rendered pages at / and /models/.

The routes live in edgebench/hub/routes/, one router per resource; they share the server's
HubState (state.py) through a dependency. This module assembles the app: lifespan, errors,
the JSON body limit.

Example:
    edgebench hub token create alice --data ./hub
    edgebench hub serve --data ./hub --port 8765
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from edgebench.errors import UserError
from edgebench.hub.db import HubRefusal
from edgebench.hub.routes import ROUTERS
from edgebench.hub.state import HubConfig, HubState

__all__ = ["HubConfig", "create_app"]

JSON_BODY_LIMIT = 32 * 1024 * 1024   # results and cards; model files go through /api/uploads


def create_app(config: HubConfig) -> FastAPI:
    """The hub's app over config's data directory and database (opened now, closed on shutdown)."""
    app = FastAPI(title="edgebench hub", lifespan=_lifespan)
    app.state.hub = HubState.open(config)
    app.add_exception_handler(HubRefusal, _refused)
    app.add_exception_handler(UserError, _bad_name)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.middleware("http")(_limit_json_bodies)
    for router in ROUTERS:
        app.include_router(router)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    hub: HubState = app.state.hub
    hub.deliverer.start()
    yield
    hub.deliverer.stop()
    hub.db.close()


# -- errors: one line of JSON, {"detail": "..."} -----------------------------------------------
async def _refused(_request: Request, exc: HubRefusal) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


async def _bad_name(_request: Request, exc: UserError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
    from edgebench.results.schema import problem_line

    first = exc.errors()[0] if exc.errors() else {}
    return JSONResponse({"detail": f"invalid request: {problem_line(first, drop=('body',))}"},
                        status_code=422)


async def _limit_json_bodies(request: Request, call_next):
    if request.url.path != "/api/uploads":
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > JSON_BODY_LIMIT:
            return JSONResponse({"detail": f"request body over {JSON_BODY_LIMIT // 2**20} MiB"},
                                status_code=413)
    return await call_next(request)

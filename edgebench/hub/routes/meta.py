"""GET /api/health and /api/whoami."""

from fastapi import APIRouter

from edgebench.hub.routes.deps import User

router = APIRouter()


@router.get("/api/health")
def health() -> dict:
    return {"status": "ok"}


@router.get("/api/whoami")
def whoami(user: User) -> dict:
    return {"user": user}

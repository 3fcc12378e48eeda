"""GET /api/health and /api/whoami."""

from fastapi import APIRouter

from edgebench.hub.routes.deps import User
from edgebench.hub.schema import Health, WhoAmI

router = APIRouter()


@router.get("/api/health")
def health() -> Health:
    return Health(status="ok")


@router.get("/api/whoami")
def whoami(user: User) -> WhoAmI:
    return WhoAmI(user=user)

"""Dependencies and small helpers the routers share.

Routes take `hub: Hub` (the server's HubState) and, where a token is needed, `user: User`.
"""

# No "from __future__ import annotations": FastAPI reads these aliases when a route is defined.
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from edgebench.hub.db import HubRefusal
from edgebench.refs import check_segment, check_version
from edgebench.hub.state import HubState


async def hub_state(request: Request) -> HubState:
    return request.app.state.hub


Hub = Annotated[HubState, Depends(hub_state)]


def require_user(hub: Hub, authorization: Annotated[str | None, Header()] = None) -> str:
    """The user whose token is in the Authorization header; 401 without a known one."""
    if not authorization or not authorization.startswith("Bearer "):
        raise HubRefusal(401, "a token is needed: set EDGEBENCH_HUB_TOKEN "
                              "(the hub's admin creates one with `edgebench hub token create USER`)")
    user = hub.db.user_for_token(authorization.removeprefix("Bearer ").strip())
    if user is None:
        raise HubRefusal(401, "the token is not known to this hub")
    return user


User = Annotated[str, Depends(require_user)]


def model_path(owner: str, name: str) -> str:
    return f"{check_segment(owner, 'owner')}/{check_segment(name, 'model name')}"


def split_path(text: str) -> tuple[str, str]:
    owner, slash, name = text.partition("/")
    if not slash:
        raise HubRefusal(422, f"model must be owner/name, not '{text[:80]}'")
    return owner, name


# Query strings: sized, and without control characters (PostgreSQL refuses NUL in text, and
# SQLite refuses LIKE patterns past 50,000 bytes): refused with 422, never a 5xx.
_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
SearchText = Annotated[str, Query(max_length=200, pattern=_LINE)]
Facet = Annotated[str, Query(max_length=64, pattern=_LINE)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Cursor = Annotated[int, Query(ge=0, le=2**53)]


def version_or_latest(version: str) -> str | None:
    return None if version == "latest" else check_version(version)

"""Subscriptions (with optional signed webhooks) and each user's feed of new versions."""

from fastapi import APIRouter

from edgebench.hub import db as hubdb
from edgebench.hub.routes.deps import Cursor, Hub, Limit, User, model_path, split_path
from edgebench.hub.schema import (FeedPage, SubscribeOut, SubscribeRequest, SubscriptionOut,
                                  UnsubscribeOut)
from edgebench.hub.webhooks import check_webhook_url

router = APIRouter()


@router.post("/api/subscriptions", status_code=201)
def subscribe(body: SubscribeRequest, hub: Hub, user: User) -> SubscribeOut:
    path = model_path(*split_path(body.model))
    if body.webhook_url is not None:
        check_webhook_url(body.webhook_url)
    secret = hub.db.subscribe(user, path, body.webhook_url)
    return SubscribeOut(model=path, webhook_url=body.webhook_url, webhook_secret=secret)


@router.get("/api/subscriptions")
def list_subscriptions(hub: Hub, user: User) -> list[SubscriptionOut]:
    return [SubscriptionOut.model_validate(s) for s in hub.db.subscriptions(user)]


@router.delete("/api/subscriptions/{owner}/{name}")
def unsubscribe(owner: str, name: str, hub: Hub, user: User) -> UnsubscribeOut:
    path = model_path(owner, name)
    hub.db.unsubscribe(user, path)
    return UnsubscribeOut(model=path, subscribed=False)


@router.get("/api/feed")
def feed(hub: Hub, user: User, cursor: Cursor = 0, limit: Limit = 50) -> FeedPage:
    with hub.db.session() as s:
        events = [hubdb.event_payload(e) for e in hub.db.feed(s, user, cursor, limit)]
    return FeedPage.model_validate({"events": events,
                                    "next_cursor": events[-1]["cursor"] if events else cursor})

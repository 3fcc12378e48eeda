"""Webhook deliveries: each new version POSTed as JSON to every subscriber's URL, signed with
HMAC-SHA256 of the exact body (header X-Edgebench-Signature-256: sha256=<hex>), retried with
exponential backoff. Deliveries are rows in the database, so a restart resumes them."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading

from edgebench.hub.db import HubDB

SIGNATURE_HEADER = "X-Edgebench-Signature-256"
log = logging.getLogger("edgebench.hub.webhooks")


MAX_URL_LENGTH = 2000


def check_webhook_url(url: str) -> str:
    """url if it is an absolute http(s) URL with a host that deliveries can be POSTed to;
    HubRefusal(422) saying what is wrong otherwise (checked when subscribing, not at the first
    delivery, where nobody would read the error)."""
    import httpx

    from edgebench.hub.db import HubRefusal

    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in url[:80]) + ("..." if len(url) > 80 else "")
    expected = "expected an absolute http:// or https:// URL with a host, e.g. https://example.org/hook"
    if len(url) > MAX_URL_LENGTH:
        raise HubRefusal(422, f"webhook URL is {len(url)} characters, over {MAX_URL_LENGTH}")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise HubRefusal(422, f"webhook URL '{shown}' holds spaces or control characters; {expected}")
    try:
        parsed = httpx.URL(url)
        host, scheme, port = parsed.host, parsed.scheme, parsed.port   # a non-numeric port fails here
        parsed.raw_host   # the host as it goes on the wire (IDNA): refused here if it cannot
    except (httpx.InvalidURL, ValueError, TypeError, UnicodeError) as exc:
        raise HubRefusal(422, f"webhook URL '{shown}' is not a valid URL ({str(exc)[:100]}); {expected}") from None
    if scheme not in ("http", "https"):
        raise HubRefusal(422, f"webhook URL '{shown}' is not http:// or https://; {expected}")
    if not host or ("." in host and ":" not in host and "" in host.rstrip(".").split(".")):
        raise HubRefusal(422, f"webhook URL '{shown}' has no host (or an empty part in it); {expected}")
    if port is not None and not 1 <= port <= 65535:
        raise HubRefusal(422, f"webhook URL '{shown}' has port {port}, outside 1-65535")
    return url


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header)


class Deliverer:
    """A background thread that sends due deliveries; publish() wakes it."""

    def __init__(self, db: HubDB, max_attempts: int = 6, backoff_s: float = 2.0, timeout_s: float = 10.0):
        self.db = db
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-deliverer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.timeout_s + 5)

    def _loop(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            while not self._stop.is_set():
                try:
                    for delivery, secret, payload in self.db.claim_due_deliveries():
                        self._send(client, delivery, secret, payload)
                except Exception:  # noqa: BLE001 - the database may be briefly unavailable
                    log.exception("webhook delivery loop")
                self._wake.wait(timeout=min(1.0, self.backoff_s))
                self._wake.clear()

    def _send(self, client, delivery, secret: str, payload: dict) -> None:
        body = json.dumps({**payload, "delivery": delivery.id, "attempt": delivery.attempts + 1},
                          separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
                   "X-Edgebench-Event": payload["event"], "X-Edgebench-Delivery": str(delivery.id),
                   "User-Agent": "edgebench-hub"}
        error = None
        try:
            response = client.post(delivery.url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except Exception as exc:  # noqa: BLE001 - connection refused, timeout, bad URL...
            error = f"{type(exc).__name__}: {exc}"
        self.db.record_delivery(delivery.id, error is None, error, self.max_attempts, self.backoff_s)
        if error:
            log.warning("webhook %s to %s failed (attempt %d): %s", delivery.id, delivery.url,
                        delivery.attempts + 1, error)

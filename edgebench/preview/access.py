"""Who may use a preview server.

Bound to loopback (the default), only this machine can connect; the Host header must then name
loopback too, so a web page elsewhere cannot reach the server through a DNS name pointed at
127.0.0.1 (DNS rebinding). Bound to anything else, every request (the page and the WebSocket)
must carry the token printed at start (`?token=...`, random per start). A browser's WebSocket
must also come from the page's own origin (cross-site WebSocket hijacking).
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def new_token() -> str:
    """128 random bits, URL-safe: unguessable for the life of one server."""
    return secrets.token_urlsafe(16)


def is_loopback(host: str) -> bool:
    """Whether listening on `host` reaches only this machine."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def is_wildcard(host: str) -> bool:
    return host.strip().strip("[]") in ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Access:
    """The rule one server applies. token None: loopback only, no token."""

    token: str | None

    @property
    def needs_token(self) -> bool:
        return self.token is not None

    def refusal(self, query_token: str | None, host_header: str | None, origin: str | None = None) -> str | None:
        """Why a request is refused, or None when it may proceed."""
        if self.token is not None:
            if not query_token or not secrets.compare_digest(query_token.encode(), self.token.encode()):
                return "this preview needs the link printed in the terminal (its token is missing or wrong)"
        elif not _names_loopback(host_header):
            return "this preview listens on loopback only and is reached as localhost or 127.0.0.1"
        if (origin is not None and origin != "null" and host_header is not None
                and urlsplit(origin).netloc.lower() != host_header.lower()):
            return "a WebSocket from another site's page is refused"
        return None


def _names_loopback(host_header: str | None) -> bool:
    if not host_header:
        return True   # HTTP/1.0 clients without Host: only a local process reaches a loopback socket
    name = urlsplit(f"//{host_header}").hostname or ""
    return is_loopback_literal(name)


def is_loopback_literal(name: str) -> bool:
    """A loopback name or address, without asking DNS (the Host header is the client's word)."""
    name = name.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def lan_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (then IPv6, not link-local), private first:
    the addresses a phone on the same network can reach."""
    import psutil

    v4, v6 = [], []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                ip = ipaddress.ip_address(address.address.split("%")[0])
            except ValueError:
                continue
            if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
                continue
            (v4 if ip.version == 4 else v6).append(ip)
    ordered = sorted(dict.fromkeys(v4), key=lambda ip: (not ip.is_private, int(ip)))
    ordered += sorted(dict.fromkeys(v6), key=lambda ip: (not ip.is_private, int(ip)))
    return [str(ip) for ip in ordered]


def page_urls(host: str, port: int, scheme: str, token: str | None) -> list[str]:
    """The URLs to print, best first. A wildcard bind is reached through this machine's
    addresses; any other bind through the address or name it was given."""
    if is_wildcard(host):
        found = lan_addresses()
        if host.strip().strip("[]") != "::":   # 0.0.0.0 is IPv4 only; "::" is dual stack on Linux
            found = [h for h in found if ":" not in h]
        hosts = found or [socket.gethostname()]
    else:
        hosts = [host.strip("[]")]
    query = f"/?token={token}" if token else "/"
    return [f"{scheme}://{_bracket(h)}:{port}{query}" for h in hosts]


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host

"""The preview page: one HTML document with its stylesheet and script inlined (one request, which
must carry the token; the Content-Security-Policy allows only those two, by nonce)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from edgebench.preview.protocol import PROTOCOL_VERSION, Limits


@cache
def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("edgebench.preview", "templates"),
                       autoescape=select_autoescape(["j2", "html"]))


@cache
def _static(name: str) -> str:
    return resources.files("edgebench.preview").joinpath("static", name).read_text(encoding="utf-8")


def page_config(info, limits: Limits, needs_token: bool) -> dict:
    """What the page's script starts from (the WebSocket's hello repeats and extends it)."""
    return {"protocol": PROTOCOL_VERSION, "model": info.model, "target": info.target,
            "device": info.device, "tls": info.tls, "hub": info.hub, "limits": limits.as_dict(),
            "needs_token": needs_token}


def render_page(info, limits: Limits, needs_token: bool, nonce: str) -> str:
    return _environment().get_template("preview.html.j2").render(
        config=page_config(info, limits, needs_token), info=info, nonce=nonce,
        css=_static("preview.css"), js=_static("preview.js"))

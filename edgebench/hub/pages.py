"""Server-rendered pages: Jinja2 with autoescaping, charts inlined as PNG, no scripts at all
(the Content-Security-Policy says so to the browser too)."""

from __future__ import annotations

import base64
from functools import cache

from fastapi.responses import HTMLResponse

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'"


@cache
def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("edgebench.hub", "templates"),
                       autoescape=select_autoescape(["j2", "html"]))


def render(template: str, **context) -> str:
    return _environment().get_template(template).render(**context)


def html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={"Content-Security-Policy": CSP,
                                                           "X-Content-Type-Options": "nosniff"})


def fps_chart(results: list[dict]) -> str | None:
    """A data: URI of the fps bar chart of a model's results, or None without results."""
    if not results:
        return None
    from edgebench.report.charts import Bar, bar_chart, render as render_figure

    bars = sorted((Bar(f"{r['device']} · {r['target']} · v{r['version']}", r["fps"], r["device"], False)
                   for r in results), key=lambda b: -b.value)
    figure = bar_chart(bars, "Throughput per device and target (measured, pushed by users)",
                       "inferences per second (fps)")
    return "data:image/png;base64," + base64.b64encode(render_figure(figure, "png")).decode()

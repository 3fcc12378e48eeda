"""The self-contained HTML report: charts inlined as base64 PNG, no external URLs, all text escaped."""

from __future__ import annotations

import base64
import datetime as dt

from edgebench.report.charts import device_label, render, report_charts
from edgebench.results.reference import PublishedFigure
from edgebench.results.schema import RunResult

CHART_CAPTIONS = {
    "fps_linear": "fps per target, linear scale, as in the 2019 article.",
    "fps_log": "The same on a log scale, so slow and fast setups can be read together.",
    "fps_per_watt": "Inferences per joule (fps per watt): measured energy, rated power (labelled), "
                    "and published setups whose power the source quotes.",
    "latency": "Per-inference latency distributions from the raw samples.",
}


def build_report(runs: list[RunResult], reference: list[PublishedFigure]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    charts = report_charts(runs, reference)
    images = {name: base64.b64encode(render(fig, "png")).decode() for name, fig in charts.items()}
    env = Environment(loader=PackageLoader("edgebench.report", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.get_template("report.html.j2")
    from edgebench import __version__

    return template.render(
        generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        version=__version__, runs=runs, reference=reference, images=images,
        captions=CHART_CAPTIONS, device_label=device_label)

"""The report's charts (matplotlib, Agg): the article's fps bars on linear and log scales,
fps per watt, and latency distributions. Bars are horizontal so long labels never overlap,
sorted fastest first; published figures are grey and hatched, with their own legend entry."""

from __future__ import annotations

import io
from dataclasses import dataclass

from edgebench.results.reference import PublishedFigure
from edgebench.results.schema import RunResult

PUBLISHED_STYLE = {"facecolor": "#c8c8c8", "edgecolor": "#555555", "hatch": "///"}
DEVICE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    group: str          # device name, or "published"
    published: bool


def device_label(run: RunResult) -> str:
    """How a run's device is named in charts: host name and CPU (and board, if any)."""
    board = (run.device.board or {}).get("model")
    return f"{run.device.hostname} ({board or run.device.cpu_model})"


def fps_bars(runs: list[RunResult], reference: list[PublishedFigure]) -> list[Bar]:
    bars = [Bar(f"{device_label(run)} · {r.target}", r.fps, device_label(run), False)
            for run in runs for r in run.results if r.status == "ok" and r.fps]
    bars += [Bar(f"{f.setup} ({f.runtime} {f.precision}) [published]", f.fps, "published", True)
             for f in reference]
    return sorted(bars, key=lambda b: -b.value)


def fps_per_watt_bars(runs: list[RunResult], reference: list[PublishedFigure]) -> list[Bar]:
    bars = [Bar(f"{device_label(run)} · {r.target} ({'rated' if r.energy.method.startswith('rated') else 'measured'})",
                r.energy.inferences_per_j, device_label(run), False)
            for run in runs for r in run.results if r.status == "ok" and r.energy and r.energy.joules > 0]
    bars += [Bar(f"{f.setup} at {f.power_w:g} W [published]", f.fps / f.power_w, "published", True)
             for f in reference if f.power_w]
    return sorted(bars, key=lambda b: -b.value)


def _colours(bars: list[Bar]) -> dict[str, str]:
    groups = list(dict.fromkeys(b.group for b in bars if not b.published))
    return {g: DEVICE_COLOURS[i % len(DEVICE_COLOURS)] for i, g in enumerate(groups)}


def bar_chart(bars: list[Bar], title: str, xlabel: str, log: bool = False):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch

    colours = _colours(bars)
    height = max(2.5, 0.32 * len(bars) + 1.4)
    fig, ax = plt.subplots(figsize=(11, height), layout="constrained")
    positions = range(len(bars))[::-1]  # fastest at the top
    for y, bar in zip(positions, bars):
        style = PUBLISHED_STYLE if bar.published else {"color": colours[bar.group]}
        ax.barh(y, bar.value, **style)
        ax.text(bar.value, y, f" {bar.value:,.1f}", va="center", fontsize=8)
    ax.set_yticks(list(positions), [b.label for b in bars], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(right=max(b.value for b in bars) * (4 if log else 1.15))
    ax.set_axisbelow(True)  # grid lines behind the bars
    ax.grid(axis="x", alpha=0.3, which="both" if log else "major")
    handles = [Patch(color=c, label=f"measured: {g}") for g, c in colours.items()]
    if any(b.published for b in bars):
        handles.append(Patch(label="published (not measured here)", **PUBLISHED_STYLE))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    return fig


def latency_chart(runs: list[RunResult]):
    """Box plot of per-inference latency per target (whiskers p1-p99; the tail beyond shown as p99.9 marks)."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import pyplot as plt

    rows = [(f"{device_label(run)} · {r.target}", np.asarray(r.samples_ms))
            for run in runs for r in run.results if r.status == "ok" and r.samples_ms]
    rows.sort(key=lambda row: float(np.median(row[1])))
    fig, ax = plt.subplots(figsize=(11, max(2.5, 0.34 * len(rows) + 1.4)), layout="constrained")
    data = [row[1] for row in rows][::-1]
    ax.boxplot(data, orientation="horizontal", whis=(1, 99), showfliers=False, widths=0.6,
               medianprops={"color": "#d62728"})
    for y, samples in enumerate(data, start=1):
        ax.plot(np.percentile(samples, 99.9), y, marker="|", color="#555555", markersize=10)
    ax.set_yticks(range(1, len(rows) + 1), [row[0] for row in rows][::-1], fontsize=8)
    spread = max(np.percentile(d, 99.9) for d in data) / min(np.percentile(d, 1) for d in data)
    scale = "linear"
    if spread > 20:  # a GPU beside a Raspberry Pi: only a log axis shows both
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        scale = "log scale"
    ax.set_xlabel(f"latency per inference (ms{', ' + scale if scale != 'linear' else ''}); "
                  "box: p25-p75, red: median, whiskers: p1-p99, |: p99.9")
    ax.set_title("Latency distribution per target (measured)")
    ax.grid(axis="x", alpha=0.3, which="both")
    return fig


def render(fig, fmt: str) -> bytes:
    from matplotlib import pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def report_charts(runs: list[RunResult], reference: list[PublishedFigure]) -> dict[str, object]:
    """name -> matplotlib figure, for every chart that has data."""
    charts = {}
    bars = fps_bars(runs, reference)
    if bars:
        charts["fps_linear"] = bar_chart(bars, "Throughput, linear scale (the article's chart)",
                                         "frames per second (fps = runs / elapsed s), higher is better")
        charts["fps_log"] = bar_chart(bars, "Throughput, log scale (the article's second chart)",
                                      "frames per second (fps, log scale), higher is better", log=True)
    per_watt = fps_per_watt_bars(runs, reference)
    if per_watt:
        charts["fps_per_watt"] = bar_chart(per_watt, "Efficiency where energy is known",
                                           "inferences per joule (= fps per watt), higher is better")
    if any(r.samples_ms for run in runs for r in run.results):
        charts["latency"] = latency_chart(runs)
    return charts

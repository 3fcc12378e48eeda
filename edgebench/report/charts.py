"""The report's charts (matplotlib, Agg): the article's fps bars on linear and log scales,
energy per inference (mJ), and latency distributions. Bars are horizontal so long labels never
overlap and, as in the 2019 article's chart, grouped by device: each device's bars under its
name, best first, the device with the best bar at the top; published figures are grey and
hatched, grouped by their own devices, with their own legend entry. Every label names the model,
the target and the hardware (board, CPU, GPU). Two machines of the same hardware are told apart
by the name their results carry (DeviceInfo.hostname: a fleet worker's name, given with `fleet
worker --name`, else the host name); two runs of one model on one device by their date and id.
Each run keeps one colour in every chart, from a palette with as many distinct colours as runs."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from edgebench.results.reference import PublishedFigure
from edgebench.results.schema import DeviceInfo, in_flight, RunResult, sweep_label, TargetResult

PUBLISHED_STYLE = {"facecolor": "#c8c8c8", "edgecolor": "#555555", "hatch": "///"}
# The first colours, in order: matplotlib's tab10 without its grey (grey is the published figures').
DEVICE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                  "#e377c2", "#bcbd22")


def palette(n: int) -> list[str]:
    """n distinct colours: DEVICE_COLOURS, then tab20's light tones (without grey), then evenly
    spaced hues of matplotlib's turbo map; never one colour for two series."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    light = [to_hex(c) for c in colormaps["tab20"].colors[1::2]]
    colours = list(dict.fromkeys([*DEVICE_COLOURS, *(c for c in light if c != "#c7c7c7")]))
    extra = n - len(colours)
    if extra > 0:
        turbo = colormaps["turbo"]
        colours += [to_hex(turbo((i + 0.5) / extra)) for i in range(extra)]
        colours = list(dict.fromkeys(colours))
        step = 0
        while len(colours) < n:   # two hues that round to one hex: nudge until all differ
            step += 1
            colours.append(to_hex(turbo((step * 0.618034) % 1.0)))
            colours = list(dict.fromkeys(colours))
    return colours[:n]


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    group: str          # what the colour stands for: a model on a device, or "published"
    published: bool
    section: str = ""   # the device the bar is grouped under ("": no groups)
    tick: str = ""      # the bar's text under its section's heading (default: label)


PUBLISHED_MODEL = "MobileNet v2"   # every published figure (edgebench.results.reference) is of it


def hardware_name(device: DeviceInfo) -> str:
    """A machine as charts name it: its board (Raspberry Pi, Jetson), else its CPU model.
    Never the host name: it says nothing about the hardware and may be private."""
    board = (device.board or {}).get("model")
    return board or " ".join(re.sub(r"\((R|TM|tm|r)\)", "", device.cpu_model).split())


def device_names(runs: list[RunResult]) -> dict[str, str]:
    """fingerprint -> hardware name. Two different machines with the same hardware name are told
    apart by the name their results carry: a fleet device's name (its worker's --name, which the
    fleet records as DeviceInfo.hostname), else the host name; by the fingerprint's first
    characters only where those names are the same too."""
    devices = {run.device.fingerprint(): run.device for run in runs}
    names = {fp: hardware_name(d) for fp, d in devices.items()}
    clashes = {n for n in names.values() if list(names.values()).count(n) > 1}
    given = {fp: f"{devices[fp].hostname} ({n})" for fp, n in names.items() if n in clashes}
    repeated = {g for g in given.values() if list(given.values()).count(g) > 1}
    given = {fp: f"{g} [{fp[:6]}]" if g in repeated else g for fp, g in given.items()}
    return {fp: given.get(fp, n) for fp, n in names.items()}


def run_marks(runs: list[RunResult]) -> dict[str, str]:
    """run id -> ' (2026-11-23 12:00, run 3ee78a52)' for runs of one model on one device shown
    together (`report --run A --run B`), whose labels would otherwise be the same; '' for others."""
    keys = [(run.device.fingerprint(), model_name(run)) for run in runs]
    return {run.run_id: (f" ({run.created[:16].replace('T', ' ')}, run {run.run_id[:8]})"
                         if keys.count(key) > 1 else "")
            for run, key in zip(runs, keys)}


def accelerator_name(run: RunResult, result: TargetResult) -> str | None:
    """The GPU or Edge TPU an accelerator target ran on; None for CPU targets."""
    if result.device in ("cuda", "tensorrt") and run.device.gpus:
        return run.device.gpus[0].get("name") or "GPU"
    if result.device == "edgetpu" and run.device.edgetpus:
        return run.device.edgetpus[0].get("name") or "Edge TPU"
    return None


def target_hardware(run: RunResult, result: TargetResult, names: dict[str, str] | None = None) -> str:
    """What a target ran on: the machine, plus the GPU or Edge TPU for accelerator targets."""
    host = (names or {}).get(run.device.fingerprint()) or hardware_name(run.device)
    accelerator = accelerator_name(run, result)
    return f"{host} + {accelerator}" if accelerator else host


def model_name(run: RunResult) -> str:
    return str(run.model.get("name"))


def run_label(run: RunResult, names: dict[str, str] | None = None, marks: dict[str, str] | None = None) -> str:
    """A run as charts and headings name it: its model on its machine (marks: run_marks)."""
    host = (names or {}).get(run.device.fingerprint()) or hardware_name(run.device)
    return f"{model_name(run)} on {host}{(marks or {}).get(run.run_id, '')}"


def _target_text(run: RunResult, result: TargetResult) -> str:
    """'openvino-int8 t=2', with 'b=8' for a batch and 'offline, 2 requests' for an offline
    result: its figure is several inferences at once and must not read as a single-stream one."""
    batch = f" b={result.batch}" if result.batch > 1 and "batch" not in result.sweep else ""
    scenario = f" (offline, {in_flight(result)})" if result.scenario == "offline" else ""
    return f"{sweep_label(result)}{batch}{scenario}"


def target_label(run: RunResult, result: TargetResult, names: dict[str, str],
                 marks: dict[str, str] | None = None) -> str:
    """'mobilenet_v2 · openvino-int8 t=2 · Intel Xeon' (marks: run_marks)."""
    return (f"{model_name(run)} · {_target_text(run, result)} · {target_hardware(run, result, names)}"
            f"{(marks or {}).get(run.run_id, '')}")


def section_tick(run: RunResult, result: TargetResult, marks: dict[str, str]) -> str:
    """A bar's text under its device's heading: the model and target, the accelerator it ran on."""
    accelerator = accelerator_name(run, result)
    on = f" on {accelerator}" if accelerator else ""
    return f"{model_name(run)} · {_target_text(run, result)}{on}{marks.get(run.run_id, '')}"


def published_section(figure: PublishedFigure) -> str:
    """The machine a published setup ran on, without the accelerator its `device` adds (the
    Coral table's rows say where they come from in the tick instead)."""
    return f"{figure.device.split(' + ')[0].removesuffix(' (Coral table)')} [published]"


def images_per_s(result: TargetResult) -> float | None:
    """Throughput in images/s: fps at batch 1; batch x fps for a batched result, so that a batch
    of 8 does not read as 8 times slower than one image at a time."""
    return result.images_per_s or (result.fps * result.batch if result.fps else None)


def models_title(runs: list[RunResult], reference: list[PublishedFigure] = ()) -> str:
    """The models a chart shows, for its title."""
    measured = ", ".join(dict.fromkeys(model_name(run) for run in runs))
    published = f"published: {PUBLISHED_MODEL}" if reference else ""
    return f"{measured} ({published})" if measured and published else measured or published


def group_colours(runs: list[RunResult]) -> dict[str, str]:
    """run label -> colour, fixed for a whole report so each run keeps its colour in every chart."""
    names, marks = device_names(runs), run_marks(runs)
    labels = list(dict.fromkeys(run_label(run, names, marks) for run in runs))
    return dict(zip(labels, palette(len(labels))))


def by_device(bars: list[Bar], best_first) -> list[Bar]:
    """Bars grouped by their section (device), best first within it; the section whose best bar
    is best comes first. best_first: a bar's sort key (-fps, or mJ)."""
    sections: dict[str, list[Bar]] = {}
    for bar in sorted(bars, key=best_first):
        sections.setdefault(bar.section, []).append(bar)
    return [bar for group in sections.values() for bar in group]   # dicts keep first-seen order


def fps_bars(runs: list[RunResult], reference: list[PublishedFigure]) -> list[Bar]:
    """Images/s per target, grouped by device (see by_device)."""
    names, marks = device_names(runs), run_marks(runs)
    bars = [Bar(target_label(run, r, names, marks), images_per_s(r), run_label(run, names, marks), False,
                names[run.device.fingerprint()], section_tick(run, r, marks))
            for run in runs for r in run.results if r.status == "ok" and images_per_s(r)]
    bars += [Bar(f"{PUBLISHED_MODEL} · {f.setup} ({f.runtime} {f.precision}) [published]", f.fps,
                 "published", True, published_section(f), f"{PUBLISHED_MODEL} · {f.setup} ({f.runtime} {f.precision})")
             for f in reference]
    return by_device(bars, lambda b: -b.value)


def server_bars(runs: list[RunResult]) -> list[Bar]:
    """LoadGen server: the highest VALID rate per target (with its p99 and bound), grouped by
    device, highest first."""
    names, marks = device_names(runs), run_marks(runs)

    def at(r: TargetResult) -> str:
        bound = r.loadgen.settings.get("target_latency_ns")
        pct = r.loadgen.settings.get("target_latency_percentile") or 0.99
        p99 = f"p99 {r.loadgen.server_p99_ms:.1f} ms" if r.loadgen.server_p99_ms is not None else "p99 -"
        # The bound's own percentile beside it: a p90 bound read as a p99 one would flatter the target.
        return f" ({p99}, bound {bound / 1e6:g} ms at p{pct * 100:g})" if bound else f" ({p99})"

    bars = [Bar(f"{target_label(run, r, names, marks)}{at(r)}", r.loadgen.server_qps, run_label(run, names, marks),
                False, names[run.device.fingerprint()], f"{section_tick(run, r, marks)}{at(r)}")
            for run in runs for r in run.results
            if r.status == "ok" and r.loadgen is not None and r.loadgen.server_qps]
    return by_device(bars, lambda b: -b.value)


def energy_bars(runs: list[RunResult], reference: list[PublishedFigure]) -> list[Bar]:
    """mJ per inference, most efficient first within each device: measured or rated energy
    (labelled which), and published setups whose power the source quotes (power / fps)."""
    names, marks = device_names(runs), run_marks(runs)

    def how(r: TargetResult) -> str:
        return f" ({'rated power' if r.energy.method.startswith('rated') else 'measured'})"

    bars = [Bar(f"{target_label(run, r, names, marks)}{how(r)}", r.energy.j_per_inference * 1e3,
                run_label(run, names, marks), False, names[run.device.fingerprint()],
                f"{section_tick(run, r, marks)}{how(r)}")
            for run in runs for r in run.results if r.status == "ok" and r.energy and r.energy.joules > 0]
    bars += [Bar(f"{PUBLISHED_MODEL} · {f.setup} at {f.power_w:g} W [published]", f.power_w / f.fps * 1e3,
                 "published", True, published_section(f), f"{PUBLISHED_MODEL} · {f.setup} at {f.power_w:g} W")
             for f in reference if f.power_w]
    return by_device(bars, lambda b: b.value)


def _plain(text: str) -> str:
    """Text matplotlib shows as written ("$" would start mathtext)."""
    return text.replace("$", r"\$")


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _colours(bars: list[Bar], taken: dict[str, str] | None = None) -> dict[str, str]:
    """group -> colour for the groups of these bars that `taken` has no colour for, from the
    palette's colours `taken` does not use."""
    taken = taken or {}
    groups = [g for g in dict.fromkeys(b.group for b in bars if not b.published) if g not in taken]
    free = [c for c in palette(len(groups) + len(taken)) if c not in taken.values()]
    return dict(zip(groups, free))


def bar_chart(bars: list[Bar], title: str, xlabel: str, log: bool = False, value_format=None,
              colours: dict[str, str] | None = None):
    """Horizontal bars in the order given (the first at the top), coloured by group.
    value_format: value -> text printed after each bar (default one decimal);
    colours: group -> colour, to keep colours the same across charts (default: by order of bars).
    The legend sits under the plot, where it can never hide a bar."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch

    show = value_format or (lambda v: f"{v:,.1f}")
    shown = {b.group for b in bars if not b.published}
    colours = {g: c for g, c in (colours or {}).items() if g in shown}
    colours.update(_colours(bars, colours))
    positions, headings = _rows(bars)
    height = max(2.5, 0.32 * (len(bars) + len(headings)) + 1.4)
    fig, ax = plt.subplots(figsize=(11, height), layout="constrained")
    for y, bar in zip(positions, bars):
        style = PUBLISHED_STYLE if bar.published else {"color": colours[bar.group]}
        ax.barh(y, bar.value, **style)
        ax.text(bar.value, y, f" {show(bar.value)}", va="center", fontsize=8)
    ticks = [b.tick or b.label for b in bars] if headings else [b.label for b in bars]
    ax.set_yticks(positions, [_plain(t) for t in ticks], fontsize=8)
    _draw_headings(ax, headings)
    ax.set_xlabel(xlabel)
    fig.suptitle(_plain("\n".join(textwrap.wrap(title, 110))))
    if log:
        ax.set_xscale("log")
    ax.set_xlim(right=max(b.value for b in bars) * (4 if log else 1.15))
    ax.set_axisbelow(True)  # grid lines behind the bars
    ax.grid(axis="x", alpha=0.3, which="both" if log else "major")
    handles = [Patch(color=c, label=_plain(f"measured: {g}")) for g, c in colours.items()]
    if any(b.published for b in bars):
        handles.append(Patch(label="published (not measured here)", **PUBLISHED_STYLE))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(2, len(handles)), fontsize=8)
    return fig


def _rows(bars: list[Bar]) -> tuple[list[float], list[tuple[float, str]]]:
    """The y of each bar (the first at the top) and, when the bars are grouped by device, the y
    and text of each device's heading: a row of its own above the device's bars."""
    grouped = len({b.section for b in bars}) > 1 or any(b.section for b in bars)
    rows, headings, y = [], [], 0.0
    for i, bar in enumerate(bars):
        if grouped and (i == 0 or bar.section != bars[i - 1].section):
            y -= 0.4 if i else 0.0   # a little room between one device's bars and the next heading
            headings.append((y, bar.section))
            y -= 1.0
        rows.append(y)
        y -= 1.0
    return rows, headings


def _draw_headings(ax, headings: list[tuple[float, str]]) -> None:
    """Each device's name in bold over its bars, from the left edge of the plot, with a thin
    line above it parting it from the device before."""
    from matplotlib.transforms import blended_transform_factory

    across = blended_transform_factory(ax.transAxes, ax.transData)
    for n, (y, text) in enumerate(headings):
        ax.text(0.005, y, _plain(text), transform=across, va="center", ha="left", fontsize=9,
                fontweight="bold")
        if n:
            ax.axhline(y + 0.7, color="#999999", linewidth=0.6)


def latency_chart(runs: list[RunResult]):
    """Box plot of per-inference latency per target (whiskers p1-p99; the tail beyond shown as p99.9 marks)."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import pyplot as plt

    names, marks = device_names(runs), run_marks(runs)
    rows = [(target_label(run, r, names, marks), np.asarray(r.samples_ms))
            for run in runs for r in run.results if r.status == "ok" and r.samples_ms]
    rows.sort(key=lambda row: float(np.median(row[1])))
    fig, ax = plt.subplots(figsize=(11, max(2.5, 0.34 * len(rows) + 1.4)), layout="constrained")
    data = [row[1] for row in rows][::-1]
    ax.boxplot(data, orientation="horizontal", whis=(1, 99), showfliers=False, widths=0.6,
               medianprops={"color": "#d62728"})
    for y, samples in enumerate(data, start=1):
        ax.plot(np.percentile(samples, 99.9), y, marker="|", color="#555555", markersize=10)
    ax.set_yticks(range(1, len(rows) + 1), [_plain(row[0]) for row in rows][::-1], fontsize=8)
    spread = max(np.percentile(d, 99.9) for d in data) / min(np.percentile(d, 1) for d in data)
    scale = "linear"
    if spread > 20:  # a GPU beside a Raspberry Pi: only a log axis shows both
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        # within a decade or two matplotlib labels minor ticks too, as "3x10^1": plain numbers
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        scale = "log scale"
    ax.set_xlabel(f"latency per inference (ms{', ' + scale if scale != 'linear' else ''})\n"
                  "box: p25-p75, red: median, whiskers: p1-p99, |: p99.9")
    fig.suptitle(_plain(f"Latency distribution per target, measured: {models_title(runs)}"))
    ax.grid(axis="x", alpha=0.3, which="both")
    return fig


def render(fig, fmt: str) -> bytes:
    from matplotlib import pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def report_charts(runs: list[RunResult], reference: list[PublishedFigure], profiles=()) -> dict[str, object]:
    """name -> matplotlib figure, for every chart that has data (profiles: OpProfile results)."""
    charts = {}
    colours = group_colours(runs)
    bars = fps_bars(runs, reference)
    if bars:
        models = models_title(runs, reference)
        charts["fps_linear"] = bar_chart(bars, f"Throughput, linear scale (the article's chart): {models}",
                                         "images per second (images / elapsed s; at batch 1 the article's fps), higher is better",
                                         colours=colours)
        charts["fps_log"] = bar_chart(bars, f"Throughput, log scale (the article's second chart): {models}",
                                      "images per second (log scale), higher is better", log=True,
                                      colours=colours)
    server = server_bars(runs)
    if server:
        charts["server_qps"] = bar_chart(
            server, f"Server (MLPerf LoadGen, VALID runs): the highest Poisson rate that meets the latency bound: "
                    f"{models_title([run for run in runs if any(r.loadgen for r in run.results)])}",
            "queries per second at the bound (LoadGen's scheduled rate), higher is better",
            value_format=_number, colours=colours)
    energy = energy_bars(runs, reference)
    if energy:
        spread = energy[-1].value / energy[0].value
        with_energy = [run for run in runs if any(r.energy for r in run.results)]
        charts["energy_per_inference"] = bar_chart(
            energy, "Energy per inference, where energy is known: "
                    + models_title(with_energy, [f for f in reference if f.power_w]),
            f"mJ/inference{' (log scale)' if spread > 30 else ''}, lower is better",
            log=spread > 30, value_format=_number, colours=colours)
    if any(r.samples_ms for run in runs for r in run.results if r.status == "ok"):
        charts["latency"] = latency_chart(runs)
    from edgebench.report.depth import depth_charts

    charts.update(depth_charts(runs, profiles))
    return charts

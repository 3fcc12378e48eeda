"""Report charts for the deeper measurements: sweeps (latency vs threads, images/s vs batch),
sustained runs (the throttling curve) and per-op profiles. Each appears only with its data."""

from __future__ import annotations

from edgebench.report.charts import (_plain, device_names, model_name, palette, run_marks,
                                     target_hardware)
from edgebench.results.schema import OpProfile, RunResult

CAPTIONS = {
    "sweep_threads": "Median latency per inference against the number of threads (measured; lower is better).",
    "sweep_batch": "Throughput in images/s against the batch size (measured; higher is better).",
    "sustained": "Sustained runs: fps per 1-second window, with the CPU clock where the device exposes it "
                 "(the throttling curve).",
    "profile": "Where the time goes: share of the summed op time per op, from the runtime's own profiler "
               "(profiling is never part of the timed figures).",
}


def _figure(title: str, rows: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import textwrap

    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.2 if rows == 1 else 0.3 * rows + 1.8), layout="constrained")
    fig.suptitle(_plain("\n".join(textwrap.wrap(title, 100))))
    ax.grid(alpha=0.3)
    return fig, ax


def _series(runs: list[RunResult], knob: str, figure) -> dict[str, list[tuple[int, float]]]:
    """One line per target and setting of the other swept knobs: a threads x batch sweep gives
    one threads line per batch size (mixing them drew zigzags between batch sizes)."""
    names, marks = device_names(runs), run_marks(runs)
    lines: dict[str, list[tuple[int, float]]] = {}
    for run in runs:
        for r in run.results:
            if r.status == "ok" and knob in r.sweep:
                others = " ".join(f"{k}={v}" for k, v in r.sweep.items() if k != knob)
                label = " · ".join(part for part in (model_name(run), f"{r.target} {others}".strip(),
                                                     target_hardware(run, r, names))) + marks[run.run_id]
                lines.setdefault(label, []).append((r.sweep[knob], figure(r)))
    return {k: sorted(v) for k, v in lines.items() if len(v) > 1}


def _value(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


LABEL_GAP_PT = 12   # 8-point figures closer than this overlap


def _label_points(ax, lines: dict[str, list[tuple[int, float]]], colours: dict[str, str]):
    """Every point's figure beside it, so no one has to read it off the axis. Figures of close
    points at one x are pushed apart upwards so that two lines 5% apart stay readable."""
    import math

    log = ax.get_yscale() == "log"
    scale = (lambda v: math.log10(max(v, 1e-12))) if log else (lambda v: v)
    low, high = (scale(v) for v in ax.get_ylim())
    span = (high - low) or 1.0   # a flat axis (every figure the same): nothing to spread by height
    ax.figure.canvas.draw()   # lays out title and legend, so the plot's own height is known
    axes_pt = ax.get_window_extent().height * 72 / ax.figure.dpi
    by_x: dict[int, list[tuple[float, float, str]]] = {}
    for label, points in lines.items():
        for x, y in points:
            by_x.setdefault(x, []).append(((scale(y) - low) / span * axes_pt, y, label))
    first = min(by_x)   # its figures go left of the points, off the lines that leave them
    for x, marks in by_x.items():
        dx, align = (-6, "right") if x == first else (6, "left")
        placed = -math.inf
        for at_pt, y, label in sorted(marks):
            shown = max(at_pt, placed + LABEL_GAP_PT)
            placed = shown
            ax.annotate(_value(y), (x, y), textcoords="offset points", xytext=(dx, 4 + shown - at_pt),
                        ha=align, fontsize=8, color=colours[label])


def sweep_chart(runs: list[RunResult], knob: str):
    measure = (lambda r: r.latency_ms.median) if knob == "threads" else (lambda r: r.images_per_s)
    lines = _series(runs, knob, measure)
    if not lines:
        return None
    what = "median latency per inference (ms)" if knob == "threads" else "throughput (images/s)"
    better = "lower is better" if knob == "threads" else "higher is better"
    fig, ax = _figure(f"Sweep over {knob}: {what}, measured ({better})")
    values = [p[1] for points in lines.values() for p in points]
    colours = dict(zip(lines, palette(len(lines))))   # matplotlib's cycle repeats after 10 lines
    for label, points in lines.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=colours[label],
                label=_plain(label))
    ax.set_xscale("log", base=2)
    ticks = sorted({p[0] for points in lines.values() for p in points})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.margins(x=0.08)
    if max(values) / max(min(values), 1e-9) > 10:   # one slow point must not flatten the others
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_ylim(min(values) / 1.5, max(values) * 1.8)   # room for the labels above the points
        what += ", log scale"
    else:
        ax.set_ylim(bottom=0, top=max(values) * 1.12)
    ax.set_xlabel(f"{knob} (points that did not run are left out: see the table)")
    ax.set_ylabel(what)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    _label_points(ax, lines, colours)
    return fig


def sustained_chart(runs: list[RunResult]):
    names, marks = device_names(runs), run_marks(runs)
    series = [(f"{model_name(run)} · {r.target} · {target_hardware(run, r, names)}{marks[run.run_id]}", r.sustained)
              for run in runs for r in run.results if r.sustained and r.sustained.windows]
    if not series:
        return None
    fig, ax = _figure("Sustained run: fps per second (the throttling curve), measured")
    clock_axis = None
    # One colour per target: its fps (solid) and its CPU clock (dashed, right axis) share it.
    for (label, s), colour in zip(series, palette(len(series))):
        t = [w.t_s for w in s.windows]
        verdict = "throttled" if s.throttled else "no throttling seen"
        ax.plot(t, [w.fps for w in s.windows], color=colour,
                label=_plain(f"{label}: {s.last_vs_first:.2f}x end/start, {verdict}"))
        mhz = [w.cpu_mhz for w in s.windows]
        if all(m is not None for m in mhz):
            clock_axis = clock_axis or ax.twinx()
            clock_axis.plot(t, mhz, linestyle="--", alpha=0.6, color=colour, label=_plain(f"{label}: CPU MHz (dashed)"))
    ax.set_xlabel("seconds into the timed loop")
    ax.set_ylabel("fps (1-second windows)")
    ax.set_ylim(bottom=0)
    if clock_axis is not None:
        clock_axis.set_ylabel("CPU clock (MHz, dashed)")
    fig.legend(loc="outside lower center", ncols=1, fontsize=8)
    return fig


def profile_chart(profile: OpProfile, top: int = 15):
    ops = profile.ops[:top]
    fig, ax = _figure(f"Top {len(ops)} ops of {profile.model} on {profile.target}, share of op time, "
                      f"measured with {profile.method.split(';')[0]}", rows=len(ops))
    positions = range(len(ops))[::-1]
    ax.barh(list(positions), [o.share * 100 for o in ops], color="#1f77b4")
    ax.set_yticks(list(positions), [_plain(f"{o.op_type} · {o.node[:50]}") for o in ops], fontsize=8)
    for y, o in zip(positions, ops):
        ax.text(o.share * 100, y, f" {o.share * 100:.1f}% ({o.ms_per_inference:.2f} ms)", va="center", fontsize=8)
    ax.set_xlabel("% of the summed op time")
    ax.set_xlim(right=max(o.share for o in ops) * 100 * 1.3)
    return fig


def depth_charts(runs: list[RunResult], profiles: list[OpProfile] = ()) -> dict[str, object]:
    charts = {}
    for knob in ("threads", "batch"):
        fig = sweep_chart(runs, knob)
        if fig is not None:
            charts[f"sweep_{knob}"] = fig
    fig = sustained_chart(runs)
    if fig is not None:
        charts["sustained"] = fig
    for n, p in enumerate(profiles):
        charts[f"profile{'' if n == 0 else f'_{n + 1}'}"] = profile_chart(p)
    return charts

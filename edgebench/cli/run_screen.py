"""The run screen: targets fastest first with the speed-up over the float reference, whether
the ranking holds, what did not run and why, and what was inferred about a user's model."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

from edgebench.cli.common import console
from edgebench.errors import printable
from edgebench.results.schema import in_flight, sweep_label

_COMMON_METHODS = ("load: loading and compiling the model; first: its first inference; MB load/run: peak "
                   "resident memory added by loading and by running (MiB); preprocessing runs once, "
                   "outside the timed loop. Every figure is measured.")
METHODS = ("version: the runtime's; median/p90/p99: per-inference latency (p90: MLPerf's single-stream figure), perf_counter around set_input+invoke+output; "
           "fps: timed runs / elapsed wall-clock s (the article's method); " + _COMMON_METHODS)
OFFLINE_METHODS = ("version: the runtime's; median/p90/p99: per-inference latency (queueing included), perf_counter from handing an inference "
                   "over (to a free request of the runtime's queue, or to a session's frame loop) to its completion; "
                   "fps: all inferences / wall-clock s of the timed loop; in flight: inferences kept going at once; "
                   + _COMMON_METHODS)


ENERGY_HOWTO = ("energy: not measured - no energy meter is readable here. For a rated figure pass --power-w "
                "WATTS (the device's rated power); for a measured one make RAPL readable (/sys/class/powercap, "
                "e.g. sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj) or use an external power meter.")


def print_run(result, detail: bool = False, meter_off: bool = False, wide: bool = False,
              wide_hint: str = "a wider terminal (e.g. COLUMNS=250) shows them", saved: bool = True) -> None:
    """The results table and the lines below it; with detail, the device fingerprint too.
    meter_off: the user turned energy off (--meter none), so its absence needs no explaining.
    wide: every column, however wide; else columns are left out to fit the terminal and the line
    under the table names them, with wide_hint (how to see them). saved: the run is in the store
    (only then can `edgebench explain` read it)."""
    from edgebench.bench.ranking import rank

    ranking = rank(result.results, result.reference_target if _reference_timed(result) else None)
    if ranking.order:
        _print_results_table(result, ranking, wide, wide_hint)
        _print_ranking(ranking, result)
    for knob in ("threads", "batch"):
        table = sweep_table(result, knob)
        if table is not None:
            console.print(table)
    _print_sustained(result)
    _print_accuracy(result)
    from edgebench.cli.loadgen_screen import print_loadgen

    print_loadgen(result)
    if not meter_off and _no_energy(result):
        console.print(ENERGY_HOWTO, markup=False, style="dim")
    _print_reference(result)
    _print_inferred(result)
    _print_not_run(result)
    if result.harness_overhead:
        h = result.harness_overhead
        console.print(f"harness overhead (NullRuntime, measured): median {h.median_us:.2f} us, "
                      f"p99 {h.p99_us:.2f} us per inference", markup=False)
    _print_condition_warnings(result, saved)
    if result.error and result.status != "complete":   # why a stored run failed or stopped
        console.print(f"run {result.status}: {printable(result.error)}", markup=False, style="yellow")
    if detail:
        _print_device(result)


def _print_condition_warnings(result, saved: bool = True) -> None:
    """What the conditions checked with the run say can lower its figures (edgebench doctor)."""
    warnings = [c for c in result.conditions if c.status == "warn"]
    for c in warnings:
        console.print(f"warning: {c.check}: {c.value}: {c.meaning}", markup=False, style="yellow")
    if warnings and saved:
        console.print(f"`edgebench explain {result.run_id[:12]}` weighs them against published figures",
                      markup=False, style="dim")


def _print_results_table(result, ranking, wide: bool, wide_hint: str) -> None:
    table, left_out = results_table(result, ranking, None if wide else console.width)
    if wide:
        # Drawn at its own width (the terminal wraps its lines) rather than squeezed into the
        # terminal's, which would cut target names and figures. print(width=) only narrows.
        terminal = console.width
        console.width = max(terminal, _natural_width(table))
        try:
            console.print(table)
        finally:
            console.width = terminal
    else:
        console.print(table)
    if left_out:
        console.print(f"columns left out at {console.width} columns: {', '.join(left_out)}; {wide_hint}",
                      markup=False)


def _no_energy(result) -> bool:
    """Targets were measured, and none of them with an energy meter."""
    measured = [r for r in result.results if r.status == "ok"]
    return bool(measured) and not any(r.energy for r in measured)


def _reference_timed(result) -> bool:
    return result.reference is None or result.reference.timed


def results_table(result, ranking, width: int | None = None) -> tuple[Table, list[str]]:
    """The results table and the columns left out of it to fit `width` (None: every column)."""
    ok = ranking.order
    protocol = ok[0].protocol
    d = result.device
    title = (f"{result.model['name']} on {d.cpu_model} ({d.cores_physical or '?'} cores / "
             f"{d.cores_logical or '?'} threads) - protocol {protocol.name}: {describe_protocol(protocol)}")
    if _offline(ok):
        title += " - offline scenario (in flight: the runtime's own requests where it has a throughput mode, else parallel sessions)"
    energy = next((r.energy for r in ok if r.energy), None)
    offline = _offline(ok)
    caption = (OFFLINE_METHODS if offline else METHODS) + (f" Energy: {energy.method}." if energy else "")
    memory = next((r.memory for r in ok if r.memory), None)
    caption += f" Memory: {memory.method}." if memory else ""
    order = "most images/s first" if offline else "fastest median first"
    columns = _columns(ok, ranking, energy is not None)
    rows = [[column.cell(Row(r, position, speedup)) for column in columns]
            for position, (r, speedup) in enumerate(zip(ok, ranking.speedups), start=1)]
    kept, left_out, compact = fit_columns(columns, rows, width)
    table = _table(kept, columns, rows, compact)
    table.title, table.caption = escape(title), escape(caption + f" Rows: {order} (# 1).")
    return table, left_out


@dataclass(frozen=True)
class Row:
    """A row of the results table: a target's result, its rank and its speed-up over the reference."""

    result: object
    position: int
    speedup: float | None


@dataclass(frozen=True)
class Column:
    """A column of the results table: its cell for a row (rich markup)."""

    name: str
    justify: str
    cell: Callable[[Row], str]
    wraps: bool = False   # only the answer may wrap; a figure or a target name never does


# The columns every row shows, whatever the terminal's width: which target, how fast, and whether
# its answer is right.
ESSENTIAL = ("#", "target", "median ms", "fps", "answer", "agrees")
# The others, left out in this order, one at a time, until the table fits the terminal: first
# what repeats another column or the caption, last what the ranking rests on (images/s, by which
# offline runs rank, is fps x batch). Before any is left out the table is drawn compact (no
# outer border, units under the column names); if the essential ones alone are still too wide,
# the answer wraps.
LEAVE_OUT_FIRST = ("repetition medians ms", "version", "precision", "avg W", "first ms", "load s", "batch",
                   "threads", "in flight", "p90 ms", "MB load/run", "CV %", "95% CI of median ms",
                   "mJ/inference", "p99 ms", "x vs ref", "images/s")
ANSWER_MIN_WIDTH = 8   # squeezed, the answer wraps to this width rather than vanish


def fit_columns(columns: list[Column], rows: list[list[str]],
                width: int | None) -> tuple[list[Column], list[str], bool]:
    """The columns to show in `width` (all of them for None), the names of those left out, and
    whether to draw the table compact: a table too wide is drawn compact first, then loses columns."""
    kept = list(columns)
    left_out: list[str] = []
    if width is None or _natural_width(_table(kept, columns, rows)) <= width:
        return kept, left_out, False
    for name in LEAVE_OUT_FIRST:
        if _natural_width(_table(kept, columns, rows, compact=True)) <= width:
            break
        found = [c for c in kept if c.name == name]
        if found:
            kept.remove(found[0])
            left_out.append(name)
    return kept, left_out, True


def _natural_width(table: Table) -> int:
    """The table's width with no cell wrapped or cut (its title and caption wrap to it)."""
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update(width=10_000, max_width=10_000), table).maximum


def _table(kept: list[Column], columns: list[Column], rows: list[list[str]], compact: bool = False) -> Table:
    table = Table(show_edge=not compact, pad_edge=not compact)
    for column in kept:
        header = "\n".join(column.name.rsplit(" ", 1)) if compact else column.name   # unit below
        table.add_column(header, justify=column.justify, no_wrap=not column.wraps,
                         overflow="fold" if column.wraps else "ellipsis",
                         min_width=ANSWER_MIN_WIDTH if column.wraps else None)
    positions = [columns.index(column) for column in kept]
    for position, row in enumerate(rows, start=1):
        fastest = position == 1 and len(rows) > 1
        table.add_row(*(row[i] for i in positions), style="bold green" if fastest else None)
    return table


def answer_text(r) -> str:
    """The task's one-line answer ("espresso 0.99", "4 objects: person 0.91, ..."); a result
    stored before tasks existed gives its top-1 label and score."""
    if r.summary:
        return r.summary
    return f"{r.top1.label} {r.top1.score:.3f}" if r.top1 is not None else "-"


def answer_cell(r) -> str:
    """What the target answered (rich markup)."""
    return escape(answer_text(r))


def agreement_cell(r) -> str:
    """'ref', or yes/NO (rich markup) with the task's figure against the reference (none for a
    classifier: its figure is the same label or not)."""
    if r.is_reference:
        return "ref"
    if r.agrees_with_reference is None:
        return "-"
    verdict = "[green]yes[/]" if r.agrees_with_reference else "[bold red]NO[/]"
    a = r.agreement
    if not a or a.get("metric") == "same top-1 label":
        return verdict
    return f"{verdict} {a['value']:.3f}"


def _offline(results) -> bool:
    return any(r.scenario == "offline" for r in results)


def _rigorous(ok) -> bool:
    return any(r.protocol.repetitions > 1 for r in ok)


def _batched(ok) -> bool:
    return any(r.batch > 1 for r in ok)


def _columns(ok, ranking, energy: bool) -> list[Column]:
    """Every column this run's results have, in the order they are shown."""
    offline = _offline(ok)

    def figure(name: str, cell) -> Column:
        return Column(name, "right", lambda row: cell(row.result))

    def text(name: str, cell) -> Column:
        return Column(name, "left", lambda row: cell(row.result))

    columns = [Column("#", "right", lambda row: str(row.position)),
               text("target", lambda r: escape(sweep_label(r))),
               text("version", lambda r: escape(r.runtime_version or "-")),
               text("precision", lambda r: r.precision),
               figure("threads", lambda r: str(r.options.get("threads", "-"))),
               figure("load s", lambda r: _num(r.load_s, 2)),
               figure("first ms", lambda r: _num(r.first_inference_ms, 2)),
               figure("MB load/run", lambda r: _memory(r.memory)),
               figure("median ms", lambda r: f"{r.latency_ms.median:.3f}")]
    if _rigorous(ok):
        columns += [figure("95% CI of median ms", _ci), figure("repetition medians ms", _repetitions)]
    columns += [figure("p90 ms", lambda r: f"{r.latency_ms.p90:.3f}"),
                figure("p99 ms", lambda r: f"{r.latency_ms.p99:.3f}"),
                figure("CV %", lambda r: f"{r.latency_ms.cv * 100:.1f}"),
                figure("fps", lambda r: f"{r.fps:.1f}")]
    if ranking.has_reference:
        columns.append(Column("x vs ref", "right",
                              lambda row: "-" if row.speedup is None else f"{row.speedup:.2f}x"))
    if offline:
        columns.append(figure("in flight", lambda r: in_flight(r) if r.scenario == "offline" else "-"))
    if _batched(ok) or offline:
        columns += [figure("batch", lambda r: str(r.batch)), figure("images/s", lambda r: f"{r.images_per_s:,.0f}")]
    if energy:
        columns += [figure("mJ/inference", lambda r: f"{r.energy.j_per_inference * 1e3:.2f}" if r.energy else "-"),
                    figure("avg W", lambda r: f"{r.energy.avg_power_w:.2f}" if r.energy else "-")]
    return columns + [Column("answer", "left", lambda row: answer_cell(row.result), wraps=True),
                      text("agrees", agreement_cell)]


def _ci(r) -> str:
    ci = r.latency_ms.ci95_median
    return f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "-"


def _repetitions(r) -> str:
    return ", ".join(f"{m:.3f}" for m in r.latency_ms.repetition_medians) or "-"


def _memory(memory) -> str:
    if memory is None or memory.load_peak_added_mb is None:
        return "-"
    return f"{memory.load_peak_added_mb:.0f}/{memory.run_peak_added_mb:.0f}"


def _num(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_ranking(ranking, result) -> None:
    if len(ranking.order) < 2:
        return
    first, second = ranking.order[0], ranking.order[1]
    if ranking.supported:
        ratio = ranking.speed_ratio(first, second)
        console.print(f"fastest: {escape(sweep_label(first))}, {ratio:.2f}x the speed of {escape(sweep_label(second))} "
                      f"({escape(ranking.why)})")
        return
    advice = f"; {ranking.advice}" if ranking.advice else ""
    console.print(f"[yellow]ranking not supported by the data:[/] {escape(ranking.why)}{escape(advice)}")


def sweep_table(result, knob: str) -> Table | None:
    """Latency per thread count, or images/s per batch size, one row per target."""
    points = sorted({r.sweep[knob] for r in result.results if knob in r.sweep})
    if len(points) < 2:
        return None
    unit = "median ms" if knob == "threads" else "images/s"
    table = Table(title=f"sweep over {knob}: {unit}", caption="measured; '-': did not run (reason below)")
    table.add_column("target", no_wrap=True)   # a name is never cut: the figures give way
    for point in points:
        table.add_column(f"{knob} {point}", justify="right")
    rows: dict[tuple, dict] = {}
    for r in result.results:
        if knob not in r.sweep:
            continue
        others = tuple((k, v) for k, v in r.sweep.items() if k != knob)
        cells = rows.setdefault((r.target, others), {})
        if r.status == "ok":
            cells[r.sweep[knob]] = f"{r.latency_ms.median:.3f}" if knob == "threads" else f"{r.images_per_s:,.1f}"
    for (target, others), cells in rows.items():
        name = " ".join([target, *(f"{k}={v}" for k, v in others)])
        table.add_row(escape(name), *(cells.get(p, "-") for p in points))
    return table


def _print_sustained(result) -> None:
    for r in result.results:
        s = r.sustained
        if s is None:
            continue
        verdict = "[bold red]throttled[/]" if s.throttled else "[green]no throttling seen[/]"
        console.print(f"sustained {escape(sweep_label(r))}: {len(s.windows)} windows of {s.window_s:g} s; fps "
                      f"{s.first_minute_fps:.1f} at the start -> {s.last_minute_fps:.1f} at the end "
                      f"({s.last_vs_first:.2f}x); {verdict} - {escape(s.evidence)}")


def accuracy_table(result) -> Table | None:
    """The targets' figures on labelled data (run --accuracy-images), beside their speed; None
    when the run scored none. Columns are the task's own figures (mAP@[.5:.95], mIoU, ...)."""
    scored = [r for r in result.results if getattr(r, "accuracy", None) is not None]
    if not scored:
        return None
    first = scored[0].accuracy
    data = first.dataset or {}
    fingerprint = data.get("annotations_sha256") or data.get("sha256") or ""
    table = Table(title=escape(f"{first.task} accuracy on {first.images} labelled image"
                               f"{'s' if first.images != 1 else ''} ({data.get('format', 'labelled set')}"
                               f"{', sha256 ' + fingerprint[:12] if fingerprint else ''})"),
                  caption=escape(_accuracy_method(scored) + (first.figures[0].note or "" if first.figures else "")))
    table.add_column("target", no_wrap=True)
    table.add_column("median ms", justify="right")
    names = [f.name for f in first.figures]
    for name in names:
        table.add_column(f"{name} % (95% CI)", justify="right")
    for r in scored:
        cells = {f.name: f"{f.value * 100:.1f}" + (f" ({f.interval.percent()})" if f.interval else "")
                 for f in r.accuracy.figures}
        median = f"{r.latency_ms.median:.3f}" if r.latency_ms is not None else "-"
        table.add_row(escape(r.target), median, *(cells.get(n, "-") for n in names))
    return table


def _accuracy_method(scored) -> str:
    if any(r.loadgen is not None and r.loadgen.accuracy for r in scored):
        return ("Measured after timing, through LoadGen's accuracy mode: each image issued once per target, the "
                "answers read back from LoadGen's accuracy log; ")
    return "Measured after timing: one untimed inference per image per target; "


def _print_accuracy(result) -> None:
    table = accuracy_table(result)
    if table is None:
        return
    console.print(table)
    for note in getattr(result, "accuracy_notes", None) or []:
        console.print(f"note: {note}", markup=False)
    for warning in getattr(result, "accuracy_warnings", None) or []:
        console.print(f"[bold red]warning:[/] {escape(warning)}")


def _print_reference(result) -> None:
    ref = result.reference
    if ref is None:
        if any(r.status == "ok" for r in result.results):
            console.print("[yellow]no float target ran for this model: predictions are not checked "
                          "against a reference[/]")
        _print_int8_checks(result)
        return
    how = ("timed in this run" if ref.timed else
           "one untimed inference, because no float target was selected")
    console.print(f"reference (float): {escape(ref.target)}, {how}; its answer: {escape(_reference_answer(ref))}")
    if result.agreement_rule:
        console.print(f"agreement: {escape(result.agreement_rule)}")
    if (ref.answer or {}).get("broken"):
        console.print("[bold red]warning:[/] the float reference's outputs hold NaN or infinite values: no "
                      "target's answer can be checked against it")
        _print_int8_checks(result)
        return
    for r in result.results:
        if r.agrees_with_reference is False and not r.is_reference:
            figure = _figure(r.agreement)
            console.print(f"[bold red]warning:[/] {escape(sweep_label(r))} says {escape(answer_text(r))}, the float "
                          f"reference says {escape(_reference_answer(ref))}{escape(figure)}: its {r.precision} "
                          "model does not give the same answer")
    _print_int8_checks(result)


def _reference_answer(ref) -> str:
    if ref.summary:
        return ref.summary
    return f"{ref.top1.label} ({ref.top1.score:.3f})" if ref.top1 is not None else "-"


def _figure(agreement: dict | None) -> str:
    """' (F1 of boxes at IoU 0.5 0.500, needs 0.8)' for a task measured by a figure."""
    if not agreement or agreement.get("metric") == "same top-1 label":
        return ""
    return f" ({agreement['metric']} {agreement['value']:.3f}, needs {agreement['threshold']:g})"


def _print_int8_checks(result) -> None:
    """A target whose int8 model, when prepared, agreed with its float model on too few of the
    held-back calibration images: its speed is not that of the same model. An int8 file that keeps
    some ops float says so (an integer-only accelerator would run those elsewhere)."""
    from edgebench.models.int8_check import assess

    for r in result.results:
        quantizer = (r.artifact or {}).get("quantizer") or ""
        if r.status == "ok" and "kept float" in quantizer:   # not full integer: an int8-only NPU differs
            console.print(f"note: {escape(sweep_label(r))}: {escape(quantizer)}", style="dim")
        found = assess(r.int8_check, r.runtime)
        if found is not None:
            level, line = found
            style = "bold red" if level == "warning" else "yellow"
            console.print(f"[{style}]{level}:[/] {escape(sweep_label(r))}: {escape(line)}")


def _print_inferred(result) -> None:
    """For a user's own model (file or hub): what was read from it and assumed."""
    if result.task and result.task_why and result.model.get("source") != "zoo":
        console.print(f"task: {escape(result.task)} ({escape(result.task_why)})")
    if result.model.get("source") == "zoo":
        return
    seen = set()
    for r in result.results:
        if r.status != "ok" or not r.input or not r.preprocessing:
            continue
        inputs = r.inputs or [r.input]
        line = (f"inferred from {escape(r.target)}: input {escape('; '.join(_describe_input(i) for i in inputs))}; "
                f"normalisation {escape(r.preprocessing['name'])} ({escape(r.preprocessing['why'])}); "
                f"labels: {escape(r.labels or '-')}")
        key = line.partition(": ")[2]
        if key not in seen:
            seen.add(key)
            console.print(line)


def _describe_input(spec: dict) -> str:
    name = f"{printable(spec['name'])} " if len(spec.get("name") or "") < 40 and spec.get("name") else ""
    text = f"{name}{spec['dtype']} {spec['layout'] or 'non-image'} {'x'.join(map(str, spec['shape']))}"
    q = spec.get("quantization")
    return text + (f", quantized scale {q['scale']:.4g} zero point {q['zero_point']}" if q else "")


def _print_not_run(result) -> None:
    for r in result.results:
        if r.status != "ok":
            console.print(f"[yellow]{escape(sweep_label(r))} {r.status}:[/] {escape(r.error or '')}")
    if result.skipped:
        console.print(f"{_count(len(result.skipped), 'target')} not run here (default selection; "
                      "details: edgebench targets):", markup=False)
        for line, generic in skipped_groups(result):
            console.print(f"  {line}", markup=False, style="dim" if generic else None)


# A default selection skips targets for a handful of causes, most of them the same on every run
# of a machine (no GPU, a model file in one format): one line per cause, the specific reasons
# (a missing library, say libedgetpu) first and whole. The format reason is plan._why_not's text.
_NO_FORMAT = re.compile(r"^(?P<model>.+) has no \w+ model in a format it reads \(.*\)$")
_GPU_DEVICES = ("cuda", "tensorrt")


def skipped_groups(result) -> list[tuple[str, bool]]:
    """One (line, generic) per cause of the skipped targets; generic: a cause shared by a whole
    class of targets (no GPU here, a format the model is not in), listed after the specific ones
    and naming the targets only when they are few."""
    groups: dict[tuple[str, str, bool], list[str]] = {}
    for skipped in result.skipped:
        groups.setdefault(_skip_cause(skipped, result.device), []).append(skipped.target)
    lines = []
    for (kind, cause, generic), names in groups.items():
        listed = "" if generic and len(names) > 3 else f" ({', '.join(names)})"
        cause = cause.replace(" they read", " it reads") if len(names) == 1 else cause
        lines.append((f"{_count(len(names), kind)}{listed}: {cause}", generic))
    return sorted(lines, key=lambda line: line[1])   # stable: specific causes first, in target order


def _skip_cause(skipped, device) -> tuple[str, str, bool]:
    """(what kind of target, why, whether the cause is generic) for a skipped target."""
    from edgebench.runtimes.base import TARGETS

    no_format = _NO_FORMAT.match(skipped.reason)
    if no_format:
        return "target", f"{no_format['model']} has no model in a format and precision they read", True
    target = TARGETS.get(skipped.target)
    if target is not None and target.device in _GPU_DEVICES and not device.gpus:
        return "NVIDIA GPU target", "no NVIDIA GPU found here", True
    return "target", skipped.reason, False


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _print_device(result) -> None:
    d = result.device
    lines = [f"run {result.run_id} ({result.status}) {result.created} - image {result.image.get('path')}",
             f"device: {d.hostname}, {d.cpu_model}, {d.cores_physical} physical / "
             f"{d.cores_logical} logical cores, {d.memory_gb} GiB, {d.os}, Python {d.python}"]
    if d.cpu_governor or d.cpu_freq_mhz:
        lines.append(f"cpu governor {d.cpu_governor}, frequency {d.cpu_freq_mhz} MHz")
    lines += [f"{label}: {value}" for label, value in
              (("board", d.board), ("gpus", d.gpus), ("edge tpus", d.edgetpus)) if value]
    if d.thermal_c or result.thermal_after_c:
        lines.append(f"thermal before {d.thermal_c} C, after {result.thermal_after_c} C")
    lines.append("toolchain: " + ", ".join(f"{k} {v}" for k, v in d.toolchain.items() if v))
    for line in lines:
        console.print(line, markup=False)


def describe_protocol(p) -> str:
    if p.repetitions == 1 and not p.min_duration_s and not p.warmup_s:
        return f"{p.warmup} warm-up, {p.settle_s:g} s pause, {p.runs} timed runs"
    return (f"warm-up >= {p.warmup} runs and {p.warmup_s:g} s, {p.settle_s:g} s pause, "
            f"{p.repetitions} x (>= {p.runs} runs and {p.min_duration_s:g} s)")

"""The self-contained HTML report: charts inlined as base64 PNG, no external URLs, all text escaped."""

from __future__ import annotations

import base64
import datetime as dt

from edgebench.report.answers import answer_figures
from edgebench.report.depth import CAPTIONS as DEPTH_CAPTIONS
from edgebench.report.charts import accelerator_name, device_names, render, report_charts, run_label
from edgebench.results.reference import PublishedFigure
from edgebench.results.schema import RunResult, in_flight

CHART_CAPTIONS = {
    "fps_linear": "Images per second per target, linear scale, as in the 2019 article (at batch 1 its fps; "
                  "a batched or offline result says so in its label).",
    "fps_log": "The same on a log scale, so slow and fast setups can be read together.",
    "energy_per_inference": "Energy per inference in mJ (lower is better): measured energy, rated power "
                            "(labelled), and published setups whose power the source quotes (power / fps).",
    "latency": "Per-inference latency distributions from the raw samples.",
    "server_qps": "MLPerf LoadGen server scenario: per target and device, the highest Poisson arrival rate whose "
                  "LoadGen run was VALID (latency bound met at its percentile, early stopping included), found by "
                  "edgebench's search; LoadGen's p99 at that rate and the bound beside each bar.",
    **DEPTH_CAPTIONS,
}


def build_report(runs: list[RunResult], reference: list[PublishedFigure],
                 left_out: list[RunResult] = (), profiles=(), comparisons=()) -> str:
    """The HTML text. left_out: older runs the selection replaced, listed so none goes unnoticed;
    profiles: op profiles (`edgebench profile --out`) drawn as bar charts; comparisons:
    report.compare.Comparison results (`edgebench compare --out`) shown as tables."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    charts = report_charts(runs, reference, profiles)
    answers = answer_figures(runs)
    charts.update({name: figure for name, (figure, _) in answers.items()})
    images = {name: base64.b64encode(render(fig, "png")).decode() for name, fig in charts.items()}
    answer_captions = {name: caption for name, (_, caption) in answers.items()}
    env = Environment(loader=PackageLoader("edgebench.report", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.get_template("report.html.j2")
    from edgebench import __version__

    names = device_names(list(runs) + list(left_out))
    return template.render(
        generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        version=__version__, runs=runs, reference=reference, images=images, left_out=left_out,
        comparisons=comparisons, explanations=_explanations(runs) if reference else {},
        captions={name: answer_captions.get(name) or CHART_CAPTIONS.get(name) or CHART_CAPTIONS[name.split("_")[0]]
                  for name in images}, run_label=lambda run: run_label(run, names),   # headings give the run's id and time themselves
        ranking=ranking_verdict, int8_agreement=int8_agreement, accelerator=accelerator_name, threads=threads_used, scenario=scenario_used, mib=_mib,
        memory_method=memory_method, scenarios=scenarios_described, timing_methods=timing_methods,
        answer=answer_text, agreement=agreement_text)


def _explanations(runs: list[RunResult]) -> dict:
    """{run id: its gap to the published figures, cause by cause} (edgebench explain)."""
    from edgebench.conditions.explain import explain

    return {run.run_id: explain(run) for run in runs}


def answer_text(result) -> str:
    """The task's one-line answer (a result stored before tasks: its top-1 label and score)."""
    if result.summary:
        return result.summary
    return f"{result.top1.label} ({result.top1.score:.3f})" if result.top1 is not None else "–"


def agreement_text(result) -> tuple[str, str]:
    """(css class, text) of a result's agreement with the float reference, with the task's
    figure and threshold where it has one."""
    if result.is_reference:
        return "", "reference"
    if result.agrees_with_reference is None:
        return "", "– (no float reference)"
    verdict = ("ok", "yes") if result.agrees_with_reference else ("bad", "NO")
    a = result.agreement
    if not a or a.get("metric") == "same top-1 label":
        return verdict
    return verdict[0], f"{verdict[1]}: {a['metric']} {a['value']:.3f} (needs {a['threshold']:g})"


def ranking_verdict(run) -> tuple[str, str] | None:
    """(css class, sentence): whether the run's data supports its ranking, as the run screen
    says it (edgebench.bench.ranking); None with fewer than two measured targets."""
    from edgebench.bench.ranking import rank
    from edgebench.results.schema import sweep_label

    ranking = rank(run.results, run.reference_target)
    if len(ranking.order) < 2:
        return None
    first, second = ranking.order[:2]
    if ranking.supported:
        return "ok", (f"Ranking supported by the data: fastest {sweep_label(first)}, "
                      f"{ranking.speed_ratio(first, second):.2f}x the speed of {sweep_label(second)} "
                      f"({ranking.why}).")
    advice = f"; {ranking.advice}" if ranking.advice else ""
    return "warn", f"Ranking not supported by the data: {ranking.why}{advice}."


def int8_agreement(result) -> tuple[str, str]:
    """(css class, text) for the stored int8 check of a target: how often its int8 model gave
    the float model's top-1 on held-back calibration images when it was prepared."""
    from edgebench.models.int8_check import agreement_fraction, assess, error_text

    entry = ((result.int8_check or {}).get("by_runtime") or {}).get(result.runtime)
    if not entry:
        return "", "–"
    if "error" in entry:
        return "warn", f"not checked: {entry['error']}"
    agreed = agreement_fraction(entry)
    if agreed is None:
        return "", "–"
    counted = result.int8_check.get("decisive_samples", result.int8_check.get("samples"))
    ci = entry.get("top1_agreement_ci95") or entry.get("agreement_ci95")
    interval = f", 95% CI {ci[0]:.0%}–{ci[1]:.0%}" if ci else ""
    text = f"{agreed:.0%} of {counted} held-back samples{interval}; {error_text(result.int8_check, entry)}"
    found = assess(result.int8_check, result.runtime)
    return {"warning": "bad", "note": "warn"}.get(found[0] if found else "", "ok"), text


def threads_used(result) -> str:
    """The threads a target ran with (its runtime options, else its sweep point: a point that did
    not run has no options), as the table shows them."""
    threads = (result.options or {}).get("threads", (result.sweep or {}).get("threads"))
    return str(threads) if threads is not None else "–"


def scenario_used(result) -> str:
    """The MLPerf scenario that produced a result, as the table shows it: 'single-stream', or
    'offline, 2 requests' (the runtime's own throughput mode) / 'offline, 2 sessions'."""
    if result.scenario == "offline":
        return f"offline, {in_flight(result)}"
    return result.scenario


def scenarios_described(run) -> str:
    """The scenarios of a run's results, in words, for the line above its table."""
    words = {"single-stream": "single-stream (MLPerf's name: one frame at a time, the article's loop)",
             "offline": "offline (MLPerf's name: maximum images/s with several inferences in flight: "
                        "requests of the runtime's own throughput mode where it has one, else parallel "
                        "sessions)"}
    seen = dict.fromkeys(r.scenario for r in run.results)
    return "; ".join(words.get(s, s) for s in seen)


def timing_methods(run, field: str) -> str:
    """How a run's latencies or fps figures were timed (field: latency_method or fps_method): the
    one method, or each method with the targets it applies to when they differ (an offline run
    times a runtime's own queue one way and parallel sessions another)."""
    targets: dict[str, list[str]] = {}
    for r in run.results:
        if r.status == "ok" and r.latency_ms:   # a target that did not run was timed no way
            targets.setdefault(getattr(r, field), []).append(r.target)
    if len(targets) <= 1:
        return next(iter(targets), "")
    return "; ".join(f"{', '.join(dict.fromkeys(names))}: {method}" for method, names in targets.items())


def memory_method(run) -> str | None:
    """How a run's memory figures were measured (the first result that has them)."""
    return next((r.memory.method for r in run.results if r.memory), None)


def _mib(value) -> str:
    return "–" if value is None else f"{value:,.1f}"

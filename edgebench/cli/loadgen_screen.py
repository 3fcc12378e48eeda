"""The run screen's LoadGen lines: each target's verdict and every reason, LoadGen's figures for
its scenario, the server search, edgebench's overrides of mlperf.conf and where the logs are."""

from __future__ import annotations

from edgebench.cli.common import console
from edgebench.results.schema import sweep_label


def print_loadgen(result) -> None:
    for r in result.results:
        if r.loadgen is not None:
            for line, style in loadgen_lines(sweep_label(r), r.loadgen):
                console.print(line, markup=False, style=style)


def loadgen_lines(label: str, lg) -> list[tuple[str, str | None]]:
    """(line, style) pairs for one target's LoadGen record."""
    style = "green" if lg.verdict == "VALID" else "yellow"
    lines = [(f"LoadGen {lg.scenario} {label}: {lg.verdict} - {headline(lg)}{accuracy_phrase(lg)}", style)]
    lines += [(f"  - {reason}", "yellow") for reason in lg.reasons]
    if lg.search:
        probes = lg.search.get("probes", [])
        steps = ", ".join(f"{p['target_qps']:.4g} {'ok' if p['verdict'] == 'VALID' else 'x'}" for p in probes)
        lines.append((f"  server search: {len(probes)} probes ({steps}); stopped: {lg.search.get('stopped_because')}",
                      None))
    overrides = ", ".join(f"{k}={_short(v)}" for k, v in lg.overrides.items())
    lines.append((f"  settings: LoadGen {lg.loadgen_version or '?'} mlperf.conf rules; edgebench's overrides: "
                  f"{overrides or 'none'}; logs: {lg.logs_dir}", "dim"))
    return lines


def headline(lg) -> str:
    """The scenario's answer in one phrase, LoadGen's figures."""
    f = lg.figures
    queries = f"{f.get('queries', '?')} queries"
    if lg.scenario == "server":
        bound = lg.settings.get("target_latency_ns")
        pct = lg.settings.get("target_latency_percentile") or 0.99
        if lg.server_qps is not None:
            return (f"{lg.server_qps:.1f} QPS at p99 {_ms(lg.server_p99_ms)} "
                    f"(bound {_ms(bound / 1e6 if bound else None)} at p{pct * 100:g}), {queries}")
        return f"no rate met the bound ({_ms(bound / 1e6 if bound else None)} at p{pct * 100:g})"
    if lg.scenario == "offline":
        return f"{f.get('qps', 0):.1f} samples/s, {lg.in_flight} in flight"
    pct = "p99" if lg.scenario == "multi-stream" else "p90"
    estimate = f", early-stopping {pct} estimate {_ms(f['early_stopping_ms'])}" if f.get("early_stopping_ms") else ""
    return f"{pct} {_ms(f.get(pct + '_ms'))}{estimate}, {f.get('qps', 0):.1f} samples/s, {queries}"


def accuracy_phrase(lg) -> str:
    """', top-1 71.4% (LoadGen accuracy mode, 300 images)' when the run scored through LoadGen."""
    acc = lg.accuracy
    if not acc:
        return ""
    return f", {acc['figure']} {acc['value'] * 100:.1f}% (LoadGen accuracy mode, {acc['samples']} images)"


def _ms(value) -> str:
    return f"{value:.2f} ms" if isinstance(value, (int, float)) else "-"


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_logs(run) -> None:
    """`results show RUN --logs`: per LoadGen target, its summary log (kept in the store) and the
    folder of its summary and detail logs (on the machine that ran it); one line when none ran."""
    from pathlib import Path

    from edgebench.errors import UserError

    measured = [r for r in run.results if r.loadgen is not None]
    if not measured:
        raise UserError(f"run {run.run_id[:12]} was not measured through LoadGen: it has no LoadGen logs")
    for r in measured:
        folder = Path(r.loadgen.logs_dir) if r.loadgen.logs_dir else None
        where = f"{folder} (summary + detail)" if folder and folder.is_dir() else \
            f"{folder} - not on this machine; the summary below is the stored copy"
        console.print(f"== {sweep_label(r)}: LoadGen logs in {where}", markup=False, style="bold")
        console.print(r.loadgen.summary_log or "(no summary log was kept)", markup=False)
        if r.loadgen.accuracy:
            log = Path(r.loadgen.accuracy["accuracy_log"])
            console.print(f"accuracy mode: {r.loadgen.accuracy['samples']} samples, LoadGen's accuracy log "
                          f"{log}{'' if log.is_file() else ' (not on this machine)'}", markup=False)

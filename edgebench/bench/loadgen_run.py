"""One planned target measured through LoadGen (bench.loadgen): the executor its scenario needs,
the single test or the server search, and what the result keeps (a Measurement for the common
figures, and LoadGen's own record: verdict, reasons, settings, figures, search, logs)."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from edgebench.bench import loadgen as lgx
from edgebench.bench.runner import Measurement, owned
from edgebench.paths import data_dir


def logs_dir_for(run_id: str, label: str) -> Path:
    """Where one target's LoadGen logs are kept: beside the store's other files, in the data dir,
    by run id and target (the result records the path; `results show RUN --logs` reads it)."""
    safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)
    return data_dir() / "loadgen-logs" / run_id / safe


def measure_loadgen(session, planned, plan, x, on_started, logs_dir: Path) -> tuple[Measurement, dict, int]:
    """LoadGen's test (or server search) of one target's session: (measurement, the record of
    TargetResult.loadgen, inferences in flight)."""
    lg = lgx.require_loadgen()
    config, chosen = plan.config, plan.config.loadgen
    first_ms, rate = _single_stream_rate(session, x, config.protocol)
    samples = chosen.samples or lgx.DEFAULT_SAMPLES
    on_started()
    with _executor(session, planned, plan, x) as (executor, in_flight):
        def test(qps: float, folder: Path) -> lgx.TestOutcome:
            settings, overrides = lgx.test_settings(lg, config.scenario, chosen, qps)
            executor.latencies_ns = []
            outcome = lgx.run_test(lg, executor, settings, samples, folder, config.scenario)
            lgx.keep_logs(folder)
            outcome.settings["edgebench_overrides"] = overrides
            return outcome

        final, search = _run_scenario(test, config.scenario, chosen, rate, in_flight, logs_dir)
    record = _record(final, search, samples, rate, in_flight)
    return _measurement(final, first_ms, session, x), record, in_flight


def _single_stream_rate(session, x, protocol) -> tuple[float, float]:
    """(first inference ms, inferences/s of one session): the warm-up, which also sizes LoadGen's
    expectations and starts the server search."""
    clock = time.perf_counter_ns
    times = []
    for _ in range(max(protocol.warmup, 5)):
        t0 = clock()
        session.set_input(x)
        session.invoke()
        session.output()
        times.append(clock() - t0)
    return times[0] / 1e6, 1e9 / max(float(np.median(times[1:])), 1.0)


def _run_scenario(test, scenario: str, chosen, rate: float, in_flight: int, logs_dir: Path):
    """The scenario's one test, or the server search: (the test reported, the search or None)."""
    if scenario == "server" and chosen.target_qps is None:
        probe = lambda qps, n: test(qps, logs_dir / f"probe-{n:02d}-{qps:.4g}qps")  # noqa: E731
        search = lgx.search_server(probe, rate, chosen.search_tolerance)
        final = search.best or max(search.probes, key=lambda p: p.target_qps or 0.0)
        return final, search
    expected = chosen.target_qps or {"offline": rate * in_flight * lgx.OFFLINE_HEADROOM}.get(scenario, rate)
    outcome = test(expected, logs_dir)
    outcome.target_qps = chosen.target_qps if scenario == "server" else outcome.target_qps
    return outcome, None


@contextmanager
def _executor(session, planned, plan, x):
    """Single-/multi-stream: the one session, in LoadGen's thread. Server/offline: the runtime's
    own request queue where the session has one, else parallel sessions (--streams, default the
    CPU's cores), as the offline scenario runs them."""
    from edgebench.bench.plan import open_session
    from edgebench.runtimes.base import AsyncSession

    scenario = plan.config.scenario
    if scenario in ("single-stream", "multi-stream"):
        yield lgx.InlineExecutor(session, x), 1
        return
    if isinstance(session, AsyncSession):
        executor = lgx.QueueExecutor(session, x)
        try:
            yield executor, session.in_flight
        finally:
            executor.close()
        return
    count = plan.config.streams or max(2, os.cpu_count() or 1)
    extra = []
    try:
        for _ in range(count - 1):
            extra.append(open_session(planned, plan.task.task))
        executor = lgx.ThreadsExecutor([session, *extra], x)
        try:
            yield executor, count
        finally:
            executor.close()
    finally:
        for s in extra:
            s.close()


def _measurement(final: lgx.TestOutcome, first_ms: float, session, x) -> Measurement:
    """The common figures: per-inference latencies as the SUT timed them, and LoadGen's rate as
    fps (elapsed is the inferences at that rate)."""
    samples = np.array(final.latencies_ns or [0], dtype=np.int64)
    qps = final.figures.get("qps") or final.figures.get("completed_qps") or 0.0
    session.set_input(x)
    session.invoke()
    output = owned(session.output())
    return Measurement([samples], [len(samples) / qps if qps else 0.0], output, None, first_ms,
                       latency_method="time.perf_counter_ns around set_input + invoke + output in the LoadGen "
                                      "SUT, per inference (LoadGen's own issue-to-completion percentiles are "
                                      "in loadgen.figures)",
                       fps_method=f"LoadGen {final.scenario}: {_qps_words(final.scenario)}")


def _qps_words(scenario: str) -> str:
    return {"single-stream": "queries/s including LoadGen's overhead",
            "multi-stream": "samples per query / mean query latency",
            "server": "scheduled samples/s of the highest VALID Poisson rate",
            "offline": "samples/s of LoadGen's offline query"}[scenario]


def _record(final: lgx.TestOutcome, search, samples: int, rate: float, in_flight: int) -> dict:
    overrides = final.settings.pop("edgebench_overrides", {})
    record = {"scenario": final.scenario, "verdict": final.verdict, "reasons": final.reasons,
              "figures": final.figures, "settings": final.settings, "overrides": overrides,
              "samples": samples, "in_flight": in_flight, "single_stream_qps": round(rate, 3),
              "logs_dir": final.logs_dir, "summary_log": lgx.summary_text(Path(final.logs_dir)),
              "loadgen_version": lgx.loadgen_version()}
    if search is not None:
        record["search"] = {
            "method": "bracket by doubling (or halving) from the single-stream rate, then bisection; "
                      "each probe a LoadGen Server run, VALID by LoadGen's verdict",
            "stopped_because": search.stopped_because,
            "probes": [{"target_qps": p.target_qps, "verdict": p.verdict, "reasons": p.reasons,
                        "p99_ms": p.figures.get("p99_ms"), "qps": p.figures.get("qps"), "logs_dir": p.logs_dir}
                       for p in search.probes]}
        if search.best is None:
            record["verdict"] = "INVALID"
            record["reasons"] = [search.stopped_because]
    if final.scenario == "server" and record["verdict"] == "VALID":
        record["server_qps"] = final.figures.get("qps") or final.target_qps
        record["server_p99_ms"] = final.figures.get("p99_ms")
    return record

"""MLPerf's LoadGen as the scenario engine: the target's session is LoadGen's system under test
(SUT), copies of the run's input are its query sample library (QSL), and LoadGen issues the
queries, times them and gives the verdict (VALID / INVALID and why) that edgebench records.

Settings: LoadGen's own rules (its built-in mlperf.conf, loaded with TestSettings.FromConfig for
the model name "edgebench", so only the "*" rules apply), then edgebench's overrides, each
recorded with the result (`overrides`). The overrides exist because MLPerf's 600 s minimum
duration is meant for a submission, not for a probe of a search on an edge board.

Server search (no --target-qps): the highest Poisson arrival rate whose LoadGen Server run is
VALID (the latency bound met at its percentile, LoadGen's early-stopping estimate included):
  1. start at the single-stream rate (1 / one inference's latency), measured on the session;
  2. bracket: double the rate while a probe is VALID, halve it while the first probes are
     INVALID, at most MAX_HALVINGS times (a rate 8x below what one session sustains that still
     misses the bound says the bound is below one inference's latency, not the load: no rate
     meets it; a probe at a lower rate would also last minutes, its queries arriving so slowly);
  3. bisect the bracket [highest VALID, lowest INVALID] until it is within `search_tolerance`
     of its low end (10% by default) or MAX_PROBES probes have run.
Every probe is a real LoadGen Server run with its own logs; the answer is the last VALID probe,
reported with LoadGen's p99 (its percentile) at that rate.

LoadGen is imported lazily (`pip install 'edgebench[loadgen]'`)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgebench.bench.config import LoadGenSettings
from edgebench.errors import UserError

NOT_INSTALLED = "LoadGen is not installed: pip install 'edgebench[loadgen]'"
LG_SCENARIOS = {"single-stream": "SingleStream", "multi-stream": "MultiStream", "server": "Server",
                "offline": "Offline"}
# edgebench's defaults where a value is not given (MLPerf's own in mlperf.conf, for comparison:
# 600 s; single-stream 100 queries, multi-stream 662, server 100, offline 1 (24,576 for ResNet-50)).
DEFAULT_DURATION_S = 10.0
DEFAULT_SAMPLES = 1024
DEFAULT_SERVER_BOUND_MS = 10.0      # mlperf.conf's "*.Server.target_latency"
MIN_QPS = 0.1
MAX_HALVINGS = 3
MAX_PROBES = 16
OFFLINE_HEADROOM = 1.1   # offline's query is sized at expected rate x duration: a little more keeps it long enough
SUMMARY_CHARS = 20_000
ABORT_GRACE_S = 3.0   # Ctrl-C: how long LoadGen's test may take to end before the run stops without it


def require_loadgen():
    """The mlperf_loadgen module, or the one line that says how to install it."""
    try:
        import mlperf_loadgen
    except ImportError:
        raise UserError(NOT_INSTALLED) from None
    return mlperf_loadgen


def loadgen_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlcommons-loadgen")
    except PackageNotFoundError:
        return None


# ---- the system under test ------------------------------------------------------------------


class Executor:
    """Runs LoadGen's samples on sessions and reports each one done. Subclasses differ only in
    where an inference runs: the caller's thread, edgebench's threads, or the runtime's queue."""

    def __init__(self, x):
        self.x = x
        self.latencies_ns: list[int] = []
        self.aborted = threading.Event()   # Ctrl-C: answer at once, so LoadGen's test ends soon

    def issue(self, samples) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _infer(self, session, sample) -> None:
        """One sample through a session, then LoadGen told it is done."""
        if not self.aborted.is_set():
            t0 = time.perf_counter_ns()
            session.set_input(self.x)
            session.invoke()
            session.output()
            self.latencies_ns.append(time.perf_counter_ns() - t0)
        _complete([sample.id])


def _complete(ids: list[int]) -> None:
    import mlperf_loadgen as lg

    lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])


class InlineExecutor(Executor):
    """Single-stream and multi-stream: LoadGen waits for each query, so the samples run one
    after another in LoadGen's own issuing thread, through the one session."""

    def __init__(self, session, x):
        super().__init__(x)
        self.session = session

    def issue(self, samples) -> None:
        for sample in samples:
            self._infer(self.session, sample)


class ThreadsExecutor(Executor):
    """Server and offline without a runtime queue: parallel sessions, each in a thread of
    edgebench's, taking samples from one queue (as the offline scenario's sessions do)."""

    def __init__(self, sessions: list, x):
        super().__init__(x)
        self.pending: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._serve, args=(s,), daemon=True) for s in sessions]
        for t in self.threads:
            t.start()

    def issue(self, samples) -> None:
        for sample in samples:
            self.pending.put(sample)

    def _serve(self, session) -> None:
        while (sample := self.pending.get()) is not None:
            self._infer(session, sample)

    def close(self) -> None:
        for _ in self.threads:
            self.pending.put(None)
        for t in self.threads:
            t.join()



class QueueExecutor(Executor):
    """Server and offline where the session has the runtime's own request queue (its throughput
    mode): start() hands each sample to a free request; the runtime's callback completes it."""

    def __init__(self, session, x):
        super().__init__(x)
        self.session = session
        clock = time.perf_counter_ns

        def done(userdata) -> None:
            sample_id, t0 = userdata
            self.latencies_ns.append(clock() - t0)
            _complete([sample_id])

        session.set_callback(done)

    def issue(self, samples) -> None:
        for sample in samples:
            if self.aborted.is_set():
                _complete([sample.id])
            else:
                self.session.start(self.x, (sample.id, time.perf_counter_ns()))

    def close(self) -> None:
        self.session.wait_all()


# ---- one LoadGen test -------------------------------------------------------------------------


@dataclass
class TestOutcome:
    """One LoadGen test: its verdict with every reason, the figures it logged, its logs."""

    scenario: str
    verdict: str                 # VALID | INVALID
    reasons: list[str]
    figures: dict                # qps, latency percentiles (ms), query count, early-stopping estimate
    settings: dict               # LoadGen's effective settings
    logs_dir: str
    latencies_ns: list[int] = field(default_factory=list)   # the SUT's own per-inference timings
    target_qps: float | None = None


def test_settings(lg, scenario: str, chosen: LoadGenSettings, expected_qps: float) -> tuple[object, dict]:
    """LoadGen's TestSettings from its own mlperf.conf rules, then edgebench's overrides (returned
    too, so the result states them)."""
    settings = lg.TestSettings()
    settings.FromConfig("", "edgebench", LG_SCENARIOS[scenario], 0)   # 0: mlperf.conf only
    settings.scenario = getattr(lg.TestScenario, LG_SCENARIOS[scenario])
    settings.mode = lg.TestMode.PerformanceOnly
    overrides = {"min_duration_ms": int(1000 * (chosen.min_duration_s or DEFAULT_DURATION_S))}
    if chosen.min_query_count is not None:
        overrides["min_query_count"] = chosen.min_query_count
    if scenario == "server":
        overrides["server_target_qps"] = expected_qps
        if chosen.latency_bound_ms is not None:
            overrides["server_target_latency_ns"] = int(chosen.latency_bound_ms * 1e6)
        if chosen.latency_percentile is not None:
            overrides["server_target_latency_percentile"] = chosen.latency_percentile / 100
    elif scenario == "offline":
        overrides["offline_expected_qps"] = expected_qps
    elif scenario == "single-stream":
        overrides["single_stream_expected_latency_ns"] = int(1e9 / expected_qps)
    for name, value in overrides.items():
        setattr(settings, name, value)
    return settings, overrides


def run_test(lg, executor: Executor, settings, samples: int, logs_dir: Path, scenario: str,
             loaded_at_once: int | None = None, loader=None, unloader=None) -> TestOutcome:
    """One LoadGen test in a thread of its own, so that Ctrl-C reaches the main thread: it then
    makes the SUT answer at once, waits for LoadGen to finish the test, and goes on up.
    loader/unloader: LoadGen's calls to load and unload samples (the performance tests' samples
    are all the run's one input, nothing to load); loaded_at_once: its performance sample count."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    sut = lg.ConstructSUT(executor.issue, lambda: None)
    nothing = lambda indices: None  # noqa: E731
    qsl = lg.ConstructQSL(samples, loaded_at_once or samples, loader or nothing, unloader or nothing)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(logs_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False
    failure: list[BaseException] = []
    # The test's end, as the test itself says it: Thread.is_alive() cannot be trusted once a
    # join() was interrupted by Ctrl-C (it may answer False while the thread still runs).
    ended = threading.Event()

    def test() -> None:
        try:
            lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            failure.append(exc)
        finally:
            ended.set()

    _RUNNING.add(ended)
    threading.Thread(target=test, name="loadgen-test", daemon=True).start()
    try:
        _wait(ended)
    except KeyboardInterrupt:
        # The SUT now answers at once; a server test still lasts its scheduled span, so after a
        # grace the run goes on up without it (and the process ends at once: see
        # exit_at_once_if_a_test_runs).
        executor.aborted.set()
        _wait(ended, ABORT_GRACE_S)
        if ended.is_set():   # ended in time: freed as usual
            _destroy(lg, ended, qsl, sut)
        raise
    _destroy(lg, ended, qsl, sut)
    if failure:
        raise failure[0]
    return read_outcome(logs_dir, scenario, executor.latencies_ns)


_RUNNING: set[threading.Event] = set()   # each LoadGen test's end, set when it has ended


def _destroy(lg, ended: threading.Event, qsl, sut) -> None:
    """LoadGen's sample library and SUT freed once its test has ended (left to the interpreter's
    exit, they crash it)."""
    _RUNNING.discard(ended)
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)


def exit_at_once_if_a_test_runs(code: int) -> None:
    """End the process now, with `code`, when a LoadGen test interrupted by a signal was left
    running (or ended after the grace, its sample library and SUT never freed): its C++ thread
    cannot be stopped, and an interpreter exiting under it, or over LoadGen objects not freed,
    crashes ("terminate called without an active exception", or a segmentation fault). Called
    once the run is stored and its lines printed: nothing else is left to do."""
    if _RUNNING:   # a test still running, or one that ended too late to be freed: either crashes the exit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(ended: threading.Event, limit_s: float | None = None) -> None:
    deadline = None if limit_s is None else time.monotonic() + limit_s
    while not ended.is_set() and (deadline is None or time.monotonic() < deadline):
        ended.wait(0.1)


# ---- reading LoadGen's logs ----------------------------------------------------------------------


def read_detail(path: Path) -> dict:
    """{key: value} of every ':::MLLOG {json}' line of LoadGen's detail log (the last wins)."""
    values = {}
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(":::MLLOG "):
                try:
                    entry = json.loads(line[len(":::MLLOG "):])
                except json.JSONDecodeError:
                    continue
                values[entry.get("key")] = entry.get("value")
    return values


def read_outcome(logs_dir: Path, scenario: str, latencies_ns: list[int]) -> TestOutcome:
    detail = read_detail(logs_dir / "mlperf_log_detail.txt")
    # LoadGen's 64-bit RNG seeds do not fit a JSON number every reader takes: kept as text.
    settings = {k[len("effective_"):]: str(v) if isinstance(v, int) and abs(v) >= 2**53 else v
                for k, v in detail.items() if k.startswith("effective_")}
    verdict = "VALID" if detail.get("result_validity") == "VALID" else "INVALID"
    return TestOutcome(scenario=scenario, verdict=verdict, reasons=reasons(detail, settings),
                       figures=figures(detail, scenario), settings=settings, logs_dir=str(logs_dir),
                       latencies_ns=list(latencies_ns), target_qps=settings.get("target_qps"))


def reasons(detail: dict, settings: dict) -> list[str]:
    """Every reason LoadGen gives for an INVALID verdict, in words (empty when VALID)."""
    if detail.get("result_validity") == "VALID":
        return []
    found = []
    if detail.get("result_min_duration_met") is False:
        found.append(f"too short: the test ran less than its minimum duration "
                     f"({settings.get('min_duration_ms', '?')} ms)")
    if detail.get("result_min_queries_met") is False:
        found.append(f"too few queries: fewer than the minimum ({settings.get('min_query_count', '?')})")
    if detail.get("result_perf_constraints_met") is False:
        bound = settings.get("target_latency_ns")
        pct = settings.get("target_latency_percentile")
        found.append("latency bound not met: more than the allowed share of queries took longer than "
                     f"{bound / 1e6:g} ms (p{pct * 100:g})" if bound and pct else "performance constraints not met")
    if detail.get("early_stopping_met") is False:
        text = " ".join(str(detail.get("early_stopping_result") or "").split())
        found.append(f"early stopping not satisfied: {text.lstrip('* ')}" if text else "early stopping not satisfied")
    extra = " ".join(str(detail.get("result_invalid_reason") or "").split())
    if extra:
        found.append(extra)
    return found or ["LoadGen gave no reason"]


def figures(detail: dict, scenario: str) -> dict:
    """LoadGen's own figures: throughput, latency percentiles in ms, queries, early stopping."""
    ms = lambda key: round(detail[key] / 1e6, 4) if isinstance(detail.get(key), (int, float)) else None  # noqa: E731
    qps_key = {"single-stream": "result_qps_with_loadgen_overhead", "server": "result_scheduled_samples_per_sec",
               "offline": "result_samples_per_second"}.get(scenario)
    out = {"qps": detail.get(qps_key) if qps_key else None,
           "completed_qps": detail.get("result_completed_samples_per_sec"),
           "queries": detail.get("result_query_count"),
           "p50_ms": ms("result_50.00_percentile_latency_ns"), "p90_ms": ms("result_90.00_percentile_latency_ns"),
           "p99_ms": ms("result_99.00_percentile_latency_ns"), "mean_ms": ms("result_mean_latency_ns"),
           "max_ms": ms("result_max_latency_ns"),
           "early_stopping_ms": ms("early_stopping_latency_ss") or ms("early_stopping_latency_ms") or None}
    if scenario == "multi-stream" and out["p99_ms"]:
        samples = detail.get("effective_samples_per_query") or 1
        out["qps"] = round(samples * 1000 / out["mean_ms"], 3) if out["mean_ms"] else None
    return {k: v for k, v in out.items() if v is not None}


def keep_logs(logs_dir: Path) -> None:
    """The summary and detail logs stay; the accuracy log only when it holds something."""
    accuracy = logs_dir / "mlperf_log_accuracy.json"
    if accuracy.is_file() and accuracy.stat().st_size <= 4:
        accuracy.unlink()
    trace = logs_dir / "mlperf_log_trace.json"
    if trace.is_file():
        trace.unlink()


def summary_text(logs_dir: Path) -> str:
    path = Path(logs_dir) / "mlperf_log_summary.txt"
    return path.read_text(encoding="utf-8", errors="replace")[:SUMMARY_CHARS] if path.is_file() else ""


# ---- the server search ---------------------------------------------------------------------------


Probe = Callable[[float, int], TestOutcome]   # (target QPS, probe number) -> that Server run


@dataclass
class SearchResult:
    best: TestOutcome | None       # the highest VALID rate's run; None when no rate meets the bound
    probes: list[TestOutcome]
    stopped_because: str


def search_server(probe: Probe, start_qps: float, tolerance: float, max_probes: int = MAX_PROBES) -> SearchResult:
    """The module docstring's method: bracket by doubling (or halving) from start_qps, then bisect."""
    probes: list[TestOutcome] = []

    def run(qps: float) -> bool:
        outcome = probe(qps, len(probes) + 1)
        outcome.target_qps = qps   # as asked: LoadGen logs the rate it was given, rounded
        probes.append(outcome)
        return outcome.verdict == "VALID"

    low, high, qps = None, None, max(start_qps, MIN_QPS)
    floor = max(qps / 2 ** MAX_HALVINGS, MIN_QPS)
    while low is None or high is None:
        if len(probes) >= max_probes:
            return _found(probes, low, f"the probe limit ({max_probes}) ended the bracketing")
        if run(qps):
            low = qps
            qps *= 2
        else:
            high = qps
            if low is None and qps / 2 < floor * 0.999:
                return SearchResult(None, probes, f"no rate from {qps:.4g} QPS up met the latency bound")
            qps = qps / 2 if low is None else qps
    while (high - low) / low > tolerance:
        if len(probes) >= max_probes:
            return _found(probes, low, f"the probe limit ({max_probes}) ended the bisection")
        middle = (low + high) / 2
        if run(middle):
            low = middle
        else:
            high = middle
    return _found(probes, low, f"bracket [{low:.4g}, {high:.4g}] QPS within {tolerance:.0%}")


def _found(probes: list[TestOutcome], low: float | None, why: str) -> SearchResult:
    valid = [p for p in probes if p.verdict == "VALID" and low is not None and p.target_qps == low]
    return SearchResult(valid[-1] if valid else None, probes, why)

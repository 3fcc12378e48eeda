"""The only timing loop. It never asks which runtime it drives."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgebench.protocol import Protocol
from edgebench.runtimes.base import AsyncSession, Session

# Progress is reported every this many runs: often enough for a live bar, rare enough
# that the callback costs nothing measurable per inference.
PROGRESS_EVERY = 10

ProgressCallback = Callable[[int, int], None]   # (runs done, expected total)
WindowSampler = Callable[[], dict]              # the device's state now (clocks, temperatures)


if TYPE_CHECKING:
    from edgebench.meters.base import Meter

@dataclass(frozen=True)
class Measurement:
    """Raw timings of one protocol on one session."""

    repetitions: list[np.ndarray]   # per repetition: per-inference latency in ns
    elapsed_s: list[float]          # per repetition: wall clock of its timed loop
    output: object                  # what the last timed inference returned (an array, or a tuple)
    energy: list | None = None      # per repetition: an EnergyReading, when a meter ran
    first_inference_ms: float | None = None   # the session's very first call (cold caches, JIT)
    windows: list[dict] | None = None          # per protocol.window_s: t_s, inferences, sample
    # How the figures were taken, where not the single-stream loop's way (results.schema's defaults).
    latency_method: str | None = None
    fps_method: str | None = None
    offline_mode: str | None = None            # offline: "runtime" (its own requests) or "sessions"

    @property
    def samples_ns(self) -> np.ndarray:
        return np.concatenate(self.repetitions)

    @property
    def samples_ms(self) -> np.ndarray:
        return self.samples_ns / 1e6

    @property
    def runs(self) -> int:
        return sum(len(r) for r in self.repetitions)

    @property
    def total_elapsed_s(self) -> float:
        return float(sum(self.elapsed_s))

    @property
    def fps(self) -> float:
        """The article's figure: timed runs / elapsed seconds of the timed loops."""
        return self.runs / self.total_elapsed_s


def measure(session: Session, x: np.ndarray, protocol: Protocol,
            on_progress: ProgressCallback | None = None, meter: Meter | None = None,
            sampler: WindowSampler | None = None) -> Measurement:
    """Warm up, settle, then time protocol.repetitions loops of inferences on the same input.

    The timed region is what a frame loop does: set the input, invoke, read the output. With
    protocol.window_s, each window's count is kept and `sampler` reads the device's state
    between two inferences (outside every timed region).
    """
    first_ns, per_call_s = _warm_up(session, x, protocol)
    time.sleep(protocol.settle_s)
    expected_per_rep = protocol.runs
    if protocol.min_duration_s and per_call_s:
        expected_per_rep = max(protocol.runs, int(protocol.min_duration_s / per_call_s))
    loop = _TimedLoop(session, x, protocol, expected_per_rep, on_progress, sampler)
    repetitions, elapsed, energy = [], [], []
    for _ in range(protocol.repetitions):
        if meter is not None:
            meter.start()
        samples, seconds = loop.run()
        if meter is not None:
            energy.append(meter.stop())
        repetitions.append(samples)
        elapsed.append(seconds)
    if on_progress is not None:
        on_progress(loop.completed, loop.completed)
    if first_ns is None:  # no warm-up: the first timed inference was the session's first call
        first_ns = int(repetitions[0][0])
    return Measurement(repetitions, elapsed, owned(loop.y), energy if meter else None,
                       first_ns / 1e6, loop.windows if protocol.window_s else None)


def _warm_up(session: Session, x: np.ndarray, protocol: Protocol) -> tuple[int | None, float]:
    """Until both protocol.warmup runs and warmup_s have passed: (first call ns, s per call)."""
    set_input, invoke, output = session.set_input, session.invoke, session.output
    clock = time.perf_counter_ns
    first_ns, done = None, 0
    started = clock()
    while done < protocol.warmup or (clock() - started) < protocol.warmup_s * 1e9:
        set_input(x)
        invoke()
        output()
        done += 1
        if first_ns is None:
            first_ns = clock() - started
    return first_ns, ((clock() - started) / 1e9 / done if done else 0.0)


class _TimedLoop:
    """One repetition's timed loop per run(); counts and windows carry across repetitions."""

    def __init__(self, session: Session, x: np.ndarray, protocol: Protocol, expected_per_rep: int,
                 on_progress: ProgressCallback | None, sampler: WindowSampler | None):
        self.session, self.x, self.protocol = session, x, protocol
        self.expected_per_rep = expected_per_rep
        self.expected = expected_per_rep * protocol.repetitions
        self.on_progress, self.sampler = on_progress, sampler
        self.completed, self.windows, self.y = 0, [], None

    def run(self) -> tuple[np.ndarray, float]:
        set_input, invoke, output = self.session.set_input, self.session.invoke, self.session.output
        x, protocol, clock = self.x, self.protocol, time.perf_counter_ns
        on_progress, completed, expected = self.on_progress, self.completed, self.expected
        samples = np.empty(max(protocol.runs, self.expected_per_rep), dtype=np.int64)
        min_duration_ns, window_ns = protocol.min_duration_s * 1e9, int(protocol.window_s * 1e9)
        i, y = 0, None
        loop_start = clock()
        next_window, window_first = loop_start + window_ns, 0
        while i < protocol.runs or (clock() - loop_start) < min_duration_ns:
            t0 = clock()
            set_input(x)
            invoke()
            y = output()
            t1 = clock()
            if i == len(samples):  # slower than the warm-up predicted: grow, rarely
                samples = np.concatenate([samples, np.empty(len(samples), dtype=np.int64)])
            samples[i] = t1 - t0
            i += 1
            if on_progress is not None and i % PROGRESS_EVERY == 0:
                on_progress(completed + i, max(expected, completed + i))
            if window_ns and t1 >= next_window:
                self._close_window(t1 - loop_start, i - window_first)
                # Boundaries stay on the loop's 1 s grid: re-arming from t1 would lengthen every
                # window by the inference that crossed it, and an N s run would get N-1 windows.
                while next_window <= t1:
                    next_window += window_ns
                window_first = i
        if window_ns and i > window_first:
            now = clock()
            if now - (next_window - window_ns) >= window_ns / 2:   # a tail of at least half a window
                self._close_window(now - loop_start, i - window_first)
        seconds = (clock() - loop_start) / 1e9
        self.completed += i
        self.y = y
        return samples[:i].copy(), seconds

    def _close_window(self, t_ns: int, inferences: int) -> None:
        self.windows.append({"t_s": t_ns / 1e9, "inferences": inferences,
                             **(self.sampler() if self.sampler else {})})


OFFLINE_MIN_S = 2.0   # an offline figure needs every stream busy for a while, not a burst


def measure_offline(sessions: list[Session], x: np.ndarray, protocol: Protocol,
                    on_progress: ProgressCallback | None = None, meter: Meter | None = None) -> Measurement:
    """MLPerf's offline scenario: every session (stream) runs the frame loop at once, in its
    own thread, and throughput is all their inferences / wall-clock seconds. Each repetition
    lasts until the streams together did protocol.runs inferences and OFFLINE_MIN_S (or the
    protocol's min_duration_s) have passed. Native runtimes release the GIL while they infer."""
    import threading

    clock = time.perf_counter_ns
    first_ns = None
    for session in sessions:   # warm every stream up; the first call of the first is "first"
        for i in range(max(1, protocol.warmup)):
            t0 = clock()
            session.set_input(x)
            session.invoke()
            session.output()
            if first_ns is None:
                first_ns = clock() - t0
    time.sleep(protocol.settle_s)
    min_ns = max(protocol.min_duration_s, OFFLINE_MIN_S) * 1e9
    repetitions, elapsed, energy = [], [], []
    for _ in range(protocol.repetitions):
        done = [0]
        lock = threading.Lock()
        samples: list[list[int]] = [[] for _ in sessions]
        start = clock()

        def stream(k: int) -> None:
            s, out = sessions[k], samples[k]
            while True:
                with lock:
                    if done[0] >= protocol.runs and clock() - start >= min_ns:
                        return
                    done[0] += 1
                t0 = clock()
                s.set_input(x)
                s.invoke()
                s.output()
                out.append(clock() - t0)

        if meter is not None:
            meter.start()
        threads = [threading.Thread(target=stream, args=(k,), daemon=True) for k in range(len(sessions))]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
                if on_progress is not None:
                    on_progress(sum(len(s) for s in samples), max(protocol.runs, sum(len(s) for s in samples)))
        elapsed.append((clock() - start) / 1e9)
        if meter is not None:
            energy.append(meter.stop())
        repetitions.append(np.array([v for s in samples for v in s], dtype=np.int64))
    n = len(sessions)
    return Measurement(repetitions, elapsed, _predict_once(sessions[0], x), energy if meter else None,
                       first_ns / 1e6 if first_ns is not None else None,
                       latency_method=f"time.perf_counter_ns around set_input + invoke + output in each of "
                                      f"{n} parallel sessions (one edgebench thread each), per inference",
                       fps_method=f"inferences of all {n} sessions / wall-clock seconds of the timed loop",
                       offline_mode="sessions")


def measure_async(session: AsyncSession, x: np.ndarray, protocol: Protocol,
                  on_progress: ProgressCallback | None = None, meter: Meter | None = None) -> Measurement:
    """The offline scenario in the runtime's own throughput mode: inferences are handed to the
    session's request queue as fast as it frees a request, session.in_flight at once. Each
    inference's latency runs from its start() to its completion callback; throughput is the
    inferences / wall-clock seconds from the first start to the last completion. Each
    repetition lasts at least protocol.runs inferences and OFFLINE_MIN_S (or min_duration_s)."""
    clock = time.perf_counter_ns
    finished: list[int] = []
    session.set_callback(lambda started: finished.append(clock() - started))
    t0 = clock()
    _predict_once(session, x)
    first_ns = clock() - t0
    for _ in range(max(protocol.warmup, 2 * session.in_flight)):   # every request warmed up
        session.start(x, clock())
    session.wait_all()
    time.sleep(protocol.settle_s)
    min_ns = max(protocol.min_duration_s, OFFLINE_MIN_S) * 1e9
    repetitions, elapsed, energy = [], [], []
    for _ in range(protocol.repetitions):
        finished.clear()
        if meter is not None:
            meter.start()
        started, start = 0, clock()
        while started < protocol.runs or clock() - start < min_ns:
            session.start(x, clock())
            started += 1
            if on_progress is not None and started % PROGRESS_EVERY == 0:
                on_progress(started, max(protocol.runs, started))
        session.wait_all()
        elapsed.append((clock() - start) / 1e9)
        if meter is not None:
            energy.append(meter.stop())
        repetitions.append(np.array(finished, dtype=np.int64))
    n = session.in_flight
    return Measurement(repetitions, elapsed, _predict_once(session, x), energy if meter else None, first_ns / 1e6,
                       latency_method="time.perf_counter_ns from handing the inference to a free request of "
                                      "the runtime's queue to its completion callback, per inference",
                       fps_method=f"inferences / wall-clock seconds from the first start to the last completion, "
                                  f"{n} requests in flight (the runtime's own throughput mode)",
                       offline_mode="runtime")


def owned(output):
    """A copy the caller owns of what output() returned (one array, or a tuple of them):
    runtimes reuse their output buffers."""
    if isinstance(output, tuple):
        return tuple(np.array(y, copy=True) for y in output)
    return np.array(output, copy=True)


def _predict_once(session: Session, x: np.ndarray) -> np.ndarray:
    """One frame outside every timed loop: the prediction an offline run reports."""
    session.set_input(x)
    session.invoke()
    return owned(session.output())

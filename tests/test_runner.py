import time

import numpy as np
import pytest

from edgebench.bench import runner
from edgebench.bench.runner import measure
from edgebench.protocol import Protocol
from edgebench.tensors import TensorSpec


class RecordingSession:
    """Records the call order and takes a known time per invoke."""

    input_spec = TensorSpec("x", (1, 3, 4, 4), "float32", "NCHW")
    output_spec = TensorSpec("y", (1, 3), "float32")

    def __init__(self, invoke_s: float = 0.0):
        self.calls: list[str] = []
        self.invoke_s = invoke_s
        self.count = 0

    def set_input(self, x):
        self.calls.append("set")
        self.x = x

    def invoke(self):
        self.calls.append("invoke")
        self.count += 1
        if self.invoke_s:
            time.sleep(self.invoke_s)

    def output(self):
        self.calls.append("output")
        return np.array([[self.count, 0.0, 1.0]])

    def close(self):
        pass


def test_warmup_settle_then_timed_runs(monkeypatch):
    slept = []
    monkeypatch.setattr(runner.time, "sleep", slept.append)
    session = RecordingSession()
    m = measure(session, np.zeros((1, 3, 4, 4), np.float32), Protocol("t", warmup=2, settle_s=1.5, runs=7))
    assert slept == [1.5]
    assert session.calls == ["set", "invoke", "output"] * 9
    assert len(m.samples_ns) == 7
    assert m.output[0, 0] == 9  # the last timed inference's output is kept


def test_latencies_and_fps_reflect_the_work():
    session = RecordingSession(invoke_s=0.002)
    m = measure(session, np.zeros(1), Protocol("t", warmup=0, settle_s=0.0, runs=20))
    assert np.all(m.samples_ms >= 2.0)
    assert m.fps == pytest.approx(20 / m.total_elapsed_s)
    assert m.total_elapsed_s >= m.samples_ns.sum() / 1e9


def test_progress_reports_reach_the_total():
    seen = []
    measure(RecordingSession(), np.zeros(1), Protocol("t", warmup=0, settle_s=0.0, runs=25),
            lambda done, total: seen.append((done, total)))
    assert seen[-1] == (25, 25) and seen == sorted(seen)
    assert all(done <= total for done, total in seen)


def test_duration_bounded_warmup_and_repetitions(monkeypatch):
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    session = RecordingSession(invoke_s=0.001)
    p = Protocol("t", warmup=2, warmup_s=0.05, settle_s=0.0, runs=5, min_duration_s=0.05, repetitions=3)
    m = measure(session, np.zeros(1), p)
    assert len(m.repetitions) == 3
    assert all(len(r) > 5 for r in m.repetitions)          # the duration, not the count, ended each
    assert all(e >= 0.05 for e in m.elapsed_s)
    warmup_calls = session.count - m.runs
    assert warmup_calls > 2                                # the warm-up ran for its 0.05 s
    assert m.fps == pytest.approx(m.runs / sum(m.elapsed_s))


def test_meter_brackets_each_repetition(monkeypatch):
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    events = []

    class Meter:
        def start(self):
            events.append("start")

        def stop(self):
            events.append("stop")
            return "reading"

    m = measure(RecordingSession(), np.zeros(1), Protocol("t", 0, 0.0, 4, repetitions=2), meter=Meter())
    assert events == ["start", "stop", "start", "stop"] and m.energy == ["reading", "reading"]

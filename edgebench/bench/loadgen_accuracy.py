"""LoadGen's accuracy mode (TestMode.AccuracyOnly): every labelled image is one sample of
LoadGen's query sample library, issued once (SingleStream, through the target's one session);
the SUT answers each with the target's raw outputs, which LoadGen writes to its accuracy log
(mlperf_log_accuracy.json, one hex-encoded response per sample). edgebench then reads that log
back, and the task decodes and scores the answers exactly as a run's untimed accuracy pass does
(bench.scored), so "top-1 71.4%" beside "VALID, 312 QPS" is the same figure `edgebench accuracy`
gives on the same images.

A response is the outputs as a .npz (numpy's own array container, read back with pickling off);
LoadGen copies it into its log when the sample is completed."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from edgebench.bench import loadgen as lgx
from edgebench.errors import UserError

ACCURACY_LOG = "mlperf_log_accuracy.json"
# LoadGen loads the library in sets of this many samples in accuracy mode: the prepared inputs
# of at most this many images are held at once.
LOADED_AT_ONCE = 64
# The accuracy log holds every response in hex (twice its bytes) and is read back whole.
MAX_LOG_OUTPUT_BYTES = 256 << 20
METHOD = ("LoadGen accuracy mode (AccuracyOnly, SingleStream): each image issued once through the target's "
          "session; its raw outputs logged by LoadGen, read back from its accuracy log and scored by the task")


def encode(output) -> bytes:
    """One inference's outputs (an array or a tuple of them) as the bytes of a .npz."""
    from edgebench.tensors import as_tuple

    buffer = io.BytesIO()
    np.savez(buffer, *(np.asarray(y) for y in as_tuple(output)))
    return buffer.getvalue()


def decode_response(data: bytes) -> tuple:
    """What encode() wrote, as a tuple of arrays (never unpickled)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return tuple(archive[f"arr_{i}"] for i in range(len(archive.files)))


def check_size(count: int, output_bytes: int) -> None:
    """One line, before LoadGen's accuracy test starts, when its log would be too big to read back."""
    total = count * output_bytes
    if total > MAX_LOG_OUTPUT_BYTES:
        most = max(1, MAX_LOG_OUTPUT_BYTES // max(output_bytes, 1))
        raise UserError(f"LoadGen's accuracy log would hold {count} x {output_bytes / 1e6:.1f} MB of outputs "
                        f"({total / 1e9:.1f} GB): give at most {most} images", "accuracy_images")


def infer_all(session, input_of: Callable[[int], object], count: int, logs_dir: Path) -> Iterator[tuple[int, tuple]]:
    """Run LoadGen's accuracy test over `count` samples (input_of(i): sample i's prepared input)
    and yield (sample index, outputs) for each, read back from LoadGen's accuracy log."""
    lg = lgx.require_loadgen()
    executor = _AnsweringExecutor(session, input_of)
    settings = lg.TestSettings()
    settings.FromConfig("", "edgebench", "SingleStream", 0)
    settings.scenario = lg.TestScenario.SingleStream
    settings.mode = lg.TestMode.AccuracyOnly
    lgx.run_test(lg, executor, settings, count, logs_dir, "single-stream", loaded_at_once=min(count, LOADED_AT_ONCE),
                 loader=executor.load, unloader=executor.unload)
    lgx.keep_logs(logs_dir)
    if executor.failure is not None:
        raise executor.failure
    return read_accuracy_log(logs_dir / ACCURACY_LOG, count)


class _AnsweringExecutor(lgx.Executor):
    """The SUT of accuracy mode: each sample's own image, answered with its outputs."""

    def __init__(self, session, input_of):
        super().__init__(None)
        self.session = session
        self.input_of = input_of
        self.loaded: dict[int, object] = {}
        self.failure: BaseException | None = None

    def load(self, indices) -> None:
        # Called from LoadGen's C++ thread: an exception must not cross it. The first failure
        # (an unreadable image) is raised after the test; its samples are answered empty.
        for i in indices:
            if self.failure is not None or self.aborted.is_set():   # Ctrl-C: no more preparing
                return
            try:
                self.loaded[i] = self.input_of(i)
            except Exception as exc:  # noqa: BLE001 - raised in the caller's thread after the test
                self.failure = exc

    def unload(self, indices) -> None:
        for i in indices:
            self.loaded.pop(i, None)

    def issue(self, samples) -> None:
        import mlperf_loadgen as lg

        for sample in samples:
            payload = b""
            if self.failure is None and not self.aborted.is_set():
                try:
                    payload = self._answer(sample.index)
                except Exception as exc:  # noqa: BLE001 - raised in the caller's thread after the test
                    self.failure = exc
            data = np.frombuffer(payload, dtype=np.uint8) if payload else np.zeros(0, np.uint8)
            # LoadGen copies the response into its log inside QuerySamplesComplete: `data`
            # only has to live until the call returns.
            lg.QuerySamplesComplete([lg.QuerySampleResponse(sample.id, data.ctypes.data if data.size else 0,
                                                            data.size)])

    def _answer(self, index: int) -> bytes:
        self.session.set_input(self.loaded[index])
        self.session.invoke()
        return encode(self.session.output())


def read_accuracy_log(path: Path, count: int) -> Iterator[tuple[int, tuple]]:
    """(sample index, outputs) of each entry of LoadGen's accuracy log; every sample exactly once."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"LoadGen's accuracy log {path} cannot be read: {exc}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RuntimeError(f"LoadGen's accuracy log {path} cannot be read: not a list of responses")
    seen = set()
    for entry in entries:
        index = entry.get("qsl_idx")
        if type(index) is not int or not 0 <= index < count or index in seen:
            raise RuntimeError(f"LoadGen's accuracy log {path} has an unexpected sample index {index!r}")
        seen.add(index)
        try:
            outputs = decode_response(bytes.fromhex(str(entry.get("data", ""))))
        except (ValueError, OSError, KeyError) as exc:   # not hex, not a .npz, or an object array
            raise RuntimeError(f"LoadGen's accuracy log {path} cannot be read: sample {index}: {exc}") from None
        yield index, outputs
    if len(seen) != count:
        raise RuntimeError(f"LoadGen's accuracy log {path} holds {len(seen)} of the {count} samples")

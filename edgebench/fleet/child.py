"""The process a fleet job runs its benchmark in: `python -m edgebench.fleet.child EVENTS_FD`.

Reads {"config": RunConfig, "device": name} (pickled, length-prefixed) from stdin, runs
`edgebench.bench.execute.run`, and writes one JSON object per line to EVENTS_FD: the run's events
(steps, targets started, progress, finished) and its recording (begin, target, finish). The run
is recorded under the fleet device's name (DeviceInfo.hostname), which is what makes two devices
on one host two devices in the store. When stdin closes before the run has finished, its worker
is gone: it kills its process group (itself and any converter it started).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import struct
import sys
import threading
import time

PROGRESS_EVERY_S = 0.25


class Emitter:
    """RunEvents and Recorder at once: every call becomes one line on the events pipe."""

    def __init__(self, stream, device: str):
        self.stream = stream
        self.device = device
        self._last_progress = 0.0

    def send(self, kind: str, **fields) -> None:
        self.stream.write(json.dumps({"kind": kind, **fields}) + "\n")
        self.stream.flush()

    def _named(self, run) -> str:
        device = run.device.model_copy(update={"hostname": self.device})
        return run.model_copy(update={"device": device}).model_dump_json()

    # RunEvents
    def prepare_step(self, message: str) -> None:
        self.send("step", message=message)

    def prepared(self) -> None:
        self.send("prepared")

    def target_started(self, target: str, runs: int) -> None:
        self.send("target_started", target=target, runs=runs)

    def target_progress(self, target: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = now
            self.send("target_progress", target=target, done=done, total=total)

    def target_finished(self, result) -> None:
        pass   # recorded through add_target, with its position

    # Recorder
    def begin_run(self, run) -> None:
        self.send("begin", run=json.loads(self._named(run)))

    def add_target(self, run_id: str, position: int, result) -> None:
        self.send("target", position=position, result=result.model_dump(mode="json"))

    def finish_run(self, run) -> None:
        self.send("finish", run=self._named(run))


def _read_spec() -> dict:
    """Exactly the length-prefixed spec, read unbuffered: what follows on stdin is the parent's
    liveness (nothing, then EOF when it goes)."""
    header = _read_exactly(8)
    (size,) = struct.unpack(">Q", header)
    return pickle.loads(_read_exactly(size))


def _read_exactly(size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(0, size - len(data))
        if not chunk:
            raise SystemExit(3)   # the parent went away before sending the job
        data += chunk
    return data


def _exit_when_parent_goes(finished: threading.Event) -> None:
    """The parent holds our stdin open while it lives; EOF before the run finished means the
    worker is gone. Raw reads: a daemon thread blocked in a buffered read would abort the
    interpreter's shutdown."""
    while True:
        try:
            if not os.read(0, 1 << 12):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    if not finished.is_set():
        # Our process group: this process and whatever it started (a model converter).
        os.killpg(os.getpgid(0), signal.SIGKILL)


def main(argv: list[str]) -> int:
    events = os.fdopen(int(argv[0]), "w", encoding="utf-8")
    spec = _read_spec()
    finished = threading.Event()
    threading.Thread(target=_exit_when_parent_goes, args=(finished,), daemon=True).start()
    emitter = Emitter(events, spec["device"])
    try:
        return _run(spec, emitter)
    finally:
        finished.set()
        events.close()


def _run(spec: dict, emitter: Emitter) -> int:
    from edgebench.bench.execute import RunInterrupted, run
    from edgebench.errors import UserError

    try:
        run(spec["config"], events=emitter, recorder=emitter)
    except RunInterrupted:
        return 130
    except KeyboardInterrupt:
        emitter.send("error", message=f"interrupted on {spec['device']} before the run began")
        return 130
    except UserError as exc:
        emitter.send("error", message=str(exc))
        return 2
    except BaseException as exc:  # noqa: BLE001 - reported to the client, with the device named
        import traceback

        traceback.print_exc()
        emitter.send("error", message=f"{type(exc).__name__} on {spec['device']}: {exc}"[:500])
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

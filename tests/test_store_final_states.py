"""State the store must not misreport: an imported run that was still running where it was
exported is final here (stored as interrupted, saying why), and of two concurrent deletions of
one run exactly one says it deleted it. The deletions are real processes racing on SQLite and
on a real PostgreSQL server (tests/conftest.py's store_url)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgebench.results.exchange import dump_json, load_runs
from edgebench.results.schema import ProcessInfo
from edgebench.results.store import Store
from tests.conftest import REPO, make_run, run_cli


def _unfinished_runs():
    """A run recorded as running by a process on another host, one by this very (live) process,
    one with no process record, one already read as abandoned, and one that failed midway."""
    elsewhere = make_run(status="running")
    elsewhere.process = ProcessInfo(host="some-other-board", pid=1234, started=1.0e9)
    alive_here = make_run(status="running")
    import socket

    import psutil

    alive_here.process = ProcessInfo(host=socket.gethostname(), pid=os.getpid(),
                                     started=psutil.Process().create_time())
    unrecorded = make_run(status="running")
    abandoned = make_run(status="abandoned")
    abandoned.error = "killed"
    return [elsewhere, alive_here, unrecorded, abandoned]


def test_an_imported_run_is_final_never_running(store_url, tmp_path):
    runs = _unfinished_runs()
    complete, failed = make_run(), make_run(status="failed")
    failed.error = "out of memory"
    bundle = tmp_path / "bundle.json"
    bundle.write_text(dump_json([*runs, complete, failed]))
    imported = run_cli("results", "import", bundle, "--store", store_url)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == ("imported 6 run(s); 4 recorded as running or abandoned, stored as "
                                       "interrupted (an imported run is final)")
    store = Store(store_url)
    stored = {r.run_id: r for r in store.all_runs()}
    for run in runs:
        again = stored[run.run_id]
        assert again.status == "interrupted" and again.process is None, (run.status, again.status)
        assert again.error.startswith(f"imported while recorded as {run.status}")
        assert [r.target for r in again.results] == [r.target for r in run.results]   # nothing dropped
    assert stored[runs[-1].run_id].error.endswith("; killed")   # its own reason is kept
    assert stored[complete.run_id].status == "complete" and stored[failed.run_id].error == "out of memory"
    assert {r["status"] for r in store.list_runs()} == {"interrupted", "complete", "failed"}
    # Exported again, it says the same: the next store imports an interrupted run, not a running one.
    exported = tmp_path / "again.json"
    assert run_cli("results", "export", "--out", exported, "--store", store_url).returncode == 0
    assert {r.status for r in load_runs(exported)} == {"interrupted", "complete", "failed"}


class _Blocker:
    """An open transaction that every deletion of `run_id` must wait for, so that two deleting
    processes both find the run before either may delete it: on SQLite the database's write
    lock; on PostgreSQL a row lock on the run."""

    def __init__(self, url: str, run_id: str):
        self.url = url
        if url.startswith("sqlite:///"):
            import sqlite3

            self.conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import sqlalchemy

            self.engine = sqlalchemy.create_engine(url)
            self.conn = self.engine.connect()
            self.transaction = self.conn.begin()
            self.conn.execute(sqlalchemy.text("SELECT id FROM runs WHERE id = :id FOR UPDATE"), {"id": run_id})

    def waiting(self, pids: list[int]) -> bool:
        """Whether every deleting process is blocked on this transaction."""
        if self.url.startswith("sqlite:///"):
            # SQLite's busy handler sleeps between tries; nothing else in `results delete` sleeps.
            return all("nanosleep" in Path(f"/proc/{pid}/wchan").read_text() for pid in pids)
        import sqlalchemy

        with self.engine.connect() as look:
            blocked = look.execute(sqlalchemy.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
        return blocked >= len(pids)

    def release(self) -> None:
        if self.url.startswith("sqlite:///"):
            self.conn.execute("ROLLBACK")
            self.conn.close()
        else:
            self.transaction.rollback()
            self.conn.close()
            self.engine.dispose()


def test_two_concurrent_deletions_of_one_run_exactly_one_succeeds(store_url):
    if store_url.startswith("sqlite:///") and not Path("/proc/self/wchan").exists():
        pytest.skip("no /proc/PID/wchan here to see the deleting processes wait")
    run, other = make_run(), make_run()
    store = Store(store_url)
    store.save(run)
    store.save(other)
    blocker = _Blocker(store_url, run.run_id)
    deleting = []
    try:
        deleting = [subprocess.Popen([sys.executable, "-m", "edgebench", "results", "delete", run.run_id[:10],
                                      "--store", store_url], cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for _ in range(2)]
        deadline = time.monotonic() + 300   # generous: only a hang would reach it
        while not blocker.waiting([p.pid for p in deleting]):
            assert all(p.poll() is None for p in deleting), [p.communicate() for p in deleting]
            assert time.monotonic() < deadline, "the deleting processes never reached the store"
            time.sleep(0.1)
    finally:
        blocker.release()
    outcomes = sorted((p.wait(timeout=300), *p.communicate()) for p in deleting)
    (ok_code, ok_out, ok_err), (refused_code, refused_out, refused_err) = outcomes
    assert (ok_code, ok_out, ok_err) == (0, f"deleted run {run.run_id}\n", ""), outcomes
    assert refused_code == 2 and refused_out == "", outcomes
    lines = refused_err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: no run '{run.run_id}' in store"), lines
    assert lines[0].endswith("nothing was deleted")
    assert [r["run_id"] for r in Store(store_url).list_runs()] == [other.run_id]

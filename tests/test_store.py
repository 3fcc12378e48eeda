"""The results store on SQLite and on a real PostgreSQL server."""

import os
import sqlite3

import pytest

from edgebench.errors import UserError
from edgebench.results.store import Store
from tests.conftest import make_run


def test_save_get_round_trip(store_url):
    store = Store(store_url)
    run = make_run()
    store.save(run)
    assert store.get(run.run_id) == run
    assert store.get(run.run_id[:8]).run_id == run.run_id  # unique prefix
    listed = store.list_runs()
    assert listed[0]["run_id"] == run.run_id and listed[0]["targets"] == 2


def test_incremental_run_keeps_finished_targets(store_url):
    store = Store(store_url)
    run = make_run()
    finished = run.results[0]
    skeleton = run.model_copy(update={"results": []})
    store.begin_run(skeleton)
    store.add_target(run.run_id, 0, finished)
    assert store.list_runs()[0]["status"] == "running"   # its process (this one) is alive
    partial = store.get(run.run_id)  # what a crash would leave: the finished target, not complete
    assert partial.status == "running" and [r.target for r in partial.results] == ["litert-int8"]
    assert partial.process.pid == os.getpid()
    store.add_target(run.run_id, 1, run.results[1])
    store.finish_run(run)
    assert store.get(run.run_id) == run


def test_delete_and_unknown_ids(store_url):
    store = Store(store_url)
    a, b = make_run(), make_run()
    store.save(a)
    store.save(b)
    assert store.delete(a.run_id) == a.run_id
    assert [r["run_id"] for r in store.list_runs()] == [b.run_id]
    with pytest.raises(UserError, match="no run"):
        store.get(a.run_id)
    with pytest.raises(UserError, match="no run"):
        store.delete("doesnotexist")


def test_ambiguous_prefix(store_url):
    store = Store(store_url)
    store.save(make_run(run_id="abcd1" + "0" * 27))
    store.save(make_run(run_id="abcd2" + "0" * 27))
    with pytest.raises(UserError, match="run id prefix 'abcd' is ambiguous: it matches 2 runs"):
        store.get("abcd")
    assert store.get("abcd2").run_id == "abcd2" + "0" * 27


@pytest.mark.parametrize("spec, message", [
    ("", "run id '' is empty"),
    ("   ", "run id '   ' is blank"),
    ("a", "run id 'a' is too short: give a full run id or a unique prefix of at least 4 characters"),
    ("abc", "run id 'abc' is too short"),
    ("ABCD", "no run 'ABCD' in store"),          # case matters, on SQLite (LIKE) as on PostgreSQL
    ("abcd%", "no run 'abcd%' in store"),        # LIKE wildcards are literal characters
    ("abce", "no run 'abce' in store"),
    ("a\nb", r"run id 'a\\nb' is too short"),     # one line even for a newline
], ids=["empty", "blank", "one-char", "three-chars", "case", "wildcard", "unknown", "newline"])
def test_bad_run_ids(store_url, spec, message):
    """What names no single run is refused, by get and delete alike (issue 18)."""
    from edgebench.results.run_ids import RunIdError

    store = Store(store_url)
    store.save(make_run(run_id="abcd" + "0" * 28))
    with pytest.raises(RunIdError, match=message.replace("(", r"\(")) as refused:
        store.get(spec)
    assert "\n" not in str(refused.value)
    with pytest.raises(RunIdError):
        store.delete_runs([spec])
    assert [r["run_id"] for r in store.list_runs()] == ["abcd" + "0" * 28]
    store.close()


def test_full_ids_match_whatever_their_length(store_url):
    """Imported runs may carry short ids: a full id always names its run, and is preferred
    to a longer id it is a prefix of."""
    store = Store(store_url)
    store.save(make_run(run_id="x1"))
    store.save(make_run(run_id="x1yz"))
    store.save(make_run(run_id="x1yz-2"))
    assert store.get("x1").run_id == "x1"
    assert store.get("x1yz").run_id == "x1yz"
    assert store.resolve_ids(["x1yz-", "x1", "x1yz-2"]) == ["x1yz-2", "x1"]   # duplicates collapse


def test_delete_runs_is_all_or_nothing(store_url):
    store = Store(store_url)
    a, b, c = (make_run(run_id=f"{n}" * 4 + "0" * 28) for n in "abc")
    for run in (a, b, c):
        store.save(run)
    with pytest.raises(UserError, match="no run 'feed' in store .*; nothing was deleted"):
        store.delete_runs([a.run_id, "feed", b.run_id[:6]])
    assert len(store.list_runs()) == 3
    assert store.delete_runs([a.run_id[:4], b.run_id]) == [a.run_id, b.run_id]
    assert [r["run_id"] for r in store.list_runs()] == [c.run_id]
    assert [r.run_id for r in store.get_runs([c.run_id[:5]])] == [c.run_id]


def test_import_is_all_or_nothing(store_url):
    store = Store(store_url)
    existing = make_run()
    store.save(existing)
    new = make_run()
    with pytest.raises(UserError, match="already in the store"):
        store.import_runs([new, existing])
    assert [r["run_id"] for r in store.list_runs()] == [existing.run_id]  # `new` did not land
    assert store.import_runs([new, existing], skip_existing=True) == (1, 1)
    assert len(store.list_runs()) == 2


def test_same_device_is_one_row(store_url):
    from sqlalchemy import func, select

    from edgebench.results.store import DeviceRow

    store = Store(store_url)
    store.save(make_run())
    store.save(make_run())
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DeviceRow)).scalar() == 1


def test_corrupt_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "results.db"
    garbage = b"this is not a database at all " * 200
    path.write_bytes(garbage)
    with pytest.raises(UserError, match="not a readable SQLite database"):
        Store(f"sqlite:///{path}")
    assert path.read_bytes() == garbage


def test_truncated_store_is_refused(tmp_path):
    path = tmp_path / "results.db"
    store = Store(f"sqlite:///{path}")
    for _ in range(5):
        store.save(make_run())
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"results.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(UserError):
        Store(f"sqlite:///{path}").list_runs()


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(UserError, match="not an edgebench store"):
        Store(f"sqlite:///{path}")


def test_unreachable_postgres_is_a_clear_error():
    with pytest.raises(UserError, match="cannot open store"):
        Store("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")


def test_device_insert_race_is_retried(store_url, monkeypatch):
    """Another process inserts the same device between our read and our insert."""
    from edgebench.results.store import DeviceRow

    store = Store(store_url)
    store.save(make_run())
    original, attempts = Store._upsert_device, []

    def racing(self, s, device):
        attempts.append(1)
        if len(attempts) == 1:  # as if our read had come just before the other process's insert
            s.add(DeviceRow(id=device.fingerprint(), hostname=device.hostname, cpu_model=device.cpu_model,
                            info={}))
            s.flush()
        else:
            original(self, s, device)

    monkeypatch.setattr(Store, "_upsert_device", racing)
    store.save(make_run())
    assert len(attempts) == 2 and len(store.list_runs()) == 2

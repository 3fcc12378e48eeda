"""edgebench.results.query: which runs a report shows, what compare and push mean by their
arguments, and the run-id rule, on real stores (SQLite; the resolver runs on PostgreSQL too in
test_store.py)."""

import pytest

from edgebench.errors import UserError
from edgebench.results.exchange import dump_json
from edgebench.results.query import (compare_side, hub_version_of, latest_per_device_and_model,
                                     runs_for_export, runs_for_report, runs_to_push)
from edgebench.results.run_ids import MIN_PREFIX, RunIdError
from edgebench.results.store import Store
from tests.conftest import make_run


def run_at(created: str, model: str = "mobilenet_v2", targets=("litert-int8", "torch-fp32"),
           host: str | None = None, status: str = "complete", run_id: str | None = None, **model_fields):
    """A run made at a given time, of a given model, on this machine (or a renamed one)."""
    run = make_run(targets=targets, status=status, run_id=run_id)
    run.created = created
    run.model = {"name": model, "source": "zoo", **model_fields}
    if host is not None:
        run.device = run.device.model_copy(update={"hostname": host})
    return run


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'store.db'}")


def test_latest_complete_run_per_device_and_model():
    seven = run_at("2026-01-01T10:00:00+00:00", targets=tuple(f"rt{i}-fp32" for i in range(7)))
    other_model = run_at("2026-01-01T11:00:00+00:00", model="efficientnet_b0")
    two = run_at("2026-01-01T12:00:00+00:00", targets=("litert-int8", "torch-fp32"))
    interrupted = run_at("2026-01-01T13:00:00+00:00", status="interrupted")
    elsewhere = run_at("2026-01-01T09:00:00+00:00", host="raspberrypi")
    chosen = latest_per_device_and_model([two, interrupted, seven, elsewhere, other_model])
    # The later 2-target run replaces the 7-target one of the same model on the same device, and
    # nothing else: the other model and the other device stay; an interrupted run never counts.
    assert [r.run_id for r in chosen.runs] == [elsewhere.run_id, other_model.run_id, two.run_id]
    assert [r.run_id for r in chosen.left_out] == [seven.run_id]


def test_runs_for_report(store):
    first, second = run_at("2026-01-01T10:00:00+00:00"), run_at("2026-01-02T10:00:00+00:00")
    with pytest.raises(UserError, match="no complete runs"):
        runs_for_report(store)
    for run in (first, second):
        store.save(run)
    default = runs_for_report(store)
    assert [r.run_id for r in default.runs] == [second.run_id] and default.left_out[0].run_id == first.run_id
    named = runs_for_report(store, [first.run_id[:MIN_PREFIX + 2], second.run_id])
    assert [r.run_id for r in named.runs] == [first.run_id, second.run_id] and named.left_out == []
    with pytest.raises(RunIdError, match="no run 'beefbeef'"):
        runs_for_report(store, [first.run_id, "beefbeef"])


def test_runs_for_export(store):
    a, b = run_at("2026-01-01T10:00:00+00:00"), run_at("2026-01-02T10:00:00+00:00")
    store.save(a)
    store.save(b)
    assert [r.run_id for r in runs_for_export(store)] == [a.run_id, b.run_id]
    assert [r.run_id for r in runs_for_export(store, [b.run_id[:8]])] == [b.run_id]
    with pytest.raises(RunIdError, match="too short"):
        runs_for_export(store, [b.run_id, "b"])


def test_compare_side_file_run_id_device(store, tmp_path):
    old = run_at("2026-01-01T10:00:00+00:00", host="pi")
    new = run_at("2026-01-02T10:00:00+00:00", host="pi")
    here = run_at("2026-01-03T10:00:00+00:00", run_id="abcd" + "1" * 28)
    twin = run_at("2026-01-03T11:00:00+00:00", run_id="abcd" + "2" * 28)
    for run in (old, new, here, twin):
        store.save(run)
    path = tmp_path / "results[1].json"
    path.write_text(dump_json([old, new]))
    run, label = compare_side(store, str(path))
    assert run.run_id == new.run_id and label.startswith(str(path)) and "last of 2" in label
    assert compare_side(store, old.run_id[:6])[0].run_id == old.run_id
    run, label = compare_side(store, "pi")     # short: not a run id, but a host name
    assert run.run_id == new.run_id and label == f"pi (run {new.run_id[:12]}, mobilenet_v2)"
    assert compare_side(store, new.device.fingerprint())[0].run_id == new.run_id
    with pytest.raises(RunIdError, match="ambiguous"):
        compare_side(store, "abcd")
    with pytest.raises(UserError, match="'nope' is not a results file, a stored run id or a device name"):
        compare_side(store, "nope")
    for blank in ("", " "):
        with pytest.raises(RunIdError, match="is (empty|blank)"):
            compare_side(store, blank)


def test_runs_to_push_and_the_version_they_measured(store):
    ours = run_at("2026-01-01T10:00:00+00:00", model="alice/mnv2@1", source="hub", hub="http://hub:1")
    theirs = run_at("2026-01-02T10:00:00+00:00", model="bob/x@2", source="hub", hub="http://other:1")
    zoo = run_at("2026-01-03T10:00:00+00:00")
    with pytest.raises(UserError, match="no runs to push to http://hub:1"):
        runs_to_push(store, None, "http://hub:1")
    for run in (ours, theirs, zoo):
        store.save(run)
    assert [r.run_id for r in runs_to_push(store, None, "http://hub:1")] == [ours.run_id]
    assert [r.run_id for r in runs_to_push(store, [zoo.run_id[:4]], "http://hub:1")] == [zoo.run_id]
    with pytest.raises(RunIdError):
        runs_to_push(store, [zoo.run_id, ""], "http://hub:1")
    assert str(hub_version_of(ours)) == "alice/mnv2@1"
    with pytest.raises(UserError, match="not a hub model"):
        hub_version_of(zoo)
    override = hub_version_of(ours)
    assert hub_version_of(zoo, override) is override

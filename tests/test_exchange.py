"""Results files: JSON and CSV round trips, and one clear error for every malformed file."""


import pytest

from edgebench.errors import UserError
from edgebench.results.exchange import dump_csv, dump_json, load_runs
from tests.conftest import make_run


def test_json_bundle_and_single_run_files(tmp_path):
    runs = [make_run(), make_run(targets=("openvino-int8",))]
    bundle = tmp_path / "export.json"
    bundle.write_text(dump_json(runs))
    assert load_runs(bundle) == runs
    single = tmp_path / "r.json"  # what `edgebench run --out` writes
    single.write_text(runs[0].model_dump_json())
    assert load_runs(single) == [runs[0]]


def test_csv_round_trip_is_lossless(tmp_path):
    runs = [make_run(), make_run(targets=("litert-fp32", "litert-int8", "torch-fp32"))]
    path = tmp_path / "export.csv"
    path.write_text(dump_csv(runs))
    header = path.read_text().splitlines()[0]
    assert header.startswith("run_id,created,run_status,model,protocol,device")
    assert load_runs(path) == runs


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "malformed JSON at line 1"),
    ('{"schema_version": 1, "runs": [{"run_id": "x"}]}', "not a valid edgebench results file"),
    ('{"schema_version": 99, "runs": []}', "unsupported schema_version 99"),
    ('{"run_id": "x", "results": []}', "missing schema_version"),
    ('"just a string"', "expected a run object"),
])
def test_malformed_json(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError, match=fragment):
        load_runs(path)


def test_malformed_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("run_id,target\nabc,litert-int8\n")
    with pytest.raises(UserError, match="lacks the columns"):
        load_runs(path)
    good = tmp_path / "good.csv"
    good.write_text(dump_csv([make_run()]))
    broken = tmp_path / "broken.csv"
    text = good.read_text()
    assert '""status"":""ok""' in text  # JSON inside CSV: quotes doubled
    broken.write_text(text.replace('""status"":""ok""', '""status"":""sideways""'))
    with pytest.raises(UserError, match="not a valid edgebench results file"):
        load_runs(broken)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_runs(tmp_path / "nope.json")


def test_runs_stored_before_tasks_still_read_show_export_and_import(tmp_path, monkeypatch):
    """A schema-1 run (no task, answer or agreement fields) validates, shows its top-1 as the
    answer, and round-trips through export and import."""
    import os

    from rich.console import Console

    from edgebench.cli import run_screen
    from edgebench.results.exchange import dump_json, load_runs
    from edgebench.results.schema import LatencyStats, Prediction, ProtocolInfo, RunResult, TargetResult
    from edgebench.system import device_info

    target = TargetResult(target="litert-int8", runtime="litert", runtime_version="1", precision="int8", model="m",
                          status="ok", protocol=ProtocolInfo(name="classic", warmup=1, settle_s=1.0, runs=250),
                          latency_ms=LatencyStats(median=1.0, mean=1.0, p90=1.0, p99=1.0, min=1.0, max=1.0),
                          fps=1000.0, top1=Prediction(index=19, label="chickadee", score=0.9),
                          agrees_with_reference=True)
    document = RunResult(run_id="v1run", created="2026-11-01T00:00:00+00:00", edgebench_version="0.1.0",
                         device=device_info(), model={"name": "m"}, image={}, results=[target]).model_dump(mode="json")
    for key in ("task", "task_why", "agreement_rule"):
        document.pop(key)
    for key in ("task", "answer", "summary", "agreement", "inputs"):
        document["results"][0].pop(key)
    document["schema_version"] = 1
    bundle = tmp_path / "v1.json"
    bundle.write_text('{"schema_version": 1, "runs": [' + __import__("json").dumps(document) + "]}")
    run = load_runs(bundle)[0]
    assert run.schema_version == 1 and run.task is None and run.results[0].task is None
    assert run_screen.answer_text(run.results[0]) == "chickadee 0.900"
    console = Console(width=250, record=True, file=open(os.devnull, "w"))
    monkeypatch.setattr(run_screen, "console", console)
    run_screen.print_run(run)
    assert "chickadee 0.900" in console.export_text()
    again = tmp_path / "again.json"
    again.write_text(dump_json([run]))
    assert load_runs(again)[0].model_dump() == run.model_dump()

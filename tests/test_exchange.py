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

"""`edgebench results ...` through the real entry point, on SQLite and PostgreSQL."""

import json

import pytest

from edgebench.results.exchange import dump_json
from edgebench.results.store import Store
from tests.conftest import make_run, run_cli


def test_list_show_export_import_delete(store_url, tmp_path):
    store = Store(store_url)
    a, b = make_run(), make_run(targets=("openvino-int8",))
    store.save(a)
    store.save(b)
    listed = run_cli("results", "list", "--store", store_url)
    assert listed.returncode == 0 and a.run_id[:12] in listed.stdout and b.run_id[:12] in listed.stdout
    shown = run_cli("results", "show", a.run_id[:10], "--store", store_url)
    assert shown.returncode == 0 and "litert-int8" in shown.stdout and "toolchain:" in shown.stdout

    for fmt in ("json", "csv"):
        out = tmp_path / f"export.{fmt}"
        exported = run_cli("results", "export", "--format", fmt, "--out", str(out), "--store", store_url)
        assert exported.returncode == 0, exported.stderr
        other = f"sqlite:///{tmp_path / f'other-{fmt}.db'}"
        imported = run_cli("results", "import", str(out), "--store", other)
        assert imported.returncode == 0 and "imported 2 run(s)" in imported.stdout
        assert {r.run_id for r in Store(other).all_runs()} == {a.run_id, b.run_id}

    deleted = run_cli("results", "delete", a.run_id, "--store", store_url)
    assert deleted.returncode == 0
    assert [r["run_id"] for r in Store(store_url).list_runs()] == [b.run_id]


def test_malformed_import_is_one_line_and_changes_nothing(store_url, tmp_path):
    Store(store_url).save(make_run())
    bad = tmp_path / "bad.json"
    good_then_bad = json.loads(dump_json([make_run(), make_run()]))
    good_then_bad["runs"][1]["results"][0]["fps"] = "fast"
    bad.write_text(json.dumps(good_then_bad))
    out = run_cli("results", "import", str(bad), "--store", store_url)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert [ln for ln in out.stderr.splitlines() if ln.strip()] == [out.stderr.strip()]
    assert "run 2: results.0.fps" in out.stderr
    assert len(Store(store_url).list_runs()) == 1


@pytest.mark.parametrize("content", [b"\x00\x01garbage" * 500, b"SQLite format 3\x00" + b"\xff" * 5000])
def test_corrupt_store_file_is_one_line_and_left_untouched(tmp_path, content):
    path = tmp_path / "results.db"
    path.write_bytes(content)
    out = run_cli("results", "list", "--store", str(path))
    assert out.returncode == 2 and "Traceback" not in out.stderr and "left untouched" in out.stderr
    assert path.read_bytes() == content


def test_unknown_run_and_format(tmp_path):
    store = str(tmp_path / "s.db")
    out = run_cli("results", "show", "feedface", "--store", store)
    assert out.returncode == 2 and "no run 'feedface'" in out.stderr
    out = run_cli("results", "export", "--format", "xml", "--store", store)
    assert out.returncode == 2 and "unknown format" in out.stderr

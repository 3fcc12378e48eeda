"""`edgebench results ...` through the real entry point, on SQLite and PostgreSQL."""

import json

import pytest

from edgebench.results.exchange import dump_json, load_runs
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
    Store(store).save(make_run())
    out = run_cli("results", "show", "feedface", "--store", store)
    assert out.returncode == 2 and "no run 'feedface'" in out.stderr
    out = run_cli("results", "export", "--format", "xml", "--store", store)
    assert out.returncode == 2 and "unknown format" in out.stderr


def _one_line_error(out, *fragments: str) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in out.stderr, out.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.mark.parametrize("args, fragment", [
    ([""], "run id '' is empty"),
    ([" "], "run id ' ' is blank"),
    (["a"], "run id 'a' is too short"),
    (["abcd"], "run id prefix 'abcd' is ambiguous: it matches 2 runs"),
    (["GOOD", "beefbeef"], "no run 'beefbeef' in store"),
    (["beefbeef", "GOOD"], "no run 'beefbeef' in store"),
], ids=["empty", "blank", "too-short", "ambiguous", "good-then-unknown", "unknown-then-good"])
def test_delete_refuses_bad_ids_and_deletes_nothing(tmp_path, args, fragment):
    """Issue 18: `results delete ''` deleted the only run and exited 0."""
    store = str(tmp_path / "s.db")
    runs = [make_run(run_id="abcd1" + "0" * 27), make_run(run_id="abcd2" + "0" * 27)]
    for run in runs:
        Store(store).save(run)
    if args == [""]:   # the reported case: a store with one run
        Store(store).delete(runs[1].run_id)
        runs = runs[:1]
    args = [runs[0].run_id if a == "GOOD" else a for a in args]
    out = run_cli("results", "delete", *args, "--store", store)
    _one_line_error(out, fragment, "nothing was deleted")
    assert out.stdout == ""
    assert sorted(r["run_id"] for r in Store(store).list_runs()) == sorted(r.run_id for r in runs)


def test_delete_several_ids_at_once(tmp_path):
    store = str(tmp_path / "s.db")
    a, b, c = make_run(), make_run(), make_run()
    for run in (a, b, c):
        Store(store).save(run)
    out = run_cli("results", "delete", a.run_id[:6], b.run_id, a.run_id, "--store", store)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"deleted run {a.run_id}", f"deleted run {b.run_id}"]
    assert [r["run_id"] for r in Store(store).list_runs()] == [c.run_id]


def test_every_command_taking_run_ids_uses_the_same_rule(tmp_path):
    store = str(tmp_path / "s.db")
    good = make_run(run_id="abcd1" + "0" * 27)
    Store(store).save(good)
    Store(store).save(make_run(run_id="abcd2" + "0" * 27))
    for command in (["results", "show"], ["results", "export"], ["results", "push"],
                    ["report", "--out", str(tmp_path / "r.html"), "--run"]):
        for bad, fragment in (("", "is empty"), ("abc", "is too short"), ("abcd", "is ambiguous"),
                              ("feedface", "no run 'feedface'")):
            out = run_cli(*command, bad, "--store", store, env={"EDGEBENCH_HUB_URL": "http://127.0.0.1:9"})
            _one_line_error(out, fragment)
    export = run_cli("results", "export", good.run_id[:5], "feedface", "--store", store)
    _one_line_error(export, "no run 'feedface'")
    assert export.stdout == ""       # nothing half-exported
    assert not (tmp_path / "r.html").exists()
    compare = run_cli("compare", "abcd", good.run_id, "--store", store)
    _one_line_error(compare, "run id prefix 'abcd' is ambiguous")
    compare = run_cli("compare", " ", good.run_id, "--store", store)
    _one_line_error(compare, "run id ' ' is blank")
    shown = run_cli("results", "show", good.run_id[:5], "--store", store)
    assert shown.returncode == 0 and good.run_id in shown.stdout


def test_help_states_the_run_id_rule():
    for command in (["results", "delete"], ["results", "show"], ["report"], ["compare"]):
        out = run_cli(*command, "--help")
        assert "unique prefix of at least 4" in " ".join(out.stdout.replace("│", " ").split()), command


def test_export_to_stdout_with_dash(tmp_path):
    """`--out -` wrote a file named '-'."""
    store = str(tmp_path / "s.db")
    run = make_run()
    Store(store).save(run)
    for fmt in ("json", "csv"):
        out = run_cli("results", "export", "--format", fmt, "--out", "-", "--store", store, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert not (tmp_path / "-").exists()
        assert run.run_id in out.stdout and "exported" not in out.stdout
        path = tmp_path / f"piped.{fmt}"
        path.write_text(out.stdout)
        assert [r.run_id for r in load_runs(path)] == [run.run_id]


def test_text_with_brackets_reaches_the_terminal_intact(tmp_path):
    """rich markup ate "[keras]"-like text: every name, path and value is escaped."""
    store = str(tmp_path / "s.db")
    run = make_run(targets=("litert-int8",))
    run.model = {"name": "mnv2[keras]", "source": "zoo"}
    run.device = run.device.model_copy(update={"hostname": "[bold]box[/bold]"})
    other = make_run(targets=("litert-int8",))
    other.model = dict(run.model)   # compare refuses runs of different models
    Store(store).save(run)
    Store(store).save(other)
    listed = run_cli("results", "list", "--store", store)
    assert listed.returncode == 0 and "mnv2[keras]" in listed.stdout and "[bold]box[/bold]" in listed.stdout
    exported = run_cli("results", "export", run.run_id, "--out", str(tmp_path / "a[1].json"), "--store", store)
    assert exported.returncode == 0 and f"to {tmp_path / 'a[1].json'}" in exported.stdout
    compared = run_cli("compare", str(tmp_path / "a[1].json"), other.run_id, "--store", store)
    assert compared.returncode == 0, compared.stderr
    assert f"vs baseline {tmp_path / 'a[1].json'}" in " ".join(compared.stdout.split())
    report = run_cli("report", "--run", run.run_id, "--out", str(tmp_path / "r[2].html"), "--store", store)
    assert report.returncode == 0 and f"report written to {tmp_path / 'r[2].html'}" in report.stdout
    deleted = run_cli("results", "delete", run.run_id, "--store", store)
    assert deleted.stdout.strip() == f"deleted run {run.run_id}"

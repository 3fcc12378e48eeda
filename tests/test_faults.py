"""Faults and what they get (issues 16 and 18), through the real CLI: unwritable chart folders,
read commands that must not create stores, runs abandoned by kill -9, numbers that must be finite
and in range on the way in, exports that import back identically, hostile paths and documents,
corrupt store rows. Each case: one line (`error: ...`), a non-zero exit, nothing half-done."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgebench.results.exchange import dump_csv, dump_json, load_runs
from edgebench.results.schema import (Energy, HarnessOverhead, LatencyStats, Prediction, ProtocolInfo,
                                      ReferencePrediction, RunResult, SkippedTarget, TargetResult)
from edgebench.results.store import Store
from tests.conftest import REPO, make_run, run_cli

LONG = "a" * 5000


def one_line(out, *fragments: str, code: int = 2) -> str:
    assert out.returncode == code, (out.stdout, out.stderr)
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr
    flat = " ".join(out.stderr.split())
    for fragment in fragments:
        assert fragment in flat, (fragment, out.stderr)
    return flat


def saved(tmp_path: Path, *runs: RunResult) -> str:
    store = str(tmp_path / "store.db")
    s = Store(store)
    for run in runs:
        s.save(run)
    s.close()
    return store


# -- report --format png --outdir D: checked before the HTML is written --------------------------
def _read_only_mount(path: Path) -> bool:
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _immutable(path: Path) -> bool:
    path.mkdir()
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p.write_text("x") or True, "exists and is not a directory"),
    (lambda p: p.write_text("x") or True, "Not a directory"),   # a folder under a file
    (_read_only_mount, "Read-only file system"),
    (_immutable, "Operation not permitted"),
    (lambda p: True, "No such file or directory"),              # /proc refuses new files
])
def test_report_chart_folder_is_checked_before_the_html(tmp_path, make, fragment):
    store = saved(tmp_path, make_run())
    folder = tmp_path / "charts"
    if fragment == "No such file or directory":
        folder = Path("/proc/self/charts")
    elif not make(folder):
        pytest.skip("this machine cannot make a read-only mount or an immutable directory")
    if fragment == "Not a directory":
        folder = folder / "sub"
    html = tmp_path / "r.html"
    try:
        out = run_cli("report", "--store", store, "--out", html, "--format", "png", "--outdir", folder)
        one_line(out, fragment)
        assert not html.exists() and "report written" not in out.stdout
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "charts")], capture_output=True)
        subprocess.run(["umount", str(tmp_path / "charts")], capture_output=True)


def test_report_charts_land_when_the_folder_is_fine(tmp_path):
    store = saved(tmp_path, make_run())
    out = run_cli("report", "--store", store, "--out", tmp_path / "r.html", "--format", "svg",
                  "--outdir", tmp_path / "new" / "charts")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "new" / "charts" / "fps_log.svg").is_file() and (tmp_path / "r.html").is_file()


def test_report_out_unwritable_is_refused_before_reading(tmp_path):
    store = saved(tmp_path, make_run())
    one_line(run_cli("report", "--store", store, "--out", "/proc/r.html"), "cannot write /proc/r.html")
    one_line(run_cli("report", "--store", store, "--out", tmp_path), "it is a directory")


# -- read commands never create stores -------------------------------------------------------------
READERS = [
    ["results", "list"], ["results", "show", "abcd1234"], ["results", "export"],
    ["results", "delete", "abcd1234"], ["report", "--out", "{tmp}/r.html"], ["compare", "abcd1234", "efgh5678"],
    ["results", "push", "abcd1234", "--model", "a/m@1"],
]


@pytest.mark.parametrize("command, store", [
    *((c, "{tmp}/new/dir/s.db") for c in READERS),
    *((READERS[0], s) for s in ("sqlite:///{tmp}/nonexistent/dir/x.db", "sqlite:////nonexistent/dir/x.db",
                                "{tmp}/empty.db")),
    (READERS[2], "sqlite:////nonexistent/dir/x.db"), (READERS[4], "{tmp}/empty.db"),
], ids=lambda v: " ".join(v[:2]) if isinstance(v, list) else v.replace("{tmp}", ""))
def test_read_commands_never_create_stores(tmp_path, store, command):
    (tmp_path / "empty.db").write_bytes(b"")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args = [a.format(tmp=tmp_path) for a in command]
    out = run_cli(*args, "--store", store.format(tmp=tmp_path),
                  env={"EDGEBENCH_HUB_URL": "http://127.0.0.1:9", "EDGEBENCH_HUB_TOKEN": "x"})
    one_line(out, "no results store at")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert not Path("/nonexistent").exists()


def test_a_sqlite_file_without_edgebench_tables_is_not_created_into(tmp_path):
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("PRAGMA user_version = 1").connection.commit()
    content = path.read_bytes()
    one_line(run_cli("results", "list", "--store", path), "not an edgebench store")
    assert path.read_bytes() == content


def test_default_store_is_not_created_by_reading(tmp_path):
    store = tmp_path / "data" / "results.db"
    one_line(run_cli("results", "list", env={"EDGEBENCH_STORE": str(store)}), "no results store at")
    assert not store.parent.exists()


# -- runs left running by kill -9 read as abandoned ------------------------------------------------
RECORDER = """
import sys, time
from edgebench.results.store import Store
from tests.conftest import make_run
run = make_run(run_id=sys.argv[2])
store = Store(sys.argv[1])
store.begin_run(run.model_copy(update={"results": []}))
store.add_target(run.run_id, 0, run.results[0])
print("recording", flush=True)
time.sleep(600)
"""


def test_a_run_killed_with_sigkill_is_shown_abandoned(tmp_path):
    store = saved(tmp_path, make_run(run_id="c" * 32))
    procs = []
    for run_id in ("a" * 32, "b" * 32):
        proc = subprocess.Popen([sys.executable, "-c", RECORDER, store, run_id], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "recording"
        procs.append(proc)
    killed, alive = procs
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    try:
        listed = run_cli("results", "list", "--store", store)
        assert listed.returncode == 0, listed.stderr
        rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if "│" in line}
        assert "abandoned" in rows["a" * 12] and "running" in rows["b" * 12] and "complete" in rows["c" * 12]
        shown = run_cli("results", "show", "a" * 8, "--store", store)
        assert shown.returncode == 0 and "(abandoned)" in shown.stdout, shown.stdout + shown.stderr
        exported = run_cli("results", "export", "a" * 8, "--store", store)
        assert json.loads(exported.stdout)["runs"][0]["status"] == "abandoned"
        report = run_cli("report", "--store", store, "--out", tmp_path / "r.html")
        assert report.returncode == 0 and "1 run(s)" in report.stdout, report.stdout + report.stderr
        assert "c" * 12 in (tmp_path / "r.html").read_text() and "a" * 12 not in (tmp_path / "r.html").read_text()
    finally:
        alive.kill()
        alive.wait(timeout=30)
    again = run_cli("results", "list", "--store", store)
    assert again.stdout.count("abandoned") == 2   # the second one, once its process is gone too


def test_a_pid_reused_by_a_later_process_does_not_keep_a_run_running(tmp_path):
    run = make_run()
    store = Store(str(tmp_path / "s.db"))
    store.begin_run(run.model_copy(update={"results": []}))
    engine = sqlite3.connect(tmp_path / "s.db")
    document = json.loads(engine.execute("SELECT document FROM runs").fetchone()[0])
    document["process"]["pid"] = os.getppid()          # alive, but not the process that began the run
    document["process"]["started"] -= 10 ** 6
    engine.execute("UPDATE runs SET document = ?", (json.dumps(document),))
    engine.commit()
    assert store.list_runs()[0]["status"] == "abandoned"
    assert store.get(run.run_id).status == "abandoned"


# -- numbers enter the store finite and in range; JSON export never writes Infinity/NaN -------------
def test_a_run_with_infinite_energy_is_never_stored(tmp_path):
    run = make_run()
    with pytest.raises(Exception):
        run.results[0].energy = Energy(method="rated", joules=float("inf"), seconds=1.0, inferences=3,
                                       j_per_inference=float("inf"), inferences_per_j=0.0, avg_power_w=float("inf"))
    document = run.model_dump(mode="json")
    document["results"][0]["fps"] = float("inf")
    bundle = tmp_path / "inf.json"
    bundle.write_text(json.dumps({"schema_version": 1, "runs": [document]}))   # Python writes Infinity
    store = saved(tmp_path, make_run())
    one_line(run_cli("results", "import", bundle, "--store", store), "Infinity is not a number JSON allows")
    exported = run_cli("results", "export", "--store", store)
    assert exported.returncode == 0 and "Infinity" not in exported.stdout and "NaN" not in exported.stdout
    json.loads(exported.stdout, parse_constant=lambda c: pytest.fail(f"export wrote {c}"))


# -- import validates like a fresh run; a bundle lands whole or not at all ----------------------------
def _bundle_with(tmp_path: Path, mutate) -> Path:
    first, second = make_run(), make_run()
    document = json.loads(dump_json([first, second]))
    mutate(document["runs"][1])
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("mutate, fragment", [
    (lambda r: r["results"][0]["latency_ms"].update(median=-1.0), "run 2: results.0.latency_ms.median: -1.0 is negative"),
    (lambda r: r["results"][0].update(fps=-3), "run 2: results.0.fps: -3"),
    (lambda r: r["results"][0]["top1"].update(score=1.5), "run 2: results.0.top1.score"),
    (lambda r: r.update(run_id="r" * 5000), "run 2: run_id: String should have at most 64 characters"),
    (lambda r: r.update(run_id="ab\x1bcd"), "run 2: run_id: must be text without control characters"),
    (lambda r: r["results"][0].update(target="litert\nint8"), "run 2: results.0.target"),
    (lambda r: r["device"].update(hostname="h" * 300), "run 2: device.hostname"),
    (lambda r: r.update(created="yesterday"), "run 2: created: not an ISO 8601 time"),
    (lambda r: r["results"][0].update(fps="900"), "run 2: results.0.fps: Input should be a valid number"),
    (lambda r: r["results"][0].update(samples_ms=[1.0, -0.5]), "samples_ms.1: -0.5 is negative"),
    (lambda r: r.update(status="running!"), "run 2: status"),
    (lambda r: r["model"].update(name=""), "model.name"),
    (lambda r: r["results"][0].update(batch=2**60), "results.0.batch"),
])
def test_import_refuses_what_a_run_could_not_hold_and_imports_nothing(tmp_path, mutate, fragment):
    store = saved(tmp_path, make_run(run_id="keep" + "0" * 28))
    path = _bundle_with(tmp_path, mutate)
    one_line(run_cli("results", "import", path, "--store", store), fragment)
    assert [r["run_id"] for r in Store(store, create=False).list_runs()] == ["keep" + "0" * 28]


def test_import_refuses_nan_in_a_file(tmp_path):
    store = saved(tmp_path, make_run())
    path = _bundle_with(tmp_path, lambda r: r["results"][0].update(fps=float("nan")))
    assert "NaN" in path.read_text()
    one_line(run_cli("results", "import", path, "--store", store), "NaN is not a number JSON allows")


def test_import_refuses_a_run_twice_in_one_bundle(tmp_path):
    run = make_run()
    path = tmp_path / "twice.json"
    path.write_text(dump_json([run, run]))
    store = saved(tmp_path)
    one_line(run_cli("results", "import", path, "--store", store), "appears twice")
    assert Store(store, create=False).list_runs() == []


# -- whatever export writes, import reads back identically ------------------------------------------
def run_shapes() -> dict[str, RunResult]:
    """Every shape a stored run takes: no target, failed/unavailable/interrupted targets, energy,
    a reference, skipped targets, a failed run, an abandoned one, odd text, extreme numbers."""
    shapes = {"plain": make_run(), "no targets": make_run(targets=())}
    failed = make_run(targets=("openvino-int8",), status="failed")
    failed.error = "no target ran"
    failed.results[0] = TargetResult(target="openvino-int8", runtime="openvino", runtime_version=None,
                                     precision="int8", model="m", status="unavailable",
                                     error="openvino is not installed,\n\"quoted\"",
                                     protocol=ProtocolInfo(name="classic", warmup=1, settle_s=1.0, runs=3))
    shapes["failed"] = failed
    rich = make_run(targets=("litert-int8", "torch-fp32", "onnxruntime-fp32"))
    rich.results[0].energy = Energy(method="rated 2.5 W (not measured)", joules=0.5, seconds=0.2, inferences=3,
                                    j_per_inference=0.5 / 3, inferences_per_j=6.0, avg_power_w=2.5)
    rich.results[1].status = "interrupted"
    rich.results[2].latency_ms = LatencyStats(median=5e-324, mean=1e308, p90=0.1, p99=0.2, min=0.0, max=1e308,
                                              ci95_median=(0.0, 1e308), repetition_medians=[0.1, 0.2])
    rich.results[2].options = {"threads": 2, "zero_point": -128, "nested": {"a": [1, -2.5, None, "x"]}}
    rich.reference = ReferencePrediction(target="torch-fp32", top1=Prediction(index=0, label="é, \"x\"", score=1.0),
                                         top5=[], timed=False)
    rich.skipped = [SkippedTarget(target="edgetpu-int8", reason="no Edge TPU, sorry; try\tagain")]
    rich.harness_overhead = HarnessOverhead(median_us=0.1, p99_us=0.2, runs=5000)
    rich.thermal_after_c = {"zone0": -5.5}
    rich.model = {"name": "hub model, with comma", "source": "hub", "files": [{"a": 1}]}
    shapes["rich"] = rich
    shapes["abandoned"] = make_run(status="abandoned")
    return shapes


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_then_import_gives_back_every_run_shape(tmp_path, fmt):
    shapes = run_shapes()
    store = saved(tmp_path, *shapes.values())
    out = tmp_path / f"all.{fmt}"
    exported = run_cli("results", "export", "--format", fmt, "--out", out, "--store", store)
    assert exported.returncode == 0 and f"exported {len(shapes)} run(s)" in exported.stdout, exported.stderr
    other = str(tmp_path / "other.db")
    imported = run_cli("results", "import", out, "--store", other)
    assert imported.returncode == 0 and f"imported {len(shapes)} run(s)" in imported.stdout, imported.stderr
    from edgebench.results.store import as_imported

    back = {r.run_id: r for r in Store(other, create=False).all_runs()}
    for name, run in shapes.items():   # an imported run is final: the abandoned one is interrupted
        assert back[run.run_id].model_dump() == as_imported(run).model_dump(), name
    assert back[shapes["abandoned"].run_id].status == "interrupted"
    again = run_cli("results", "export", "--format", fmt, "--out", tmp_path / f"again.{fmt}", "--store", other)
    assert again.returncode == 0, again.stderr
    third = str(tmp_path / "third.db")
    assert run_cli("results", "import", tmp_path / f"again.{fmt}", "--store", third).returncode == 0
    # and exporting the import of the import writes the same bytes
    assert run_cli("results", "export", "--format", fmt, "--store", third).stdout == (tmp_path / f"again.{fmt}").read_text()


def test_round_trip_in_process_for_both_formats():
    shapes = list(run_shapes().values())
    for dump, suffix in ((dump_json, ".json"), (dump_csv, ".csv")):
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as f:
            f.write(dump(shapes))
        try:
            assert [r.model_dump() for r in load_runs(Path(f.name))] == [r.model_dump() for r in shapes]
        finally:
            os.unlink(f.name)


# -- limits on options ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args, fragment", [
    (["results", "list", "--limit", "99999999999999999999"], "'--limit'"),
    (["results", "list", "--limit", "0"], "'--limit'"),
    (["hub", "feed", "--cursor", "99999999999999999999"], "'--cursor'"),
    (["hub", "feed", "--limit", "100000"], "'--limit'"),
    (["report", "--format", "gif"], "'--format'"),
])
def test_numbers_out_of_range_on_the_command_line(tmp_path, args, fragment):
    one_line(run_cli(*args, "--store", tmp_path / "s.db") if args[0] != "hub" else run_cli(*args), fragment)


# -- paths: too long, symlink loops, FIFOs, nesting, binary ----------------------------------------------
def _loop(tmp_path: Path) -> Path:
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    return tmp_path / "loop1"


@pytest.mark.parametrize("kind", ["too long", "symlink loop"])
def test_hostile_paths_are_one_line_everywhere(tmp_path, kind):
    store = saved(tmp_path, make_run())
    bad = tmp_path / LONG if kind == "too long" else _loop(tmp_path)
    reason = "File name too long" if kind == "too long" else "symbolic links"
    if kind == "symlink loop":
        one_line(run_cli("results", "list", "--store", bad), "loop")
    else:
        one_line(run_cli("results", "list", "--store", bad), reason)
    one_line(run_cli("results", "import", bad, "--store", store), reason)
    one_line(run_cli("results", "export", "--out", bad, "--store", store), reason)
    one_line(run_cli("report", "--out", bad, "--store", store), reason)
    one_line(run_cli("report", "--out", tmp_path / "r.html", "--format", "png", "--outdir", bad, "--store", store),
             reason)
    one_line(run_cli("compare", str(bad), str(bad), "--store", store), reason)
    one_line(run_cli("accuracy", "--images", tmp_path, "--labels", bad, "--targets", "litert-int8"), reason)
    if kind == "too long":
        assert len(one_line(run_cli("results", "import", bad, "--store", store))) < 400   # shortened


def test_deeply_nested_results_file_is_one_line(tmp_path):
    store = saved(tmp_path)
    path = tmp_path / "deep.json"
    path.write_text('{"schema_version": 1, "runs": ' + "[" * 100_000 + "]" * 100_000 + "}")
    one_line(run_cli("results", "import", path, "--store", store), "nested too deeply")
    one_line(run_cli("compare", path, path, "--store", store), "nested too deeply")
    shallow = tmp_path / "options.json"
    document = make_run().model_dump(mode="json")
    nested = 1
    for _ in range(60):
        nested = {"x": nested}
    document["results"][0]["options"] = nested
    shallow.write_text(json.dumps(document))
    one_line(run_cli("results", "import", shallow, "--store", store), "nested deeper than 32 levels")


def test_special_files_as_results_are_refused_without_blocking(tmp_path):
    store = saved(tmp_path)
    os.mkfifo(tmp_path / "fifo.json")
    one_line(run_cli("results", "import", tmp_path / "fifo.json", "--store", store, timeout=60), "not a regular file")
    one_line(run_cli("results", "import", tmp_path, "--store", store, timeout=60), "is a directory")
    one_line(run_cli("results", "import", tmp_path / "missing.json", "--store", store), "not found")


@pytest.mark.parametrize("content, fragment", [
    (bytes(range(256)) * 4, "is not UTF-8 text"),
    (b"x.jpg,1\x00\x00\x00", "holds NUL bytes"),
    (b"x.jpg,\xc2\xb2\n", "expected 'file,label_index'"),        # a superscript two is not a digit
    (b"x.jpg," + b"9" * 5000 + b"\n", "expected 'file,label_index'"),
])
def test_binary_or_odd_labels_csv_is_one_line(tmp_path, content, fragment):
    (tmp_path / "labels.csv").write_bytes(content)
    one_line(run_cli("accuracy", "--images", tmp_path, "--targets", "litert-int8"), fragment)


def test_binary_results_file_is_one_line(tmp_path):
    (tmp_path / "r.json").write_bytes(b"\xff\xfe\x00\x01" * 100)
    one_line(run_cli("results", "import", tmp_path / "r.json", "--store", saved(tmp_path)), "is not UTF-8 text")


# -- a corrupt store row: reported and skipped, never hiding the good runs beside it ----------------------
def _corrupt_store(tmp_path: Path) -> tuple[str, dict[str, str]]:
    ids = {name: name[0] * 32 for name in ("json", "bytes", "target", "schema", "good")}
    store = saved(tmp_path, *(make_run(run_id=i) for i in ids.values()))
    db = sqlite3.connect(store)
    db.execute("UPDATE runs SET document = '{not json' WHERE id = ?", (ids["json"],))
    db.execute("UPDATE runs SET document = ? WHERE id = ?", (b"\xff\xfe garbage", ids["bytes"]))
    db.execute("UPDATE target_results SET document = '[1, 2]' WHERE run_id = ? AND position = 1", (ids["target"],))
    db.execute("UPDATE runs SET document = json_set(document, '$.created', 'never') WHERE id = ?", (ids["schema"],))
    db.commit()
    db.close()
    return store, ids


def _warned(out, ids: dict[str, str], names) -> None:
    warnings = [ln for ln in out.stderr.splitlines() if ln.startswith("warning:")]
    for name in names:
        assert any(f"run {ids[name]}" in w and "cannot be read" in w for w in warnings), (name, out.stderr)
    assert "Traceback" not in out.stderr and "error:" not in out.stderr


def test_corrupt_rows_are_reported_and_skipped(tmp_path):
    store, ids = _corrupt_store(tmp_path)
    listed = run_cli("results", "list", "--store", store)
    assert listed.returncode == 0
    assert ids["good"][:12] in listed.stdout and listed.stdout.count("unreadable") == 3   # json, bytes, schema
    _warned(listed, ids, ("json", "bytes", "schema"))

    exported = run_cli("results", "export", "--store", store)
    assert exported.returncode == 0
    assert [r["run_id"] for r in json.loads(exported.stdout)["runs"]] == [ids["good"]]
    _warned(exported, ids, ("json", "bytes", "target", "schema"))

    report = run_cli("report", "--store", store, "--out", tmp_path / "r.html")
    assert report.returncode == 0 and "1 run(s)" in report.stdout
    _warned(report, ids, ("json", "bytes", "target", "schema"))

    assert run_cli("results", "show", ids["good"][:8], "--store", store).returncode == 0
    for name in ("json", "bytes", "target", "schema"):
        one_line(run_cli("results", "show", ids[name][:8], "--store", store), f"run {ids[name]}", "cannot be read",
                 "results delete")
    one_line(run_cli("results", "export", ids["target"], ids["good"], "--store", store), "target torch-fp32")

    deleted = run_cli("results", "delete", *(ids[n][:8] for n in ("json", "bytes", "target", "schema")),
                      "--store", store)
    assert deleted.returncode == 0, deleted.stderr
    assert [r["run_id"] for r in Store(store, create=False).list_runs()] == [ids["good"]]


def test_schema_invalid_rows_are_skipped_on_every_backend(store_url):
    from sqlalchemy import create_engine, text

    good, bad = make_run(), make_run()
    store = Store(store_url)
    store.save(good)
    store.save(bad)
    engine = create_engine(store_url)
    with engine.begin() as conn:
        document = json.loads(conn.execute(text("SELECT CAST(document AS TEXT) FROM runs WHERE id = :i"),
                                           {"i": bad.run_id}).scalar())
        document["run_id"] = "x" * 200
        value = "CAST(:d AS JSON)" if store_url.startswith("postgresql") else ":d"
        conn.execute(text(f"UPDATE runs SET document = {value} WHERE id = :i"),
                     {"d": json.dumps(document), "i": bad.run_id})
    engine.dispose()
    warnings: list[str] = []
    assert [r.run_id for r in store.all_runs(warnings.append)] == [good.run_id]
    assert len(warnings) == 1 and bad.run_id in warnings[0] and "run_id" in warnings[0]
    assert [r["status"] for r in store.list_runs()].count("unreadable") == 1
    store.delete(bad.run_id)
    assert [r.run_id for r in store.all_runs()] == [good.run_id]


# -- failed writes are failures -------------------------------------------------------------------------
def test_export_to_a_full_device_fails(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    store = saved(tmp_path, make_run())
    one_line(run_cli("results", "export", "--out", "/dev/full", "--store", store), "No space left on device")


def test_export_to_a_fifo_writes_into_it(tmp_path):
    store = saved(tmp_path, make_run())
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    out = run_cli("results", "export", "--out", fifo, "--store", store)
    data = reader.communicate(timeout=60)[0]
    assert out.returncode == 0, out.stderr
    assert json.loads(data)["runs"] and fifo.exists() and not fifo.is_file()


def test_a_fifo_without_a_reader_says_it_waits_and_a_slow_reader_gets_everything(tmp_path):
    """No reader yet: one line says edgebench waits for one (not a silent hang), and the export
    goes through once a reader comes. A reader that opens at once but reads late still gets a
    document far larger than a pipe's buffer (the FIFO is not left non-blocking)."""
    import select

    run = make_run()
    run.results[0].samples_ms = [1.0 + i * 1e-6 for i in range(20_000)]   # ~400 kB of JSON
    store = saved(tmp_path, run)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "edgebench", "results", "export", "--out", str(fifo), "--store", store]
    export = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        said = select.select([export.stderr], [], [], 120)[0]   # a silent wait fails here, not hangs
        assert said and "waiting for a process to read the FIFO" in export.stderr.readline()
    finally:
        reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)   # lets the export end
        data = reader.communicate(timeout=120)[0]
        export.wait(timeout=120)
    assert len(json.loads(data)["runs"][0]["results"][0]["samples_ms"]) == 20_000 and export.returncode == 0
    # a reader that has the FIFO open before the export starts, and reads only later
    late = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        export = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=REPO)
        assert select.select([late], [], [], 120)[0]   # the export has begun writing
        time.sleep(2)   # and meanwhile filled the pipe: it must wait for us, not fail
        os.set_blocking(late, True)
        chunks = iter(lambda: os.read(late, 1 << 16), b"")
        data = b"".join(chunks)
        assert export.wait(timeout=120) == 0
    finally:
        os.close(late)
    assert "waiting" not in export.stderr.read() and json.loads(data)["runs"]


def test_time_of_a_large_import_stays_reasonable(tmp_path):
    import numpy as np

    run = make_run()
    run.results[0].samples_ms = [float(x) for x in np.random.default_rng(1).random(300_000)]
    path = tmp_path / "big.json"
    path.write_text(dump_json([run]))
    started = time.monotonic()
    out = run_cli("results", "import", path, "--store", tmp_path / "s.db")
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 60


def test_a_csv_export_of_a_long_run_imports_back(tmp_path):
    """target_json of a run with 300,000 samples is megabytes: past csv's default field limit."""
    import numpy as np

    run = make_run()
    run.results[0].samples_ms = [float(x) for x in np.random.default_rng(2).random(300_000)]
    path = tmp_path / "big.csv"
    path.write_text(dump_csv([run]))
    assert load_runs(path)[0].model_dump() == run.model_dump()


def test_compare_with_a_results_file_holding_no_runs(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(dump_json([]))
    one_line(run_cli("compare", empty, empty), "holds no runs")


def test_an_empty_store_argument_is_refused(tmp_path):
    one_line(run_cli("results", "list", "--store", ""), "store is given as empty text")
    one_line(run_cli("results", "import", tmp_path / "x.json", "--store", " "), "not found")


def test_an_empty_store_variable_is_refused_and_the_default_store_follows_the_data_dir(tmp_path):
    """EDGEBENCH_STORE='' (a shell typo) is one line, not a silent fall-back to the default store;
    unset, the default store lives in $EDGEBENCH_DATA_DIR like the rest of the user's data."""
    for value in ("", "  "):
        one_line(run_cli("results", "list", env={"EDGEBENCH_STORE": value}), "EDGEBENCH_STORE is set but empty")
    env = {k: v for k, v in os.environ.items() if k != "EDGEBENCH_STORE"}
    env["EDGEBENCH_DATA_DIR"] = str(tmp_path / "data")
    exported = tmp_path / "one.json"
    exported.write_text(dump_json([make_run()]))
    done = subprocess.run([sys.executable, "-m", "edgebench", "results", "import", str(exported)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "results.db").is_file()


# -- how --out is written: a fresh temporary file, a symlink's target, special files in place --------
@pytest.fixture
def read_only_dir(tmp_path):
    """A real read-only mount (tmpfs, ro); skipped where this machine cannot mount."""
    path = tmp_path / "ro"
    if not _read_only_mount(path):
        pytest.skip("this machine cannot make a read-only mount")
    yield path
    subprocess.run(["umount", str(path)], capture_output=True)


@pytest.fixture
def tiny_mount(tmp_path):
    """A real 64 KiB file system: a write larger than that fails with ENOSPC part-way."""
    path = tmp_path / "tiny"
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("this machine cannot mount a tmpfs")
    yield path
    subprocess.run(["umount", str(path)], capture_output=True)


QUICK_RUN = ("run", "--targets", "litert-int8", "--runs", "2", "--settle", "0", "--no-save")


def _writers(tmp_path: Path, out: Path) -> dict[str, list]:
    """Every command with an --out, pointed at `out` (run is refused before it runs)."""
    store = saved(tmp_path, make_run())
    return {"run": [*QUICK_RUN, "--out", out],
            "export": ["results", "export", "--out", out, "--store", store],
            "report": ["report", "--out", out, "--store", store]}


@pytest.mark.parametrize("command", ["run", "export", "report"])
def test_out_onto_a_read_only_mount_is_refused_before_any_work(tmp_path, read_only_dir, command):
    out = run_cli(*_writers(tmp_path, read_only_dir / "r.json")[command])
    one_line(out, f"cannot write {read_only_dir / 'r.json'}", "Read-only file system")
    assert "median ms" not in out.stdout


def test_a_symlink_planted_at_the_temporary_name_is_never_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / ".x.json.tmp").symlink_to(victim)      # the fixed name earlier versions used
    store = saved(tmp_path, make_run())
    out = run_cli("results", "export", "--out", tmp_path / "x.json", "--store", store)
    assert out.returncode == 0, out.stderr
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "x.json").is_symlink() and json.loads((tmp_path / "x.json").read_text())["runs"]


@pytest.mark.parametrize("command", ["export", "report"])
def test_a_symlinked_out_writes_its_target_and_stays_a_link(tmp_path, command):
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old")
    real.chmod(0o640)
    link.symlink_to("real.json")
    out = run_cli(*_writers(tmp_path, link)[command])
    assert out.returncode == 0, out.stderr
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert real.read_text() != "old" and real.stat().st_mode & 0o777 == 0o640   # its mode kept
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temporary left


def test_a_dangling_symlink_as_out_creates_its_target(tmp_path):
    store = saved(tmp_path, make_run())
    (tmp_path / "link.json").symlink_to(tmp_path / "made.json")
    out = run_cli("results", "export", "--out", tmp_path / "link.json", "--store", store)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "link.json").is_symlink() and json.loads((tmp_path / "made.json").read_text())["runs"]
    (tmp_path / "far.json").symlink_to("/nonexistent/dir/x.json")
    one_line(run_cli("results", "export", "--out", tmp_path / "far.json", "--store", store),
             "directory /nonexistent/dir does not exist")


def test_an_out_under_a_symlink_loop_is_one_line(tmp_path):
    store = saved(tmp_path, make_run())
    loop = _loop(tmp_path)
    for args in (["results", "export", "--store", store], ["report", "--store", store], list(QUICK_RUN)):
        one_line(run_cli(*args, "--out", loop / "x.json"), "symbolic links")


@pytest.mark.parametrize("stem", ["n" * 250, "é" * 125])
def test_a_file_name_near_the_limit_is_written(tmp_path, stem):
    """The temporary name is cut short: a 255-byte name does not become a 260-byte one."""
    store = saved(tmp_path, make_run())
    target = tmp_path / (stem + ".json")
    out = run_cli("results", "export", "--out", target, "--store", store)
    assert out.returncode == 0, out.stderr
    assert json.loads(target.read_text())["runs"]


def test_a_write_that_runs_out_of_space_leaves_the_old_file_and_no_temporary(tmp_path, tiny_mount):
    import numpy as np

    run = make_run()
    run.results[0].samples_ms = [float(x) for x in np.random.default_rng(3).random(20_000)]
    store = saved(tmp_path, run)
    target = tiny_mount / "x.json"
    target.write_text("the previous export")
    one_line(run_cli("results", "export", "--out", target, "--store", store), "No space left on device")
    assert target.read_text() == "the previous export"
    assert [p.name for p in tiny_mount.iterdir()] == ["x.json"]


def test_two_exports_to_one_file_at_once_both_succeed(tmp_path):
    store = saved(tmp_path, *(make_run() for _ in range(20)))
    target = tmp_path / "x.json"
    procs = [subprocess.Popen([sys.executable, "-m", "edgebench", "results", "export", "--out", str(target),
                               "--store", store], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    assert len(json.loads(target.read_text())["runs"]) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.db", "x.json"]


def test_run_out_dev_null_stays_a_character_device():
    import stat

    out = run_cli(*QUICK_RUN, "--out", "/dev/null")
    assert out.returncode == 0, out.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_report_out_dev_full_fails(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    store = saved(tmp_path, make_run())
    out = one_line(run_cli("report", "--out", "/dev/full", "--store", store), "No space left on device")
    assert "report written" not in out


@pytest.mark.parametrize("store", ["empty file", "no complete run"])
def test_a_refused_report_creates_no_chart_folder(tmp_path, store):
    path = tmp_path / "store.db"
    if store == "empty file":
        path.write_bytes(b"")
    else:
        saved(tmp_path, make_run(status="failed"))
    folder = tmp_path / "newcharts" / "a" / "b"
    out = run_cli("report", "--store", path, "--format", "png", "--outdir", folder, "--out", tmp_path / "r.html")
    one_line(out, "no results store" if store == "empty file" else "no complete runs")
    assert not (tmp_path / "newcharts").exists() and not (tmp_path / "r.html").exists()


def test_a_chart_folder_under_a_read_only_mount_is_refused_and_not_made(tmp_path, read_only_dir):
    store = saved(tmp_path, make_run())
    out = run_cli("report", "--store", store, "--format", "svg", "--outdir", read_only_dir / "new" / "charts",
                  "--out", tmp_path / "r.html")
    one_line(out, "cannot create directory", "Read-only file system")
    assert not (tmp_path / "r.html").exists()

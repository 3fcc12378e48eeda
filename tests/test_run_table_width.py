"""The results table on an ordinary terminal (issue: at 80-140 columns it dropped the target and
answer columns; the rigorous table cut target names even at ~200): every row shows rank, target,
median, fps, answer and agreement; the other columns are left out by a stated priority, the
screen names them, and --wide shows them all."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from edgebench.cli import run_screen
from tests.test_run_screen import RIGOROUS, _ok, _run

TARGETS = ("onnxruntime-fp32@tensorrt", "litert-int8", "torch-fp32", "keras-predict-fp32")
WIDTHS = (80, 100, 140)


def _results(protocol: str):
    kw = {"protocol": RIGOROUS, "reps": (9.95, 10.0, 10.05)} if protocol == "rigorous" else {}
    medians = (1.0, 2.0, 10.0, 12.0)
    return _run([_ok(name, name.split("-")[-1].split("@")[0], median, (median * 0.99, median * 1.01),
                     label="Granny Smith" if name.startswith("keras") else "chickadee", **kw)
                 for name, median in zip(TARGETS, medians)])


def _screen(run, width: int, **kwargs) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    original = run_screen.console
    run_screen.console = console
    try:
        run_screen.print_run(run, **kwargs)
    finally:
        run_screen.console = original
    return console.export_text()


def _header(screen: str) -> list[str]:
    """The column names, a name drawn on two lines (a compact table's) joined with a space."""
    lines = screen.splitlines()
    end = next(i for i, line in enumerate(lines) if "╇" in line)
    start = end
    while "┃" in lines[start - 1]:
        start -= 1
    edged = lines[end].startswith("┡")   # a compact table has no outer border
    cells = [[cell.strip() for cell in (line.split("┃")[1:-1] if edged else line.split("┃"))]
             for line in lines[start:end]]
    return [" ".join(part for part in column if part) for column in zip(*cells)]


def assert_rows_whole(screen: str, targets=TARGETS) -> None:
    """Each target on one row, its name whole, beside its rank, with an answer (which may wrap
    onto a second line) and a verdict."""
    header = _header(screen)
    for essential in ("#", "target", "median ms", "fps", "answer", "agrees"):
        assert essential in header, header
    for position, name in enumerate(targets, start=1):
        row = re.search(rf"^│?\s*{position} │ {re.escape(name)}\s+│.*│ \w[^│]*│ (yes|ref|NO)\s*(│|$)",
                        screen, re.MULTILINE)
        assert row, f"{name} not whole on row {position}:\n{screen}"


@pytest.mark.parametrize("protocol", ["classic", "rigorous"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_row_shows_rank_target_median_fps_answer_and_agreement(protocol, width):
    screen = _screen(_results(protocol), width, wide_hint="--wide shows every column")
    assert_rows_whole(screen)
    table = [line for line in screen.splitlines() if "│" in line or "┃" in line or "╇" in line]
    assert max(map(len, table)) <= width, screen
    left_out = re.search(r"columns left out at (\d+) columns: (.*); --wide shows every column",
                         " ".join(screen.split()))
    assert left_out and int(left_out[1]) == width, screen
    named = left_out[2].split(", ")
    if width >= 100:   # drawn compact before the speed-up over the reference is left out
        assert "x vs ref" in _header(screen), screen
    assert not set(named) & set(_header(screen))   # what it names is indeed absent
    # and left out in the stated order: the least needed first
    assert named == [c for c in run_screen.LEAVE_OUT_FIRST if c in named]


def test_wide_shows_every_column_and_no_left_out_line():
    screen = _screen(_results("rigorous"), 80, wide=True)
    header = _header(screen)
    for name in ("version", "precision", "threads", "load s", "first ms", "MB load/run", "95% CI of median ms",
                 "repetition medians ms", "p90 ms", "p99 ms", "CV %", "x vs ref"):
        assert name in header, header
    assert_rows_whole(screen)
    assert "columns left out" not in screen


def test_a_wide_terminal_leaves_nothing_out():
    screen = _screen(_results("classic"), 250)
    assert "columns left out" not in screen and "version" in _header(screen)


def test_the_answer_and_agreement_cells_come_from_one_function_each(monkeypatch):
    """The lead swaps these for task-specific answers (detection, segmentation) without layout changes."""
    monkeypatch.setattr(run_screen, "answer_cell", lambda r: f"3 boxes from {r.target}")
    monkeypatch.setattr(run_screen, "agreement_cell", lambda r: "mAP 0.91")
    screen = _screen(_results("classic"), 140)
    assert "3 boxes from litert-int8" in screen and screen.count("mAP 0.91") == len(TARGETS)


def run_in_terminal(*args: str, columns: int, env: dict | None = None) -> str:
    """The real CLI under a pseudo-terminal of `columns` x 50, as a user sees it (escapes removed)."""
    from tests.conftest import in_terminal

    return final_screen(*in_terminal(*args, columns=columns, env=env))


def final_screen(code: int, text: str) -> str:
    """What stays on a terminal after the live display, escapes removed (code: must be 0)."""
    assert code == 0, text[-3000:]
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return screen.replace("\r\n", "\n").split("\r")[-1]


CLI_TARGETS = ("onnxruntime-fp32", "litert-int8")   # ranked at run time


def _ranked_targets(screen: str) -> list[str]:
    return re.findall(r"^│?\s*\d+ │ (\S+)\s+│", screen, re.MULTILINE)


def assert_cli_table(screen: str, columns: int) -> None:
    assert sorted(_ranked_targets(screen)) == sorted(CLI_TARGETS), screen
    assert_rows_whole(screen, _ranked_targets(screen))
    assert "espresso" in screen
    table = [line for line in screen.splitlines() if "│" in line or "┃" in line or "╇" in line]
    assert max(map(len, table)) <= columns, screen
    if columns < 200:
        assert f"columns left out at {columns} columns:" in " ".join(screen.split()), screen


RUN = ("run", "--targets", ",".join(CLI_TARGETS), "--settle", "0", "--meter", "none")


@pytest.mark.slow
@pytest.mark.parametrize("columns", WIDTHS)
def test_the_real_classic_table_in_a_terminal(columns):
    screen = run_in_terminal(*RUN, "--runs", "20", "--no-save", columns=columns)
    assert_cli_table(screen, columns)
    assert "--wide shows every column" in " ".join(screen.split())


@pytest.mark.slow
def test_the_real_rigorous_table_in_a_terminal(rigorous_run):
    """One rigorous run (3 x 10 s per target; tests/conftest.py's rigorous_run, shared with
    test_end_to_end), shown by `run` at 140 columns, then by `results show` at 80 and 100: the
    same screen code, the same stored result."""
    store = rigorous_run["store"]
    screen = final_screen(rigorous_run["code"], rigorous_run["text"])
    assert "95% CI" in screen or "95% CI of median ms" in " ".join(screen.split()), screen
    assert_cli_table(screen, 140)
    run_id = re.search(r"saved as run (\w+)", screen)[1]
    for columns in (80, 100):
        assert_cli_table(run_in_terminal("results", "show", run_id, "--store", store, columns=columns), columns)


def test_offline_sweep_with_energy_keeps_images_per_s_and_whole_sweep_labels():
    """Neighbours: an offline run ranks by images/s (kept at any width), sweep points are named
    'target t=2', and energy adds two columns that give way before the ranking's figures."""
    from tests.test_run_screen import _energy

    run = _results("classic")
    for r in run.results:
        r.scenario, r.streams, r.offline_mode, r.batch = "offline", 2, "sessions", 8
        r.images_per_s, r.sweep, r.energy = r.fps * 8, {"threads": 2}, _energy()
    names = [f"{name} t=2" for name in TARGETS]
    for width in WIDTHS:
        screen = _screen(run, width)
        assert "fps" in _header(screen), screen
        ranked = re.findall(r"^│?\s*\d+ │ (\S+ t=2)\s+│", screen, re.MULTILINE)
        assert sorted(ranked) == sorted(names), screen
        assert_rows_whole(screen, ranked)
    assert {"mJ/inference", "avg W", "in flight", "batch"} <= set(_header(_screen(run, 80, wide=True)))

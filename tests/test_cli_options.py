"""The options `edgebench run` and `edgebench fleet run` share (cli/options.py): one declaration,
so the same help and the same one-line error for the same bad value in both commands."""

import re

import pytest

from edgebench.cli.options import BenchOptions, bench_options
from tests.conftest import run_cli

SHARED = ("--protocol", "--runs", "--warmup", "--settle", "--threads", "--batch", "--preprocess",
          "--torch-mode", "--cuda-input", "--runtime-option", "--offline", "--meter", "--power-w",
          "--store", "--save")


def _error(*args: str) -> str:
    done = run_cli(*args, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    # the only difference allowed: which command's --help the line points to
    return re.sub(r" \(see [^()]*run --help\)$", "", " ".join(lines[0].split()))


@pytest.mark.parametrize("args, fragment", [
    (["--threads", "100000"], "threads must be an integer from 1 to 256, got 100000"),
    (["--threads", "1,300"], "threads must be an integer from 1 to 256, got 300"),
    (["--threads", "two"], "--threads takes a whole number or a list such as 1,2,4"),
    (["--batch", "0"], "batch must be an integer from 1 to 4096"),
    (["--runs", "0"], "'--runs'"),
    (["--power-w", "-1"], "greater than or equal to 0.001"),
    (["--meter", "wattmeter"], "'wattmeter' is not one of"),
    (["--torch-mode", "warp"], "'warp' is not one of"),
    (["--runtime-option", "nonsense"], "RUNTIME.NAME=VALUE"),
    (["--runtime-option", "torch.zzz=1"], "torch has no option 'zzz'"),
])
def test_run_and_fleet_run_refuse_a_bad_value_with_the_same_line(args, fragment):
    alone = _error("run", *args)
    assert fragment in alone
    assert _error("fleet", "run", *args) == alone


def test_run_and_fleet_run_show_the_same_help_for_the_shared_options():
    def helps(*command: str) -> dict[str, str]:
        text = run_cli(*command, "--help", env={"COLUMNS": "250"}).stdout
        entries = re.split(r"\n(?=  (?:-\w, )?--)", text)
        return {e.split()[0]: " ".join(e.split()) for e in entries if e.lstrip().startswith("--")}

    alone, fleet = helps("run"), helps("fleet", "run")
    for option in SHARED:
        assert option in alone and alone[option] == fleet[option], option


def test_fleet_run_takes_thread_and_batch_lists_as_run_does():
    # accepted: the run gets as far as the (absent) scheduler
    done = run_cli("fleet", "run", "--threads", "1,2", "--batch", "1,8", "--scheduler", "tcp://127.0.0.1:9",
                   "--connect-timeout", "1", "--no-save", timeout=120)
    assert done.returncode == 2 and "cannot reach the fleet scheduler" in done.stderr, done.stderr


def test_config_fields_give_one_value_or_a_sweep():
    from edgebench.protocol import sustained

    one = BenchOptions(threads="4", batch="8", runs=7, offline=True).config_fields()
    assert (one["threads"], one["batch"], one["thread_counts"], one["batch_sizes"]) == (4, 8, (), ())
    assert one["protocol"].name == "classic" and one["protocol"].runs == 7 and not one["allow_download"]
    sweep = BenchOptions(threads="1,2,4", torch_mode="eager").config_fields(sustained(60.0))
    assert sweep["threads"] is None and sweep["thread_counts"] == (1, 2, 4)
    assert sweep["protocol"].name == "sustained" and sweep["runtime_settings"] == {"torch": {"mode": "eager"}}


def test_bench_options_spreads_the_fields_and_gathers_them_back():
    import inspect

    @bench_options
    def command(model: str = "m", options: BenchOptions = BenchOptions(), out: str = "-"):
        return model, options, out

    names = list(inspect.signature(command).parameters)
    assert names[0] == "model" and names[-1] == "out" and "options" not in names
    assert names[1:-1] == [f.name for f in __import__("dataclasses").fields(BenchOptions)]
    model, options, out = command(model="x", out="o", **{**BenchOptions().__dict__, "threads": "2"})
    assert (model, out, options.threads, options.batch) == ("x", "o", "2", "1")
    with pytest.raises(TypeError, match="no 'options: BenchOptions' parameter"):
        bench_options(lambda model="m": model)

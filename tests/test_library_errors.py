"""Library errors speak the library's terms; the CLI adds the flag (issue 29, item 4)."""

from __future__ import annotations

import pytest

from edgebench.errors import UserError

# Settings that library errors name (UserError.setting), each of which a CLI command takes as a flag.
SETTINGS = ["duration_s", "power_w", "input_shapes", "task", "labels", "target", "version", "runtime_hint",
            "preprocess", "method", "keep_classes", "views", "unfreeze", "epochs", "seed", "learning_rate",
            "val_split", "name", "val_dir", "calibration", "skip_existing", "base"]


def _cli_flags() -> set[str]:
    """Every option name of every `edgebench` command, walked from the Typer app."""
    import typer

    from edgebench.cli.app import app

    flags: set[str] = set()

    def walk(command):
        for param in command.params:
            flags.update(name for name in param.opts + param.secondary_opts if name.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return flags


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_setting_a_library_error_names_is_a_real_flag(setting):
    from edgebench.cli.common import with_flag

    line = with_flag(UserError("what is wrong", setting))
    flag, _, rest = line.partition(": ")
    assert rest == "what is wrong"
    assert flag in _cli_flags(), f"{setting} maps to {flag}, which no command takes"


def test_an_error_without_a_setting_is_left_as_it_is():
    from edgebench.cli.common import with_flag

    assert with_flag(UserError("no model named")) == "no model named"
    assert with_flag(UserError("x", "duration_s")) == "--duration: x"     # not --duration-s
    assert with_flag(UserError("x", "power_w")) == "--power-w: x"


def test_the_library_says_rated_power_and_the_cli_says_power_w():
    from edgebench.bench.config import RunConfig
    from tests.conftest import run_cli

    with pytest.raises(UserError) as refused:
        RunConfig(meter="rated")
    assert "--" not in str(refused.value) and refused.value.setting == "power_w"

    out = run_cli("run", "--meter", "rated", "--no-save")
    assert out.returncode == 2
    assert out.stderr.strip() == "error: --power-w: the rated meter needs the device's rated power in W"

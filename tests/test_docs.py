"""The README and the documentation site (issue 29): short README, its two set-up commands, nothing
about the machine it was written on, and a CLI reference that is Typer's own text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def test_readme_is_short_and_keeps_the_two_setup_commands():
    assert len(README.splitlines()) <= 160
    assert "bash scripts/setup.sh && .venv/bin/edgebench run" in README
    assert "bash scripts/test.sh" in README
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize("page", ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").rglob("*.md"))])
def test_no_page_refers_to_the_machine_it_was_written_on(page):
    text = (REPO / page).read_text()
    for leftover in ("../shared", "this VM", "lent H100", "lent GPU", "the `device` tool"):
        assert leftover not in text, f"{page} mentions {leftover!r}"


def test_readme_links_point_at_files_that_exist():
    for target in re.findall(r"\]\(([^)#\s]+)", README):
        if "://" not in target:
            assert (REPO / target).exists(), target


def test_every_nav_page_exists():
    nav = re.findall(r"^\s+- [^:#]+: (\S+\.md)\s*$", (REPO / "mkdocs.yml").read_text(), flags=re.M)
    assert "getting-started.md" in nav and "reference/cli.md" in nav
    for page in nav:
        assert (REPO / "docs" / page).is_file(), page


def test_the_cli_reference_is_typers_text_for_every_command():
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from mkdocs_cli_reference import MARKER, cli_reference_markdown
    finally:
        sys.path.pop(0)
    assert MARKER in (REPO / "docs" / "reference" / "cli.md").read_text()
    text = cli_reference_markdown()
    for command in ("run", "targets", "accuracy", "profile", "report", "compare", "preview", "retrain",
                    "models list", "results export", "hub serve", "hub publish", "fleet run"):
        assert f"`edgebench {command}`" in text, command
    # An option's help, word for word as --help has it.
    from edgebench.cli.app import app
    import typer

    run = typer.main.get_command(app).commands["run"]
    power = next(p for p in run.params if "--power-w" in p.opts)
    assert power.help in text

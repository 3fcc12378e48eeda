"""MkDocs hook: the CLI reference page, generated from the Typer app each time the site is built.

A page holding the marker below gets, in its place, what Typer's own documentation generator
(`typer MODULE utils docs`) writes for `edgebench`: every command's help, usage, arguments and
options, from the same objects that `--help` prints. Written by hand, it would drift.
"""

from __future__ import annotations

MARKER = "<!-- edgebench-cli-reference -->"


def cli_reference_markdown() -> str:
    """Markdown for every command of `edgebench`, top-level commands as level-2 headings."""
    import typer
    from typer.cli import get_docs_for_click

    from edgebench.cli.app import app

    command = typer.main.get_command(app)
    context = typer.Context(command, info_name="edgebench")
    return get_docs_for_click(obj=command, ctx=context, indent=1, name="edgebench")


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference_markdown())

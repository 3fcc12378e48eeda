"""`edgebench targets`: every known target, available or not, and why."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from edgebench.cli.common import console


def targets_command() -> None:
    """List every known target (runtime-precision) with whether it can run here and why not."""
    from edgebench.targets import list_targets

    table = Table(title="edgebench targets")
    for col in ("target", "device", "available", "version"):
        table.add_column(col, no_wrap=True)
    # The full reason on any terminal: long words (CUDAExecutionProvider) fold, never cut to "…".
    table.add_column("detail", overflow="fold")
    for t in list_targets():
        table.add_row(escape(t.name), t.device, "[green]yes[/]" if t.available else "[red]no[/]",
                      escape(t.version or "-"), escape(t.detail))
    console.print(table)

"""The live display of a run: preparation steps with elapsed time, then a bar per target."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import (BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn)

from edgebench.cli.common import console


def live_progress() -> Progress:
    """Transient: the display disappears when the run ends, leaving the results table."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.fields[count]}"), TaskProgressColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


class RichEvents:
    """Shows preparation as one line (what it does now, elapsed seconds) and each target's timed
    runs as a bar with k/n."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self._tasks: dict[str, int] = {}
        self._prepare_task: int | None = None
        self._converted = False
        self._started = False

    def _start(self) -> None:
        """The display starts with the first event, so an error found while planning (before
        any) leaves the terminal exactly as it was: one error line, no blank display."""
        if not self._started:
            self.progress.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self.progress.stop()

    def prepare_step(self, message: str) -> None:
        self._start()
        self._converted |= message.startswith("first run")
        if message.startswith("downloading "):   # a download stays on record, not only in the live line
            self.progress.console.print(message, markup=False, soft_wrap=True)
        if self._prepare_task is None:
            self._prepare_task = self.progress.add_task(escape(message), total=None, count="")
        self.progress.update(self._prepare_task, description=escape(message))

    def prepared(self) -> None:
        if self._prepare_task is None:
            return
        elapsed = self.progress.tasks[self._prepare_task].elapsed or 0.0
        self.progress.remove_task(self._prepare_task)
        self._prepare_task = None
        if self._converted:
            self.progress.console.print(f"prepared the model's variants in {elapsed:.0f} s "
                                        "(cached: later runs start at once)", markup=False)

    def target_started(self, target: str, runs: int) -> None:
        self._start()
        self._tasks[target] = self.progress.add_task(escape(target), total=runs, count=f"0/{runs}")

    def target_progress(self, target: str, done: int, total: int) -> None:
        self.progress.update(self._tasks[target], completed=done, total=total, count=f"{done}/{total}")

    def target_finished(self, result) -> None:
        """Statuses are shown once, in the results table (or the error line)."""

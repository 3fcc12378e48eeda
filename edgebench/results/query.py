"""Which stored runs a command means: run-id arguments, the runs a report shows, the two sides
of `compare`, and the runs `results push` uploads. Commands parse, call these, and print.

Run-id arguments follow the one rule in run_ids.py; a command given several ids resolves every
one of them before it acts, so a typo in one never half-does the job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.errors import UserError

from edgebench.results.run_ids import (RUN_ID_RULE, RunIdError, check_run_id, quoted)

if TYPE_CHECKING:
    from edgebench.results.schema import RunResult
    from edgebench.results.store import Store

# Where a command hears about stored runs that cannot be read (each is skipped, never fatal).
Warn = Callable[[str], None]

# -- which runs a report shows ----------------------------------------------------------------

def report_key(run: RunResult) -> tuple[str, str]:
    """What one report entry stands for: a device (fingerprint) and a model (name)."""
    return run.device.fingerprint(), str(run.model.get("name"))


@dataclass(frozen=True)
class RunSelection:
    runs: list  # list[RunResult], oldest first
    left_out: list = field(default_factory=list)  # older complete runs of the same device and model


def latest_per_device_and_model(runs: Iterable[RunResult]) -> RunSelection:
    """The latest complete run of every (device, model) pair, oldest first.

    A later run replaces an earlier one of the same model on the same device, even if it ran
    fewer targets: a run is one consistent measurement, and mixing targets from different runs
    would put numbers from different days in one table. Runs of other models on that device are
    kept. The runs replaced are returned too, so a report can say what it left out.
    """
    latest: dict[tuple[str, str], RunResult] = {}
    left_out: list[RunResult] = []
    for run in sorted((r for r in runs if r.status == "complete"), key=lambda r: (r.created, r.run_id)):
        key = report_key(run)
        if key in latest:
            left_out.append(latest[key])
        latest[key] = run
    return RunSelection(sorted(latest.values(), key=lambda r: (r.created, r.run_id)), left_out)


def runs_for_report(store: Store, run_ids: Sequence[str] | None = None,
                    warn: Warn | None = None) -> RunSelection:
    """The runs named (each id resolved first), or else the latest complete run of every
    device and model in the store (runs still running or abandoned are never complete)."""
    if run_ids:
        return RunSelection(store.get_runs(run_ids))
    selection = latest_per_device_and_model(store.all_runs(warn))
    if not selection.runs:
        raise UserError("the store has no complete runs; run `edgebench run` or import results first")
    return selection


def runs_for_export(store: Store, run_ids: Sequence[str] | None = None,
                    warn: Warn | None = None) -> list[RunResult]:
    """The runs named (all resolved before any is read), or every stored run that can be read."""
    return store.get_runs(run_ids) if run_ids else store.all_runs(warn)


# -- compare ----------------------------------------------------------------------------------

def model_identity(run: RunResult) -> str:
    """What makes two runs runs of one model: its name, a hub model without its version (two
    versions of one hub model are one model, changed)."""
    if run.model.get("source") == "hub":
        return str(run.model.get("ref") or str(run.model.get("name")).partition("@")[0])
    return str(run.model.get("name"))


def compare_sides(store: Store | Callable[[], Store], baseline: str, candidate: str,
                  warn: Warn | None = None) -> tuple[tuple[RunResult, str], tuple[RunResult, str]]:
    """Both sides of `compare`, each (run, label). Files and run ids are resolved first; a side
    given as a device name then means that device's latest complete run of the other side's
    model (never another model's run that happens to be newer)."""
    specs = (baseline, candidate)
    sides: list[tuple[RunResult, str] | None] = [_explicit_side(store, spec) for spec in specs]
    for i, spec in enumerate(specs):
        if sides[i] is None:
            other = sides[1 - i]
            sides[i] = _device_side(_opened(store), spec, model_identity(other[0]) if other else None, warn)
    return sides[0], sides[1]


def compare_side(store: Store | Callable[[], Store], spec: str, warn: Warn | None = None,
                 model: str | None = None) -> tuple[RunResult, str]:
    """One side of `compare`: (run, label). `spec` is, in this order, a results file (its last
    run), a run id (the rule above), or a device's host name or fingerprint (the latest complete
    run on it; of `model` (a model_identity) if given). `store` may be a function opening it:
    two files need no store."""
    return _explicit_side(store, spec) or _device_side(_opened(store), spec, model, warn)


def _opened(store: Store | Callable[[], Store]) -> Store:
    return store() if callable(store) else store


def _explicit_side(store: Store | Callable[[], Store], spec: str) -> tuple[RunResult, str] | None:
    """A side named by a results file or a run id; None if `spec` is neither (a device name)."""
    from edgebench.fileio import shown, stat_or_none
    from edgebench.results.exchange import load_runs

    check_run_id(spec)
    try:
        found = stat_or_none(spec, "results file")
    except UserError:   # too long, a symlink loop: an error if it was meant as a path
        if "/" in spec or spec.lower().endswith((".json", ".csv")):
            raise
        found = None
    if found is not None:
        runs = load_runs(Path(spec))   # a directory or a FIFO is refused there, with one line
        if not runs:
            raise UserError(f"results file {shown(spec)} holds no runs")
        label = spec if len(runs) == 1 else f"{spec} (run {runs[-1].run_id[:12]}, the last of {len(runs)})"
        return runs[-1], label
    try:
        run = _opened(store).get(spec)
        return run, run.run_id[:12]
    except RunIdError as not_an_id:
        if not_an_id.kind == "ambiguous":
            raise
        return None


def _device_side(store: Store, spec: str, model: str | None, warn: Warn | None) -> tuple[RunResult, str]:
    on_device = [r for r in store.all_runs(warn) if r.status == "complete"
                 and spec in (r.device.hostname, r.device.fingerprint())]
    if not on_device:
        raise UserError(f"{quoted(spec)} is not a results file, a stored run id or a device name "
                        f"(a run id is {RUN_ID_RULE})")
    of_model = [r for r in on_device if model is None or model_identity(r) == model]
    if not of_model:
        raise UserError(f"device {quoted(spec)} has no complete run of {model} (the other side's "
                        "model); name a run id to compare another model")
    run = of_model[-1]
    return run, f"{spec} (run {run.run_id[:12]}, {run.model.get('name')})"


# -- results push -----------------------------------------------------------------------------

def runs_to_push(store: Store, run_ids: Sequence[str] | None, hub_url: str,
                 warn: Warn | None = None) -> list[RunResult]:
    """The runs named (all resolved first), or else every stored run of a model pulled from this
    hub (not from another one). Refuses an empty selection."""
    if run_ids:
        return store.get_runs(run_ids)
    runs = [r for r in store.all_runs(warn) if r.model.get("source") == "hub" and r.model.get("hub") == hub_url]
    if not runs:
        raise UserError(f"no runs to push to {hub_url}: run a model from it first "
                        "(hub://owner/name@version) or name run ids")
    return runs


def hub_version_of(run: RunResult, override=None):
    """The hub model version a run measured: `override` (a parsed owner/name@version) if given,
    else the hub model the run ran; a run of a non-hub model needs the override."""
    from edgebench.refs import parse_ref

    if override is not None:
        return override
    if run.model.get("source") != "hub":
        raise UserError(f"run {run.run_id[:12]} measured {run.model.get('name')}, not a hub model: "
                        "say which hub version (owner/name@version) it measured", "model")
    return parse_ref(run.model["name"])

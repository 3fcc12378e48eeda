"""What a run-id argument names: a full run id, or a unique prefix of at least MIN_PREFIX
characters (as `git` abbreviates hashes). Empty, blank, too short, unknown and ambiguous ids are
refused with one line naming the id. The store applies this rule (`Store.resolve_ids`); the
commands show RUN_ID_HELP. Imports nothing heavy: it is read while `--help` is built.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgebench.errors import UserError

MIN_PREFIX = 4
RUN_ID_RULE = f"a full run id or a unique prefix of at least {MIN_PREFIX} characters"
RUN_ID_HELP = f"Run id: {RUN_ID_RULE}."
RUN_IDS_HELP = (f"Run ids: each {RUN_ID_RULE}. Every id must match exactly one run, "
                "else nothing is done.")


class RunIdError(UserError):
    """A run-id argument that matches no single run. kind: empty, too-short, unknown, ambiguous."""

    def __init__(self, message: str, spec: str, kind: str):
        super().__init__(message)
        self.spec = spec
        self.kind = kind


def quoted(spec: str) -> str:
    """An argument as it appears in a one-line message: 'abcd', or repr() for control characters."""
    return f"'{spec}'" if spec.isprintable() else repr(spec)


def check_run_id(spec: str) -> None:
    """Refuse what can never name a run, before the store is asked: empty or blank arguments."""
    if not spec.strip():
        what = "empty" if spec == "" else "blank"
        raise RunIdError(f"run id {quoted(spec)} is {what}: give {RUN_ID_RULE}", spec, "empty")


def match_run_id(spec: str, exact: bool, prefixed: Sequence[str], where: str) -> str:
    """The one run id that `spec` names, given whether some run's id equals it and the ids that
    start with it (case-sensitively). `where` names the store in the 'unknown' message."""
    check_run_id(spec)
    if exact:
        return spec
    if len(spec) < MIN_PREFIX:
        raise RunIdError(f"run id {quoted(spec)} is too short: give {RUN_ID_RULE}", spec, "too-short")
    if not prefixed:
        raise RunIdError(f"no run {quoted(spec)} in {where}", spec, "unknown")
    if len(prefixed) > 1:
        shown = ", ".join(sorted(i[:12] for i in prefixed)[:3]) + (", ..." if len(prefixed) > 3 else "")
        raise RunIdError(f"run id prefix {quoted(spec)} is ambiguous: it matches {len(prefixed)} runs "
                         f"({shown}); give more characters", spec, "ambiguous")
    return prefixed[0]

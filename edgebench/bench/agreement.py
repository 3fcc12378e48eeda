"""Agreement of every target's answer with the float reference's, by the run's task."""

from __future__ import annotations

from edgebench.bench.plan import Traits, choose_reference
from edgebench.results.schema import TargetResult
# Classifier scores and top-k live with the classification task; re-exported for their users.
from edgebench.tasks.classification import scores, top_k  # noqa: F401


def result_traits(r: TargetResult) -> Traits:
    return r.precision, (r.artifact or {}).get("format"), r.device


def timed_reference(results: list[TargetResult], native_format: str | None) -> TargetResult | None:
    """The reference among timed results: the rule of plan.choose_reference over those that ran."""
    ok = [r for r in results if r.status == "ok" and (r.answer is not None or r.top1 is not None)]
    return choose_reference(ok, native_format, result_traits)


def mark_agreement(results: list[TargetResult], answers: dict, task, reference,
                   reference_target: str | None = None) -> None:
    """Set agreement (the task's figure, its threshold and verdict), agrees_with_reference and
    is_reference on every result. answers: id(result) -> that target's answer."""
    from edgebench.tasks.base import Broken, agreement_of

    for r in results:
        r.is_reference = reference_target is not None and r.target == reference_target
        answer = answers.get(id(r)) or stored_answer(r)
        if reference is None or answer is None:
            r.agreement, r.agrees_with_reference = None, None
            continue
        if r.is_reference:   # the reference is what agreement is measured against
            r.agreement, r.agrees_with_reference = None, not isinstance(answer, Broken)
            continue
        agreement = agreement_of(task, answer, reference)
        r.agreement = agreement.record()
        r.agrees_with_reference = agreement.passed


def stored_answer(result):
    """A classifier's answer rebuilt from a stored result's top-5 (results of every schema
    version have it), for agreement outside a live run; None for other tasks."""
    from edgebench.tasks.classification import Classified, Ranked

    if result is None or result.task not in (None, "classification"):
        return None
    top5 = result.top5 or ([result.top1] if result.top1 is not None else [])
    return Classified([Ranked(p.index, p.label, p.score) for p in top5]) if top5 else None

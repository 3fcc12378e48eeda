"""Where a target's time goes: its runtime's own per-op profiler over a few inferences.

Profiled sessions are loaded for this alone (profilers slow a runtime down), so no profile is
ever part of a timed figure. Runtimes declare the PROFILE capability; those without one say so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from edgebench.bench.config import RunConfig
from edgebench.bench.plan import attempt, make_plan
from edgebench.errors import UserError
from edgebench.results.schema import OpProfile, OpShare
from edgebench.runtimes.base import PROFILE

WARMUP = 5


def profile(config: RunConfig, inferences: int = 50) -> OpProfile:
    """Profile the one target config names. Example:

    >>> profile(RunConfig(targets=("onnxruntime-fp32",))).ops[0].op_type
    'Conv'
    """
    from edgebench.bench.execute import Photo, feed_inputs
    from edgebench.models.images import default_image
    from edgebench.system import device_info

    if not config.targets or len(config.targets) != 1:
        raise UserError("profile takes exactly one target", "target")
    photo = Photo(Path(config.image) if config.image else default_image())
    plan = make_plan(config)
    planned = plan.targets[0]
    if planned.runnable and PROFILE not in planned.runtime.capabilities:
        raise UserError(f"{planned.name}: {planned.runtime.name}'s Python package exposes no per-op "
                        "profiler that edgebench can read")
    if planned.options is not None:
        planned.options = dataclasses.replace(planned.options, profile=True)

    def work(session):
        x = feed_inputs(plan, session, photo).x   # the run's task builds the inputs, as run does
        for _ in range(WARMUP + inferences):
            session.set_input(x)
            session.invoke()
            session.output()
        return session.op_times(), session.profile_method

    outcome = attempt(planned, work, plan.task.task)
    if outcome.value is None:
        raise UserError(f"{planned.name} could not be profiled: {outcome.status}: {outcome.error}")
    times, method = outcome.value
    return _summary(plan.source.name, planned, times, method, WARMUP + inferences, device_info())


def _summary(model: str, planned, times, method: str, inferences: int, device) -> OpProfile:
    total = sum(t.total_ms for t in times) or 1e-9
    ops = sorted((OpShare(node=t.node, op_type=t.op_type, total_ms=t.total_ms, calls=t.calls,
                          ms_per_inference=t.total_ms / inferences, share=min(1.0, t.total_ms / total))
                  for t in times), key=lambda o: -o.total_ms)
    by_type: dict[str, float] = {}
    for o in ops:
        by_type[o.op_type] = by_type.get(o.op_type, 0.0) + o.share
    return OpProfile(model=model, target=planned.name, runtime_version=planned.runtime.version(),
                     method=f"{method}; {inferences} inferences incl. {WARMUP} warm-up",
                     inferences=inferences, total_ms=total, device=device.model_dump(mode="json"),
                     ops=ops, by_type=dict(sorted(by_type.items(), key=lambda kv: -kv[1])))

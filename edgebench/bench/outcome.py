"""Turning what was measured on one target into its TargetResult: one pure function, so every
path that measures (run, fleet jobs, sweeps) records results the same way."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edgebench.bench.plan import Attempt, PlannedTarget
from edgebench.bench.runner import Measurement
from edgebench.models.zoo import Preprocessing
from edgebench.protocol import Protocol
from edgebench.results.schema import Energy, Prediction, ProtocolInfo, Sustained, TargetResult
from edgebench.tensors import TensorSpec


@dataclass(frozen=True)
class Measured:
    """Everything one timed target produced, beside the raw timings."""

    measurement: Measurement
    protocol: Protocol              # as run: a meter may have lengthened the timed loop
    input_specs: tuple[TensorSpec, ...]
    preprocessing: Preprocessing | None   # of the image input; None when no photo was fed
    preprocessing_why: str
    preprocess_ms: float
    answer: object                  # the task's decoded answer (edgebench.tasks.base.Answer)
    task: object                    # the task that decoded it
    label_set: str
    energy: Energy | None = None
    meter: str | None = None
    energy_window_s: float | None = None
    sustained: Sustained | None = None
    scenario: str = "single-stream"
    streams: int = 1
    loadgen: dict | None = None     # results.schema.LoadGenRecord's fields, when LoadGen ran it


def target_result(planned: PlannedTarget, model: str, protocol: Protocol,
                  outcome: Attempt[Measured]) -> TargetResult:
    """The result of one planned target: measured, or unavailable/failed with the reason."""
    common = dict(
        target=planned.name, runtime=planned.target.runtime,
        runtime_version=planned.runtime.version() if planned.status == "ok" else None,
        precision=planned.target.precision, device=planned.target.device, model=model,
        artifact=_artifact(planned), status=outcome.status, error=outcome.error, sweep=dict(planned.sweep),
        load_s=outcome.load_s, protocol=ProtocolInfo.of(protocol), options=dict(outcome.settings),
        int8_check=planned.artifact.int8_check if planned.artifact is not None else None)
    measured = outcome.value
    if measured is None:
        return TargetResult(**common)
    fields = _measured_fields(measured)
    fields["options"] = {**common["options"], **fields["options"]}
    fields["memory"] = outcome.memory
    return TargetResult(**{**common, **fields})


def _measured_fields(d: Measured) -> dict:
    from edgebench.bench.stats import latency_stats

    m = d.measurement
    first = d.input_specs[0] if d.input_specs else None
    batch = first.shape[0] if first is not None and first.shape else 1
    # How energy was taken belongs with the settings the figures were measured under.
    options = {"meter": d.meter} if d.meter else {}
    if d.energy_window_s:
        options["energy_window_s"] = d.energy_window_s
    return dict(options=options,
        protocol=ProtocolInfo.of(d.protocol),
        input=_input(first) if first is not None else None,
        inputs=[_input(spec) for spec in d.input_specs], preprocess_ms=round(d.preprocess_ms, 3),
        preprocessing=({**dataclasses.asdict(d.preprocessing), "why": d.preprocessing_why}
                       if d.preprocessing is not None else {"name": "none", "why": d.preprocessing_why}),
        labels=d.label_set,
        first_inference_ms=round(m.first_inference_ms, 3) if m.first_inference_ms is not None else None,
        latency_ms=latency_stats(m.samples_ms, [float(np.median(r)) / 1e6 for r in m.repetitions]),
        **({"latency_method": m.latency_method} if m.latency_method else {}),
        **({"fps_method": m.fps_method} if m.fps_method else {}),
        fps=m.fps, batch=batch, images_per_s=m.fps * batch, elapsed_s=m.total_elapsed_s,
        samples_ms=[round(float(v), 6) for v in m.samples_ms], energy=d.energy, sustained=d.sustained,
        scenario=d.scenario, streams=d.streams, offline_mode=m.offline_mode, loadgen=d.loadgen,
        **_answer_fields(d))


def _answer_fields(d: Measured) -> dict:
    """The task's answer as results keep it; a classifier's top-5 also in top1/top5, where
    results of every schema version have it."""
    from edgebench.errors import printable
    from edgebench.tasks.base import summary_of

    record = d.answer.record()
    top5 = [Prediction(**r) for r in record.get("top5", [])]
    return dict(task=d.task.name, answer=record, summary=printable(summary_of(d.task, d.answer))[:400],
                top1=top5[0] if top5 else None, top5=top5)


def _artifact(planned: PlannedTarget) -> dict | None:
    a = planned.artifact
    if a is None:
        return None
    return {"format": a.format, "precision": a.precision, "path": str(a.path), "sha256": a.sha256,
            "toolchain": a.toolchain, **({"quantizer": a.quantizer} if a.quantizer else {})}


def _input(spec: TensorSpec) -> dict:
    q = spec.quantization
    return {"name": spec.name, "shape": list(spec.shape), "layout": spec.layout, "dtype": spec.dtype,
            "quantization": None if q is None else {"scale": q.scale, "zero_point": q.zero_point}}

"""Benchmark results per device: pushed as edgebench runs, listed per model."""

from fastapi import APIRouter
from pydantic import ValidationError

from edgebench.hub import db as hubdb
from edgebench.hub.db import HubRefusal
from edgebench.refs import check_version
from edgebench.hub.routes.deps import Hub, User, model_path, split_path
from edgebench.hub.schema import DeviceResult, PushOut, ResultsPush
from edgebench.results.schema import RunResult, first_problem

router = APIRouter()


@router.get("/api/models/{owner}/{name}/results")
def model_results(owner: str, name: str, hub: Hub) -> list[DeviceResult]:
    with hub.db.session() as s:
        model = hub.db.find_model(s, model_path(owner, name))
        return [DeviceResult.model_validate(hubdb.result_out(r, v)) for r, v in hub.db.results_for(s, model)]


@router.post("/api/results", status_code=201)
def push_results(body: ResultsPush, hub: Hub, user: User) -> PushOut:
    path = model_path(*split_path(body.model))
    version = check_version(body.version)
    rows, skipped = result_rows(body.run, hub.db.artifact_shas(path, version))
    if not rows:
        raise HubRefusal(422, f"no target of run {body.run.run_id} ran a file of "
                              f"{path}@{version}: " + "; ".join(f"{s['target']}: {s['reason']}"
                                                                for s in skipped)[:400])
    added, present = hub.db.add_results(user, path, version, rows)
    return PushOut(model=path, version=version, added=added, already_present=present,
                   skipped=skipped)


def result_rows(document: RunResult | dict, version_shas: set[str]) -> tuple[list[dict], list[dict]]:
    """Rows for the targets that ran one of the version's own files; the rest, with why not."""
    try:
        run = document if isinstance(document, RunResult) else RunResult.model_validate(document)
    except ValidationError as exc:
        raise HubRefusal(422, f"not an edgebench run: {first_problem(exc)}") from None
    rows, skipped = [], []
    for r in run.results:
        sha = (r.artifact or {}).get("sha256")
        if r.status != "ok" or r.latency_ms is None or not r.fps:
            skipped.append({"target": r.target, "reason": f"status {r.status}"})
        elif sha not in version_shas:
            skipped.append({"target": r.target, "reason": "its model file is not one of this version's"})
        else:
            rows.append(_row(run, r))
    return rows, skipped


def _row(run, r) -> dict:
    """The hub's record of one target's result (energy in joules per inference, as measured)."""
    return {"run_id": run.run_id, "target": r.target, "runtime": r.runtime, "precision": r.precision,
            "fingerprint": run.device.fingerprint(), "device": _device_label(run.device, r.device),
            "median_ms": r.latency_ms.median, "fps": r.fps,
            "energy_j": r.energy.j_per_inference if r.energy else None,
            "energy_method": r.energy.method if r.energy else None,
            "document": {"result": r.model_dump(mode="json", exclude={"samples_ms"}),
                         "device": run.device.model_dump(mode="json", exclude={"hostname"}),
                         "run_created": run.created, "edgebench_version": run.edgebench_version,
                         "conditions": [c.model_dump(mode="json") for c in run.conditions]}}


def _device_label(device, target_device: str) -> str:
    """What a result's device is called on the hub: board or CPU, plus the GPU for CUDA targets.
    (No host names: the hub is shared; the fingerprint tells machines apart.)"""
    label = (device.board or {}).get("model") or device.cpu_model
    if target_device.startswith("cuda") and device.gpus:
        label += f" + {device.gpus[0].get('name', 'GPU')}"
    return label[:300]

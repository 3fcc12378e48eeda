"""Results files: JSON (one run as `run --out` writes it, or an export bundle) and CSV.

CSV has one row per target with flat, human-readable columns plus `run_json` and
`target_json`, which carry everything else (raw samples, fingerprint) so a CSV export
imports back without loss. Every file is validated whole before anything is imported.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pydantic import ValidationError

from edgebench.errors import UserError
from edgebench.results.schema import SCHEMA_VERSION, RunResult, TargetResult

CSV_COLUMNS = ("run_id", "created", "run_status", "model", "protocol", "device", "cpu_model",
               "target", "runtime", "runtime_version", "precision", "status", "median_ms", "mean_ms",
               "p90_ms", "p99_ms", "cv", "fps", "energy_method", "j_per_inference", "avg_power_w",
               "top1_label", "top1_score", "agrees_with_reference", "error", "run_json", "target_json")


def dump_json(runs: list[RunResult]) -> str:
    bundle = {"schema_version": SCHEMA_VERSION, "runs": [r.model_dump(mode="json") for r in runs]}
    return json.dumps(bundle, indent=2)


def dump_csv(runs: list[RunResult]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for run in runs:
        run_json = run.model_dump_json(exclude={"results"})
        for r in run.results:
            lat = r.latency_ms
            writer.writerow({
                "run_id": run.run_id, "created": run.created, "run_status": run.status,
                "model": run.model.get("name"), "protocol": r.protocol.name,
                "device": run.device.hostname, "cpu_model": run.device.cpu_model,
                "target": r.target, "runtime": r.runtime, "runtime_version": r.runtime_version,
                "precision": r.precision, "status": r.status,
                "median_ms": lat.median if lat else "", "mean_ms": lat.mean if lat else "",
                "p90_ms": lat.p90 if lat else "", "p99_ms": lat.p99 if lat else "",
                "cv": lat.cv if lat else "", "fps": r.fps if r.fps is not None else "",
                "energy_method": r.energy.method if r.energy else "",
                "j_per_inference": r.energy.j_per_inference if r.energy else "",
                "avg_power_w": r.energy.avg_power_w if r.energy else "",
                "top1_label": r.top1.label if r.top1 else "", "top1_score": r.top1.score if r.top1 else "",
                "agrees_with_reference": "" if r.agrees_with_reference is None else r.agrees_with_reference,
                "error": r.error or "", "run_json": run_json, "target_json": r.model_dump_json()})
    return buffer.getvalue()


def load_runs(path: Path) -> list[RunResult]:
    """Every run in a JSON or CSV results file, validated; UserError naming the first problem."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"results file not found: {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable results file ({exc})") from None
    try:
        if path.suffix.lower() == ".csv" or (text.lstrip()[:1] not in ("{", "[") and "run_id" in text[:200]):
            return _runs_from_csv(text)
        return _runs_from_json(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValidationError as exc:
        raise UserError(f"{path}: not a valid edgebench results file: {_first_error(exc)}") from None
    except (csv.Error, KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: not a valid edgebench results file: {exc}") from None


def _runs_from_json(text: str) -> list[RunResult]:
    data = json.loads(text)
    if isinstance(data, dict) and "runs" in data:
        _check_version(data.get("schema_version"))
        items = data["runs"]
        if not isinstance(items, list):
            raise ValueError("'runs' must be a list")
    elif isinstance(data, dict):
        items = [data]
    elif isinstance(data, list):
        items = data
    else:
        raise ValueError("expected a run object, a list of runs or an export bundle")
    runs = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"run {number}: every run must be a JSON object")
        _check_version(item.get("schema_version"))
        try:
            runs.append(RunResult.model_validate(item))
        except ValidationError as exc:
            raise ValueError(f"run {number}: {_first_error(exc)}") from None
    return runs


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or 'top level'}: {first['msg']}"


def _runs_from_csv(text: str) -> list[RunResult]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"run_id", "run_json", "target_json"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"CSV lacks the columns {', '.join(sorted(missing))}")
    runs: dict[str, RunResult] = {}
    for line, row in enumerate(reader, start=2):
        run_id = row["run_id"]
        if run_id not in runs:
            doc = json.loads(row["run_json"])
            _check_version(doc.get("schema_version"))
            runs[run_id] = RunResult.model_validate({**doc, "results": []})
        if runs[run_id].run_id != run_id:
            raise ValueError(f"line {line}: run_id does not match run_json")
        runs[run_id].results.append(TargetResult.model_validate_json(row["target_json"]))
    if not runs:
        raise ValueError("the CSV has no rows")
    return list(runs.values())


def _check_version(version) -> None:
    if version is None:
        raise ValueError("missing schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise ValueError(f"unsupported schema_version {version!r} (this edgebench reads 1..{SCHEMA_VERSION})")

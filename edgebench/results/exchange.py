"""Results files: JSON (one run as `run --out` writes it, or an export bundle) and CSV.

CSV has one row per target with flat, human-readable columns plus `run_json` and
`target_json`, which carry everything else (raw samples, fingerprint) so a CSV export
imports back without loss; a run with no target is one row with empty target columns.
Whatever export writes, import reads back identically.

Every file is validated whole, by the rules a fresh run is held to (results/schema.py: finite
numbers in range, bounded ids without control characters), before anything is imported, and
strictly: a number written as a string, or a list where an object belongs, is refused rather
than converted, so an import never stores something other than what the file says.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pydantic import ValidationError

from edgebench.errors import UserError
from edgebench.fileio import read_text, shown
from edgebench.results.schema import SCHEMA_VERSION, RunResult, first_problem

MAX_FILE_BYTES = 1 << 30   # a results file larger than 1 GiB is refused before it is read

CSV_COLUMNS = ("run_id", "created", "run_status", "model", "protocol", "device", "cpu_model",
               "target", "runtime", "runtime_version", "precision", "status", "median_ms", "mean_ms",
               "p90_ms", "p99_ms", "cv", "fps", "energy_method", "j_per_inference", "avg_power_w",
               "top1_label", "top1_score", "task", "answer", "agreement", "agrees_with_reference", "error",
               "run_json", "target_json")


def dump_json(runs: list[RunResult]) -> str:
    bundle = {"schema_version": SCHEMA_VERSION, "runs": [r.model_dump(mode="json") for r in runs]}
    return json.dumps(bundle, indent=2, allow_nan=False)   # valid runs hold no NaN/Infinity


def dump_csv(runs: list[RunResult]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for run in runs:
        run_json = run.model_dump_json(exclude={"results"})
        if not run.results:  # a run with no target still gets its row: export drops nothing
            writer.writerow({"run_id": run.run_id, "created": run.created, "run_status": run.status,
                             "model": run.model.get("name"), "device": run.device.hostname,
                             "cpu_model": run.device.cpu_model, "error": run.error or "",
                             "run_json": run_json, "target_json": ""})
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
                "task": r.task or ("classification" if r.top1 else ""), "answer": r.summary or "",
                "agreement": _agreement_cell(r.agreement),
                "agrees_with_reference": "" if r.agrees_with_reference is None else r.agrees_with_reference,
                "error": r.error or "", "run_json": run_json, "target_json": r.model_dump_json()})
    return buffer.getvalue()


def _agreement_cell(agreement: dict | None) -> str:
    """'F1 of boxes at IoU 0.5=0.857 (>= 0.8)': the task's figure against the float reference."""
    if not agreement:
        return ""
    return f"{agreement['metric']}={agreement['value']:g} (>= {agreement['threshold']:g})"


def load_runs(path: Path) -> list[RunResult]:
    """Every run in a JSON or CSV results file, validated; UserError naming the first problem."""
    path = Path(path)
    text = read_text(path, "results file", MAX_FILE_BYTES)
    name = shown(path)
    try:
        if path.suffix.lower() == ".csv" or (text.lstrip()[:1] not in ("{", "[") and "run_id" in text[:200]):
            return _runs_from_csv(text)
        return _runs_from_json(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{name}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise UserError(f"{name}: not a valid edgebench results file: JSON nested too deeply") from None
    except ValidationError as exc:
        raise UserError(f"{name}: not a valid edgebench results file: {first_problem(exc)}") from None
    except (csv.Error, KeyError, TypeError, ValueError, OverflowError) as exc:
        raise UserError(f"{name}: not a valid edgebench results file: {str(exc)[:400]}") from None


def _json(text: str):
    """JSON as the standard allows it: NaN, Infinity and -Infinity are not JSON, and a number too
    large for a double (1e400) is refused rather than read as infinity."""
    def constant(name: str):
        raise ValueError(f"{name} is not a number JSON allows")

    def number(text: str) -> float:
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"number {text[:40]} is too large")
        return value

    return json.loads(text, parse_constant=constant, parse_float=number)


def _runs_from_json(text: str) -> list[RunResult]:
    data = _json(text)
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
            runs.append(_validated(item))
        except ValidationError as exc:
            raise ValueError(f"run {number}: {first_problem(exc)}") from None
    return runs


def _runs_from_csv(text: str) -> list[RunResult]:
    # target_json carries every raw sample: a long run's is megabytes, past csv's default
    # field limit (128 KiB). The file's own size is the limit that matters (MAX_FILE_BYTES).
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))
    reader = csv.DictReader(io.StringIO(text))
    missing = {"run_id", "run_json", "target_json"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"CSV lacks the columns {', '.join(sorted(missing))}")
    documents: dict[str, dict] = {}
    targets: dict[str, list] = {}
    for line, row in enumerate(reader, start=2):
        run_id, run_json, target_json = row["run_id"], row["run_json"], row["target_json"]
        if run_id is None or run_json is None or target_json is None:
            raise ValueError(f"line {line}: the row is missing columns")
        if run_id not in documents:
            doc = _json(run_json)
            if not isinstance(doc, dict):
                raise ValueError(f"line {line}: run_json is not a JSON object")
            _check_version(doc.get("schema_version"))
            if doc.get("run_id") != run_id:
                raise ValueError(f"line {line}: run_id does not match run_json")
            documents[run_id], targets[run_id] = doc, []
        elif _json(run_json) != documents[run_id]:
            raise ValueError(f"line {line}: run_json differs from the run's first row")
        if target_json.strip():   # empty: the row of a run with no target
            targets[run_id].append(_json(target_json))
    if not documents:
        raise ValueError("the CSV has no rows")
    runs = []
    for number, (run_id, doc) in enumerate(documents.items(), start=1):
        try:
            runs.append(_validated({**doc, "results": targets[run_id]}))
        except ValidationError as exc:
            raise ValueError(f"run {number} ({run_id[:12]}): {first_problem(exc)}") from None
    return runs


def _validated(document: dict) -> RunResult:
    # Strict, in JSON mode: JSON arrays may stand for tuples, but "5" is not the number 5.
    return RunResult.model_validate_json(json.dumps(document, allow_nan=False), strict=True)


def _check_version(version) -> None:
    if version is None:
        raise ValueError("missing schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise ValueError(f"unsupported schema_version {version!r} (this edgebench reads 1..{SCHEMA_VERSION})")

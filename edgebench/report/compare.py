"""Compare two runs target by target: ratio of medians and a Mann-Whitney U test on raw samples.

A difference is called significant only when it is both statistically significant (p < alpha)
and larger than a practical threshold: with hundreds of samples per side the test alone flags
the few-percent drift this kind of machine shows between two identical runs (see
benchmarks/RESULTS.md), which is noise, not a regression.

Before comparing, `differences` says what else differs between the two runs. A different model
is refused by default (its 'faster' or 'slower' would be about two models, not a change);
another version of the same model, another device, image or protocol is a warning: comparing
a board with a laptop, or a model's new version with its old one, is what compare is for, but
the reader must know.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from edgebench.results.schema import RunResult

DEFAULT_ALPHA = 0.01
DEFAULT_THRESHOLD = 0.10   # 10%: above the run-to-run drift measured on the project's VM
MAX_THRESHOLD = 10.0       # 10 = 11 times slower; beyond it no regression could ever be seen
COMPARE_FORMAT = "edgebench-compare"
COMPARE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TargetComparison:
    target: str
    baseline_median_ms: float
    candidate_median_ms: float
    ratio: float               # candidate / baseline median; > 1 means the candidate is slower
    p_value: float
    verdict: str               # slower | faster | no significant difference

    @property
    def regression(self) -> bool:
        return self.verdict == "slower"


@dataclass(frozen=True)
class ServerComparison:
    """LoadGen's server scenario on one target in both runs: the highest VALID rate of each (None
    where no rate met the bound) and their ratio (< 1: the candidate serves fewer queries)."""

    target: str
    baseline_qps: float | None
    candidate_qps: float | None
    ratio: float | None
    baseline_p99_ms: float | None = None
    candidate_p99_ms: float | None = None


@dataclass(frozen=True)
class Side:
    """One side of a comparison: which run, of what model, on what device."""

    label: str
    run_id: str = ""
    model: str = ""
    device: str = ""
    created: str = ""


@dataclass(frozen=True)
class Difference:
    """Something other than the targets that differs between the two runs: one line, and
    whether compare refuses it unless told otherwise (only a different model is)."""

    what: str          # model | model version | device | image | protocol
    text: str
    refused: bool = False


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    alpha: float
    threshold: float
    targets: list[TargetComparison]
    only_in_baseline: list[str]
    only_in_candidate: list[str]
    method: str = "two-sided Mann-Whitney U on per-inference latencies (scipy.stats.mannwhitneyu)"
    sides: list[Side] = field(default_factory=list)            # baseline, candidate
    differences: list[Difference] = field(default_factory=list)
    server: list[ServerComparison] = field(default_factory=list)   # LoadGen server runs of both

    @property
    def regressions(self) -> list[TargetComparison]:
        return [t for t in self.targets if t.regression]

    def to_json(self) -> str:
        """What `compare --out` writes (and `report --compare` reads back): every figure, the
        verdicts, and what else differed, so CI can read more than the exit code."""
        document = {"format": COMPARE_FORMAT, "format_version": COMPARE_FORMAT_VERSION, **asdict(self),
                    "regressions": [t.target for t in self.regressions]}
        return json.dumps(document, indent=2, allow_nan=False) + "\n"


def load_comparison(text: str) -> Comparison:
    """A comparison from `compare --out` JSON; ValueError saying what is wrong."""
    from pydantic import TypeAdapter, ValidationError

    from edgebench.results.schema import first_problem

    def constant(name: str):
        raise ValueError(f"{name} is not a number JSON allows")

    data = json.loads(text, parse_constant=constant)
    if not isinstance(data, dict) or data.get("format") != COMPARE_FORMAT:
        raise ValueError(f"not a saved comparison (no \"format\": \"{COMPARE_FORMAT}\")")
    if data.get("format_version") != COMPARE_FORMAT_VERSION:
        raise ValueError(f"unsupported format_version {data.get('format_version')!r} "
                         f"(this edgebench reads {COMPARE_FORMAT_VERSION})")
    fields = {k: v for k, v in data.items() if k not in ("format", "format_version", "regressions")}
    try:
        return TypeAdapter(Comparison).validate_python(fields, strict=False)
    except ValidationError as exc:
        raise ValueError(first_problem(exc)) from None


def check_threshold(value: float) -> float:
    """A practical threshold is a finite fraction from 0 to MAX_THRESHOLD: inf would make every
    change 'no significant difference', NaN every comparison false, a negative one meaningless."""
    if not (math.isfinite(value) and 0.0 <= value <= MAX_THRESHOLD):
        raise ValueError(f"must be a finite number from 0 to {MAX_THRESHOLD:g} (0.10 = 10%), not {value}")
    return value


def check_alpha(value: float) -> float:
    if not (math.isfinite(value) and 1e-9 <= value <= 0.5):
        raise ValueError(f"must be a finite number from 1e-09 to 0.5, not {value}")
    return value


def differences(baseline: RunResult, candidate: RunResult) -> list[Difference]:
    """What differs between two runs besides their targets' figures, in the order a reader needs
    it: model (refused), model version, device, image, protocol (warnings)."""
    from edgebench.results.query import model_identity

    found = []
    a_model, b_model = model_identity(baseline), model_identity(candidate)
    if a_model != b_model:
        found.append(Difference("model", f"different models: {a_model} (baseline) vs {b_model} (candidate)",
                                refused=True))
    elif _model_version(baseline) != _model_version(candidate):
        found.append(Difference("model version", f"different versions of {a_model}: "
                                f"{_model_version(baseline) or '?'} (baseline) vs {_model_version(candidate) or '?'} (candidate)"))
    if baseline.device.fingerprint() != candidate.device.fingerprint():
        found.append(Difference("device", f"different devices: {_device(baseline)} (baseline) vs "
                                f"{_device(candidate)} (candidate)"))
    if _image(baseline) != _image(candidate):
        found.append(Difference("image", f"different images: {_image_name(baseline)} (baseline) vs "
                                f"{_image_name(candidate)} (candidate)"))
    protocols = _protocol_changes(baseline, candidate)
    if protocols:
        found.append(Difference("protocol", f"different protocols: {protocols}"))
    return found


def _model_version(run: RunResult) -> str | None:
    """What tells two versions of one model apart: a hub version, else the file's or weights' hash."""
    m = run.model
    if m.get("source") == "hub":
        return str(m.get("version"))
    digest = m.get("sha256") or m.get("weights_sha256")
    return str(digest)[:12] if digest else None


def _device(run: RunResult) -> str:
    return f"{run.device.hostname} [{run.device.fingerprint()[:6]}]"


def _image(run: RunResult):
    return run.image.get("sha256") or run.image.get("path")


def _image_name(run: RunResult) -> str:
    from pathlib import PurePath

    path = run.image.get("path")
    name = PurePath(str(path)).name if path else "?"
    digest = run.image.get("sha256")
    return f"{name} ({str(digest)[:8]})" if digest else name


def _protocol_changes(baseline: RunResult, candidate: RunResult) -> str:
    """'classic (baseline) vs rigorous (candidate) for litert-int8, torch-fp32', for the targets
    both ran; '' where they were timed alike."""
    a = {r.target: r.protocol for r in baseline.results if r.status == "ok"}
    changed: dict[tuple[str, str], list[str]] = {}
    for r in candidate.results:
        before = a.get(r.target)
        if r.status == "ok" and before is not None and before != r.protocol:
            key = (_protocol_text(before), _protocol_text(r.protocol))
            changed.setdefault(key, []).append(r.target)
    return "; ".join(f"{old} (baseline) vs {new} (candidate) for {', '.join(dict.fromkeys(targets))}"
                     for (old, new), targets in changed.items())


def _protocol_text(p) -> str:
    return f"{p.name} ({p.repetitions} x >= {p.runs} runs)"


def compare_runs(baseline: RunResult, candidate: RunResult, alpha: float = DEFAULT_ALPHA,
                 threshold: float = DEFAULT_THRESHOLD, baseline_label: str | None = None,
                 candidate_label: str | None = None) -> Comparison:
    import numpy as np
    from scipy.stats import mannwhitneyu

    check_alpha(alpha)
    check_threshold(threshold)
    ok_a = {r.target: r for r in baseline.results if r.status == "ok" and r.samples_ms}
    ok_b = {r.target: r for r in candidate.results if r.status == "ok" and r.samples_ms}
    rows = []
    for target in [t for t in ok_a if t in ok_b]:
        a, b = np.asarray(ok_a[target].samples_ms), np.asarray(ok_b[target].samples_ms)
        ratio = float(np.median(b) / np.median(a))
        p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
        verdict = "no significant difference"
        if p < alpha and abs(ratio - 1) > threshold:
            verdict = "slower" if ratio > 1 else "faster"
        rows.append(TargetComparison(target, float(np.median(a)), float(np.median(b)), ratio, p, verdict))
    labels = (baseline_label or baseline.run_id[:12], candidate_label or candidate.run_id[:12])
    sides = [Side(label, run.run_id, str(run.model.get("name")), _device(run), run.created)
             for label, run in zip(labels, (baseline, candidate))]
    return Comparison(labels[0], labels[1], alpha, threshold, rows, sorted(set(ok_a) - set(ok_b)),
                      sorted(set(ok_b) - set(ok_a)), sides=sides, differences=differences(baseline, candidate),
                      server=compare_server(baseline, candidate))


def compare_server(baseline: RunResult, candidate: RunResult) -> list[ServerComparison]:
    """Targets both runs measured in LoadGen's server scenario: their highest VALID rates."""
    def served(run: RunResult) -> dict:
        return {r.target: r.loadgen for r in run.results
                if r.status == "ok" and r.loadgen is not None and r.loadgen.scenario == "server"}

    a, b = served(baseline), served(candidate)
    rows = []
    for target in [t for t in a if t in b]:
        qa, qb = a[target].server_qps, b[target].server_qps
        rows.append(ServerComparison(target, qa, qb, qb / qa if qa and qb is not None else None,
                                     a[target].server_p99_ms, b[target].server_p99_ms))
    return rows

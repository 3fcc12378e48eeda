"""The check every int8 variant gets as it is built: on calibration images held back from
calibration, each CPU runtime that runs the int8 file is compared with the float file it was
quantized from. Recorded in the variant's metadata; `run` warns about a target whose recorded
agreement is below AGREEMENT_GOAL.

The float reference runs on the first of those runtimes (the quantizer's own: ONNX Runtime for
ONNX, LiteRT for TFLite). Different runtimes can give one int8 file different answers (their
integer kernels differ, e.g. in int16 saturation on CPUs without VNNI), hence one entry per
runtime, measured on the machine that built the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

AGREEMENT_GOAL = 0.95   # the (and MLPerf-like) bar for top-1 agreement with fp32


def check_int8(fmt: str, int8_path: Path, float_path: Path, samples: list[np.ndarray],
               runtimes: list[str]) -> dict:
    """{"samples", "against", "by_runtime": {runtime: {"top1_agreement", "mean_abs_logit_error",
    "version"} or {"error"}}, "method"} for the int8 file on `runtimes` (registry keys)."""
    from edgebench.models.artifact import Artifact
    from edgebench.runtimes.base import load_runtime

    result = {"samples": len(samples), "against": f"{fmt}-fp32", "by_runtime": {},
              "method": "held-back calibration images (never calibrated on); top-1 agreement and "
                        "mean |logit error| of the int8 file against the float file it was quantized "
                        "from, one inference per sample"}
    if not samples or not runtimes:
        return result
    reference = None
    for key in runtimes:
        runtime = load_runtime(key)
        try:
            if reference is None:
                reference = _logits(runtime, Artifact(Path(float_path), fmt, "fp32", "", "check"), samples)
                result["reference_runtime"] = runtime.name
            logits = _logits(runtime, Artifact(Path(int8_path), fmt, "int8", "", "check"), samples)
        except Exception as exc:  # noqa: BLE001 - one runtime failing must not fail the build
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            result["by_runtime"][runtime.name] = {
                "error": f"{type(exc).__name__}: {lines[-1][:300] if lines else 'no message'}"}
            continue
        agreeing = int(np.sum(logits.argmax(1) == reference.argmax(1)))
        result["by_runtime"][runtime.name] = {
            "version": runtime.version(),
            "top1_agreement": round(agreeing / len(samples), 4),
            "top1_agreement_ci95": [round(v, 4) for v in agreement_interval(agreeing, len(samples))],
            "mean_abs_logit_error": round(float(np.mean(np.abs(logits - reference))), 4)}
    return result


def agreement_interval(agreeing: int, samples: int) -> tuple[float, float]:
    """Exact (Clopper-Pearson) 95% confidence interval of an agreement fraction."""
    from scipy.stats import binomtest

    ci = binomtest(agreeing, samples).proportion_ci(0.95)
    return float(ci.low), float(ci.high)


def _logits(runtime, artifact, samples: list[np.ndarray]) -> np.ndarray:
    """Dequantized raw outputs (logits) for float NCHW samples, one inference each."""
    from edgebench.models.images import to_input

    options = runtime.options_type.build(runtime.name, {}, device="cpu", precision=artifact.precision)
    session = runtime.load(artifact, options)
    try:
        rows = []
        for x in samples:
            session.set_input(to_input(x, session.input_spec))
            session.invoke()
            y = np.asarray(session.output(), dtype=np.float64).reshape(-1)
            q = session.output_spec.quantization
            if q is not None and np.dtype(session.output_spec.dtype).kind in "iu":
                y = q.scale * (y - q.zero_point)
            rows.append(y)
        return np.stack(rows)
    finally:
        session.close()


def assess(check: dict | None, runtime: str) -> tuple[str, str] | None:
    """("warning", line) when the recorded agreement of `runtime` is below the goal beyond doubt
    (its whole 95% confidence interval is), ("note", line) when it is below the goal but the
    held-back sample is too small to tell; None when it meets the goal or nothing was recorded."""
    entry = (check or {}).get("by_runtime", {}).get(runtime)
    if not entry or "top1_agreement" not in entry or entry["top1_agreement"] >= AGREEMENT_GOAL:
        return None
    low, high = entry.get("top1_agreement_ci95") or agreement_interval(
        round(entry["top1_agreement"] * check["samples"]), check["samples"])
    measured = (f"its int8 model agreed with the float model on {entry['top1_agreement']:.0%} of "
                f"{check['samples']} held-back calibration samples when prepared (95% CI {low:.0%}-{high:.0%}, "
                f"goal {AGREEMENT_GOAL:.0%}; mean |logit error| {entry['mean_abs_logit_error']:.2f})")
    if high < AGREEMENT_GOAL:
        return "warning", measured + ": it is not the same model, and its speed is not that of the float one"
    return "note", measured + ": too few samples to tell (prepare with --calibration and more images)"


def warning_for(check: dict | None, runtime: str) -> str | None:
    """The line `run` shows for a target (see assess), prefixed with its level."""
    found = assess(check, runtime)
    return None if found is None else f"{found[0]}: {found[1]}"

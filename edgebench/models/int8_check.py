"""The check every int8 variant gets as it is built: on calibration images held back from
calibration, each CPU runtime that runs the int8 file is compared with the float file it was
quantized from. Recorded in the variant's metadata; `run` warns about a target whose recorded
agreement is below AGREEMENT_GOAL.

Agreement is counted on the samples the float model is decisive about (its top logit at least
DECISIVE_MARGIN above the runner-up, i.e. the top class at least e times as likely): calibration
photos need not show an ImageNet class, and where the float model itself hesitates between
near-equal classes (a lawn, a texture) int8 rounding (mean |logit error| ~0.2 for a good recipe)
flips its top-1, which says nothing about the quantization. On the 300 labelled dev images every
disagreement of the good recipes was on an image with a margin under 0.8; on the shipped
held-back crops they agree on every decisive sample (11 of 11) but on only 75-87% of all, while
the saturating recipe 3 file on OpenVINO agreed on 8 of 11 decisive ones.

The float reference runs on the first of those runtimes (the quantizer's own: ONNX Runtime for
ONNX, LiteRT for TFLite). Different runtimes can give one int8 file different answers (their
integer kernels differ, e.g. in int16 saturation on CPUs without VNNI), hence one entry per
runtime, measured on the machine that built the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

AGREEMENT_GOAL = 0.95   # the (and MLPerf-like) bar for top-1 agreement with fp32
DETECTION_GOAL = 0.8    # a detector's mean box F1 against fp32: the detection task's MIN_F1
DECISIVE_MARGIN = 1.0   # float top-1 logit minus runner-up: a sample that can judge agreement


def check_int8(fmt: str, int8_path: Path, float_path: Path, samples: list[np.ndarray],
               runtimes: list[str], task: str | None = None) -> dict:
    """{"samples", "decisive_samples", "against", "by_runtime": {runtime: {"top1_agreement" (on
    the decisive samples), "top1_agreement_ci95", "top1_agreement_all_samples",
    "mean_abs_logit_error" (all samples), "version"} or {"error"}}, "method"} for the int8 file
    on `runtimes` (registry keys)."""
    if task == "detection":
        return check_detector_int8(fmt, int8_path, float_path, samples, runtimes)
    result = {"samples": len(samples), "against": f"{fmt}-fp32", "by_runtime": {},
              "method": "held-back calibration images (never calibrated on), one inference per sample: "
                        "top-1 agreement of the int8 file with the float file it was quantized from, on "
                        f"the samples whose float top logit leads the runner-up by >= {DECISIVE_MARGIN:g}, "
                        "with its exact 95% "
                        "confidence interval; mean |logit error| over all samples"}
    if not samples or not runtimes:
        return result

    def compare(logits, reference) -> dict:
        same = logits.argmax(1) == reference.argmax(1)
        top_two = np.sort(reference, axis=1)[:, -2:]
        decisive = top_two[:, 1] - top_two[:, 0] >= DECISIVE_MARGIN
        result["decisive_samples"] = int(decisive.sum())
        entry = {"top1_agreement_all_samples": round(float(same.mean()), 4),
                 "mean_abs_logit_error": round(float(np.mean(np.abs(logits - reference))), 4)}
        if decisive.any():
            agreeing = int(same[decisive].sum())
            entry["top1_agreement"] = round(agreeing / int(decisive.sum()), 4)
            entry["top1_agreement_ci95"] = [round(v, 4) for v in agreement_interval(agreeing, int(decisive.sum()))]
        return entry

    return on_each_runtime(result, runtimes, _artifacts(fmt, int8_path, fmt, float_path),
                           lambda runtime, artifact: _logits(runtime, artifact, samples), compare)


def on_each_runtime(result: dict, runtimes: list[str], artifacts: tuple, answers, compare) -> dict:
    """The loop every int8 check shares: on each runtime (registry keys), the int8 file's answers
    compared with the float file's (answered once, on the first runtime: the quantizer's own);
    result["by_runtime"][name] = {"version", **compare(int8 answers, float answers)}, or the
    runtime's failure in one line (one runtime failing must not fail the build)."""
    from edgebench.runtimes.base import load_runtime

    float_artifact, int8_artifact = artifacts
    reference = None
    for key in runtimes:
        runtime = load_runtime(key)
        try:
            if reference is None:
                reference = answers(runtime, float_artifact)
                result["reference_runtime"] = runtime.name
            got = answers(runtime, int8_artifact)
        except Exception as exc:  # noqa: BLE001 - reported per runtime
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            result["by_runtime"][runtime.name] = {
                "error": f"{type(exc).__name__}: {lines[-1][:300] if lines else 'no message'}"}
            continue
        result["by_runtime"][runtime.name] = {"version": runtime.version(), **compare(got, reference)}
    return result


def _artifacts(int8_format: str, int8_path: Path, float_format: str, float_path: Path) -> tuple:
    """(the float file, the int8 file) as artifacts to check."""
    from edgebench.models.artifact import Artifact

    return (Artifact(Path(float_path), float_format, "fp32", "", "check"),
            Artifact(Path(int8_path), int8_format, "int8", "", "check"))


def check_detector_int8(fmt: str, int8_path: Path, float_path: Path, samples: list[np.ndarray],
                        runtimes: list[str]) -> dict:
    """The detection task's agreement (F1 of boxes matched at IoU 0.5, tasks/detection.py) of the
    int8 file with the float file on each sample, per runtime: {"samples", "samples_with_objects",
    "against", "by_runtime": {runtime: {"box_agreement" (mean F1 over the samples where either
    side finds an object), "box_agreement_min", "mean_iou", "version"} or {"error"}}, "method"}.
    A sample where neither side finds anything agrees trivially and is not counted."""
    result = {"samples": len(samples), "against": f"{fmt}-fp32", "by_runtime": {}, "task": "detection",
              "method": "held-back calibration images (never calibrated on), one inference per sample: the "
                        "detection task's agreement (F1 of boxes matched at IoU 0.5) of the int8 file with "
                        "the float file it was quantized from, averaged over the samples where either finds "
                        f"an object; flagged below {DETECTION_GOAL:g}"}
    if not samples or not runtimes:
        return result

    def compare(answers, reference) -> dict:
        entry = box_agreement(answers, reference)
        result["samples_with_objects"] = entry["samples_with_objects"]
        return entry

    return on_each_runtime(result, runtimes, _artifacts(fmt, int8_path, fmt, float_path),
                           lambda runtime, artifact: _detections(runtime, artifact, samples), compare)


def box_agreement(answers: list, references: list) -> dict:
    """Mean and least F1 (and mean IoU of the matches) of answers against references, over the
    pairs where either side reports an object."""
    from edgebench.tasks.detection import Detection

    from edgebench.tasks.base import Broken

    task = Detection()
    f1, iou = [], []
    for a, r in zip(answers, references):
        if isinstance(a, Broken) or isinstance(r, Broken):   # NaN or infinity: no box can agree
            f1.append(0.0)
            iou.append(0.0)
        elif a.objects or r.objects:
            agreement = task.agreement(a, r)
            f1.append(float(agreement.value))
            iou.append(float(agreement.figures["mean_iou"]))
    if not f1:
        return {"samples_with_objects": 0}
    return {"samples_with_objects": len(f1), "box_agreement": round(float(np.mean(f1)), 4),
            "box_agreement_min": round(min(f1), 4), "mean_iou": round(float(np.mean(iou)), 4)}


def _detections(runtime, artifact, samples: list[np.ndarray]) -> list:
    """The detection task's answers for float NCHW samples, one inference each."""
    from edgebench.models.images import to_input
    from edgebench.tasks.base import Broken, Context, nonfinite
    from edgebench.tasks.detection import Detection
    from edgebench.tensors import as_tuple, output_specs

    task = Detection()
    options = runtime.options_type.build(runtime.name, {}, device="cpu", precision=artifact.precision)
    session = runtime.load(artifact, options)
    try:
        specs = output_specs(session)   # a raw head, or post-processed boxes/classes/scores/count
        context = Context(input_size=session.input_spec.image_size)
        answers = []
        for x in samples:
            session.set_input(to_input(x, session.input_spec))
            session.invoke()
            outputs = tuple(np.asarray(y) for y in as_tuple(session.output()))
            broken = nonfinite(outputs, specs)
            answers.append(Broken(broken) if broken else task.decode(outputs, specs, context))
        return answers
    finally:
        session.close()


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
    if entry and "box_agreement" in entry:
        return _assess_boxes(check, entry)
    agreed = agreement_fraction(entry)
    if agreed is None or agreed >= AGREEMENT_GOAL:
        return None
    counted = check.get("decisive_samples", check["samples"])
    low, high = entry.get("top1_agreement_ci95") or entry.get("agreement_ci95") or agreement_interval(
        round(agreed * counted), counted)
    measured = (f"its int8 model agreed with the float model on {agreed:.0%} of "
                f"{counted} held-back calibration samples when prepared (95% CI {low:.0%}-{high:.0%}, "
                f"goal {AGREEMENT_GOAL:.0%}; {error_text(check, entry)})")
    if high < AGREEMENT_GOAL:
        return "warning", measured + ": it is not the same model, and its speed is not that of the float one"
    return "note", measured + ": too few samples to tell (prepare with --calibration and more images)"


def _assess_boxes(check: dict, entry: dict) -> tuple[str, str] | None:
    """A detector's check: ("warning", line) when its int8 boxes agree with the float model's
    below DETECTION_GOAL (mean F1 over the held-back samples with objects)."""
    if entry["box_agreement"] >= DETECTION_GOAL:
        return None
    return "warning", (f"its int8 model's boxes agreed with the float model's at F1 {entry['box_agreement']:.2f} "
                       f"(least {entry['box_agreement_min']:.2f}) on {entry['samples_with_objects']} held-back "
                       f"calibration samples with objects when prepared (goal {DETECTION_GOAL:g}): it is not "
                       "the same model, and its speed is not that of the float one")


def detection_line(check: dict, entry: dict) -> str:
    """One line of `models` describing a detector's recorded check on one runtime."""
    if "box_agreement" not in entry:
        return f"none of {check['samples']} held-back samples shows an object to either model"
    return (f"boxes agree with {check['against']} at F1 {entry['box_agreement']:.2f} (least "
            f"{entry['box_agreement_min']:.2f}, mean IoU {entry['mean_iou']:.2f}) on the "
            f"{entry['samples_with_objects']} held-back samples with objects (of {check['samples']})")


def agreement_fraction(entry: dict | None) -> float | None:
    """The recorded fraction of agreeing samples: top-1 agreement (a classifier), or the fraction
    on which the task's own agreement passed (another task: a user's detector); None if none."""
    if not entry:
        return None
    return entry.get("top1_agreement", entry.get("agreement"))


def error_text(check: dict, entry: dict) -> str:
    """The supporting figure: mean |logit error|, or the task's mean agreement figure."""
    if "mean_abs_logit_error" in entry:
        return f"mean |logit error| {entry['mean_abs_logit_error']:.2f}"
    return f"mean {check.get('metric', 'agreement figure')} {entry.get('mean_figure', float('nan')):.2f}"


def warning_for(check: dict | None, runtime: str) -> str | None:
    """The line `run` shows for a target (see assess), prefixed with its level."""
    found = assess(check, runtime)
    return None if found is None else f"{found[0]}: {found[1]}"

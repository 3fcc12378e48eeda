"""The run screen (issue 10): fastest first with the speed-up over the float reference, whether
the ranking holds, reasons below the table, load and first-inference times, what was inferred
about a user's model; and the bugs seen on it, each through the real CLI where it is a CLI bug."""

from __future__ import annotations

import io
import json
import os

import pytest
from rich.console import Console

from edgebench.results.schema import (DeviceInfo, LatencyStats, Prediction, ProtocolInfo,
                                      ReferencePrediction, RunResult, SkippedTarget, TargetResult)
from tests.conftest import in_terminal, run_cli

CLASSIC = ProtocolInfo(name="classic", warmup=1, settle_s=1.0, runs=250)
RIGOROUS = ProtocolInfo(name="rigorous", warmup=50, warmup_s=2.0, settle_s=1.0, runs=1000,
                        min_duration_s=10.0, repetitions=3)
DEVICE = DeviceInfo(hostname="bench-host", cpu_model="Test CPU", cores_physical=4, cores_logical=8,
                    arch="x86_64", os="Linux", kernel="6", memory_gb=8.0, python="3.11", toolchain={})


def _ok(target, precision, median, ci, cv=0.02, label="chickadee", protocol=CLASSIC, reps=()):
    lat = LatencyStats(median=median, mean=median, std=median * cv, cv=cv, p90=median, p99=median * 1.1,
                       min=median * 0.9, max=median * 1.2, ci95_median=ci, repetition_medians=list(reps))
    return TargetResult(target=target, runtime=target.split("-")[0], runtime_version="1.0",
                        precision=precision, model="m", status="ok", protocol=protocol,
                        latency_ms=lat, fps=1000 / median, load_s=0.5, first_inference_ms=median * 3,
                        options={"threads": 4}, top1=Prediction(index=19, label=label, score=0.9))


def _run(results, reference="torch-fp32", timed=True, skipped=()):
    run = RunResult(run_id="r" * 32, created="2026-11-25T00:00:00+00:00", edgebench_version="0",
                    device=DEVICE, model={"name": "mobilenet_v2", "source": "zoo"}, image={},
                    results=results, skipped=[SkippedTarget(target=t, reason=r) for t, r in skipped])
    if reference:
        ref = next((r for r in results if r.target == reference), None)
        top1 = ref.top1 if ref else Prediction(index=19, label="chickadee", score=0.99)
        run.reference = ReferencePrediction(target=reference, top1=top1, timed=timed)
        run.reference_target = reference
    from edgebench.bench.agreement import mark_agreement

    from edgebench.tasks import get_task
    from edgebench.tasks.classification import Classified, Ranked

    top1 = run.reference.top1 if run.reference else None
    mark_agreement(run.results, {}, get_task("classification"),
                   Classified([Ranked(top1.index, top1.label, top1.score)]) if top1 else None,
                   reference if timed else None)
    return run


def _screen(run, monkeypatch) -> str:
    from edgebench.cli import run_screen

    console = Console(width=250, record=True, file=open(os.devnull, "w"))
    monkeypatch.setattr(run_screen, "console", console)
    run_screen.print_run(run)
    return console.export_text()


def test_targets_are_sorted_fastest_first_with_speedup_vs_reference(monkeypatch):
    run = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1)), _ok("litert-int8", "int8", 2.0, (1.9, 2.1)),
                _ok("onnxruntime-fp32", "fp32", 5.0, (4.9, 5.1))])
    text = _screen(run, monkeypatch)
    order = [name for name in ("litert-int8", "onnxruntime-fp32", "torch-fp32") if name in text]
    positions = [text.index(name) for name in order]
    assert positions == sorted(positions), text
    assert "x vs ref" in text and "5.00x" in text and "2.00x" in text and "1.00x" in text
    assert "fastest: litert-int8, 2.50x the speed of onnxruntime-fp32" in text
    assert "load s" in text and "first ms" in text and "threads" in text
    assert "4 cores / 8 threads" in text   # the device's cores in the title


def test_overlapping_confidence_intervals_say_the_ranking_is_not_supported(monkeypatch):
    run = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1)), _ok("openvino-fp32", "fp32", 10.2, (10.05, 10.35))])
    text = _screen(run, monkeypatch)
    assert "ranking not supported by the data" in text
    assert "torch-fp32 / openvino-fp32" in text and "--protocol rigorous" in text


def test_high_cv_is_information_beside_a_ranking_its_intervals_support(monkeypatch):
    run = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1), cv=0.25), _ok("litert-int8", "int8", 2.0, (1.9, 2.1))])
    text = _screen(run, monkeypatch)
    assert "fastest: litert-int8" in text and "CV above 10% for torch-fp32" in text
    assert "not supported" not in text


def test_rigorous_tables_show_the_ci_and_repetition_medians(monkeypatch):
    run = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1), protocol=RIGOROUS, reps=(9.95, 10.0, 10.05)),
                _ok("litert-int8", "int8", 2.0, (1.9, 2.1), protocol=RIGOROUS, reps=(2.0, 2.01, 1.99))])
    text = _screen(run, monkeypatch)
    assert "95% CI of median ms" in text and "9.900-10.100" in text
    assert "9.950, 10.000, 10.050" in text
    assert "rerun with --protocol rigorous" not in text


def test_reasons_are_listed_below_not_in_the_cv_column_and_markup_is_escaped(monkeypatch):
    unavailable = TargetResult(target="keras-fp32", runtime="keras", runtime_version=None, precision="fp32",
                               model="m", status="unavailable", protocol=CLASSIC,
                               error="keras not installed (pip install 'edgebench[keras]')")
    run = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1)), unavailable],
               skipped=[("edgetpu-int8", "libedgetpu.so.1 [std] is not installed")])
    text = _screen(run, monkeypatch)
    assert "keras-fp32 unavailable: keras not installed (pip install 'edgebench[keras]')" in text
    assert "libedgetpu.so.1 [std] is not installed" in text
    table = text.split("harness")[0].split("median/p90/p99")[0]
    assert "keras-fp32" not in table    # not a row with dashes and a reason in the CV column


def test_an_int8_target_alone_is_checked_against_an_untimed_float_reference(monkeypatch):
    run = _run([_ok("litert-int8", "int8", 2.0, (1.9, 2.1), label="junco")], timed=False)
    text = _screen(run, monkeypatch)
    assert "reference (float): torch-fp32, one untimed inference" in text
    assert "warning: litert-int8 says junco 0.900, the float reference says chickadee (0.990)" in text
    assert run.results[0].is_reference is False and run.results[0].agrees_with_reference is False
    assert "x vs ref" not in text   # no timed reference: no speed-up claimed


@pytest.mark.slow
def test_int8_alone_gets_a_float_reference_from_a_real_untimed_inference(coral, tmp_path):
    out_path = tmp_path / "r.json"
    out = run_cli("run", "--image", str(coral / "bird.bmp"), "--targets", "litert-int8", "--runs", "10",
                  "--settle", "0", "--no-save", "--out", str(out_path))
    assert out.returncode == 0, out.stderr
    data = json.loads(out_path.read_text())
    assert data["reference"]["target"] == "torch-fp32" and data["reference"]["timed"] is False
    assert data["reference"]["top1"]["label"] == "chickadee"
    (litert,) = data["results"]
    assert litert["is_reference"] is False and litert["agrees_with_reference"] is True
    assert litert["load_s"] > 0 and litert["first_inference_ms"] > 0
    assert litert["options"]["threads"] >= 1 and litert["options"]["delegate"].startswith("XNNPACK")
    assert "one untimed inference" in out.stdout


@pytest.mark.slow
def test_a_users_model_says_what_was_inferred(coral):
    out = run_cli("run", "--model", str(coral / "mobilenet_v2_1.0_224_quant.tflite"), "--image",
                  str(coral / "bird.bmp"), "--runs", "5", "--settle", "0", "--no-save")
    assert out.returncode == 0, out.stderr
    flat = " ".join(out.stdout.split())
    assert "inferred from litert-int8: input " in flat and "uint8 NHWC 1x224x224x3" in flat   # named first
    assert "normalisation inception (the quantized input encodes" in flat
    assert "ImageNet-1k with 'background' first" in flat
    assert "no float target ran for this model" in flat   # Coral's file is int8 only
    assert "not run here (default selection" in flat      # and says why the others did not run
    # one line for the targets that read no format/precision the file is in, not one per target
    assert flat.count("has no model in a format and precision they read") == 1, flat


@pytest.mark.slow
def test_the_settings_a_session_used_are_what_the_result_records(tmp_path, coral):
    out_path = tmp_path / "r.json"
    out = run_cli("run", "--image", str(coral / "bird.bmp"), "--targets", "torch-fp32,openvino-fp32",
                  "--torch-mode", "eager", "--threads", "1", "--runs", "5", "--settle", "0", "--no-save",
                  "--out", str(out_path))
    assert out.returncode == 0, out.stderr
    by = {r["target"]: r for r in json.loads(out_path.read_text())["results"]}
    assert by["torch-fp32"]["options"] == {"threads": 1, "mode": "eager"} | {
        k: v for k, v in by["torch-fp32"]["options"].items() if k == "meter"}
    assert by["openvino-fp32"]["options"]["threads"] == 1
    assert by["openvino-fp32"]["options"]["inference_precision_hint"] == "f32"


def _run_in_terminal(*args: str, env: dict | None = None) -> str:
    """The CLI under a pseudo-terminal, as a user sees it: live displays render for real."""
    return in_terminal(*args, env=env)[1]


@pytest.mark.slow
def test_terminal_run_has_no_native_log_lines_and_no_frozen_counters(coral):
    text = _run_in_terminal("run", "--image", str(coral / "bird.bmp"), "--targets", "litert-int8,litert-fp32",
                            "--runs", "30", "--settle", "0", "--no-save")
    assert "chickadee" in text
    assert "XNNPACK delegate" not in text      # LiteRT's native INFO line is silenced at fd level
    # the old display's frozen counters: "building ... 0/?" and "models prepared 1/1"
    assert "0/?" not in text and "models prepared" not in text


def test_run_help_lists_every_choice():
    out = run_cli("run", "--help", env={"COLUMNS": "250"})
    flat = " ".join(out.stdout.split())
    for choice in ("auto|none|rated|rapl|nvml|jetson", "classic|rigorous", "auto|host|device",
                   "auto|frozen|graph|compile|eager"):
        assert choice in flat.replace(" ", ""), choice


def test_missing_keras_is_reported_with_its_extra_in_brackets(tmp_path):
    # keras hidden from this child process: find_spec("keras") answers None
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['keras'] = None\n")
    env = {"PYTHONPATH": str(tmp_path)}
    out = run_cli("targets", env=env | {"COLUMNS": "250"})
    assert "pip install 'edgebench[keras]'" in out.stdout
    run = run_cli("run", "--targets", "keras-fp32", "--runs", "2", "--settle", "0", "--no-save", env=env)
    assert run.returncode == 2 and "pip install 'edgebench[keras]'" in " ".join(run.stderr.split())


def test_help_texts_are_plain_text_not_markup():
    out = run_cli("run", "--help", env={"COLUMNS": "250"})
    assert "hub://owner/name[@version]" in " ".join(out.stdout.split())


@pytest.mark.slow
def test_a_first_run_on_an_empty_cache_shows_the_conversion_step_by_step(coral, tmp_path):
    """Issue 10: first-run preparation showed a frozen `building ... 0/?` for ~30 s."""
    import re

    text = _run_in_terminal("run", "--image", str(coral / "bird.bmp"), "--targets", "onnxruntime-fp32",
                            "--runs", "10", "--settle", "0", "--no-save",
                            env={"EDGEBENCH_CACHE_DIR": str(tmp_path / "empty-cache")})
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)   # the terminal's control sequences
    assert "chickadee" in screen, screen[-3000:]
    assert "first run: converting, cached afterwards" in screen
    assert "step 1/" in screen
    # an elapsed-time counter on the preparation line, counting while the converter works
    elapsed = set(re.findall(r"first run: converting, cached afterwards - step 1/\d[^\r\n]*? (\d+:\d\d:\d\d)",
                             screen))
    assert len(elapsed) >= 2, elapsed
    assert "prepared the model's variants in" in screen
    assert "0/?" not in screen and "models prepared" not in screen


def test_the_accuracy_table_prints_bracketed_user_text_literally(coral, tmp_path):
    """Issue 10: rich markup ate text in brackets. A user's model file and image folder whose
    names hold "[...]" reach the accuracy table's title; they must print as given."""
    import shutil

    images = tmp_path / "val [bold]set[/bold]"
    (images / "chickadee").mkdir(parents=True)
    shutil.copy(coral / "bird.bmp", images / "chickadee")
    model = tmp_path / "models[red]" / "coral [int8].tflite"
    model.parent.mkdir()
    shutil.copy(coral / "mobilenet_v2_1.0_224_quant.tflite", model)
    out = run_cli("accuracy", "--images", str(images), "--model", str(model), "--targets", "litert-int8",
                  env={"COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    flat = " ".join(out.stdout.split())
    assert f"coral [int8]: accuracy on 1 labelled images in {images}" in flat
    assert "litert-int8" in flat and "100.0" in flat


def test_single_stream_shows_p90_beside_the_median_as_mlperf_reports_it(monkeypatch):
    run = _run([_ok("litert-int8", "int8", 2.0, (1.9, 2.1))])
    run.results[0].latency_ms = run.results[0].latency_ms.model_copy(update={"p90": 2.345})
    text = _screen(run, monkeypatch)
    header = next(line for line in text.splitlines() if "median ms" in line)
    assert header.index("median ms") < header.index("p90 ms") < header.index("p99 ms")
    assert "2.345" in text and "p90: MLPerf's single-stream figure" in " ".join(text.split())


def _energy(j_per_inference=0.01):
    from edgebench.results.schema import Energy

    return Energy(method="rated 2.5 W x time (not measured)", joules=1.0, seconds=0.4, inferences=100,
                  j_per_inference=j_per_inference, inferences_per_j=1 / j_per_inference, avg_power_w=2.5)


def _screen_with(run, monkeypatch, **kwargs) -> str:
    import io

    from edgebench.cli import run_screen

    console = Console(width=250, record=True, file=io.StringIO())
    monkeypatch.setattr(run_screen, "console", console)
    run_screen.print_run(run, **kwargs)
    return " ".join(console.export_text().split())


def test_energy_absent_without_a_meter_says_so_and_how_to_get_it(monkeypatch):
    run = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1)), _ok("litert-int8", "int8", 2.0, (1.9, 2.1))])
    text = _screen_with(run, monkeypatch)
    lines = [line for line in text.split("energy: not measured")[1:]]
    assert len(lines) == 1, text            # one line, not one per target
    assert "--power-w WATTS" in text and "/sys/class/powercap" in text and "external power meter" in text


def test_no_energy_line_when_a_meter_was_used_or_turned_off(monkeypatch):
    measured = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1)), _ok("litert-int8", "int8", 2.0, (1.9, 2.1))])
    measured.results[1].energy = _energy()   # one target metered (e.g. NVML on a GPU only): a meter was used
    assert "energy: not measured" not in _screen_with(measured, monkeypatch)
    assert "mJ/inference" in _screen_with(measured, monkeypatch)
    plain = _run([_ok("litert-int8", "int8", 2.0, (1.9, 2.1))])
    assert "energy: not measured" not in _screen_with(plain, monkeypatch, meter_off=True)   # --meter none


# A CPU machine's default run: what `edgebench targets` says of the targets that cannot run here.
NO_GPU_SKIPS = [
    ("torch-fp32@cuda", "no CUDA GPU visible (torch 2.13.0+cpu, a CPU-only build)"),
    ("torch-fp16@cuda", "no CUDA GPU visible (torch 2.13.0+cpu, a CPU-only build)"),
    ("onnxruntime-fp32@cuda", "the installed onnxruntime 1.32.0 has no CUDAExecutionProvider (install onnxruntime-gpu)"),
    ("onnxruntime-fp32@tensorrt", "the installed onnxruntime 1.32.0 has no TensorrtExecutionProvider (install onnxruntime-gpu)"),
    ("edgetpu-int8", "the Edge TPU delegate libedgetpu.so.1 is not installed (Coral's libedgetpu1-std package)"),
    ("keras-fp32", "keras not installed (pip install 'edgebench[keras]')"),
    ("keras-predict-fp32", "keras not installed (pip install 'edgebench[keras]')"),
]


def _lines(run, monkeypatch) -> list[str]:
    return [line.strip() for line in _screen(run, monkeypatch).splitlines()]


def test_targets_skipped_for_one_cause_are_one_line_and_the_specific_reason_comes_first(monkeypatch):
    run = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1))], skipped=NO_GPU_SKIPS)
    lines = _lines(run, monkeypatch)
    start = next(i for i, line in enumerate(lines) if "not run here" in line)
    assert lines[start].startswith("7 targets not run here (default selection") and "edgebench targets" in lines[start]
    group_lines = lines[start + 1:start + 4]
    assert group_lines == [
        ("1 target (edgetpu-int8): the Edge TPU delegate libedgetpu.so.1 is not installed (Coral's "
         "libedgetpu1-std package)"),
        "2 targets (keras-fp32, keras-predict-fp32): keras not installed (pip install 'edgebench[keras]')",
        "4 NVIDIA GPU targets: no NVIDIA GPU found here"], lines[start:]
    screen = "\n".join(lines)
    assert "CUDAExecutionProvider" not in screen and "torch-fp16@cuda" not in screen   # no wall of reasons


def test_with_a_gpu_present_its_targets_keep_their_own_reasons(monkeypatch):
    """A GPU here but onnxruntime-gpu missing: "no NVIDIA GPU" would be wrong; each reason shows."""
    run = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1))], skipped=NO_GPU_SKIPS[2:4])
    run.device.gpus = [{"vendor": "nvidia", "name": "NVIDIA H100"}]
    screen = "\n".join(_lines(run, monkeypatch))
    assert "no NVIDIA GPU found" not in screen
    assert "1 target (onnxruntime-fp32@cuda): the installed onnxruntime 1.32.0 has no CUDAExecutionProvider" in screen
    assert "1 target (onnxruntime-fp32@tensorrt): the installed onnxruntime 1.32.0 has no Tensorrt" in screen


def test_a_users_file_skips_every_other_format_in_one_line(monkeypatch):
    skips = [(t, f"coral has no {p} model in a format it reads ({f})") for t, p, f in (
        ("litert-fp32", "fp32", "tflite"), ("onnxruntime-fp32", "fp32", "onnx"), ("openvino-fp32", "fp32", "onnx/tflite"),
        ("torch-fp32@cuda", "fp32", "torch"))]
    skips.append(("edgetpu-int8", "the Edge TPU delegate libedgetpu.so.1 is not installed"))
    run = _run([_ok("litert-int8", "int8", 2.0, (1.9, 2.1))], reference=None, skipped=skips)
    lines = _lines(run, monkeypatch)
    start = next(i for i, line in enumerate(lines) if "not run here" in line)
    assert lines[start + 1:start + 3] == [
        "1 target (edgetpu-int8): the Edge TPU delegate libedgetpu.so.1 is not installed",
        "4 targets: coral has no model in a format and precision they read"]
    # a few left out for a generic cause are named: a zoo model has no Edge TPU file
    run.skipped = run.skipped[:1]
    run.skipped[0].target = "edgetpu-int8"
    assert "1 target (edgetpu-int8): coral has no model in a format and precision it reads" in _lines(run, monkeypatch)


def test_targets_the_user_named_that_cannot_run_are_each_listed(monkeypatch):
    named = [TargetResult(target=t, runtime=t.split("-")[0], runtime_version=None, precision="fp32", model="m",
                          status="unavailable", protocol=CLASSIC, error=reason) for t, reason in NO_GPU_SKIPS[:4]]
    run = _run([_ok("torch-fp32", "fp32", 10.0, (9.9, 10.1)), *named])
    screen = "\n".join(_lines(run, monkeypatch))
    for target, reason in NO_GPU_SKIPS[:4]:
        assert f"{target} unavailable: {reason}" in screen
    assert "not run here" not in screen


def test_an_edge_tpu_file_with_nothing_to_run_it_names_the_missing_library_first():
    """The error when no target can run a model: libedgetpu's absence was the 12th of 14 reasons."""
    from edgebench.bench.plan import Skipped, why_none_run

    skipped = [Skipped(t, f"coral_edgetpu has no {p} model in a format it reads ({f})")
               for t, p, f in (("litert-fp32", "fp32", "tflite"), ("onnxruntime-fp32", "fp32", "onnx"))]
    skipped.append(Skipped("edgetpu-int8", "the Edge TPU delegate libedgetpu.so.1 is not installed"))
    assert why_none_run("coral_edgetpu", skipped) == (
        " - edgetpu-int8: the Edge TPU delegate libedgetpu.so.1 is not installed; 2 other targets read no "
        "format and precision it comes in (`edgebench targets` lists them)")
    assert why_none_run("m", skipped[2:]) == " - edgetpu-int8: the Edge TPU delegate libedgetpu.so.1 is not installed"
    assert why_none_run("m", []) == ""


def test_edgebench_targets_keeps_every_reason_whole_on_a_narrow_terminal():
    """The run screen counts what it left out and points here: here nothing is cut to '…'."""
    from tests.test_run_table_width import run_in_terminal

    screen = run_in_terminal("targets", columns=80)
    assert "litert-int8" in screen and "edgetpu-int8" in screen
    assert "…" not in screen, screen
    assert max(len(line) for line in screen.splitlines()) <= 80


def test_an_int8_file_that_keeps_ops_float_says_so_and_a_full_integer_one_does_not(monkeypatch):
    from types import SimpleNamespace

    from edgebench.cli import run_screen

    def target(name, quantizer):
        artifact = {"format": "tflite", "precision": "int8", **({"quantizer": quantizer} if quantizer else {})}
        return SimpleNamespace(target=name, sweep={}, status="ok", artifact=artifact, int8_check=None,
                               runtime=name.split("-")[0])

    mixed = "ai-edge-quantizer static_wi8_ai8 (int8 ops except 15 kept float (InvertedResidual_1[4-7]), int8 I/O)"
    result = SimpleNamespace(results=[target("litert-int8", mixed),
                                      target("onnxruntime-int8", "ai-edge-quantizer static_wi8_ai8 (full integer)"),
                                      target("openvino-int8", None)])
    console = Console(width=250, record=True, file=io.StringIO())
    monkeypatch.setattr(run_screen, "console", console)
    run_screen._print_int8_checks(result)
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    assert lines == [f"note: litert-int8: {mixed}"]

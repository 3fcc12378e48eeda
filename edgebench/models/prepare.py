"""Build a zoo model's variants (ONNX/TFLite, fp32/int8) from its one checkpoint, cached.

A variant's cache key hashes the source checkpoint's sha256, the versions of the
packages that build it, the recipe version, the key of the variant it is built from and, for
int8 variants, the calibration set's size and sha256, so upgrading a converter, changing
weights or calibrating on other images rebuilds exactly what it affects.

Every int8 variant is checked as it is built: on the calibration images held back from
calibration, each CPU runtime that reads it is compared with the float variant it was
quantized from (top-1 agreement, mean |logit error|), and the result is kept in the variant's
metadata, where `run` reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebench.errors import TargetUnavailable, UserError
from edgebench.models.artifact import Artifact, sha256_of
from edgebench.models.weights import resolve_weights
from edgebench.models.zoo import ModelSpec
from edgebench.packages import package_version
from edgebench.paths import cache_dir

# Bump when a builder's output would change for the same inputs and toolchain.
# 4: percentile activation ranges, saturation-safe 7-bit weights, fast bias correction,
#    float logits (ONNX); percentile ranges (TFLite); calibration set in the key; int8 check.
# 5: ONNX exported with a dynamic batch dimension (ONNX Runtime --batch).
RECIPE_VERSION = 5

Variant = tuple[str, str]  # (format, precision)


@dataclass(frozen=True)
class Recipe:
    """How one variant is made. toolchain: distributions whose versions key the cache."""

    suffix: str
    toolchain: tuple[str, ...]
    install_hint: str
    builder: str                 # function name in this module
    source: Variant | None = None  # variant it is built from, if not the checkpoint
    calibrated: bool = False       # quantized on calibration images (keyed and checked)
    # ModelSpec fields the builder reads: keyed when set, so a model that sets one rebuilds and
    # the others keep their (unchanged) files.
    spec_fields: tuple[str, ...] = ()


RECIPES: dict[Variant, Recipe] = {
    ("onnx", "fp32"): Recipe(".onnx", ("torch", "onnx", "onnxscript"),
                             "pip install 'edgebench[onnx]'", "_export_onnx_fp32"),
    ("tflite", "fp32"): Recipe(".tflite", ("torch", "litert-torch"),
                               "pip install 'edgebench[convert]'", "_convert_tflite_fp32"),
    ("tflite", "int8"): Recipe(".tflite", ("ai-edge-quantizer", "ai-edge-litert"),
                               "pip install 'edgebench[convert]'", "_quantize_tflite_int8",
                               source=("tflite", "fp32"), calibrated=True,
                               spec_fields=("litert_int8_float_layers",)),
    ("onnx", "int8"): Recipe(".onnx", ("onnxruntime", "onnx"),
                             "pip install 'edgebench[onnx]'", "_quantize_onnx_int8",
                             source=("onnx", "fp32"), calibrated=True),
    # The .keras file holds config + weights and loads on any Keras 3 backend.
    ("keras", "fp32"): Recipe(".keras", ("torch", "keras"),
                              "pip install 'edgebench[keras]'", "_build_keras"),
}

StepCallback = Callable[[str], None]


class PrepareFailed(Exception):
    """A converter or quantizer failed; the message names the variant and the log file."""


def _toolchain(recipe: Recipe) -> dict[str, str]:
    versions = {dist: package_version(dist) for dist in recipe.toolchain}
    missing = [dist for dist, version in versions.items() if version is None]
    if missing:
        raise TargetUnavailable(f"{', '.join(missing)} not installed ({recipe.install_hint})")
    return versions  # type: ignore[return-value]


class Preparer:
    """Finds or builds the artifacts of one zoo model. calibration: a folder of the user's
    images to calibrate (and check) int8 variants on, instead of the shipped photos."""

    def __init__(self, spec: ModelSpec, *, allow_download: bool = True,
                 on_step: StepCallback | None = None, weights: Path | None = None,
                 calibration: Path | None = None):
        self.spec = spec
        self.allow_download = allow_download
        self.on_step = on_step or (lambda _msg: None)
        self._weights = weights  # already verified by the caller, when given
        self.calibration_dir = calibration
        self._calibration_set = None
        self._builds_planned = 0   # for "step k/n" while converting
        self._builds_done = 0

    def plan_builds(self, variants) -> list[Variant]:
        """The variants that `get` will have to build for `variants` (sources first); also sets
        the n of the "step k/n" it reports."""
        missing: list[Variant] = []

        def visit(variant: Variant) -> None:
            recipe = RECIPES.get(variant)
            if recipe is None or variant in missing or not self._needs_build(variant):
                return
            if recipe.source:
                visit(recipe.source)
            missing.append(variant)

        for variant in variants:
            if variant in self.spec.variants and self.spec.prebuilt_source(variant) is None:
                visit(variant)
        self._builds_planned, self._builds_done = len(missing), 0
        return missing

    def _needs_build(self, variant: Variant) -> bool:
        try:
            return self.cached(variant) is None
        except TargetUnavailable:   # its converter is not installed: it will not be built
            return False

    @property
    def weights(self) -> Path:
        if self._weights is None:
            self._weights = resolve_weights(self.spec.weights, allow_download=self.allow_download,
                                            notify=self.on_step)
        return self._weights

    @property
    def calibration_set(self):
        """The images int8 variants are calibrated and checked on (checked once, on first use:
        a bad --calibration folder is refused before anything is built). A retrained model
        calibrates on its own training images, checked against the key recorded for them."""
        if self._calibration_set is None:
            from edgebench.models.calibration import (calibration_set_from, calibration_set_of,
                                                      shipped_calibration_set)

            if self.calibration_dir:
                self._calibration_set = calibration_set_from(self.calibration_dir)
            elif self.spec.calibration_images:
                try:
                    found = calibration_set_of([Path(p) for p in self.spec.calibration_images],
                                               [Path(p) for p in self.spec.check_images], self.spec.name)
                except UserError as exc:   # e.g. a retrained model sent to a fleet worker
                    raise TargetUnavailable(f"{self.spec.name}'s int8 variants need rebuilding for this "
                                            f"toolchain, but its training images are not here ({exc})") from None
                if self.spec.calibration_key and found.key() != dict(self.spec.calibration_key):
                    raise TargetUnavailable(f"the training images {self.spec.name} was calibrated on have "
                                            "changed since it was retrained: retrain it to rebuild its variants")
                self._calibration_set = found
            else:
                self._calibration_set = shipped_calibration_set(self.spec.calibration_subject)
        return self._calibration_set

    def calibration_key(self) -> dict:
        """What identifies the calibration set in a cache key; a retrained model's is recorded,
        so finding its variants never needs its training images."""
        if self.calibration_dir is None and self.spec.calibration_key:
            return dict(self.spec.calibration_key)
        return self.calibration_set.key()

    def key(self, variant: Variant) -> str:
        recipe = RECIPES[variant]
        material = {
            "source_sha256": self.spec.weights.sha256,
            "variant": list(variant),
            "toolchain": _toolchain(recipe),
            "recipe": RECIPE_VERSION,
            "from": self.key(recipe.source) if recipe.source else None,
        }
        if recipe.calibrated:
            material["calibration"] = self.calibration_key()
        for field in recipe.spec_fields:
            if getattr(self.spec, field):
                material[field] = list(getattr(self.spec, field))
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]

    def path(self, variant: Variant) -> Path:
        fmt, precision = variant
        folder = Path(self.spec.home) if self.spec.home else cache_dir() / "models" / self.spec.name
        return folder / f"{fmt}-{precision}-{self.key(variant)}{RECIPES[variant].suffix}"

    def cached(self, variant: Variant) -> Artifact | None:
        """The artifact if built for the current source and toolchain, intact; else None."""
        prebuilt = self.spec.prebuilt_source(variant)
        if prebuilt is not None:
            from edgebench.models.weights import cached_path, installed_path

            present = installed_path(prebuilt) or cached_path(prebuilt)
            return self._prebuilt(prebuilt) if present.is_file() else None
        if variant == ("torch", "fp32"):
            return self._torch_artifact()
        path = self.path(variant)
        meta_path = path.with_suffix(".json")
        if not (path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        if meta.get("sha256") != sha256_of(path):
            return None  # damaged cache entry: rebuild rather than run a corrupt file
        return Artifact(path, variant[0], variant[1], meta["sha256"], self.spec.name,
                        toolchain=meta.get("toolchain", {}), int8_check=meta.get("int8_check"),
                        quantizer=meta.get("quantizer"))

    def get(self, variant: Variant) -> Artifact:
        """The artifact, building it (and what it is built from) if it is not cached."""
        if variant not in self.spec.variants:
            raise TargetUnavailable(f"{self.spec.name} has no {variant[0]} {variant[1]} variant")
        prebuilt = self.spec.prebuilt_source(variant)
        if prebuilt is not None:
            return self._prebuilt(prebuilt)
        found = self.cached(variant)
        if found is not None:
            return found
        recipe = RECIPES[variant]
        _toolchain(recipe)
        if recipe.source:
            self.get(recipe.source)
        self._builds_done += 1
        total = max(self._builds_planned, self._builds_done)
        step = f"first run: converting, cached afterwards - step {self._builds_done}/{total} " \
               f"{self.spec.name} {variant[0]}-{variant[1]}"
        self.on_step(step)
        self._build_in_subprocess(variant, lambda stage: self.on_step(f"{step}: {stage}"))
        built = self.cached(variant)
        if built is None:
            raise PrepareFailed(f"{variant[0]}-{variant[1]} build left no valid artifact")
        return built

    def _build_in_subprocess(self, variant: Variant, on_stage: StepCallback) -> None:
        """Run the converters in a child process: they import JAX and TensorFlow-era
        machinery that starts threads, which must not share a process with timing loops.
        The child marks its stages in its log; they are passed on while it works."""
        log = self.path(variant).with_suffix(".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        # A retrained model is named by its manifest: it may still be in its staging folder.
        model = str(Path(self.spec.home) / "model.json") if self.spec.home else self.spec.name
        cmd = [sys.executable, "-m", "edgebench.models.prepare", model, *variant, str(self.weights)]
        if self.calibration_dir is not None and RECIPES[variant].calibrated:
            cmd.append(str(self.calibration_dir))
        with open(log, "w") as log_file:
            proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, text=True)
            try:
                _follow_stages(proc, log, on_stage)
            finally:
                if proc.poll() is None:  # Ctrl-C or an error here: do not leave a converter behind
                    proc.kill()
                    proc.wait()
                    # Killed, it could not remove its half-written file (a cancelled fleet job
                    # left 0-byte .build-* files): its name carries the converter's pid.
                    for leftover in self.path(variant).parent.glob(f"{BUILD_PREFIX}{proc.pid}-*"):
                        leftover.unlink(missing_ok=True)
        if proc.returncode != 0:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit code {proc.returncode}"
            raise PrepareFailed(f"building {variant[0]}-{variant[1]} failed: {reason} (log: {log})")

    def build_here(self, variant: Variant) -> None:
        """Build one variant in this process; its source variant must already be cached."""
        recipe = RECIPES[variant]
        toolchain = _toolchain(recipe)
        source = self.cached(recipe.source) if recipe.source else None
        if recipe.source and source is None:
            raise PrepareFailed(f"{recipe.source} must be built before {variant}")
        path = self.path(variant)
        started = time.perf_counter()
        # Named by this process's pid: a parent that must kill it removes the file (above).
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{BUILD_PREFIX}{os.getpid()}-",
                                        suffix=recipe.suffix)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            details = globals()[recipe.builder](self, source, tmp) or {}
            if recipe.calibrated:
                from edgebench.models.int8_check import check_int8
                from edgebench.tasks import task_key

                details["calibration"] = self.calibration_set.describe()
                held_back = self.held_back_nchw()
                _stage(f"checking against {source.format}-{source.precision} on {len(held_back)} "
                       "held-back calibration samples")
                details["int8_check"] = check_int8(variant[0], tmp, source.path, held_back,
                                                   self.runtimes_running(variant), task_key(self.spec.task))
            digest = sha256_of(tmp)
            os.replace(tmp, path)  # atomic: readers see the old state or the whole new file
        finally:
            tmp.unlink(missing_ok=True)
        meta = {"model": self.spec.name, "format": variant[0], "precision": variant[1],
                "sha256": digest, "source_sha256": self.spec.weights.sha256,
                "toolchain": toolchain, "recipe": RECIPE_VERSION,
                "build_s": round(time.perf_counter() - started, 2), **details}
        meta_path = path.with_suffix(".json")
        meta_path.with_suffix(".tmp").write_text(json.dumps(meta, indent=2))
        os.replace(meta_path.with_suffix(".tmp"), meta_path)

    def runtimes_running(self, variant: Variant) -> list[str]:
        """Registry keys of the available CPU runtimes whose targets run this variant (each
        runtime takes the first of its formats that the model has at that precision)."""
        from edgebench.runtimes.base import TARGETS, load_runtime

        keys = []
        for target in TARGETS.values():
            if target.device != "cpu" or target.source_precision != variant[1]:
                continue
            runtime = load_runtime(target.runtime_key)
            chosen = next((f for f in runtime.formats if (f, variant[1]) in self.spec.variants), None)
            if chosen == variant[0] and runtime.available()[0] and target.runtime_key not in keys:
                keys.append(target.runtime_key)
        return keys

    def _prebuilt(self, source) -> Artifact:
        """A published, ready-made file: found or downloaded with its sha256 checked."""
        from dataclasses import replace

        from edgebench.models.artifact import inspect_model_file

        path = resolve_weights(source, allow_download=self.allow_download, notify=self.on_step)
        return replace(inspect_model_file(path), model=self.spec.name)

    def _torch_artifact(self) -> Artifact:
        return Artifact(self.weights, "torch", "fp32", self.spec.weights.sha256, self.spec.name,
                        arch=self.spec.arch, arch_kwargs=dict(self.spec.arch_kwargs), toolchain={"torch": package_version("torch") or "?"},
                        input_shape=self.spec.input_shape)

    def torch_module(self):
        from edgebench.arch.torch_module import load_torch_module

        return load_torch_module(self.spec.arch, self.weights, dict(self.spec.arch_kwargs))

    @property
    def litert_int8_float_layers(self) -> tuple[str, ...]:
        """The ops the LiteRT int8 recipe leaves float (the zoo entry's choice)."""
        return self.spec.litert_int8_float_layers

    def calibration_nchw(self) -> list[np.ndarray]:
        """Float NCHW samples to calibrate on (the held-back images excluded)."""
        cal = self.calibration_set
        return list(cal.samples(self.spec.preprocessing, cal.calibrated))

    def held_back_nchw(self) -> list[np.ndarray]:
        """Float NCHW samples of the held-back calibration images, for the int8 check."""
        return list(self.calibration_set.check_samples(self.spec.preprocessing))


STAGE_MARK = "edgebench-stage: "
BUILD_PREFIX = ".build-"   # a converter's file while it writes it: .build-PID-XXXX.SUFFIX


def _stage(text: str) -> None:
    """Called in the child: a line the parent shows as the converter's current stage."""
    print(f"{STAGE_MARK}{text}", flush=True)


def _follow_stages(proc: subprocess.Popen, log: Path, on_stage: StepCallback) -> None:
    shown = None
    while proc.poll() is None:
        time.sleep(0.25)
        marks = [ln[len(STAGE_MARK):].strip() for ln in log.read_text(errors="replace").splitlines()
                 if ln.startswith(STAGE_MARK)]
        if marks and marks[-1] != shown:
            shown = marks[-1]
            on_stage(shown)


# Builders: (preparer, source artifact or None, output path) -> extra metadata.

def _export_onnx_fp32(prep: Preparer, _source, out: Path) -> dict:
    import torch

    from edgebench.runtimes.options import MAX_BATCH

    # A sample batch of 2: torch.export specialises a dimension whose example size is 1.
    sample = torch.zeros((2, *prep.spec.input_shape[1:]))
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    _stage("exporting with torch.onnx.export (dynamo), dynamic batch")
    torch.onnx.export(prep.torch_module(), (sample,), str(out), input_names=["input"],
                      output_names=["logits"], dynamo=True, external_data=False, verbose=False,
                      dynamic_shapes=({0: batch},))
    return {"exporter": "torch.onnx.export(dynamo=True)", "batch": "dynamic"}


def _convert_tflite_fp32(prep: Preparer, _source, out: Path) -> dict:
    import litert_torch
    import torch

    n, c, h, w = prep.spec.input_shape
    # NHWC input, as TFLite models conventionally take, so no transpose runs inside the graph.
    module = litert_torch.to_channel_last_io(prep.torch_module(), args=[0]).eval()
    _stage("converting with litert-torch")
    litert_torch.convert(module, (torch.zeros(n, h, w, c),)).export(str(out))
    return {"converter": "litert_torch.convert", "input_layout": "NHWC"}


def _quantize_tflite_int8(prep: Preparer, source: Artifact, out: Path) -> dict:
    """TFLite with int8 I/O and int8 ops, through ai-edge-quantizer; activation ranges are
    replaced by percentiles of the float model's tensors, and the layers the model names in
    `litert_int8_float_layers` stay float (edgebench/models/quantize.py and
    docs/guides/int8-recipe.md say why)."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer

    from edgebench.models import quantize

    signatures = Interpreter(model_path=str(source.path)).get_signature_list()
    signature, io = next(iter(signatures.items()))
    input_name = io["inputs"][0]
    samples = [x.transpose(0, 2, 3, 1).copy() for x in prep.calibration_nchw()]
    float_layers = prep.litert_int8_float_layers
    qt = quantizer.Quantizer(str(source.path), quantize.tflite_int8_recipe(float_layers))
    _stage(f"calibrating on {len(samples)} samples")
    ranges = qt.calibrate({signature: [{input_name: x} for x in samples]})
    _stage(f"activation ranges ({quantize.PERCENTILE:g}th percentile)")
    percentiles = quantize.percentile_ranges(quantize.tflite_tensor_runner(source.path), samples)
    replaced = 0
    for name, (lo, hi) in percentiles.items():
        entry = ranges.get(name)
        if entry is not None and "min" in entry:
            entry["min"] = np.full_like(entry["min"], lo)
            entry["max"] = np.full_like(entry["max"], hi)
            replaced += 1
    widened = _widen_logit_range(ranges, Interpreter(model_path=str(source.path)))
    _stage("quantizing with ai-edge-quantizer")
    result = qt.quantize(ranges)
    result.export_model(str(out), overwrite=True)
    _stage("fast bias correction")
    corrected = quantize.tflite_fast_bias_correction(source.path, out, samples)
    kept_float = quantize.tflite_float_ops(out)
    kind = (f"int8 ops except {kept_float} kept float ({', '.join(float_layers)})" if kept_float
            else "full integer")
    return {"quantizer": f"ai-edge-quantizer static_wi8_ai8 ({kind}, int8 I/O)",
            "calibration_samples": len(samples),
            "calibration_policy": f"activation ranges: {quantize.PERCENTILE:g}th percentile ({replaced} "
                                  f"tensors); output logits' max widened x{LOGIT_MAX_FACTOR:g}; fast bias "
                                  f"correction of {corrected} convolution/fully-connected biases",
            "float_ops": kept_float,
            "widened_tensors": widened}


# A confident real-world photo (the chickadee: top logit ~24) drives the winning logit far
# above anything a dozen generic calibration photos produce (~12). A saturated int8 output
# ties many classes at the maximum and scrambles the top-1, so the logits' max is widened.
LOGIT_MAX_FACTOR = 3.0


def _widen_logit_range(ranges: dict, interpreter) -> list[str]:
    widened = []
    for detail in interpreter.get_output_details():
        entry = ranges.get(detail["name"])
        if entry is not None:
            entry["max"] = entry["max"] * LOGIT_MAX_FACTOR
            widened.append(detail["name"])
    return widened


def _quantize_onnx_int8(prep: Preparer, source: Artifact, out: Path) -> dict:
    """QDQ int8 for ONNX Runtime and OpenVINO: u8 activations with percentile ranges, s8
    per-channel weights (7-bit where x86 kernels without VNNI would saturate), float logits,
    fast bias correction. Why each: edgebench/models/quantize.py."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgebench.models import quantize

    samples = prep.calibration_nchw()
    pre = out.with_name(out.stem + ".pre.onnx")

    input_name = quantize.onnx_input_name(source.path)   # "input" for the zoo's; a user's may differ

    class OneSample(CalibrationDataReader):
        """quantize_static wants a reader; every activation's range comes from the overrides."""

        def __init__(self):
            self._feeds = iter([{input_name: samples[0]}])

        def get_next(self):
            return next(self._feeds, None)

    try:
        _stage("shape inference and pre-processing")
        quant_pre_process(str(source.path), str(pre))
        _stage(f"activation ranges ({quantize.PERCENTILE:g}th percentile) over {len(samples)} calibration samples")
        names = quantize.onnx_activation_names(pre)
        ranges = quantize.percentile_ranges(quantize.onnx_tensor_runner(pre, names), samples)
        overrides = {name: [{"rmin": np.array(lo, np.float32), "rmax": np.array(hi, np.float32)}]
                     for name, (lo, hi) in ranges.items()}
        weights = quantize.onnx_weight_overrides(pre)
        _stage("quantizing (QDQ, u8 activations, s8 per-channel weights)")
        quantize_static(str(pre), str(out), OneSample(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True,
                        extra_options={"OpTypesToExcludeOutputQuantization": ["Gemm"],
                                       "TensorQuantOverrides": {**overrides, **weights}})
        _stage("fast bias correction")
        corrected = quantize.fast_bias_correction(pre, out, samples)
    finally:
        pre.unlink(missing_ok=True)
    return {"quantizer": "onnxruntime.quantization.quantize_static QDQ u8 activations, s8 per-channel weights",
            "calibration_samples": len(samples),
            "calibration_policy": f"activation ranges: {quantize.PERCENTILE:g}th percentile; logits not "
                                  "quantized; 7-bit weights for convolutions summing over channels and the "
                                  f"classifier ({len(weights)} tensors, no int16 saturation on x86 without "
                                  f"VNNI); fast bias correction of {corrected} convolutions"}


def _build_keras(prep: Preparer, _source, out: Path) -> dict:
    from edgebench.arch.keras_mobilenet_v2 import build_keras_mobilenet_v2, keras_backend

    if prep.spec.arch != "edgebench.arch.mobilenet_v2:MobileNetV2":
        raise PrepareFailed("the Keras rebuild exists for MobileNetV2 only")
    backend = keras_backend()
    if backend is None:
        raise TargetUnavailable("Keras 3 needs JAX or TensorFlow (pip install jax)")
    os.environ.setdefault("KERAS_BACKEND", backend)
    import torch

    state = torch.load(prep.weights, map_location="cpu", weights_only=True)
    _stage(f"rebuilding in Keras ({backend}) and transplanting weights")
    build_keras_mobilenet_v2(state).save(str(out))
    return {"builder": "Keras functional rebuild, torchvision weights transplanted",
            "backend_at_build": backend}


def _main(argv: list[str]) -> int:
    """Child-process entry: python -m edgebench.models.prepare MODEL FORMAT PRECISION WEIGHTS
    [CALIBRATION_DIR]; MODEL is a zoo name or a retrained model's manifest path."""
    from edgebench.models.local import spec_from_manifest
    from edgebench.models.zoo import get_model

    name, fmt, precision, weights, *calibration = argv
    spec = spec_from_manifest(Path(name)) if name.endswith(".json") else get_model(name)
    preparer = Preparer(spec, allow_download=False, weights=Path(weights),
                        calibration=Path(calibration[0]) if calibration else None)
    preparer.build_here((fmt, precision))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

"""Building a user's own model's variants, cached, each in a child process with its log beside it.

A variant's cache key hashes the user's file's sha256, the versions of the packages that build
it, the recipe version, the key of the variant it is built from, the preprocessing and task it
is calibrated for and, for int8 variants, the calibration set's key: another file, converter,
or set of photos builds another file. Variants live in <cache>/own/<file stem>-<sha256[:12]>/.

Every int8 variant is checked as it is built, on the calibration images held back from
calibration, on each CPU runtime that runs it, against the float variant it was quantized
from, with the zoo's check for its task (edgebench.models.int8_check): a classifier's top-1
agreement on the samples the float model is sure of, a detector's mean box F1 over the samples
where either finds an object. Only those two tasks get int8 variants (source.PHOTO_TASKS).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import TargetUnavailable
from edgebench.models.artifact import Artifact, sha256_of
from edgebench.models.own.recipes import RECIPE_VERSION, OwnRecipe, Variant, recipes_for
from edgebench.paths import cache_dir

StepCallback = Callable[[str], None]


@dataclass(frozen=True)
class OwnModel:
    """What a build needs to know of the user's model: the file, its kind ("onnx" | "pt2"),
    sha256, float NCHW input shape, task (registry key), preprocessing name ("auto" or one
    --preprocess names) and calibration folder (None: the shipped photos)."""

    path: Path
    origin: str
    sha256: str
    input_shape: tuple[int, ...]
    task: str
    preprocess: str = "auto"
    calibration: Path | None = None

    @property
    def name(self) -> str:
        return self.path.stem


def toolchain(recipe: OwnRecipe) -> dict[str, str]:
    from edgebench.packages import package_version

    versions = {}
    for dist in recipe.toolchain:
        if dist == "edgetpu_compiler":
            from edgebench.models.own.edgetpu_compiler import compiler_version

            versions[dist] = compiler_version()
        else:
            versions[dist] = package_version(dist)
    missing = [dist for dist, version in versions.items() if version is None]
    if missing:
        raise TargetUnavailable(f"{', '.join(missing)} not installed ({recipe.install_hint})")
    return versions  # type: ignore[return-value]


class OwnBuilder:
    """Finds or builds the variants of one user's model."""

    def __init__(self, model: OwnModel, on_step: StepCallback | None = None):
        self.model = model
        self.recipes = recipes_for(model.origin)
        self.on_step = on_step or (lambda _msg: None)
        self._calibration_set = None
        self.builds = 0          # child processes started by this builder (the cache test reads it)

    @property
    def folder(self) -> Path:
        return cache_dir() / "own" / f"{self.model.name}-{self.model.sha256[:12]}"

    @property
    def calibration_set(self):
        """The user's folder (checked: too few or unreadable images are one line, before
        anything is built or cached), else the shipped photos."""
        if self._calibration_set is None:
            from edgebench.models.calibration import (
                calibration_set_from,
                shipped_calibration_set,
            )

            self._calibration_set = (calibration_set_from(self.model.calibration) if self.model.calibration
                                     else shipped_calibration_set())
        return self._calibration_set

    def key(self, variant: Variant) -> str:
        recipe = self.recipes[variant]
        material = {"file_sha256": self.model.sha256, "variant": list(variant), "recipe": RECIPE_VERSION,
                    "toolchain": toolchain(recipe) if recipe else {},
                    "from": self.key(recipe.source) if recipe and recipe.source else None,
                    "task": self.model.task, "preprocess": self.model.preprocess}
        if recipe and recipe.calibrated:
            material["calibration"] = self.calibration_set.key()
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]

    def path(self, variant: Variant) -> Path:
        return self.folder / f"{variant[0]}-{variant[1]}-{self.key(variant)}{self.recipes[variant].suffix}"

    def log_path(self, variant: Variant) -> Path:
        return self.path(variant).with_name(self.path(variant).name.split(".")[0] + ".log")

    def the_file(self, variant: Variant) -> Artifact:
        """The user's own file, as the variant it is."""
        return Artifact(self.model.path, variant[0], variant[1], self.model.sha256, self.model.name,
                        input_shape=self.model.input_shape)

    def cached(self, variant: Variant) -> Artifact | None:
        if self.recipes[variant] is None:
            return self.the_file(variant)
        path = self.path(variant)
        meta_path = path.with_name(path.name.split(".")[0] + ".json")
        if not (path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        companions = meta.get("companions", {})
        if meta.get("sha256") != sha256_of(path) or any(
                not (path.parent / name).is_file() or sha256_of(path.parent / name) != digest
                for name, digest in companions.items()):
            return None   # damaged: rebuilt rather than run
        return Artifact(path, variant[0], variant[1], meta["sha256"], self.model.name,
                        toolchain=meta.get("toolchain", {}), int8_check=meta.get("int8_check"),
                        input_shape=self.model.input_shape)

    def failure(self, variant: Variant) -> str | None:
        """Why the variant could not be built last time (its log's last line), if it failed
        with this toolchain: not retried on every run."""
        marker = self.log_path(variant).with_suffix(".failed")
        return marker.read_text().strip() or None if marker.is_file() else None

    def plan_builds(self, variants) -> list[Variant]:
        missing: list[Variant] = []

        def visit(variant: Variant) -> None:
            recipe = self.recipes.get(variant)
            if recipe is None or variant in missing:
                return
            try:
                if self.cached(variant) is not None or self.failure(variant):
                    return
            except TargetUnavailable:
                return
            if recipe.source:
                visit(recipe.source)
            missing.append(variant)

        for variant in variants:
            visit(variant)
        return missing

    def get(self, variant: Variant) -> Artifact:
        """The variant, building it (and what it is built from) when not cached; TargetUnavailable
        with the converter's reason, in one line, when it cannot be built."""
        from edgebench.models.prepare import PrepareFailed

        recipe = self.recipes[variant]
        found = self.cached(variant)
        if found is not None:
            return found
        failed = self.failure(variant)
        if failed:
            raise TargetUnavailable(failed)
        if recipe.source:
            self.get(recipe.source)
        if recipe.calibrated:
            _ = self.calibration_set   # a bad --calibration folder: one line, nothing built
        step = f"first run: converting, cached afterwards - {self.model.name} {variant[0]}-{variant[1]}"
        self.on_step(step)
        try:
            self._build_in_subprocess(variant, lambda stage: self.on_step(f"{step}: {stage}"))
        except PrepareFailed as exc:
            self.log_path(variant).with_suffix(".failed").write_text(str(exc))
            raise TargetUnavailable(str(exc)) from None
        built = self.cached(variant)
        if built is None:
            raise TargetUnavailable(f"{variant[0]}-{variant[1]} build left no valid file (log: {self.log_path(variant)})")
        return built

    def _build_in_subprocess(self, variant: Variant, on_stage: StepCallback) -> None:
        from edgebench.models.prepare import BUILD_PREFIX, PrepareFailed, _follow_stages

        log = self.log_path(variant)
        log.parent.mkdir(parents=True, exist_ok=True)
        m = self.model
        cmd = [sys.executable, "-m", "edgebench.models.own.builder", str(m.path), m.origin, *variant, m.task,
               m.preprocess, json.dumps(list(m.input_shape)), str(m.calibration or "")]
        self.builds += 1
        with open(log, "w") as log_file:
            proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, text=True)
            try:
                _follow_stages(proc, log, on_stage)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                    for leftover in log.parent.glob(f"{BUILD_PREFIX}{proc.pid}-*"):
                        leftover.unlink(missing_ok=True)
        if proc.returncode != 0:
            reason = converter_reason(log.read_text(errors="replace"), proc.returncode)
            raise PrepareFailed(f"{variant[0]}-{variant[1]} not built: {reason} (log: {log})")


def list_built() -> list[dict]:
    """What is cached of users' own models: per model folder, {"model", "path" (of the file it was
    built from), "sha256", "task", "variants": ["onnx-int8", ...]} (newest file first)."""
    root = cache_dir() / "own"
    found = []
    for folder in sorted(root.glob("*/")) if root.is_dir() else []:
        metas = []
        for meta_path in sorted(folder.glob("*.json")):
            try:
                metas.append(json.loads(meta_path.read_text()))
            except (OSError, ValueError):
                continue
        if metas:
            first = metas[0]
            found.append({"model": first.get("model"), "path": first.get("source_path"),
                          "sha256": first.get("source_sha256"), "task": first.get("task"),
                          "variants": sorted(f"{m.get('format')}-{m.get('precision')}" for m in metas)})
    return found


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Unavailable|Failed|Interrupt)\b:?\s*\S")


def converter_reason(log_text: str, returncode: int) -> str:
    """The converter's reason in one line: the last exception line of its log (the traceback's
    last line can be a hint such as "Use tlparse to see full graph"), else its last line."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip() and not ln.startswith("edgebench-stage")]
    exceptions = [ln for ln in lines if _EXCEPTION_LINE.match(ln)]
    chosen = exceptions[-1] if exceptions else (lines[-1] if lines else f"exit code {returncode}")
    return chosen[:300]


class Job:
    """The child's side: builds one variant (its source variant already cached), checks it when
    it is int8, writes it and its metadata atomically."""

    # The zoo's LiteRT int8 recipe keeps no op float for a user's model: nothing is known of its
    # layers (mobilenet_v2's float blocks were found by measuring that model).
    litert_int8_float_layers: tuple[str, ...] = ()

    def __init__(self, model: OwnModel):
        self.model = model
        self.builder = OwnBuilder(model)
        self.path = model.path
        self.input_shape = model.input_shape

    def task(self):
        from edgebench.tasks import get_task

        return get_task(self.model.task)

    def preprocessing(self):
        from edgebench.models.images import preprocessing_for
        from edgebench.tensors import TensorSpec

        spec = TensorSpec("input", self.input_shape, "float32", "NCHW")
        return preprocessing_for(spec, self.model.preprocess)[0]

    def _samples(self, images) -> list:
        from edgebench.models.own.recipes import calibration_samples

        return calibration_samples(list(images), self.preprocessing(), self.task().geometry,
                                   tuple(self.input_shape[2:4]))

    def _crop_preprocessing(self):
        """A classifier's: the zoo's crop at the model's input size, so the calibration set gives
        the very samples it gives a zoo model (the built-in photos' extra views and crops too)."""
        from dataclasses import replace

        prep, size = self.preprocessing(), self.input_shape[2]
        return prep if prep.crop == size else replace(prep, crop=size, resize=round(size * 256 / 224))

    def calibration_nchw(self) -> list:
        cal = self.builder.calibration_set
        if self.task().geometry == "crop":
            return list(cal.samples(self._crop_preprocessing(), cal.calibrated))
        return self._samples(cal.calibrated)

    def held_back_nchw(self) -> list:
        cal = self.builder.calibration_set
        if self.task().geometry == "crop":
            return list(cal.check_samples(self._crop_preprocessing()))
        return self._samples([*cal.held_back, *cal.check_only])

    def build(self, variant: Variant) -> None:
        from edgebench.models.prepare import BUILD_PREFIX, _stage

        recipe = self.builder.recipes[variant]
        versions = toolchain(recipe)
        source = self.builder.cached(recipe.source) if recipe.source else None
        path = self.builder.path(variant)
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{BUILD_PREFIX}{os.getpid()}-",
                                        suffix=recipe.suffix)
        os.close(fd)
        tmp = Path(tmp_name)
        # OpenVINO IR: the .bin beside the .xml, found by sharing its stem (both renamed alike)
        companion = tmp.with_suffix(".bin") if recipe.suffix == ".xml" else None
        from edgebench.models.own import recipes

        try:
            details = getattr(recipes, recipe.builder)(self, source, tmp) or {}
            if recipe.calibrated:
                details["calibration"] = self.builder.calibration_set.describe()
                held_back = self.held_back_nchw()
                _stage(f"checking against {source.format}-{source.precision} on {len(held_back)} held-back samples")
                details["int8_check"] = {**check_variant(self, variant, tmp, source, held_back),
                                         "calibration": details["calibration"]}   # shown with each result
            digest = sha256_of(tmp)
            companions = {}
            if companion is not None:
                final_bin = path.with_suffix(".bin")
                os.replace(companion, final_bin)
                companions[final_bin.name] = sha256_of(final_bin)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
            if companion is not None:
                companion.unlink(missing_ok=True)
        meta = {"model": self.model.name, "format": variant[0], "precision": variant[1], "sha256": digest,
                "source_sha256": self.model.sha256, "source_path": str(self.model.path.resolve()),
                "toolchain": versions, "recipe": RECIPE_VERSION,
                "companions": companions, "task": self.model.task,
                "build_s": round(time.perf_counter() - started, 2), **details}
        meta_path = path.with_name(path.name.split(".")[0] + ".json")
        meta_path.with_suffix(".tmp").write_text(json.dumps(meta, indent=2))
        os.replace(meta_path.with_suffix(".tmp"), meta_path)


def runtimes_reading(builder: OwnBuilder, variant: Variant) -> list[str]:
    """Registry keys of available CPU runtimes whose targets run this variant (each runtime
    takes the first of its formats the model has a variant in at that precision)."""
    from edgebench.runtimes.base import TARGETS, load_runtime

    keys = []
    for target in TARGETS.values():
        if target.device != "cpu" or target.source_precision != variant[1]:
            continue
        runtime = load_runtime(target.runtime_key)
        chosen = next((f for f in runtime.formats if (f, variant[1]) in builder.recipes), None)
        if chosen == variant[0] and runtime.available()[0] and target.runtime_key not in keys:
            keys.append(target.runtime_key)
    return keys


def check_variant(job: Job, variant: Variant, int8_path: Path, source: Artifact, samples: list) -> dict:
    """The int8 check, the zoo's for the same task (so that a user's export of a zoo model reads
    the same figures as the zoo's own variants). Int8 variants exist only for the tasks the
    built-in photos calibrate, classification and detection (source.PHOTO_TASKS)."""
    from edgebench.models.int8_check import check_int8

    return check_int8(variant[0], int8_path, source.path, samples, runtimes_reading(job.builder, variant),
                      job.model.task)


def _main(argv: list[str]) -> int:
    """Child entry: python -m edgebench.models.own.builder FILE ORIGIN FORMAT PRECISION TASK
    PREPROCESS INPUT_SHAPE_JSON CALIBRATION_DIR_OR_EMPTY."""
    path, origin, fmt, precision, task, preprocess, shape, calibration = argv
    model = OwnModel(Path(path), origin, sha256_of(Path(path)), tuple(json.loads(shape)), task, preprocess,
                     Path(calibration) if calibration else None)
    Job(model).build((fmt, precision))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

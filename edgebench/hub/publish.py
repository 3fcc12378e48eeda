"""What gets published: model cards and files, from a user's file or from the zoo (seed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgebench.errors import UserError
from edgebench.hub.client import HubClient
from edgebench.hub.names import ModelRef, check_segment
from edgebench.hub.schema import RUNTIME_HINTS, ModelCard

# The zoo's torch checkpoints are pickles: the hub takes only formats it can validate.
PUBLISHABLE_FORMATS = tuple(RUNTIME_HINTS)


def zoo_card(spec) -> dict:
    """The model card of a zoo entry: everything `run` needs to preprocess and label."""
    from edgebench.models.labels import labels_for

    num_classes = 1001 if spec.labels == "imagenet1001" else 1000
    prep = spec.preprocessing
    source = (f"{spec.weights.url} (sha256 {spec.weights.sha256})" if spec.weights
              else "; ".join(w.url for _, w in spec.prebuilt))
    return ModelCard(
        description=spec.description, task=spec.task, license=spec.license,
        tags=["preset", "imagenet", *spec.name.split("_")[:1], "edgebench-zoo"],
        labels=list(labels_for(num_classes)),
        input={"shape": list(spec.input_shape), "layout": "NCHW", "dtype": "float32"},
        preprocessing={"resize": prep.resize, "crop": prep.crop, "mean": prep.mean, "std": prep.std},
        # A float checkpoint and its architecture are public: it can be fine-tuned and re-exported.
        retrainable=spec.arch is not None, source=source).model_dump(mode="json")


def zoo_files(spec, allow_download: bool, on_step: Callable[[str], None]) -> list[tuple[Path, str]]:
    """Every publishable variant of a zoo model, prepared (or found in the cache)."""
    from edgebench.models.prepare import Preparer

    preparer = Preparer(spec, allow_download=allow_download, on_step=on_step)
    files = []
    for fmt, precision in spec.variants:
        if fmt not in PUBLISHABLE_FORMATS:
            continue
        artifact = preparer.get((fmt, precision))
        files.append((_published_copy(artifact.path, spec.name, fmt, precision), RUNTIME_HINTS[fmt]))
    return files


def _published_copy(path: Path, model: str, fmt: str, precision: str) -> Path:
    """Cache files carry build keys in their names; the hub shows readable ones."""
    import os

    from edgebench.paths import cache_dir

    suffix = ".tflite" if fmt.startswith("tflite") else ".onnx"
    kind = "edgetpu" if fmt == "tflite-edgetpu" else fmt
    name = f"{model}-{kind}-{precision}{suffix}"
    directory = cache_dir() / "hub-publish"
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / name
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)  # no copy of a multi-MB file where a hard link will do
    except OSError:
        import shutil

        shutil.copyfile(path, link)
    return link


def seed(client: HubClient, owner: str, models: list[str], allow_download: bool,
         report: Callable[[str], None]) -> list[str]:
    """Publish zoo models as owner/<zoo name>. A model whose latest version already holds the same
    files is left alone; changed files (new toolchain, new recipe) become the next version."""
    from edgebench.models.zoo import get_model

    check_segment(owner, "owner")
    published = []
    for name in models:
        spec = get_model(name)
        try:
            files = zoo_files(spec, allow_download, report)
        except UserError as exc:
            report(f"skipped {name}: {exc}")
            continue
        ref = ModelRef(owner, check_segment(name, "model name"))
        latest = _latest_or_none(client, ref)
        if latest is not None:
            from edgebench.models.artifact import sha256_of

            if {a["sha256"] for a in latest["artifacts"]} == {sha256_of(p) for p, _ in files}:
                report(f"{ref}@{latest['version']} is up to date")
                continue
        version = str(_next_number(latest))
        client.publish(ModelRef(owner, ref.name, version), zoo_card(spec), files)
        report(f"published {ref}@{version} ({len(files)} files)")
        published.append(f"{ref}@{version}")
    return published


def _latest_or_none(client: HubClient, ref: ModelRef) -> dict | None:
    try:
        return client.version(ref)
    except UserError as exc:
        if "(404)" in str(exc):
            return None
        raise


def _next_number(latest: dict | None) -> int:
    if latest is None:
        return 1
    return int(latest["version"]) + 1 if latest["version"].isdigit() else 1


def file_card(description: str, task: str, license: str, tags: list[str], labels_file: Path | None,
              preprocess: str | None, retrainable: bool, source: str) -> dict:
    """A card for a user's own file, from CLI options."""
    from edgebench.models.zoo import NORMALISATIONS, preprocessing_named

    labels = []
    if labels_file is not None:
        try:
            labels = [ln.strip() for ln in Path(labels_file).read_text().splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read labels file {labels_file}: {exc}") from None
    prep = None
    if preprocess:
        if preprocess not in NORMALISATIONS:
            raise UserError(f"unknown --preprocess '{preprocess}'; known: {', '.join(NORMALISATIONS)}")
        p = preprocessing_named(preprocess)
        prep = {"resize": p.resize, "crop": p.crop, "mean": p.mean, "std": p.std}
    try:
        return ModelCard(description=description, task=task, license=license, tags=tags, labels=labels,
                         preprocessing=prep, retrainable=retrainable, source=source).model_dump(mode="json")
    except ValueError as exc:
        raise UserError(f"invalid model card: {str(exc).splitlines()[-1].strip()}") from None

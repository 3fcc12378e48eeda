"""What gets published: model cards and files, from a user's file or from the zoo (seed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from edgebench.errors import UserError
from edgebench.hub.client import HubClient
from edgebench.refs import MODEL_SUFFIXES, ModelRef, check_filename, check_segment
from edgebench.hub.schema import RUNTIME_HINTS, CardFields, ModelCard

# The zoo's torch checkpoints are pickles: the hub takes only formats it can validate.
PUBLISHABLE_FORMATS = tuple(RUNTIME_HINTS)
WEIGHTS = "weights"   # local_files' key for the checkpoint; variants are keyed (format, precision)
LABELS = "labels"     # local_files' key for a label file the entry names


def zoo_card(spec, labels: tuple[str, ...] | None = None) -> dict:
    """The model card of a zoo entry or a retrained model: everything `run` needs to
    preprocess and label, and, with a float checkpoint, what `retrain --base hub://` needs.
    labels: the entry's class names (see card_labels); by default those on hand without a download."""
    from edgebench.models.zoo_labels import spec_labels

    labels = labels if labels is not None else spec_labels(spec, allow_download=False)[0]
    prep = spec.preprocessing
    if spec.home:
        source = f"retrained with edgebench from {_lineage(spec)['base']}"
    elif spec.weights:
        source = f"{spec.weights.url or spec.weights.pip_hint} (sha256 {spec.weights.sha256})"
    else:
        source = "; ".join(f"{w.url} ({_pins(w)})" for _, w in spec.prebuilt)
    dataset = "imagenet" if spec.labels.startswith("imagenet") else spec.labels
    tags = (["retrained", *_lineage(spec)["base"].removeprefix("hub://").split("@")[:1]] if spec.home
            else ["preset", dataset, *spec.name.split("_")[:1], "edgebench-zoo"])
    try:
        return ModelCard(
            description=spec.description, task=spec.task, license=spec.license, tags=tags,
            labels=list(labels), input={"shape": list(spec.input_shape), "layout": "NCHW", "dtype": "float32"},
            preprocessing={"resize": prep.resize, "crop": prep.crop, "mean": prep.mean, "std": prep.std},
            # The float checkpoint travels as safetensors: retrain --base hub://... starts from it.
            retrainable=spec.arch is not None, architecture=_architecture(spec, len(labels)),
            lineage=_lineage(spec) if spec.home else None, source=source).model_dump(mode="json")
    except ValidationError as exc:
        from edgebench.results.schema import first_problem

        raise UserError(f"cannot publish {spec.name}: {first_problem(exc)}") from None


def _pins(source) -> str:
    return ", ".join(f"{name} {value}" for name, value in (("sha256", source.sha256), ("git blob", source.git_blob))
                     if value)


def card_labels(spec, allow_download: bool, on_step: Callable[[str], None],
                local: dict | None = None) -> tuple[str, ...]:
    """The class names a zoo entry's card lists: a label file found by local_files() is read as it
    is; otherwise it is fetched (announced) like the entry's files, when downloads are allowed."""
    from edgebench.models.zoo_labels import spec_labels
    from edgebench.tasks.labels import read_labels

    if local and LABELS in local:
        return read_labels(local[LABELS]).names
    return spec_labels(spec, allow_download=allow_download, notify=on_step)[0]


def float_source_name(spec) -> str:
    from edgebench.arch.checkpoint import SUFFIX

    return f"{spec.name}-fp32{SUFFIX}"


def _architecture(spec, num_classes: int) -> dict | None:
    if spec.arch is None:
        return None
    kwargs = dict(spec.arch_kwargs)
    return {"arch": spec.arch, "base_arch": kwargs.get("base_arch"), "num_classes": num_classes,
            "cosine": bool(kwargs.get("cosine", False)), "kept": int(kwargs.get("kept", 0)),
            "weights_file": float_source_name(spec)}


def _lineage(spec) -> dict:
    """A retrained model's lineage as the card states it (manifest -> hub schema)."""
    from edgebench.models.local import MANIFEST, read_manifest

    lineage = read_manifest(Path(spec.home) / MANIFEST)["lineage"]
    base, data = lineage["base"], lineage["dataset"]
    scalar = {k: v for k, v in lineage["hyperparameters"].items() if isinstance(v, (int, float, bool, str))}
    return {"base": base.get("ref") or base["name"], "base_sha256": base.get("weights_sha256"),
            "method": lineage["method"], "hyperparameters": scalar,
            "dataset_files": data["files"], "dataset_classes": data["classes"], "dataset_sha256": data["sha256"],
            "validation_images": data["validation_images"],
            "validation_top1": {t: v["top1"] for t, v in lineage.get("validation", {}).items() if v["status"] == "ok"}}


def float_source_file(spec, weights: Path) -> Path:
    """The float checkpoint as safetensors, under the name the card's architecture gives it. The
    weights are read as the architecture reads them (a torch checkpoint, or the person detector's
    TensorFlow graph), so the file holds exactly the module's state."""
    from edgebench.arch.checkpoint import save_state
    from edgebench.arch.torch_module import load_torch_module
    from edgebench.paths import cache_dir

    directory = cache_dir() / "hub-publish"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / float_source_name(spec)
    save_state(load_torch_module(spec.arch, weights, dict(spec.arch_kwargs)).state_dict(), path)
    return path


def zoo_files(spec, allow_download: bool, on_step: Callable[[str], None],
              local: dict | None = None) -> list[tuple[Path, str]]:
    """Every publishable variant of a zoo model, prepared (or found in the cache).

    local: what local_files() found; those files are used as they are, never downloaded.
    """
    from edgebench.models.prepare import Preparer

    local = local or {}
    preparer = Preparer(spec, allow_download=allow_download, on_step=on_step, weights=local.get(WEIGHTS))
    variants = [v for v in spec.variants if v[0] in PUBLISHABLE_FORMATS]
    # Planned first, so each conversion says "step k of n" with the real n, not k/k.
    preparer.plan_builds([v for v in variants if v not in local])
    files = []
    for variant in variants:
        fmt, precision = variant
        path = local.get(variant) or preparer.get(variant).path
        files.append((_published_copy(path, spec.name, fmt, precision), RUNTIME_HINTS[fmt]))
    if spec.arch is not None:
        files.append((float_source_file(spec, preparer.weights), "torch"))
    return files


def local_files(spec, directory: Path, report: Callable[[str], None]) -> dict:
    """The files of a zoo model that directory holds under their zoo names, each checked against
    the zoo's pins (a mismatch is a UserError): {(format, precision): path} for ready-made
    variants such as Coral's, {WEIGHTS: path} for the checkpoint variants are built from,
    {LABELS: path} for a label file the entry names."""
    from edgebench.models.weights import pin_names, verify

    found = {}
    for key, source in _wanted_files(spec).items():
        path = Path(directory) / source.filename
        if path.is_file():
            found[key] = verify(path, source)
            pins = pin_names(source)
            report(f"using {path} ({pins} {'match' if ' and ' in pins else 'matches'} the zoo's)")
    return found


def _wanted_files(spec) -> dict:
    wanted = {variant: source for variant, source in spec.prebuilt}
    if spec.weights is not None:
        wanted[WEIGHTS] = spec.weights
    if spec.label_file is not None:
        wanted[LABELS] = spec.label_file
    return wanted


def zoo_filenames(spec) -> list[str]:
    """The file names local_files() looks for."""
    return [source.filename for source in _wanted_files(spec).values()]


def available_models(directory: Path | None = None) -> list[str]:
    """Zoo models whose files are all on this machine (installed, cached, or in directory), so
    publishing them downloads nothing; a model whose checkpoint is here counts, as its variants
    are built from it."""
    from edgebench.models.weights import available_path
    from edgebench.models.zoo import ZOO

    def here(source) -> bool:
        return available_path(source) is not None or (
            directory is not None and (Path(directory) / source.filename).is_file())

    return sorted(name for name, spec in ZOO.items()
                  if all(here(source) for key, source in _wanted_files(spec).items() if key != LABELS))


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
         report: Callable[[str], None], from_dir: Path | None = None) -> list[str]:
    """Publish zoo models as owner/<zoo name>. A model whose latest version already holds the same
    files is left alone; changed files (new toolchain, new recipe) become the next version.

    from_dir: a directory of zoo files (see local_files), used before the cache or a download;
    a file there whose sha256 is not the zoo's stops the seed before anything is published.
    """
    from edgebench.models.zoo import get_model

    check_segment(owner, "owner")
    specs = [get_model(name) for name in models]
    local = {spec.name: local_files(spec, from_dir, report) if from_dir else {} for spec in specs}
    if from_dir is not None and not any(local.values()):
        names = sorted({f for spec in specs for f in zoo_filenames(spec)})
        raise UserError(f"{from_dir} holds none of the files looked for: {', '.join(names)}")
    published = []
    for spec in specs:
        try:
            files = zoo_files(spec, allow_download, report, local[spec.name])
        except UserError as exc:
            report(f"skipped {spec.name}: {exc}")
            continue
        try:
            labels = card_labels(spec, allow_download, report, local[spec.name])
        except UserError as exc:
            report(f"skipped {spec.name}: {exc}")
            continue
        ref = _seed_one(client, ModelRef(owner, check_segment(spec.name, "model name")), spec, files, labels,
                        report)
        if ref is not None:
            published.append(ref)
    return published


def _seed_one(client: HubClient, ref: ModelRef, spec, files: list[tuple[Path, str]], labels: tuple[str, ...],
              report: Callable[[str], None]) -> str | None:
    """Publish files as the next version of ref unless its latest version holds the same files."""
    from edgebench.models.artifact import sha256_of

    latest = _latest_or_none(client, ref)
    if latest is not None and {a["sha256"] for a in latest["artifacts"]} == {sha256_of(p) for p, _ in files}:
        report(f"{ref}@{latest['version']} is up to date")
        return None
    version = str(_next_number(latest))
    client.publish(ModelRef(ref.owner, ref.name, version), zoo_card(spec, labels), files)
    report(f"published {ref}@{version} ({len(files)} files), task {spec.task}")
    return f"{ref}@{version}"


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


def user_files(sources: list[Path], runtime_hint: str | None = None) -> list[tuple[Path, str | None]]:
    """The files of one version of a user's own model, each checked to be a model file before
    anything is uploaded: files as named, folders as the model files directly in them
    (.tflite, .onnx, .safetensors; other files such as labels are left alone)."""
    from edgebench.fileio import shown

    files = []
    for source in sources:
        if Path(source).is_dir():
            found = sorted(p for p in Path(source).iterdir()
                           if p.suffix.lower() in MODEL_SUFFIXES and not p.name.startswith(".") and p.is_file())
            if not found:
                raise UserError(f"folder {shown(source)} holds no model file ({', '.join(MODEL_SUFFIXES)})")
            files += found
        else:
            files.append(Path(source))
    names = [p.name for p in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"two files named {twice[0]}: the files of a version need different names")
    if runtime_hint is not None and len(files) > 1:
        raise UserError(f"a runtime hint names the runtime of one file; this version has {len(files)} "
                        "(each gets its format's runtime)", "runtime_hint")
    for path in files:
        _check_model_file(path)
    return [(path, runtime_hint) for path in files]


def _check_model_file(path: Path) -> None:
    """UserError, naming the file, for anything the hub would refuse as a model file."""
    from edgebench.fileio import regular_file
    from edgebench.models.artifact import inspect_model_file
    from edgebench.arch.checkpoint import SUFFIX, inspect_safetensors

    if path.name.lower().endswith(SUFFIX):   # a float source for retraining
        regular_file(path, "model file")
        inspect_safetensors(path)
    else:
        inspect_model_file(path)
    check_filename(path.name)   # the name it is published under


def file_card(description: str | None = None, task: str | None = None, license: str | None = None,
              tags: list[str] | None = None, labels_file: Path | None = None, preprocess: str | None = None,
              retrainable: bool | None = None, source: str | None = None) -> dict:
    """The card fields given by CLI options for a user's own file: only those (None: not given),
    so that a new version keeps the fields of the previous one its publisher did not change."""
    from edgebench.models.zoo import NORMALISATIONS, preprocessing_named

    from edgebench.fileio import read_text
    from edgebench.results.schema import first_problem

    given = {"description": description, "task": task, "license": license, "tags": tags or None,
             "retrainable": retrainable, "source": source}
    if labels_file is not None:   # binary, a FIFO, a loop, too long, too big: one line each
        given["labels"] = [ln.strip() for ln in read_text(labels_file, "labels file", 64 << 20).splitlines()
                           if ln.strip()]
    if preprocess:
        if preprocess not in NORMALISATIONS:
            raise UserError(f"unknown preprocessing '{preprocess}'; known: {', '.join(NORMALISATIONS)}", "preprocess")
        p = preprocessing_named(preprocess)
        given["preprocessing"] = {"resize": p.resize, "crop": p.crop, "mean": p.mean, "std": p.std}
    try:
        fields = CardFields(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise UserError(f"invalid model card: {first_problem(exc)}") from None
    return fields.model_dump(mode="json", include=fields.model_fields_set)

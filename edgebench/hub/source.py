"""A model version on the hub as a model source (hub://owner/name@version): its files are pulled
into the cache (sha256-checked) and each runs on the runtimes that read it, preprocessed and
labelled as its card says. Registered in edgebench.models.source.SOURCES."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from edgebench.errors import TargetUnavailable
from edgebench.models.artifact import Artifact
from edgebench.models.source import FileSource, Request, StepCallback, imagenet_labels
from edgebench.models.zoo import Preprocessing
from edgebench.tensors import TensorSpec


class HubSource:
    """A model version from the hub (hub://owner/name@version): its files are pulled into the
    cache (sha256-checked) and each runs on the runtimes that read it, preprocessed as its card says."""

    def __init__(self, reference: str, on_step: StepCallback):
        from edgebench.hub.client import cache_pull
        from edgebench.refs import parse_ref

        ref = parse_ref(reference)
        on_step(f"pulling {ref} from the hub")
        self.version, paths = cache_pull(ref)
        self.name = f"{ref.path}@{self.version['version']}"
        # A .safetensors float source is what retraining starts from; it is not run.
        self.files = [FileSource(path) for path in paths if path.suffix.lower() in (".tflite", ".onnx")]
        float_files = [f.artifact.format for f in self.files if f.artifact.precision == "fp32"]
        self.native_format = float_files[0] if float_files else None
        self.declared_task = self.version["card"].get("task")
        self.tensors = next((f.tensors for f in self.files if f.tensors), None)

    def applies(self, precision: str, formats: tuple[str, ...]) -> bool:
        return any(f.applies(precision, formats) for f in self.files)

    def artifact_for(self, target: str, precision: str, formats: tuple[str, ...]) -> Artifact:
        # In the runtime's order of preference: OpenVINO reads both, but ONNX int8 better.
        chosen = next((f for fmt in formats for f in self.files
                       if f.artifact.format == fmt and f.applies(precision, formats)), None)
        if chosen is None:
            have = ", ".join(f"{f.artifact.format} {f.artifact.precision}" for f in self.files)
            raise TargetUnavailable(f"{self.name} has no {precision} file that {target} reads "
                                    f"(it has: {have})")
        return dataclasses.replace(chosen.artifact_for(target, precision, formats), model=self.name)

    def conversions_needed(self, _requests: Sequence[Request]) -> int:
        return 0

    def preprocessing(self, input_spec: TensorSpec, choice: str) -> tuple[Preprocessing, str]:
        card = self.version["card"].get("preprocessing")
        if card and choice == "auto":  # the publisher said how: trust the card over a guess
            return (Preprocessing(card["resize"], card["crop"], tuple(card["mean"]), tuple(card["std"])),
                    "the hub card's")
        return self.files[0].preprocessing(input_spec, choice)

    def labels(self, num_classes: int) -> tuple[tuple[str, ...], str]:
        card = self.version["card"].get("labels") or []
        if len(card) == num_classes:
            return tuple(card), "the hub card's labels"
        return imagenet_labels(num_classes)

    def own_labels(self) -> tuple[str, ...] | None:
        """The card's labels when they are not ImageNet's (a retrained model's classes)."""
        card = tuple(self.version["card"].get("labels") or ())
        return card if card and len(card) not in (1000, 1001) else None

    def describe(self) -> dict:
        return {"name": self.name, "source": "hub", "hub": self.version.get("hub"),
                "ref": self.name.partition("@")[0], "version": self.version["version"],
                "files": [{"filename": a["filename"], "format": a["format"], "precision": a["precision"],
                           "sha256": a["sha256"]} for a in self.version["artifacts"]]}

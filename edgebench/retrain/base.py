"""What a retrain starts from: a zoo model, a model retrained here, or a hub version.

Whatever the base, retraining needs the same things of it: a backbone architecture and its
weights (the float checkpoint, never a converted file), how it preprocesses, and its
classifier (kept beside the new classes by `--keep-classes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebench.errors import UserError
from edgebench.models.zoo import Preprocessing


@dataclass
class Base:
    """lineage: what the new model records about it. backbone_arch: the zoo architecture's
    module:Class; backbone_state: its weights without the classifier."""

    lineage: dict
    backbone_arch: str
    backbone_state: dict
    preprocessing: Preprocessing
    labels: tuple[str, ...]
    classifier: tuple[np.ndarray, np.ndarray]
    license: str
    cannot_keep: str | None = None   # why --keep-classes cannot keep this base's classes


def resolve_base(base: str, allow_download: bool = True) -> Base:
    if not isinstance(base, str) or not base.strip():
        raise UserError("no base model named: give mobilenet_v2, efficientnet_lite0, a retrained model or "
                        "hub://owner/name@version", "base")
    if base.startswith("hub://"):
        from edgebench.hub.retrainable import pull_base

        arch, kwargs, weights, prep, labels, lineage, license = pull_base(base)
        return _from_module(arch, kwargs, weights, prep, labels, lineage, license)
    from edgebench.models.weights import resolve_weights
    from edgebench.models.zoo import get_model

    spec = get_model(base)
    if spec.arch is None or spec.weights is None:
        raise UserError(f"{base} is not retrainable: it has no float checkpoint to start from "
                        "(only its converted files are published)")
    weights = resolve_weights(spec.weights, allow_download=allow_download)
    labels = spec.class_names or _imagenet_labels()
    lineage = {"kind": "retrained" if spec.home else "zoo", "name": spec.name,
               "weights_sha256": spec.weights.sha256}
    return _from_module(spec.arch, dict(spec.arch_kwargs), weights, spec.preprocessing, labels,
                        lineage, spec.license)


def _imagenet_labels() -> tuple[str, ...]:
    from edgebench.tasks.labels import labels_for

    return labels_for(1000)


def _from_module(arch: str, kwargs: dict, weights, prep: Preprocessing, labels, lineage: dict,
                 license: str) -> Base:
    from edgebench.arch.torch_module import load_torch_module
    from edgebench.retrain.model import ARCH

    try:
        module = load_torch_module(arch, weights, kwargs)
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise UserError(f"the base's weights do not fit its architecture: {str(exc).splitlines()[0][:200]}") from None
    layer = module.classifier_layer()
    classifier = (layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy())
    cannot_keep = None
    if arch == ARCH:   # a retrained model: its backbone is the zoo architecture it was built on
        backbone_arch, backbone = kwargs["base_arch"], module.backbone
        if kwargs.get("cosine") or kwargs.get("kept"):
            cannot_keep = "its classes are imprinted or kept beside others, not one linear head on its features"
        labels = labels[kwargs.get("kept", 0):]   # classifier_layer holds its own classes only
    else:
        backbone_arch, backbone = arch, module
        backbone.drop_classifier()
    if len(labels) != len(classifier[1]):
        raise UserError(f"the base has {len(classifier[1])} classes but {len(labels)} labels")
    return Base(lineage, backbone_arch, backbone.state_dict(), prep, tuple(labels), classifier, license,
                cannot_keep)

"""`retrain --base hub://owner/name@version`: the version's float source, as the card says.

The card names an architecture from a fixed list and the version's .safetensors file; the
file was validated when it was uploaded and is sha256-checked as it is pulled. Nothing the
hub sends is imported or unpickled.
"""

from __future__ import annotations

from pathlib import Path

from edgebench.errors import UserError


def pull_base(reference: str):
    """(arch, kwargs, weights path, preprocessing, labels, lineage, license) of a hub version."""
    from pydantic import ValidationError

    from edgebench.hub.client import cache_pull
    from edgebench.refs import parse_ref
    from edgebench.hub.schema import ModelCard
    from edgebench.models.artifact import sha256_of
    from edgebench.models.zoo import Preprocessing
    from edgebench.results.schema import first_problem

    ref = parse_ref(reference)
    version, paths = cache_pull(ref)
    where = f"hub://{ref.path}@{version['version']}"
    try:
        card = ModelCard.model_validate(version["card"])
    except ValidationError as exc:
        raise UserError(f"{where}: its card is not valid: {first_problem(exc)}") from None
    if not card.retrainable or card.architecture is None:
        raise UserError(f"{where} is not retrainable: its card names no float source (only converted files "
                        "were published)")
    arch = card.architecture
    weights = next((p for p in paths if p.name == arch.weights_file), None)
    if weights is None:
        raise UserError(f"{where}: the card's float source {arch.weights_file} is not among its files")
    if card.preprocessing is None:
        raise UserError(f"{where}: the card does not say how to preprocess (needed to retrain)")
    kwargs = ({"base_arch": arch.base_arch, "num_classes": arch.num_classes, "cosine": arch.cosine,
               "kept": arch.kept} if arch.base_arch else {"num_classes": arch.num_classes})
    p = card.preprocessing
    prep = Preprocessing(p.resize, p.crop, tuple(p.mean), tuple(p.std), name="the hub card's")
    labels = tuple(card.labels) if len(card.labels) == arch.num_classes else \
        tuple(f"class {i}" for i in range(arch.num_classes))
    lineage = {"kind": "hub", "ref": where, "hub": version.get("hub"), "weights_sha256": sha256_of(Path(weights))}
    return arch.arch, kwargs, weights, prep, labels, lineage, card.license

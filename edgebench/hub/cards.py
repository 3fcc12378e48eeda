"""A new version's model card: the fields its publisher gave, over the previous version's card.

A version that only brings a new file keeps the model's license, tags, labels and preprocessing:
losing them would make `hub search --tag` miss it and `run --model hub://...` label its classes
"class 0" with a guessed normalisation.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from edgebench.hub.db import HubRefusal
from edgebench.hub.schema import CardFields, ModelCard


def given_fields(card: CardFields) -> dict:
    """The fields a publish request set explicitly, as JSON data."""
    return card.model_dump(mode="json", include=card.model_fields_set)


def card_for_version(previous: dict | None, given: dict, filenames: Iterable[str]) -> dict:
    """The whole card of a new version (validated, as JSON data).

    previous: the model's latest card (None for a first version); given: the fields the publisher
    set; filenames: the new version's files. A float source (architecture) carried over from the
    previous version names one of that version's files: where the new version does not hold it,
    it is dropped, and the version is not retrainable unless the publisher says so (and names one).
    HubRefusal(422) when the result is not a valid card.
    """
    from edgebench.results.schema import first_problem

    card = {**(previous or {}), **given}
    architecture = card.get("architecture")
    if "architecture" not in given and architecture and architecture.get("weights_file") not in set(filenames):
        card["architecture"] = None
        if "retrainable" not in given:
            card["retrainable"] = False
    try:
        return ModelCard.model_validate(card).model_dump(mode="json")
    except ValidationError as exc:
        raise HubRefusal(422, f"invalid model card: {first_problem(exc)}") from None

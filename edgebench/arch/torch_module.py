"""Build a zoo architecture and load its checkpoint strictly (shared by prepare and the torch runtime)."""

from __future__ import annotations

from pathlib import Path

from edgebench.packages import load_object


def load_torch_module(arch: str, weights: Path, kwargs: dict | None = None):
    """Instantiate module:Class(**kwargs), load the state dict with strict=True, return it in
    eval mode."""
    import torch

    from edgebench.arch.checkpoint import SUFFIX, current_name, load_state

    kwargs = dict(kwargs or {})
    if "base_arch" in kwargs:   # a retrained model's backbone, perhaps named as it was stored
        kwargs["base_arch"] = current_name(kwargs["base_arch"])
    cls = load_object(current_name(arch))
    model = cls(**kwargs)
    reader = getattr(cls, "state_from_file", None)   # weights in a file torch cannot load (a TF graph)
    if Path(weights).suffix.lower() == SUFFIX:       # the module's own state, saved (a hub card's)
        state = load_state(weights)
    elif reader is not None:
        state = reader(Path(weights))
    else:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()

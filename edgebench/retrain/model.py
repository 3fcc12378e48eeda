"""The retrained network: a zoo backbone (its classifier dropped) and a new linear head.

A plain torch module with a state dict of its own (`backbone.*`, `head.*`), built from keyword
arguments recorded in the model's manifest, so every prepare recipe (ONNX, TFLite, int8) and the
torch runtime load it as they load a zoo architecture: strictly, by module:Class.
"""

from __future__ import annotations

import torch
from torch import nn

from edgebench.arch.checkpoint import current_name
from edgebench.packages import load_object

ARCH = "edgebench.retrain.model:RetrainedClassifier"


class RetrainedClassifier(nn.Module):
    """base_arch: the zoo architecture's module:Class. cosine: L2-normalise the features
    before the head (weight imprinting's classifier: each row of the head is a class's
    normalised mean embedding times a scale). kept: how many of the base's classes are kept
    (`--keep-classes`) in their own linear head on the raw features, their logits first."""

    def __init__(self, base_arch: str, num_classes: int, cosine: bool = False, kept: int = 0):
        super().__init__()
        backbone = load_object(current_name(base_arch))()
        backbone.drop_classifier()
        self.backbone = backbone
        self.head = nn.Linear(backbone.feature_dim, num_classes - kept)
        self.kept_head = nn.Linear(backbone.feature_dim, kept) if kept else None
        self.cosine = cosine

    def classifier_layer(self) -> nn.Linear:
        """The new classes' head (what a retrain from this model starts over)."""
        return self.head

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        new = features
        if self.cosine:
            # Not F.normalize: its clamp + expand_as exports an Expand whose shape ONNX
            # Runtime's quantization pre-processing cannot infer; a broadcast Mul it can.
            new = features * torch.rsqrt((features * features).sum(dim=1, keepdim=True) + 1e-12)
        if self.kept_head is None:
            return self.head(new)
        return torch.cat([self.kept_head(features), self.head(new)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.backbone.forward_features(x))

"""MobileNetV2 in plain torch, with torchvision's module layout.

torchvision has no CPU build here, so the architecture is written out; the module
names match torchvision's exactly so its ImageNet checkpoint loads with strict=True.
"""

from __future__ import annotations

import torch
from torch import nn

from edgebench.arch.layers import GlobalAveragePool

# (expand_ratio, out_channels, repeats, first_stride): the paper's Table 2.
_INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class ConvBNReLU6(nn.Sequential):
    """Conv -> BatchNorm -> ReLU6; indices 0/1/2 match torchvision's Conv2dNormActivation."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_ch * expand_ratio
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(in_ch, hidden, kernel=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    """ImageNet MobileNetV2 (width 1.0, 224x224, NCHW float input, 1000 logits)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        in_ch, last_ch = 32, 1280
        features: list[nn.Module] = [ConvBNReLU6(3, in_ch, stride=2)]
        for expand, out_ch, repeats, first_stride in _INVERTED_RESIDUAL_SETTING:
            for i in range(repeats):
                features.append(InvertedResidual(in_ch, out_ch, first_stride if i == 0 else 1, expand))
                in_ch = out_ch
        features.append(ConvBNReLU6(in_ch, last_ch, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(last_ch, num_classes))

    # What retraining needs of a backbone (edgebench/retrain/model.py): the pooled feature
    # width, the features, the stages they are computed in, and a way to drop the classifier.
    feature_dim = 1280

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))

    def feature_stages(self) -> list[nn.Module]:
        """Modules whose composition is forward_features: the stem, 17 inverted residual
        blocks, the 1x1 head convolution, then the (parameter-free) pooling."""
        return [*self.features, GlobalAveragePool()]

    def classifier_layer(self) -> nn.Linear:
        return self.classifier[1]

    def drop_classifier(self) -> None:
        self.classifier = nn.Identity()

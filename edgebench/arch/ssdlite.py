"""SSDLite on MobileNetV2 in plain torch: the TensorFlow object-detection API's
`ssdlite_mobilenet_v2` (300x300, 6 feature maps, 1917 anchors), with weights read from its
frozen graph (`state_from_file`).

The network ends in a raw detection head the detection task decodes, not in non-maximum
suppression (NMS inside a graph exports poorly to ONNX, TFLite and OpenVINO alike): per anchor
(x centre, y centre, width, height, 1, score of each class), boxes relative to the image,
decoded from the anchors with the graph's box coder (scales 10, 10, 5, 5) and clipped to the
image as TensorFlow's post-processing clips them; scores are the graph's sigmoid of each class
logit, the background's dropped. The constant 1 stands where a YOLO head has its objectness,
so `edgebench.tasks.detection` reads the head as it reads any [1, N, 4+1+C] head.

TensorFlow pads "SAME": a stride-2 convolution of an even-sized input pads one pixel at the
bottom/right only, where torch pads both sides; `SameConv2d` pads as TensorFlow does.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from edgebench.arch.mobilenet_v2 import ConvBNReLU6, MobileNetV2

INPUT_SIZE = 300
BN_EPSILON = 1e-3                     # TF-slim MobileNetV2's (the graph's FusedBatchNorm epsilon)
EXTRA_LAYERS = ((256, 512), (128, 256), (128, 256), (64, 128))   # (1x1 depth, 3x3 s2 depth)
TAP_BLOCK = 14                        # features[14] = expanded_conv_13: its expansion output is map 1
ANCHORS_PER_CELL = (3, 6, 6, 6, 6, 6)
BOX_CODER_SCALES = (10.0, 10.0, 5.0, 5.0)   # y, x, height, width (FasterRcnnBoxCoder)


class SameConv2d(nn.Conv2d):
    """A convolution padded as TensorFlow's "SAME" pads: the odd pixel at the bottom/right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(int(size) / stride) - 1) * stride + kernel - int(size), 0)
            pads += [total // 2, total - total // 2]
        return self._conv_forward(nn.functional.pad(x, pads), self.weight, self.bias)


def _tf_padding(module: nn.Module) -> None:
    """Replace every strided convolution by a SameConv2d with the same parameters."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Conv2d) and child.stride != (1, 1):
            same = SameConv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                              padding=0, groups=child.groups, bias=child.bias is not None)
            setattr(module, name, same)
        else:
            _tf_padding(child)


def _head(channels: int, outputs: int) -> nn.Sequential:
    """SSDLite's predictor: 3x3 depthwise (BN, ReLU6), then a 1x1 convolution with bias."""
    return nn.Sequential(ConvBNReLU6(channels, channels, stride=1, groups=channels),
                         nn.Conv2d(channels, outputs, 1))


def feature_map_sizes(size: int = INPUT_SIZE) -> list[int]:
    """Side of each of the six feature maps for a square input: strides 16, 32, ... under SAME."""
    side = size
    for _ in range(4):   # stem and three stride-2 stages before expanded_conv_13's expansion
        side = math.ceil(side / 2)
    sides = [side]
    for _ in range(5):
        side = math.ceil(side / 2)
        sides.append(side)
    return sides


def grid_anchors(scales, aspect_ratios, side: int):
    """TF's GridAnchorGenerator for one square map: (y centre, x centre, height, width) per
    (row, column, anchor), anchors fastest; base size 1, stride 1/side, offset half a cell."""
    import numpy as np

    scales, ratios = np.asarray(scales, np.float32), np.sqrt(np.asarray(aspect_ratios, np.float32))
    heights, widths = scales / ratios, scales * ratios
    centres = (np.arange(side, dtype=np.float32) + 0.5) / side
    yc, xc, k = np.meshgrid(centres, centres, np.arange(len(scales)), indexing="ij")
    return np.stack([yc, xc, heights[k], widths[k]], axis=-1).reshape(-1, 4).astype(np.float32)


class SSDLiteMobileNetV2(nn.Module):
    """Input: NCHW float, the 300x300 photo scaled to [-1, 1]. Output: [N, 1917, 5 + classes]."""

    def __init__(self, num_classes: int = 1):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = MobileNetV2()
        self.backbone.drop_classifier()
        channels = [576, 1280]
        extras = []
        for depth, out in EXTRA_LAYERS:
            extras.append(nn.Sequential(ConvBNReLU6(channels[-1], depth, kernel=1),
                                        ConvBNReLU6(depth, depth, stride=2, groups=depth),
                                        ConvBNReLU6(depth, out, kernel=1)))
            channels.append(out)
        self.extras = nn.ModuleList(extras)
        self.box_heads = nn.ModuleList(_head(c, a * 4) for c, a in zip(channels, ANCHORS_PER_CELL))
        # + 1: the graph's class predictor also scores the background
        self.class_heads = nn.ModuleList(_head(c, a * (num_classes + 1)) for c, a in zip(channels, ANCHORS_PER_CELL))
        total = sum(a * s * s for a, s in zip(ANCHORS_PER_CELL, feature_map_sizes()))
        self.register_buffer("anchors", torch.zeros(total, 4))          # y, x, h, w (from the graph)
        self.register_buffer("box_scales", torch.tensor(BOX_CODER_SCALES))
        _tf_padding(self)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps = BN_EPSILON

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.backbone.features
        for block in features[:TAP_BLOCK]:
            x = block(x)
        tap = features[TAP_BLOCK].conv[0](x)    # expansion output, 576 channels at stride 16
        x = features[TAP_BLOCK].conv[1:](tap)   # stride 2: no residual
        for block in features[TAP_BLOCK + 1:]:
            x = block(x)
        maps = [tap, x]
        for extra in self.extras:
            maps.append(extra(maps[-1]))
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        encodings, logits = [], []
        for fmap, box_head, class_head in zip(self.feature_maps(x), self.box_heads, self.class_heads):
            # NHWC order, as the graph reshapes: cell-major, anchor fastest
            encodings.append(box_head(fmap).permute(0, 2, 3, 1).reshape(n, -1, 4))
            logits.append(class_head(fmap).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes + 1))
        return self.decode(torch.cat(encodings, 1), torch.cat(logits, 1))

    def decode(self, encodings: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        t = encodings / self.box_scales
        a = self.anchors
        yc = t[..., 0] * a[:, 2] + a[:, 0]
        xc = t[..., 1] * a[:, 3] + a[:, 1]
        h = torch.exp(t[..., 2]) * a[:, 2]
        w = torch.exp(t[..., 3]) * a[:, 3]
        y0, y1 = (yc - h / 2).clamp(0, 1), (yc + h / 2).clamp(0, 1)
        x0, x1 = (xc - w / 2).clamp(0, 1), (xc + w / 2).clamp(0, 1)
        scores = torch.sigmoid(logits[..., 1:])
        box = torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, torch.ones_like(xc)], -1)
        return torch.cat([box, scores], -1)

    @staticmethod
    def state_from_file(path: Path) -> dict:
        """The state dict, read from the frozen TensorFlow graph at path."""
        from edgebench.arch.tf_graph import ssdlite_state

        return ssdlite_state(path)

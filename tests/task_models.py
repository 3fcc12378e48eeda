"""Small ONNX models made at test time for the task tests (ours, so their license is the
project's): a YOLO-style raw-head detector, a model with two inputs of different dtypes, and a
detector whose image size is left open. Their weights are seeded, not trained: the tests check
that edgebench feeds, times, decodes and compares them on every runtime that reads ONNX, not
that they find real objects."""

from __future__ import annotations

from pathlib import Path

CLASSES = ("red thing", "green thing", "blue thing")


def _detector():
    import torch
    from torch import nn

    class TinyDetector(nn.Module):
        """Stride-8 grid; per cell: box centre/size in input pixels, then class scores: the
        [1, 4 + C, N] output of a YOLOv8-style head."""

        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
                                          nn.Conv2d(16, 16, 3, 2, 1), nn.ReLU())
            self.box = nn.Conv2d(16, 4, 1)
            self.cls = nn.Conv2d(16, len(CLASSES), 1)

        def forward(self, image):
            features = self.backbone(image)
            h, w = features.shape[2], features.shape[3]
            ys = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1).expand(1, 1, h, w)
            xs = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w).expand(1, 1, h, w)
            raw = self.box(features)
            cx = (xs + torch.sigmoid(raw[:, 0:1])) * 8
            cy = (ys + torch.sigmoid(raw[:, 1:2])) * 8
            size = torch.sigmoid(raw[:, 2:4]) * 48 + 8
            scores = torch.sigmoid(self.cls(features) * 4 - 1.5)
            return torch.cat([cx, cy, size, scores], dim=1).flatten(2)

    torch.manual_seed(7)
    return TinyDetector().eval()


def raw_head_detector(path: Path, dynamic_size: bool = False) -> Path:
    import torch

    sample = torch.rand(1, 3, 160, 160)
    kwargs = {}
    if dynamic_size:
        kwargs["dynamic_shapes"] = ({2: torch.export.Dim("height", min=32, max=1024),
                                     3: torch.export.Dim("width", min=32, max=1024)},)
    torch.onnx.export(_detector(), (sample,), str(path), input_names=["images"], output_names=["output0"],
                      dynamo=True, external_data=False, verbose=False, **kwargs)
    return path


def two_input_model(path: Path) -> Path:
    """Inputs: features float32 [1, 16] and token ids int64 [1, 8]; outputs [1, 10] and [1, 4]."""
    import torch
    from torch import nn

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 16)
            self.mix = nn.Linear(16, 10)
            self.side = nn.Linear(16, 4)

        def forward(self, features, ids):
            h = torch.tanh(features + self.embed(ids).mean(dim=1))
            return self.mix(h), self.side(h)

    torch.manual_seed(3)
    sample = (torch.rand(1, 16), torch.randint(0, 100, (1, 8)))
    torch.onnx.export(TwoInputs().eval(), sample, str(path), input_names=["features", "ids"],
                      output_names=["scores", "side"], dynamo=True, external_data=False, verbose=False)
    return path

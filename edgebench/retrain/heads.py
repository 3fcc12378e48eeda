"""New classifier heads: trained with Adam on cached activations, or imprinted.

`train` fits the head (and, for a fine-tune, the unfrozen blocks before it) with Adam and a
cross-entropy loss with light label smoothing, seeded so the same images give the same model.
`imprint` is Coral's weight imprinting (Qi, Brown & Lowe, 2018): each new class's weights are
the normalised mean of its normalised embeddings, used by a cosine classifier; no gradient
steps, so a few images per class are enough and it takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Cosine similarities lie in [-1, 1]; scaled, they become logits whose softmax is decisive
# for a clear match (a 0.3 lead in similarity gives e^3 = 20x odds) yet saturates no int8 range.
IMPRINT_SCALE = 10.0
EpochCallback = Callable[[int, int, float], None]   # (epoch, epochs, loss)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 40
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    label_smoothing: float = 0.1
    seed: int = 0

    def describe(self) -> dict:
        return {"optimizer": "Adam", "epochs": self.epochs, "learning_rate": self.learning_rate,
                "weight_decay": self.weight_decay, "batch_size": self.batch_size,
                "label_smoothing": self.label_smoothing, "seed": self.seed}


def train(trainable, head, inputs: np.ndarray, labels: np.ndarray, settings: TrainSettings,
          on_epoch: EpochCallback | None = None) -> list[float]:
    """Fit head(trainable(inputs)) to labels; returns the mean loss of each epoch. trainable is
    a module (the unfrozen blocks) or None; its BatchNorm statistics stay frozen, as a few
    dozen images would only make them worse."""
    import torch
    from torch import nn

    torch.manual_seed(settings.seed)
    modules = [m for m in (trainable, head) if m is not None]
    params = [p for m in modules for p in m.parameters()]
    for m in modules:
        m.train()
        for sub in m.modules():
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                sub.eval()
    optimizer = torch.optim.Adam(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(settings.seed)
    history = []
    for epoch in range(1, settings.epochs + 1):
        order = torch.randperm(len(y_all), generator=generator)
        total = 0.0
        for start in range(0, len(order), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            x = trainable(x_all[idx]) if trainable is not None else x_all[idx]
            loss = loss_fn(head(x), y_all[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        history.append(total / len(y_all))
        if on_epoch:
            on_epoch(epoch, settings.epochs, history[-1])
    for m in modules:
        m.eval()
    return history


# --keep-classes: a new class's logit per unit of cosine similarity, and the percentile of its
# own training views' similarities at which it equals the base head's best logit on them.
KEEP_SLOPE = 50.0
KEEP_PERCENTILE = 10


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _class_means(unit: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.stack([_unit(unit[labels == c].mean(axis=0)) for c in range(num_classes)])


def imprint(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of a cosine classifier: one row per class, the scaled unit mean of its
    unit embeddings."""
    weight = _class_means(_unit(features), labels, num_classes) * IMPRINT_SCALE
    return weight.astype(np.float32), np.zeros(num_classes, dtype=np.float32)


def imprint_beside(features: np.ndarray, labels: np.ndarray, num_classes: int,
                   base: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Imprinted rows for new classes that sit beside the base's own linear head.

    Coral keeps a base model's classes by normalising their weights too, which works for a
    backbone trained with normalised embeddings; torchvision's and TensorFlow's were not (their
    kept rows would score far below any imprinted mean), so the base head stays as it was and
    each new class's cosine is mapped onto its logit scale: at the KEEP_PERCENTILE-th
    similarity of the class's own training views the logit equals the highest logit the base
    head gave those views, rising KEEP_SLOPE per unit of cosine."""
    unit = _unit(features)
    means = _class_means(unit, labels, num_classes)
    base_best = (features @ base[0].T + base[1]).max(axis=1)
    bias = []
    for c in range(num_classes):
        own = labels == c
        threshold = np.percentile(unit[own] @ means[c], KEEP_PERCENTILE)
        bias.append(base_best[own].max() - KEEP_SLOPE * threshold)
    return (means * KEEP_SLOPE).astype(np.float32), np.asarray(bias, dtype=np.float32)

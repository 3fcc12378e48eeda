"""Figures that compare two tensors, shared by the tasks that compare raw values."""

from __future__ import annotations

import math

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two tensors read as vectors (1.0 for two zero vectors)."""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        return 0.0
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(np.clip(a @ b / (na * nb), -1.0, 1.0))


def sqnr_db(signal: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of `test` against `signal`, in dB (capped at 200 dB,
    the figure for identical tensors)."""
    signal, test = np.asarray(signal, np.float64).reshape(-1), np.asarray(test, np.float64).reshape(-1)
    noise = float(np.sum((signal - test) ** 2))
    power = float(np.sum(signal ** 2))
    if noise == 0:
        return 200.0
    if power == 0:
        return 0.0
    return min(200.0, 10 * math.log10(power / noise))


def max_abs_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    return float(np.max(np.abs(a - b))) if a.size else 0.0

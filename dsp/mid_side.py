"""Mid/side matrix: ``M = (L + R) / 2``, ``S = (L - R) / 2``; ``L = M + S``, ``R = M - S``.

With this scaling a centred source is its own mid (``M = L = R``, ``S = 0``)
and decode inverts encode exactly in exact arithmetic; in float64 the round
trip is exact whenever ``L + R`` and ``L - R`` are (e.g. float32 audio) and
otherwise within one rounding of each sum (~1e-16 relative).
"""
from __future__ import annotations

import numpy as np


def encode(x: np.ndarray) -> np.ndarray:
    """L/R ``(2, N)`` -> M/S ``(2, N)`` (new array)."""
    y = _sum_difference(x, "encoding")
    y *= 0.5
    return y


def decode(x: np.ndarray) -> np.ndarray:
    """M/S ``(2, N)`` -> L/R ``(2, N)`` (new array)."""
    return _sum_difference(x, "decoding")


def _sum_difference(x, what: str) -> np.ndarray:
    """``[x0 + x1, x0 - x1]`` as a new float64 ``(2, N)`` array."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != 2:
        raise ValueError(f"mid/side {what} needs a (2, samples) array; got shape {x.shape}")
    y = np.empty_like(x)
    np.add(x[0], x[1], out=y[0])
    np.subtract(x[0], x[1], out=y[1])
    return y

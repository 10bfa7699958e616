"""Integer delay lines with explicit state (latency alignment, lookahead)."""
from __future__ import annotations

import numpy as np


def delay_state(channels: int, delay_samples: int) -> np.ndarray:
    """Zero state for :func:`delay`: shape ``(channels, delay_samples)``."""
    return np.zeros((channels, int(delay_samples)))


def delay(x: np.ndarray, state: np.ndarray):
    """Delay ``x`` (C, N) by ``state.shape[1]`` samples.

    Returns ``(y, new_state)``; ``y[:, i] = x[:, i - D]`` with the previous
    call's last ``D`` samples (the state) before the start. The caller's
    state is not mutated.
    """
    d = state.shape[1]
    if d == 0:
        return np.array(x, dtype=np.float64, copy=True), state
    n = x.shape[1]
    full = np.concatenate([state, x], axis=1)
    return full[:, :n].copy(), full[:, n:].copy()

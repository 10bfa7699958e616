"""Reusable work arrays for stages that need large per-block temporaries."""
from __future__ import annotations

import math

import numpy as np


class Scratch:
    """Named, reusable C-contiguous float64 work arrays.

    ``scratch(name, shape)`` returns an array of ``shape`` backed by one
    buffer per name that grows when needed, so a stage processing block after
    block does not touch fresh pages on every block. The contents are
    undefined (like ``np.empty``); two names never share memory. Views are
    cached per ``(name, shape)`` (at most :attr:`MAX_VIEWS`), which keeps the
    per-call overhead of small blocks low.
    """

    MAX_VIEWS = 64

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}
        self._views: dict[tuple, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple) -> np.ndarray:
        key = (name, shape)
        view = self._views.get(key)
        if view is not None:
            return view
        size = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.size < size:
            buf = np.empty(max(size, 1))
            self._buffers[name] = buf
            self._views = {k: v for k, v in self._views.items() if k[0] != name}
        view = buf[:size].reshape(shape)
        if len(self._views) < self.MAX_VIEWS:
            self._views[key] = view
        return view

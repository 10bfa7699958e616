"""Control values as the numba kernels take them."""
from __future__ import annotations

import numpy as np


def control(value, n: int | None = None, name: str = "control") -> np.ndarray:
    """A control (a scalar or one value per sample) as a contiguous float64 array.

    Parameters
    ----------
    value : float or array_like
        A constant, or one value per sample.
    n : int, optional
        The number of samples; when given, an array must have 1 or ``n`` values.
    name : str
        Used in error messages.

    Returns
    -------
    ndarray (float64), shape ``(1,)`` for a constant or ``(n,)``.

    Raises
    ------
    ValueError
        Wrong length or dimensions, or a value that is not finite.
    """
    a = np.ascontiguousarray(np.atleast_1d(np.asarray(value, dtype=np.float64)))
    if a.ndim != 1 or (n is not None and a.shape[0] not in (1, n)):
        expected = "one value per sample" if n is None else f"{n} values (one per sample)"
        raise ValueError(f"{name} must be a scalar or have {expected}; got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite")
    return a

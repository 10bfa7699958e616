"""Parameter curves: per-sample arrays or ``(time_s, value)`` breakpoints.

Semantics match DawDreamer's ``set_automation``: a per-sample array gives the
value at each sample counted from the start of the render (the last reset);
past its end the last value holds. Breakpoints are interpolated linearly in
the parameter's own units and held before the first and after the last
point. A curve means the same thing in every host neuromaster drives.
"""
from __future__ import annotations

import numpy as np

from .errors import ParameterError
from .params import Param


class Curve:
    """A validated automation curve for one parameter.

    Parameters
    ----------
    param : Param
        The parameter the curve drives (for range checks and normalisation).
    data : array_like
        1-D per-sample values, or a sequence / ``(k, 2)`` array of
        ``(time_s, value)`` breakpoints with non-decreasing times >= 0.
    normalized : bool
        If True the values are 0-1 and mapped through the parameter's scale
        (DawDreamer's convention for plugin parameters).
    """

    def __init__(self, param: Param, data, normalized: bool = False):
        if not param.automatable:
            raise ParameterError(f"{param.name} cannot be automated ({param.kind} parameter); set a single value instead")
        self.param = param
        arr = np.asarray(data, dtype=np.float64) if not isinstance(data, np.ndarray) else data.astype(np.float64)
        if arr.ndim == 1 and not _looks_like_pairs(data):
            self.kind = "samples"
            if arr.size == 0:
                raise ParameterError(f"automation for {param.name} is empty")
            values = arr
            self.times_s = None
        elif arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] >= 1:
            self.kind = "breakpoints"
            self.times_s = np.ascontiguousarray(arr[:, 0])
            values = np.ascontiguousarray(arr[:, 1])
            if not np.isfinite(self.times_s).all() or (self.times_s < 0).any() or (np.diff(self.times_s) < 0).any():
                raise ParameterError(f"automation breakpoints for {param.name} need finite, non-decreasing times >= 0 s")
        else:
            raise ParameterError(
                f"automation for {param.name} must be a 1-D per-sample array or (time_s, value) breakpoints; got shape {arr.shape}"
            )
        if not np.isfinite(values).all():
            raise ParameterError(f"automation for {param.name} contains NaN or Inf")
        if normalized:
            if values.min() < 0.0 or values.max() > 1.0:
                raise ParameterError(f"normalised automation for {param.name} must lie in [0, 1]; got [{values.min():g}, {values.max():g}]")
            values = param.from_normalized_array(values)
        lo, hi = param.minimum, param.maximum
        if values.min() < lo or values.max() > hi:
            bad = values[(values < lo) | (values > hi)][0]
            raise ParameterError(f"automation for {param.name} leaves its range {param.range_text}: value {bad:g}")
        self.values = np.ascontiguousarray(values)

    def render(self, start: int, n: int, sample_rate: float) -> np.ndarray:
        """Values for samples ``start .. start+n-1`` (float64, parameter units).

        ``start`` may be negative (a stage behind a latency sees its curve
        delayed): the first value holds before the curve begins."""
        if self.kind == "samples":
            v = self.values
            if 0 <= start and start + n <= v.size:
                return v[start:start + n].copy()
            # before the first sample the first value holds, after the last the last
            return v[np.clip(np.arange(start, start + n), 0, v.size - 1)]
        t = (start + np.arange(n, dtype=np.float64)) / sample_rate
        return np.interp(t, self.times_s, self.values)

    def at(self, indices: np.ndarray, sample_rate: float) -> np.ndarray:
        """Values at absolute sample indices (any order)."""
        indices = np.asarray(indices)
        if self.kind == "samples":
            return self.values[np.clip(indices, 0, self.values.size - 1)]
        return np.interp(indices / sample_rate, self.times_s, self.values)

    def value_at(self, index: int, sample_rate: float) -> float:
        return float(self.render(index, 1, sample_rate)[0])

    def to_dict(self) -> dict:
        if self.kind == "samples":
            return {"samples": self.values.tolist()}
        return {"breakpoints": np.column_stack([self.times_s, self.values]).tolist()}

    @classmethod
    def from_dict(cls, param: Param, d: dict) -> "Curve":
        if not isinstance(d, dict) or len(d) != 1 or next(iter(d)) not in ("samples", "breakpoints"):
            raise ParameterError(f"automation for {param.name} must be {{'samples': [...]}} or {{'breakpoints': [[t, v], ...]}}")
        key, val = next(iter(d.items()))
        if key == "breakpoints":
            val = np.asarray(val, dtype=np.float64).reshape(-1, 2)
        return cls(param, val)

    def __repr__(self):
        if self.kind == "samples":
            return f"Curve({self.param.name}, {self.values.size} samples)"
        return f"Curve({self.param.name}, {self.times_s.size} breakpoints)"


def _looks_like_pairs(data) -> bool:
    """True for a list/tuple of 2-sequences (breakpoints), even if only one."""
    if isinstance(data, np.ndarray):
        return data.ndim == 2
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], (list, tuple, np.ndarray)):
        return True
    return False


def is_curve_value(value) -> bool:
    """Whether an assigned value means "automate" rather than "set"."""
    if isinstance(value, np.ndarray):
        return value.ndim >= 1
    return isinstance(value, (list, tuple))

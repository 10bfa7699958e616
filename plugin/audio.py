"""Audio arrays at the public boundary: layouts, dtypes, sample rates.

Inside neuromaster audio is ``(channels, samples)`` float64. At the boundary
we accept what pedalboard accepts: 1-D mono, or 2-D in either layout where
the smaller dimension is the channel axis. A square 2-D array (other than
1x1) is ambiguous and raises. Output goes back as float32 in the caller's
layout. The caller's array is never aliased.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import AudioTypeError, ParameterError

MIN_SAMPLE_RATE = 22050.0
MAX_SAMPLE_RATE = 192000.0


@dataclass(frozen=True)
class Layout:
    """How to put a canonical ``(channels, samples)`` array back."""

    ndim: int
    channels_first: bool

    def empty(self, channels: int, samples: int, dtype=np.float32):
        """``(out, view)``: a new array in the caller's layout and its
        ``(channels, samples)`` view, to be filled block by block."""
        if self.ndim == 1:
            out = np.empty(samples, dtype=dtype)
            return out, out[np.newaxis, :]
        if self.channels_first:
            out = np.empty((channels, samples), dtype=dtype)
            return out, out
        out = np.empty((samples, channels), dtype=dtype)
        return out, out.T

    def restore(self, y: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Convert canonical ``y`` back to the caller's layout as ``dtype``."""
        if self.ndim == 1:
            return np.ascontiguousarray(y[0], dtype=dtype)
        out = y if self.channels_first else y.T
        return np.ascontiguousarray(out, dtype=dtype)


def check_dtype(x, name: str = "input_array") -> np.ndarray:
    """Return ``x`` as an ndarray, or raise for non-float dtypes."""
    if not isinstance(x, np.ndarray):
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        else:
            raise AudioTypeError(f"{name} must be a numpy array of float32 or float64 samples; got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise AudioTypeError(
            f"{name} must hold float32 or float64 samples; got dtype {x.dtype}"
            + (" (convert integer PCM with x / 2**(bits-1))" if np.issubdtype(x.dtype, np.integer) else "")
        )
    return x


def canonical_view(x, name: str = "input_array", allow_empty: bool = False,
                   channels_hint=None) -> tuple[np.ndarray, Layout]:
    """Validate audio and return ``((channels, samples) view, layout)`` without copying.

    The view shares memory with ``x`` and keeps its dtype; callers convert
    block by block. ``channels_hint`` (a collection of channel counts a
    processor accepts) settles the one case the smaller-dimension rule gets
    wrong: when that rule gives an unsupported channel count and the other
    reading a supported one (a ``(2, 1)`` block is one stereo sample for a
    stereo-only stage).

    Raises
    ------
    AudioTypeError
        Non-array input or a dtype other than float32/float64.
    ParameterError
        Wrong number of dimensions, a square layout, no samples, or NaN/Inf.
    """
    x = check_dtype(x, name)
    if x.size == 0 and not allow_empty and x.ndim in (1, 2):
        raise ParameterError(f"{name} is empty: it has no samples (shape {x.shape})")
    if x.ndim == 1:
        layout = Layout(1, True)
        y = x[np.newaxis, :]
    elif x.ndim == 2:
        r, c = x.shape
        if r == c and r > 1:
            raise ParameterError(
                f"{name} has square shape {x.shape}: cannot tell channels from samples. "
                "Pass (channels, samples) with more samples than channels, or a 1-D array for mono."
            )
        channels_first = r <= c
        if channels_hint is not None and r != c:
            ch, other = (r, c) if channels_first else (c, r)
            if ch not in channels_hint and other in channels_hint:
                channels_first = not channels_first
        layout = Layout(2, channels_first)
        y = x if channels_first else x.T
    else:
        raise ParameterError(f"{name} must be 1-D (mono) or 2-D (channels x samples); got {x.ndim} dimensions {x.shape}")
    if y.shape[1] == 0 and not allow_empty:
        raise ParameterError(f"{name} is empty: it has no samples (shape {x.shape})")
    if not np.isfinite(y).all():
        bad = ~np.isfinite(y)
        ch, idx = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(y[ch, idx]) else "Inf"
        raise ParameterError(f"{name} contains {int(bad.sum())} non-finite samples (first: {kind} at channel {ch}, sample {idx})")
    return y, layout


def canonical(x, name: str = "input_array", allow_empty: bool = False,
              channels_hint=None) -> tuple[np.ndarray, Layout]:
    """Like :func:`canonical_view`, returning a float64 C-contiguous copy."""
    y, layout = canonical_view(x, name, allow_empty, channels_hint)
    return np.array(y, dtype=np.float64, order="C", copy=True), layout


def check_sample_rate(sample_rate, lo: float = MIN_SAMPLE_RATE, hi: float = MAX_SAMPLE_RATE) -> float:
    """Validate a sample rate in Hz and return it as float."""
    if isinstance(sample_rate, (bool, np.bool_)) or not isinstance(sample_rate, (int, float, np.integer, np.floating)):
        raise ParameterError(f"sample_rate must be a number in Hz; got {sample_rate!r}")
    sr = float(sample_rate)
    if not np.isfinite(sr) or sr < lo or sr > hi:
        raise ParameterError(f"sample_rate must be in [{lo:g}, {hi:g}] Hz; got {sample_rate!r}")
    return sr


def check_buffer_size(buffer_size) -> int:
    """Validate a processing block size (positive int)."""
    if isinstance(buffer_size, (bool, np.bool_)) or not isinstance(buffer_size, (int, np.integer)) or buffer_size < 1:
        raise ParameterError(f"buffer_size must be a positive integer; got {buffer_size!r}")
    return int(buffer_size)


def db_to_gain(db):
    """Amplitude ratio of a level in dB (20 log10 convention)."""
    return 10.0 ** (np.asarray(db, dtype=np.float64) / 20.0)


def gain_to_db(g, floor_db: float = -400.0):
    """Level in dB of an amplitude ratio; zero maps to ``floor_db``."""
    g = np.abs(np.asarray(g, dtype=np.float64))
    with np.errstate(divide="ignore"):
        out = 20.0 * np.log10(g)
    return np.maximum(out, floor_db)

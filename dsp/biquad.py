"""Biquad design (RBJ Audio-EQ-Cookbook) and second-order-section kernels.

Design functions are vectorised numpy: every argument may be an array, and the
result has shape ``broadcast(...) + (6,)`` holding ``[b0, b1, b2, a0, a1, a2]``
normalised so that ``a0 == 1`` (scipy's ``sos`` row layout). That lets a stage
design one set of coefficients per control block for automated parameters.

Kernels run transposed direct form II per section, in float64, on
``(channels, samples)`` arrays, with explicit state ``zi`` of shape
``(channels, sections, 2)`` (scipy's ``sosfilt`` keeps ``(sections, ..., 2)``;
ours puts channels first to match the audio layout). The caller's state is
never mutated: a new state is returned.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# --------------------------------------------------------------------- design
KINDS = ("peak", "low_shelf", "high_shelf", "lowpass", "highpass", "bandpass", "notch", "allpass")


def _w0_alpha(frequency_hz, q, sample_rate):
    w0 = 2.0 * np.pi * np.asarray(frequency_hz, dtype=np.float64) / sample_rate
    return w0, np.sin(w0) / (2.0 * np.asarray(q, dtype=np.float64)), np.cos(w0)


def _pack(b0, b1, b2, a0, a1, a2):
    b0, b1, b2, a0, a1, a2 = np.broadcast_arrays(b0, b1, b2, a0, a1, a2)
    out = np.stack([b0, b1, b2, a0, a1, a2], axis=-1).astype(np.float64)
    return out / out[..., 3:4]


def rbj(kind: str, frequency_hz, gain_db, q, sample_rate: float) -> np.ndarray:
    """RBJ cookbook biquad coefficients.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    frequency_hz : float or array
        Centre / corner frequency in Hz, ``0 < f < sample_rate / 2``.
    gain_db : float or array
        Gain in dB (``peak`` and shelves; ignored by the others).
    q : float or array
        Quality factor ``> 0``. For shelves it is the cookbook's Q (slope
        S = 1 corresponds to Q = 1/sqrt(2)).
    sample_rate : float
        In Hz.

    Returns
    -------
    ndarray, shape ``broadcast(frequency_hz, gain_db, q) + (6,)``
    """
    w0, alpha, cw = _w0_alpha(frequency_hz, q, sample_rate)
    A = 10.0 ** (np.asarray(gain_db, dtype=np.float64) / 40.0)
    one = np.ones_like(w0)
    if kind == "peak":  # RBJ cookbook, peakingEQ
        return _pack(1 + alpha * A, -2 * cw, 1 - alpha * A, 1 + alpha / A, -2 * cw, 1 - alpha / A)
    if kind == "low_shelf":  # RBJ cookbook, lowShelf
        sq = 2 * np.sqrt(A) * alpha
        return _pack(A * ((A + 1) - (A - 1) * cw + sq), 2 * A * ((A - 1) - (A + 1) * cw), A * ((A + 1) - (A - 1) * cw - sq),
                     (A + 1) + (A - 1) * cw + sq, -2 * ((A - 1) + (A + 1) * cw), (A + 1) + (A - 1) * cw - sq)
    if kind == "high_shelf":  # RBJ cookbook, highShelf
        sq = 2 * np.sqrt(A) * alpha
        return _pack(A * ((A + 1) + (A - 1) * cw + sq), -2 * A * ((A - 1) + (A + 1) * cw), A * ((A + 1) + (A - 1) * cw - sq),
                     (A + 1) - (A - 1) * cw + sq, 2 * ((A - 1) - (A + 1) * cw), (A + 1) - (A - 1) * cw - sq)
    if kind == "lowpass":  # RBJ cookbook, LPF
        return _pack((1 - cw) / 2, 1 - cw, (1 - cw) / 2, 1 + alpha, -2 * cw, 1 - alpha)
    if kind == "highpass":  # RBJ cookbook, HPF
        return _pack((1 + cw) / 2, -(1 + cw), (1 + cw) / 2, 1 + alpha, -2 * cw, 1 - alpha)
    if kind == "bandpass":  # RBJ cookbook, BPF (constant 0 dB peak gain)
        return _pack(alpha, 0 * one, -alpha, 1 + alpha, -2 * cw, 1 - alpha)
    if kind == "notch":  # RBJ cookbook, notch
        return _pack(one, -2 * cw, one, 1 + alpha, -2 * cw, 1 - alpha)
    if kind == "allpass":  # RBJ cookbook, APF
        return _pack(1 - alpha, -2 * cw, 1 + alpha, 1 + alpha, -2 * cw, 1 - alpha)
    raise ValueError(f"unknown biquad kind {kind!r}; one of {KINDS}")


def first_order(kind: str, frequency_hz, sample_rate: float) -> np.ndarray:
    """First-order low/high-pass by bilinear transform with pre-warping,
    as a biquad row (``b2 = a2 = 0``). ``kind`` in {"lowpass", "highpass"}."""
    k = np.tan(np.pi * np.asarray(frequency_hz, dtype=np.float64) / sample_rate)
    zero = np.zeros_like(k)
    if kind == "lowpass":
        return _pack(k, k, zero, k + 1, k - 1, zero)
    if kind == "highpass":
        return _pack(np.ones_like(k), -np.ones_like(k), zero, k + 1, k - 1, zero)
    raise ValueError(f"unknown first-order kind {kind!r}")


def butterworth_qs(order: int) -> np.ndarray:
    """Section Qs of an even-order Butterworth filter (order 2, 4, 6, 8, ...).

    Pole pairs at angles ``(2k-1) pi / (2 order)`` from the negative real axis,
    ``Q_k = 1 / (2 cos theta_k)``.
    """
    if order < 2 or order % 2:
        raise ValueError(f"butterworth_qs needs an even order >= 2; got {order}")
    k = np.arange(1, order // 2 + 1)
    return 1.0 / (2.0 * np.cos((2 * k - 1) * np.pi / (2 * order)))


def sos_response(sos: np.ndarray, frequency_hz, sample_rate: float) -> np.ndarray:
    """Complex response of a cascade ``sos`` (S, 6) at ``frequency_hz``.

    The closed form of H(z) evaluated on the unit circle, used by tests as
    the analytic reference."""
    z1 = np.exp(-1j * 2 * np.pi * np.asarray(frequency_hz, dtype=np.float64) / sample_rate)
    h = np.ones_like(z1)
    for b0, b1, b2, a0, a1, a2 in np.asarray(sos).reshape(-1, 6):
        h = h * (b0 + b1 * z1 + b2 * z1 * z1) / (a0 + a1 * z1 + a2 * z1 * z1)
    return h


# -------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _sos_kernel(x, sos, z, y):
    """TDF-II cascade. x, y: (C, N); sos: (S, 6); z: (C, S, 2) updated in place.

    Sections outer, samples inner, state in locals: each section runs over
    the whole block (the first reads ``x``, the others ``y`` in place).
    """
    C, N = x.shape
    S = sos.shape[0]
    for c in range(C):
        for s in range(S):
            b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
            z0, z1 = z[c, s, 0], z[c, s, 1]
            src = x[c] if s == 0 else y[c]
            dst = y[c]
            for i in range(N):
                v = src[i]
                out = b0 * v + z0
                z0 = b1 * v - a1 * out + z1
                z1 = b2 * v - a2 * out
                dst[i] = out
            # flush denormals out of the recursive state
            z[c, s, 0] = z0 if abs(z0) >= 1e-300 else 0.0
            z[c, s, 1] = z1 if abs(z1) >= 1e-300 else 0.0


@njit(cache=True, nogil=True)
def _sos_blocks_kernel(x, sos_blocks, z, y, position, interval):
    """TDF-II cascade whose coefficients change every ``interval`` samples.

    ``sos_blocks[k]`` applies to the samples whose absolute index ``j`` has
    ``j // interval == position // interval + k``.
    """
    C, N = x.shape
    S = sos_blocks.shape[1]
    first = position // interval
    for c in range(C):
        for s in range(S):
            z0, z1 = z[c, s, 0], z[c, s, 1]
            src = x[c] if s == 0 else y[c]
            dst = y[c]
            for i in range(N):
                k = (position + i) // interval - first
                v = src[i]
                out = sos_blocks[k, s, 0] * v + z0
                z0 = sos_blocks[k, s, 1] * v - sos_blocks[k, s, 4] * out + z1
                z1 = sos_blocks[k, s, 2] * v - sos_blocks[k, s, 5] * out
                dst[i] = out
            z[c, s, 0] = z0 if abs(z0) >= 1e-300 else 0.0
            z[c, s, 1] = z1 if abs(z1) >= 1e-300 else 0.0


def sos_state(channels: int, sections: int) -> np.ndarray:
    """Zero state for :func:`sos_filter`: shape ``(channels, sections, 2)``."""
    return np.zeros((channels, sections, 2))


def sos_filter(x: np.ndarray, sos: np.ndarray, zi: np.ndarray):
    """Filter ``x`` (C, N) through the cascade ``sos`` (S, 6).

    Returns ``(y, zf)``; equals ``scipy.signal.sosfilt`` per channel.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    sos = np.ascontiguousarray(sos, dtype=np.float64).reshape(-1, 6)
    z = np.array(zi, dtype=np.float64, copy=True)
    if z.shape != (x.shape[0], sos.shape[0], 2):
        raise ValueError(f"state shape {z.shape} does not match (channels, sections, 2) = {(x.shape[0], sos.shape[0], 2)}")
    y = np.empty_like(x)
    if sos.shape[0]:
        _sos_kernel(x, sos, z, y)
    else:
        y[:] = x
    return y, z


def sos_filter_blocks(x: np.ndarray, sos_blocks: np.ndarray, zi: np.ndarray, position: int, interval: int):
    """Like :func:`sos_filter` with coefficients per control block.

    ``sos_blocks`` has shape ``(B, S, 6)`` with
    ``B = (position + N - 1) // interval - position // interval + 1``.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    sos_blocks = np.ascontiguousarray(sos_blocks, dtype=np.float64)
    n = x.shape[1]
    need = (position + n - 1) // interval - position // interval + 1
    if sos_blocks.ndim != 3 or sos_blocks.shape[0] != need or sos_blocks.shape[2] != 6:
        raise ValueError(f"sos_blocks must have shape ({need}, S, 6); got {sos_blocks.shape}")
    z = np.array(zi, dtype=np.float64, copy=True)
    y = np.empty_like(x)
    if sos_blocks.shape[1]:
        _sos_blocks_kernel(x, sos_blocks, z, y, position, interval)
    else:
        y[:] = x
    return y, z

"""TPDF dither with error-feedback noise shaping, onto a fixed-point grid.

Quantiser (Lipshitz, Wannamaker & Vanderkooy, "Quantization and Dither: A
Theoretical Survey", JAES 40(5), 1992; error feedback as in Lipshitz,
Vanderkooy & Wannamaker, "Minimally Audible Noise Shaping", JAES 39(11),
1991), per channel, in LSB units (``scale = 2**(bits-1)`` codes per full
scale)::

    v[n] = x[n] * scale - sum_k h[k] e[n-1-k]      (error feedback)
    q[n] = floor(v[n] + d[n] + 1/2)                (round to the nearest code)
    e[n] = q[n] - v[n]                             (total error, |e| <= 1.5 LSB)
    y[n] = clip(q[n], -scale, scale - 1) / scale

so the output error is ``e`` filtered by the noise transfer function
``NTF(z) = 1 - sum_k h[k] z^-(k+1)``. ``d`` is TPDF dither: the sum of two
independent uniform variables on [-1/2, 1/2) LSB, i.e. triangular on (-1, 1)
LSB. With it the first two moments of ``e`` do not depend on the signal:
``e`` is white with mean 0 and variance ``LSB**2 / 4`` (``1/6`` from the dither
plus ``1/12`` from rounding).

Clipping is applied after the error is taken, so the error fed back is always
the bounded requantisation error and the loop cannot run away at full scale
(clipping distortion is not shaped, it is just clipping).

Noise source: a counter-based generator. The two uniforms for sample ``n`` of
channel ``c`` are SplitMix64 outputs (Steele, Lea & Flood, "Fast Splittable
Pseudorandom Number Generators", OOPSLA 2014) for counter ``2n`` and ``2n+1``
of a stream keyed by ``(seed, c)``, so the noise depends only on the seed,
the channel and the absolute sample index, never on block boundaries.

Shaping filters (``h``, feedback coefficients; published values):

``none``           no feedback: NTF = 1.
``simple``         ``h = [1]``: NTF = 1 - z^-1, first-order (+6 dB/oct) shaping.
``psychoacoustic`` Wannamaker's F-weighted filters ("Psychoacoustically
                   Optimal Noise Shaping", JAES 40(7/8), 1992), designed for
                   44.1 kHz: the 9-coefficient filter at sample rates from
                   44.1 kHz up (at higher rates its response stretches with the
                   rate, which keeps all of the audible band below the
                   unshaped level), the 3-coefficient filter below 44.1 kHz,
                   where the stretched 9-coefficient response would lift noise
                   into the audible top octave.
"""
from __future__ import annotations

import numpy as np
from numba import njit

SHAPINGS = ("none", "simple", "psychoacoustic")

#: Wannamaker 1992, F-weighted, 9 coefficients (44.1 kHz).
F_WEIGHTED_9 = (2.412, -3.370, 3.937, -4.174, 3.353, -2.205, 1.281, -0.569, 0.0847)
#: Wannamaker 1992, F-weighted, 3 coefficients (44.1 kHz).
F_WEIGHTED_3 = (1.623, -0.982, 0.109)
#: Rate from which the 9-coefficient F-weighted filter is used.
F_WEIGHTED_9_FROM_HZ = 44100.0

# SplitMix64 constants (Steele et al. 2014)
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_CHANNEL_KEY = np.uint64(0xD1B54A32D192ED03)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0


def shaping_filter(noise_shaping: str, sample_rate: float) -> np.ndarray:
    """Feedback coefficients ``h`` for a shaping mode at a sample rate.

    Returns
    -------
    ndarray, float64, shape (K,)
        ``NTF(z) = 1 - sum_k h[k] z^-(k+1)``; empty for ``"none"``.
    """
    if noise_shaping == "none":
        return np.zeros(0)
    if noise_shaping == "simple":
        return np.array([1.0])
    if noise_shaping == "psychoacoustic":
        return np.array(F_WEIGHTED_9 if sample_rate >= F_WEIGHTED_9_FROM_HZ else F_WEIGHTED_3)
    raise ValueError(f"noise_shaping must be one of {SHAPINGS}; got {noise_shaping!r}")


def noise_transfer(h: np.ndarray, frequency_hz, sample_rate: float) -> np.ndarray:
    """Complex NTF ``1 - sum_k h[k] exp(-j w (k+1))`` at ``frequency_hz``."""
    w = 2.0 * np.pi * np.asarray(frequency_hz, dtype=np.float64) / sample_rate
    k = np.arange(1, len(h) + 1)
    return 1.0 - np.exp(-1j * np.multiply.outer(w, k)) @ np.asarray(h, dtype=np.float64)


def stream_keys(seed: int, channels: int) -> np.ndarray:
    """uint64 key of each channel's noise stream for a seed (0 <= seed < 2**63)."""
    with np.errstate(over="ignore"):
        s = np.uint64(int(seed))
        return np.array([_splitmix(s ^ (np.uint64(c + 1) * _CHANNEL_KEY)) for c in range(channels)], dtype=np.uint64)


@njit(cache=True, nogil=True)
def _splitmix(z):
    """SplitMix64 output function (Steele et al. 2014)."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True, nogil=True)
def _uniform(key, counter):
    """Uniform on [0, 1) with 53 bits: output ``counter`` of the stream ``key``."""
    z = _splitmix(key + (np.uint64(counter) + np.uint64(1)) * _GAMMA)
    return float(z >> _S11) * _TWO_M53


@njit(cache=True, nogil=True)
def _tpdf(key, index):
    """TPDF dither in LSB for absolute sample ``index``: triangular on (-1, 1)."""
    return (_uniform(key, 2 * index) - 0.5) + (_uniform(key, 2 * index + 1) - 0.5)


@njit(cache=True, nogil=True)
def _tpdf_kernel(keys, position, out):
    C, N = out.shape
    for c in range(C):
        for i in range(N):
            out[c, i] = _tpdf(keys[c], position + i)


@njit(cache=True, nogil=True)
def _dither_kernel(x, y, h, err, keys, position, scale):
    """x, y: (C, N); h: (K,); err: (C, K) past errors in LSB, err[c, 0] = e[n-1],
    updated in place; keys: (C,) uint64; scale = 2**(bits-1)."""
    C, N = x.shape
    K = h.shape[0]
    lo = -scale
    hi = scale - 1.0
    inv = 1.0 / scale  # a power of two: q * inv is exact
    for c in range(C):
        key = keys[c]
        for i in range(N):
            acc = 0.0
            for k in range(K):
                acc += h[k] * err[c, k]
            v = x[c, i] * scale - acc
            q = np.floor(v + _tpdf(key, position + i) + 0.5)
            for k in range(K - 1, 0, -1):
                err[c, k] = err[c, k - 1]
            if K > 0:
                err[c, 0] = q - v
            if q > hi:
                q = hi
            elif q < lo:
                q = lo
            y[c, i] = q * inv


def tpdf_noise(seed: int, channels: int, position: int, n: int) -> np.ndarray:
    """The dither :class:`Dither` adds, in LSB: ``(channels, n)`` for absolute
    samples ``position .. position+n-1`` (triangular on (-1, 1))."""
    out = np.empty((int(channels), int(n)))
    _tpdf_kernel(stream_keys(seed, channels), int(position), out)
    return out


def dither_state(channels: int, taps: int) -> np.ndarray:
    """Zero error-feedback state for :func:`dither`: ``(channels, taps)``."""
    return np.zeros((int(channels), int(taps)))


def dither(x: np.ndarray, bit_depth: int, h: np.ndarray, state: np.ndarray, seed: int, position: int):
    """Requantise ``x`` (C, N) to ``bit_depth`` bits with TPDF dither and
    error-feedback shaping ``h``.

    Parameters
    ----------
    x : ndarray, (channels, samples), float
        Full scale is +-1.
    bit_depth : int
        1-24; the output is ``k / 2**(bit_depth-1)``, ``-2**(bit_depth-1) <= k < 2**(bit_depth-1)``
        (exact in float32 up to 24 bits).
    h : ndarray, (K,)
        Feedback coefficients (:func:`shaping_filter`).
    state : ndarray, (C, K)
        Past errors in LSB; not mutated.
    seed : int
        Noise seed, 0 <= seed < 2**63.
    position : int
        Absolute index of the first sample (selects the noise).

    Returns
    -------
    (y, state)
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    h = np.ascontiguousarray(h, dtype=np.float64).reshape(-1)
    bits = int(bit_depth)
    if not 1 <= bits <= 24:
        raise ValueError(f"bit_depth must be in [1, 24]; got {bit_depth!r}")
    st = np.array(state, dtype=np.float64, copy=True)
    if st.shape != (x.shape[0], h.shape[0]):
        raise ValueError(f"state must have shape (channels, taps) = {(x.shape[0], h.shape[0])}; got {st.shape}")
    y = np.empty_like(x)
    _dither_kernel(x, y, h, st, stream_keys(seed, x.shape[0]), int(position), float(2 ** (bits - 1)))
    return y, st

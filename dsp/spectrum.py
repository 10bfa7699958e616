"""Long-term spectrum: streaming Welch averages, 1/3-octave bands, band correlation.

Frames of ``nfft`` samples start every ``hop`` samples at absolute positions
(0, hop, 2 hop, ...), are Hann-windowed and transformed with ``scipy.fft``.
:func:`welch_update` accumulates, per channel, the one-sided power
``c_k |X_k|^2`` (``c_k = 2`` except at DC and Nyquist) and, for two or more
channels, the cross power ``Re(X_0 X_1^*)`` of channels 0 and 1, plus the
window energy ``sum w^2`` that normalises them. The unfinished frames' input
is kept in the state, so chunking does not change anything;
:func:`welch_finish` adds the final partial frame (zero-padded, normalised
by the window energy over its real samples) without touching the state.

Power is in mean-square units of full scale: a 0 dBFS sine reads 0.5
(-3.01 dB) in the band that holds it.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft
from numba import njit

#: Default analysis frame (2.7 Hz resolution at 44.1 kHz); see :func:`spectrum_nfft`.
NFFT = 16384
#: Target bin spacing of :func:`spectrum_nfft` in Hz (the 20 Hz 1/3-octave band is 4.6 Hz wide).
BIN_SPACING_HZ = 2.7


def spectrum_nfft(sample_rate: float) -> int:
    """Power-of-two frame length giving about :data:`BIN_SPACING_HZ` bins at ``sample_rate``."""
    return int(2 ** max(4, round(np.log2(float(sample_rate) / BIN_SPACING_HZ))))

#: Nominal 1/3-octave centre frequencies, base 10 (IEC 61260-1), 20 Hz - 20 kHz.
THIRD_OCTAVE_EXPONENTS = np.arange(-17, 14)


def third_octave_bands(sample_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(centre_hz, lower_hz, upper_hz)`` of the base-10 1/3-octave bands below Nyquist.

    Exact centres ``1000 * 10**(k/10)`` for ``k = -17 .. 13`` (20 Hz to
    20 kHz; nominally labelled 20, 25, 31.5, ...), edges at ``10**(+-1/20)``
    times the centre. Bands whose centre lies at or above Nyquist are
    dropped; a band straddling Nyquist (the 20 kHz band at 44.1 kHz) keeps
    its centre and is cut at Nyquist.
    """
    centre = 1000.0 * 10.0 ** (THIRD_OCTAVE_EXPONENTS / 10.0)
    lower, upper = centre * 10.0 ** (-1 / 20), centre * 10.0 ** (1 / 20)
    keep = centre < sample_rate / 2.0
    return centre[keep], lower[keep], np.minimum(upper[keep], sample_rate / 2.0)


def welch_state(channels: int, nfft: int = NFFT, hop: int | None = None) -> dict:
    """Zero state for :func:`welch_update`.

    Keys: ``nfft``, ``hop`` (default ``nfft // 2``, 50 % overlap);
    ``pending`` (channels, < nfft) input not yet framed; ``power``
    (channels, nfft//2+1) and ``cross`` (nfft//2+1,) sums; ``window_energy``
    (sum of ``w^2`` over the frames taken); ``frames`` (count).
    """
    nfft = int(nfft)
    hop = nfft // 2 if hop is None else int(hop)
    if nfft < 16 or nfft % 2 or not 1 <= hop <= nfft:
        raise ValueError(f"need an even nfft >= 16 and 1 <= hop <= nfft; got nfft={nfft}, hop={hop}")
    bins = nfft // 2 + 1
    return {"nfft": nfft, "hop": hop, "pending": np.zeros((channels, 0)), "power": np.zeros((channels, bins)),
            "cross": np.zeros(bins), "window_energy": 0.0, "frames": 0}


@functools.lru_cache(maxsize=16)
def _hann(n: int) -> np.ndarray:
    w = np.hanning(n + 2)[1:-1]        # Hann without its zero end points
    w.flags.writeable = False
    return w


def _window(nfft: int) -> np.ndarray:
    return _hann(int(nfft))


@njit(cache=True, nogil=True)
def _frames_kernel(data, start, hop, window, out):
    """out[c, f, :] = data[c, start + f*hop : ... + nfft] * window."""
    C, F, N = out.shape
    for c in range(C):
        for f in range(F):
            b = start + f * hop
            src = data[c, b:b + N]
            dst = out[c, f]
            for i in range(N):
                dst[i] = src[i] * window[i]


@njit(cache=True, nogil=True)
def _power_kernel(X, power, cross):
    """Add one-sided |X|^2 of every frame into power (C, bins), Re(X0 X1*) into cross."""
    C, F, B = X.shape
    for c in range(C):
        acc = power[c]
        for f in range(F):
            row = X[c, f]
            for k in range(B):
                v = row[k]
                g = 1.0 if (k == 0 or k == B - 1) else 2.0    # fold negative frequencies
                acc[k] += g * (v.real * v.real + v.imag * v.imag)
    if C >= 2:
        for f in range(F):
            r0 = X[0, f]
            r1 = X[1, f]
            for k in range(B):
                g = 1.0 if (k == 0 or k == B - 1) else 2.0
                cross[k] += g * (r0[k].real * r1[k].real + r0[k].imag * r1[k].imag)


def _accumulate(frames: np.ndarray, power: np.ndarray, cross: np.ndarray) -> None:
    """Transform windowed ``frames`` (C, F, nfft); add one-sided power into
    ``power`` (C, bins) and channel 0 x 1 cross power into ``cross`` (bins,)."""
    X = scipy.fft.rfft(frames, axis=-1, overwrite_x=True)
    _power_kernel(X, power, cross)


def welch_update(x: np.ndarray, state: dict) -> dict:
    """Add the frames completed by ``x`` (C, N) to the Welch sums; returns the new state.

    The caller's state is not mutated.
    """
    nfft, hop = state["nfft"], state["hop"]
    window = _window(nfft)
    x = np.ascontiguousarray(x, dtype=np.float64)
    pending = state["pending"]
    P, N = pending.shape[1], x.shape[1]
    total = P + N                                   # the stream "data = pending ++ x"
    new = dict(state)
    new["power"], new["cross"] = state["power"].copy(), state["cross"].copy()
    n_frames = (total - nfft) // hop + 1 if total >= nfft else 0
    if n_frames:
        w2 = float(np.sum(window * window))
        # frames starting inside ``pending`` read from a short joined head,
        # the rest straight from ``x`` (no copy of the whole chunk)
        n_head = min(n_frames, -(-P // hop))
        head = np.concatenate([pending, x[:, :min(N, nfft)]], axis=1) if n_head else None
        batch = 32
        if n_head:
            frames = np.empty((x.shape[0], n_head, nfft))
            _frames_kernel(head, 0, hop, window, frames)
            _accumulate(frames, new["power"], new["cross"])
        for f0 in range(n_head, n_frames, batch):
            nb = min(n_frames, f0 + batch) - f0
            frames = np.empty((x.shape[0], nb, nfft))     # contiguous: the fast kernels and FFT path
            _frames_kernel(x, f0 * hop - P, hop, window, frames)
            _accumulate(frames, new["power"], new["cross"])
        new["window_energy"] += w2 * n_frames
        new["frames"] += n_frames
    keep_from = n_frames * hop                      # index in the joined stream
    if keep_from >= P:
        new["pending"] = x[:, keep_from - P:].copy()
    else:
        new["pending"] = np.concatenate([pending[:, keep_from:], x], axis=1)
    return new


def welch_finish(state: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """Power, cross power and window energy including the final partial frame.

    The input not yet covered by a frame becomes one last frame (starting
    where the next full frame would) with a Hann window fitted to its length
    and zero padding, normalised by that window's energy; the state is not
    modified. Returns
    ``(power (C, bins), cross (bins,), window_energy)``; the mean-square
    spectrum is ``power / (nfft * window_energy)``.
    """
    nfft, hop = state["nfft"], state["hop"]
    power, cross, energy = state["power"].copy(), state["cross"].copy(), float(state["window_energy"])
    pending = state["pending"]
    covered = nfft - hop if state["frames"] else 0     # already inside the last frame
    n = pending.shape[1]
    if n > covered:
        window = _window(n)                            # a Hann fitted to the partial frame
        frame = np.zeros((pending.shape[0], 1, nfft))
        frame[:, 0, :n] = pending * window
        _accumulate(frame, power, cross)
        energy += float(np.sum(window ** 2))
    return power, cross, energy


def band_sums(values: np.ndarray, sample_rate: float, nfft: int, lower_hz, upper_hz) -> np.ndarray:
    """Sum ``values[..., bins]`` over each band ``[lower, upper)`` in Hz.

    Bin ``k`` stands for ``[(k - 1/2) df, (k + 1/2) df)`` (``df = fs / nfft``)
    and counts with the fraction of that interval inside the band, so a band
    holds exactly its bandwidth even when it spans only a few bins.
    """
    df = float(sample_rate) / nfft
    k = np.arange(values.shape[-1])
    b_lo, b_hi = (k - 0.5) * df, (k + 0.5) * df
    out = np.zeros(values.shape[:-1] + (len(lower_hz),))
    for b, (lo, hi) in enumerate(zip(lower_hz, upper_hz)):
        w = np.clip(np.minimum(b_hi, hi) - np.maximum(b_lo, lo), 0.0, None) / df
        sel = w > 0
        out[..., b] = values[..., sel] @ w[sel]
    return out

"""True-peak interpolation filters (BS.1770-4 Annex 2 and a high-precision design).

``"4x"`` is the Annex 2 interpolator verbatim: 4 phases of 12 taps
(48 coefficients), used at every sample rate (the Annex describes 4x for
48 kHz; at higher rates more oversampling only helps). Its pass band droops
above ~0.4 fs, so it under-reads tones near Nyquist by up to ~0.7 dB, which
the standard's tolerance (+0.2 / -0.4 dB for the EBU test signals) allows.

``"16x"`` and ``"32x"`` are our high-precision designs: a Kaiser-windowed
sinc cut off at the input Nyquist frequency, 64 taps per phase
(1024 / 2048 taps in all), Kaiser beta 7.86 (~80 dB side lobes). Because the cut-off is
exactly ``fs / 2`` the sinc's zeros fall on the input samples and the phase
holding the centre tap is a unit impulse: the interpolated signal passes
through every input sample. :func:`interpolator_response` gives the
magnitude response that ``host_tests`` checks (pass band flat within
+-0.001 dB up to 0.45 fs, stop band below -80 dB from 0.55 fs; fs is the
input rate). What remains is the grid: a tone at 0.45 fs can fall between
two output samples, an under-read of at most ``-20 log10 cos(pi 0.45 / P)``
= 0.034 dB at 16x and 0.009 dB at 32x (BS.1770's 4x: up to 0.69 dB, plus
its pass-band droop).

The detector itself is :func:`neuromaster.dsp.polyphase.polyphase_peak`;
:func:`true_peak` here is the one-shot convenience over it. The reported
true peak is ``max(oversampled peak, sample peak)`` (a reconstruction
passes through the samples; libebur128 reports the same).
"""
from __future__ import annotations

import functools

import numpy as np

from .polyphase import polyphase_peak, polyphase_state

#: ITU-R BS.1770-4 Annex 2, table: 4-phase, 12-tap interpolation filter.
#: Row ``p`` is phase ``p``: ``y[4n + p] = sum_k BS1770_4X[p, k] x[n - k]``.
BS1770_4X = np.array([
    [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875, 0.1373291015625,
     0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500],
    [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500, 0.4650878906250,
     0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375],
    [-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000, -0.2003173828125, 0.7797851562500,
     0.4650878906250, -0.1665039062500, 0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875],
    [-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750, -0.1022949218750, 0.9721679687500,
     0.1373291015625, -0.0594482421875, 0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750],
])

#: Modes accepted by :func:`interpolator` (and ``analyze(true_peak=...)``).
TRUE_PEAK_MODES = ("4x", "16x", "32x")

#: Kaiser beta of the high-precision designs (~80 dB side lobes, Kaiser's formula).
KAISER_BETA = 7.857
#: Taps per phase of the high-precision designs.
HIGH_PRECISION_TAPS_PER_PHASE = 64


def windowed_sinc_interpolator(factor: int, taps_per_phase: int = HIGH_PRECISION_TAPS_PER_PHASE,
                               beta: float = KAISER_BETA) -> np.ndarray:
    """Kaiser-windowed sinc interpolator by ``factor``, as ``(factor, taps_per_phase)`` phases.

    The prototype has ``factor * taps_per_phase - 1`` taps (odd, centred on a
    tap) plus one trailing zero, cut-off at the input Nyquist frequency
    (``0.5 / factor`` cycles per output sample) and DC gain ``factor``
    (to the window's ripple).

    Parameters
    ----------
    factor : int
        Up-sampling factor, >= 2.
    taps_per_phase : int
        Even, >= 4. Longer filters extend the flat pass band towards ``fs / 2``.
    beta : float
        Kaiser window shape (side-lobe level ~ ``-(8.7 beta ... )``; 7.86 ~ 80 dB).
    """
    factor, taps_per_phase = int(factor), int(taps_per_phase)
    if factor < 2 or taps_per_phase < 4 or taps_per_phase % 2:
        raise ValueError(f"need factor >= 2 and an even taps_per_phase >= 4; got {factor}, {taps_per_phase}")
    n = factor * taps_per_phase - 1
    m = np.arange(n) - (n - 1) / 2.0                 # centred, integer offsets
    # sinc zeros on every factor-th tap; centre tap 1, so the phase holding it
    # is a unit impulse (no normalisation: it would break that property)
    h = np.sinc(m / factor) * np.kaiser(n, beta)
    h[(m % factor == 0) & (m != 0)] = 0.0           # exact zeros (np.sinc leaves ~1e-18 there)
    h = np.concatenate([h, [0.0]])
    return np.ascontiguousarray(h.reshape(taps_per_phase, factor).T)


@functools.lru_cache(maxsize=8)
def _cached(mode: str) -> np.ndarray:
    if mode == "4x":
        return BS1770_4X.copy()
    return windowed_sinc_interpolator(int(mode[:-1]))


def interpolator(mode: str = "4x") -> np.ndarray:
    """Phases ``(P, T)`` of the true-peak interpolator for ``mode`` in :data:`TRUE_PEAK_MODES`."""
    if mode not in TRUE_PEAK_MODES:
        raise ValueError(f"true-peak mode must be one of {TRUE_PEAK_MODES}; got {mode!r}")
    return _cached(mode).copy()


def prototype(taps_by_phase: np.ndarray) -> np.ndarray:
    """The prototype low-pass ``h`` (length ``P T``) of a polyphase layout."""
    return np.asarray(taps_by_phase).T.reshape(-1)


def interpolator_response(taps_by_phase: np.ndarray, frequency_over_input_rate) -> np.ndarray:
    """Magnitude (linear) of the interpolation prototype, normalised to unity pass-band gain.

    ``frequency_over_input_rate`` is the frequency divided by the *input*
    sample rate (0.5 = input Nyquist; images of a tone at ``f`` land at
    ``1 - f``, ``1 + f``, ...).
    """
    taps = np.asarray(taps_by_phase, dtype=np.float64)
    P = taps.shape[0]
    h = prototype(taps) / P
    w = 2.0 * np.pi * np.asarray(frequency_over_input_rate, dtype=np.float64).reshape(-1) / P
    k = np.arange(h.size)
    out = np.empty(w.size)
    for i in range(0, w.size, 1024):          # bounded memory for long filters and dense grids
        out[i:i + 1024] = np.abs(np.exp(-1j * np.multiply.outer(w[i:i + 1024], k)) @ h)
    return out.reshape(np.shape(frequency_over_input_rate))


def interpolator_spectrum(taps_by_phase: np.ndarray, points: int = 1 << 18) -> tuple[np.ndarray, np.ndarray]:
    """Dense magnitude response by FFT: ``(frequency_over_input_rate, magnitude)`` from 0 to
    ``P / 2`` (the up-sampled Nyquist), ``points // 2 + 1`` values, unity pass-band gain."""
    taps = np.asarray(taps_by_phase, dtype=np.float64)
    P = taps.shape[0]
    h = prototype(taps) / P
    mag = np.abs(np.fft.rfft(h, n=max(int(points), 2 * h.size)))
    return np.arange(mag.size) * (P / (2.0 * (mag.size - 1))), mag


def true_peak(x: np.ndarray, mode: str = "4x") -> np.ndarray:
    """True-peak magnitude (linear, full scale = 1) per channel of ``x`` (C, N).

    One-shot: zeros before and after the signal (the interpolator's tail is
    flushed), and never below the sample peak.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    taps = interpolator(mode)
    T = taps.shape[1]
    padded = np.concatenate([x, np.zeros((x.shape[0], T - 1))], axis=1)
    peaks, _ = polyphase_peak(padded, taps, polyphase_state(x.shape[0], T),
                              segment_length=max(padded.shape[1], 1), position=0)
    sample_peak = np.abs(x).max(axis=1) if x.shape[1] else np.zeros(x.shape[0])
    return np.maximum(peaks.max(axis=1) if peaks.size else 0.0, sample_peak)

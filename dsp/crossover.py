"""Linkwitz-Riley 4th-order (LR4) crossovers with explicit state.

An LR4 low-pass is a 2nd-order Butterworth low-pass squared (two RBJ
cookbook LPF sections with Q = 1/sqrt(2) at the crossover frequency); the
high-pass likewise. With ``B(s) = s^2 + sqrt(2) s + 1``::

    LP(s) + HP(s) = (1 + s^4) / B(s)^2 = B(-s) / B(s)       (an allpass)

because ``B(s) B(-s) = s^4 + 1``. The bilinear transform (with the same
pre-warping in every section) maps rational functions to rational functions,
so the identity holds exactly for the digital sections: ``LP + HP = AP``,
the RBJ cookbook allpass (APF) with the same frequency and Q.

Bands (``K = len(crossovers) + 1``, 2-6 in the stages) are split as a
cascade from the lowest crossover up::

    rest = x
    for j in range(K - 1):
        band[j] = LP_j(rest);  rest = HP_j(rest)
    band[K - 1] = rest

Band ``j < K - 1`` then lacks the phase of the crossovers above it; passing
it through ``AP_{j+1} ... AP_{K-2}`` makes the sum of all bands
``AP_0 AP_1 ... AP_{K-2} x``: an allpass, flat in magnitude (to rounding).
:func:`lr4_split` applies that compensation per band; the multiband
compressor applies it after its band gains, nested
(``acc = AP_j(acc) + band_j``), which costs ``K - 2`` allpasses instead of
``(K - 1)(K - 2) / 2``.

Coefficients are stored as ``(..., 3, 5)``: rows LP, HP, AP, each
``[b0, b1, b2, a1, a2]`` (``a0 = 1``). Kernels accept one set
(``(1, X, 3, 5)``) or one per control block (``(B, X, 3, 5)``, block ``k``
covering absolute samples ``j`` with ``j // interval == position // interval + k``,
as in :func:`neuromaster.dsp.biquad.sos_filter_blocks`). The LR4 kernels
here are fused for speed (split, level detection and gain sum in one pass);
their sections are the RBJ designs of :mod:`neuromaster.dsp.biquad`.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .biquad import design_frequency, rbj, sos_response

#: Q of each Butterworth section of an LR4 filter.
LR4_Q = 1.0 / np.sqrt(2.0)
def lr4_coefficients(crossover_hz, sample_rate: float) -> np.ndarray:
    """LR4 section coefficients for one or many crossover frequencies.

    Parameters
    ----------
    crossover_hz : float or array, Hz
        Crossover frequencies (> 0; designed at ``min(f, 0.49 fs)``:
        :func:`~neuromaster.dsp.biquad.design_frequency`).
    sample_rate : float
        In Hz.

    Returns
    -------
    ndarray, shape ``np.shape(crossover_hz) + (3, 5)``
        Rows LP, HP, AP as ``[b0, b1, b2, a1, a2]``. The LP and HP rows are
        the Butterworth sections that are each applied twice.
    """
    f = design_frequency(crossover_hz, sample_rate)
    if np.any(f <= 0):
        raise ValueError(f"crossover frequencies must be > 0 Hz; got {crossover_hz!r}")
    rows = [rbj(kind, f, 0.0, LR4_Q, sample_rate) for kind in ("lowpass", "highpass", "allpass")]
    sos = np.stack(rows, axis=-2)  # (..., 3, 6) with a0 == 1
    return np.ascontiguousarray(sos[..., [0, 1, 2, 4, 5]])


def _sos6(row5: np.ndarray) -> np.ndarray:
    """``[b0, b1, b2, a1, a2]`` -> scipy-style ``[b0, b1, b2, 1, a1, a2]``."""
    row5 = np.asarray(row5)
    return np.concatenate([row5[..., :3], np.ones(row5.shape[:-1] + (1,)), row5[..., 3:]], axis=-1)


def lr4_band_responses(crossovers_hz, sample_rate: float, frequency_hz, compensate: bool = True) -> np.ndarray:
    """Analytic complex responses of the bands of :func:`lr4_split`.

    Parameters
    ----------
    crossovers_hz : sequence of float, Hz
        Ascending crossover frequencies (1 to 5 of them).
    sample_rate : float
        In Hz.
    frequency_hz : array
        Where to evaluate, in Hz.
    compensate : bool
        Include the allpass compensation of the lower bands.

    Returns
    -------
    ndarray complex, shape ``(len(crossovers_hz) + 1, len(frequency_hz))``
    """
    xo = np.atleast_1d(np.asarray(crossovers_hz, dtype=np.float64))
    co = lr4_coefficients(xo, sample_rate)
    f = np.atleast_1d(np.asarray(frequency_hz, dtype=np.float64))
    lp = [sos_response(_sos6(co[j, 0]), f, sample_rate) ** 2 for j in range(len(xo))]
    hp = [sos_response(_sos6(co[j, 1]), f, sample_rate) ** 2 for j in range(len(xo))]
    ap = [sos_response(_sos6(co[j, 2]), f, sample_rate) for j in range(len(xo))]
    out = []
    rest = np.ones_like(f, dtype=np.complex128)
    for j in range(len(xo)):
        band = rest * lp[j]
        if compensate:
            for m in range(j + 1, len(xo)):
                band = band * ap[m]
        out.append(band)
        rest = rest * hp[j]
    out.append(rest)
    return np.array(out)


# -------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _lr4_split_kernel(x, coefs, position, interval, z, bands, peak, want_peak, floor):
    """Cascade LR4 split (no compensation).

    x (C, N); coefs (NB, X, 3, 5); z (C, X, 8) state per crossover, updated
    in place; bands (X + 1, C, N). If ``want_peak``, also writes
    ``peak[k, 0, i] = max(floor, max_c |bands[k, c, i]|)`` (the linked peak
    detector input), else ``peak`` is not touched.

    Per crossover: the LR4 low-pass is the RBJ cookbook LPF section twice;
    the LR4 high-pass is formed as ``AP - LP`` (module docstring: LP + HP =
    AP exactly), which saves two sections. Direct form I, exploiting the
    LPF numerator ``b0 (1, 2, 1)`` and the APF numerator ``(a2, a1, 1)``
    (all three share the denominator ``(1, a1, a2)``); a cascaded section's
    input history is the previous section's output history. State:
    ``[x1, x2, l1, l2, m1, m2, p1, p2]`` = input, LP section 1, LP section 2
    and allpass outputs, previous two of each. One pass per channel and
    crossover; the rest signal (``bands[X]``) is replaced in place by its
    high-pass while its low-pass goes to ``bands[j]``.
    """
    C, N = x.shape
    X = coefs.shape[1]
    nb = coefs.shape[0]
    first = position // interval
    for c in range(C):
        for i in range(N):
            bands[X, c, i] = x[c, i]
        for j in range(X):
            x1 = z[c, j, 0]
            x2 = z[c, j, 1]
            l1 = z[c, j, 2]
            l2 = z[c, j, 3]
            m1 = z[c, j, 4]
            m2 = z[c, j, 5]
            p1 = z[c, j, 6]
            p2 = z[c, j, 7]
            lb = coefs[0, j, 0, 0]
            a1 = coefs[0, j, 0, 3]
            a2 = coefs[0, j, 0, 4]
            for i in range(N):
                if nb > 1 and (i == 0 or (position + i) % interval == 0):
                    kb = (position + i) // interval - first
                    lb = coefs[kb, j, 0, 0]
                    a1 = coefs[kb, j, 0, 3]
                    a2 = coefs[kb, j, 0, 4]
                v = bands[X, c, i]
                # LR4 low-pass: Butterworth LPF section twice (RBJ cookbook, LPF), DF-I
                lo = (lb * ((v + x2) + (x1 + x1)) - a2 * l2) - a1 * l1
                lo2 = (lb * ((lo + l2) + (l1 + l1)) - a2 * m2) - a1 * m1
                # allpass (RBJ cookbook, APF, Q = 1/sqrt(2)) = LR4 LP + HP
                ap = (a2 * v + a1 * x1 + x2 - a2 * p2) - a1 * p1
                x2 = x1
                x1 = v
                l2 = l1
                l1 = lo
                m2 = m1
                m1 = lo2
                p2 = p1
                p1 = ap
                hi = ap - lo2
                bands[j, c, i] = lo2
                bands[X, c, i] = hi
                if want_peak:
                    if c == 0:
                        peak[j, 0, i] = max(abs(lo2), floor)
                    else:
                        peak[j, 0, i] = max(peak[j, 0, i], abs(lo2))
            z[c, j, 0] = x1
            z[c, j, 1] = x2
            z[c, j, 2] = _flush(l1)
            z[c, j, 3] = _flush(l2)
            z[c, j, 4] = _flush(m1)
            z[c, j, 5] = _flush(m2)
            z[c, j, 6] = _flush(p1)
            z[c, j, 7] = _flush(p2)
        if want_peak:
            for i in range(N):
                if c == 0:
                    peak[X, 0, i] = max(abs(bands[X, c, i]), floor)
                else:
                    peak[X, 0, i] = max(peak[X, 0, i], abs(bands[X, c, i]))


@njit(cache=True, nogil=True)
def _flush(v):
    """Denormal flush for recursive state."""
    return 0.0 if abs(v) < 1e-300 else v


@njit(cache=True, nogil=True)
def _allpass_compensate_kernel(bands, coefs, position, interval, z):
    """Per-band allpass compensation in place.

    bands (K, C, N); band ``j`` passes through ``AP_{j+1} .. AP_{K-2}``.
    z (K, C, X, 2): one TDF-II state per (band, allpass) pair.
    """
    K, C, N = bands.shape
    X = coefs.shape[1]
    nb = coefs.shape[0]
    first = position // interval
    for j in range(K - 2):
        for c in range(C):
            for i in range(N):
                k = (position + i) // interval - first if nb > 1 else 0
                v = bands[j, c, i]
                for m in range(j + 1, X):
                    # RBJ cookbook, APF (Q = 1/sqrt(2)): LP + HP of the LR4 at crossover m
                    out = coefs[k, m, 2, 0] * v + z[j, c, m, 0]
                    z[j, c, m, 0] = coefs[k, m, 2, 1] * v - coefs[k, m, 2, 3] * out + z[j, c, m, 1]
                    z[j, c, m, 1] = coefs[k, m, 2, 2] * v - coefs[k, m, 2, 4] * out
                    v = out
                bands[j, c, i] = v
            for m in range(X):
                for q in range(2):
                    if abs(z[j, c, m, q]) < 1e-300:
                        z[j, c, m, q] = 0.0


def lr4_state(channels: int, num_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero state for :func:`lr4_split`.

    Returns ``(split, allpass)`` with shapes ``(channels, X, 8)`` and
    ``(num_bands, channels, X, 2)``, ``X = num_bands - 1``.
    """
    x = int(num_bands) - 1
    return np.zeros((channels, x, 8)), np.zeros((int(num_bands), channels, x, 2))


def _check_coefs(coefs: np.ndarray, n: int, position: int, interval: int) -> np.ndarray:
    coefs = np.ascontiguousarray(coefs, dtype=np.float64)
    if coefs.ndim == 3:
        coefs = coefs[np.newaxis]
    need = (position + n - 1) // interval - position // interval + 1 if n else 1
    if coefs.ndim != 4 or coefs.shape[2:] != (3, 5) or coefs.shape[0] not in (1, need):
        raise ValueError(f"coefficients must have shape (X, 3, 5) or ({need}, X, 3, 5); got {coefs.shape}")
    return coefs


def lr4_split(x: np.ndarray, coefs: np.ndarray, state, compensate: bool = True, position: int = 0,
              interval: int = 16):
    """Split ``x`` into LR4 bands.

    Parameters
    ----------
    x : ndarray, shape (C, N), float64
    coefs : ndarray, shape (X, 3, 5) or (B, X, 3, 5)
        From :func:`lr4_coefficients` (ascending crossovers), static or one
        set per control block of ``interval`` samples starting at ``position``.
    state : tuple
        From :func:`lr4_state` (or a previous call); not mutated.
    compensate : bool
        Apply the allpass compensation so that the bands sum to an allpass.

    Returns
    -------
    (bands, state) : ndarray (X + 1, C, N) float64, new state
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be (channels, samples); got shape {x.shape}")
    coefs = _check_coefs(coefs, x.shape[1], position, interval)
    z_split = np.array(state[0], dtype=np.float64, copy=True)
    z_ap = np.array(state[1], dtype=np.float64, copy=True)
    X = coefs.shape[1]
    if z_split.shape != (x.shape[0], X, 8) or z_ap.shape != (X + 1, x.shape[0], X, 2):
        raise ValueError("state does not match the channel count and number of crossovers")
    bands = np.empty((X + 1,) + x.shape)
    _lr4_split_kernel(x, coefs, position, interval, z_split, bands, bands, False, 0.0)
    if compensate:
        _allpass_compensate_kernel(bands, coefs, position, interval, z_ap)
    return bands, (z_split, z_ap)


@njit(cache=True, nogil=True)
def _lr4_gain_sum_kernel(bands, gains, gain_row, coefs, position, interval, z, y):
    """Sum LR4 bands with per-band gains and nested allpass compensation.

    bands (K, C, N) from :func:`_lr4_split_kernel` (uncompensated); gains
    (G, R, N) linear, R = 1 (shared by all channels) or C; gain_row (K,)
    int: row of ``gains`` for band k, -1 = unity gain, -2 = muted.
    coefs (NB, X, 3, 5); z (C, X, 4) allpass states (DF-I), updated in
    place; y (C, N) output. Nested compensation::

        acc = band_0;  acc = AP_j(acc) + band_j  (j = 1 .. K-2);  y = acc + band_{K-1}

    so band j has passed ``AP_{j+1} .. AP_{K-2}`` (module docstring). One
    pass per channel and band, accumulating in ``y``.
    """
    K, C, N = bands.shape
    R = gains.shape[1]
    nb = coefs.shape[0]
    first = position // interval
    for c in range(C):
        r = c if R > 1 else 0
        for j in range(K):
            gr = gain_row[j]
            if j >= 1 and j <= K - 2:
                # RBJ cookbook APF at crossover j (= LR4 LP + HP), DF-I, on the running sum;
                # numerator (a2, a1, 1), state [x1, x2, y1, y2]
                x1 = z[c, j, 0]
                x2 = z[c, j, 1]
                y1 = z[c, j, 2]
                y2 = z[c, j, 3]
                a1 = coefs[0, j, 2, 3]
                a2 = coefs[0, j, 2, 4]
                for i in range(N):
                    if nb > 1 and (i == 0 or (position + i) % interval == 0):
                        kb = (position + i) // interval - first
                        a1 = coefs[kb, j, 2, 3]
                        a2 = coefs[kb, j, 2, 4]
                    v = y[c, i]
                    o = (a2 * v + a1 * x1 + x2 - a2 * y2) - a1 * y1
                    x2 = x1
                    x1 = v
                    y2 = y1
                    y1 = o
                    if gr >= 0:
                        o += bands[j, c, i] * gains[gr, r, i]
                    elif gr == -1:
                        o += bands[j, c, i]
                    y[c, i] = o
                z[c, j, 0] = x1
                z[c, j, 1] = x2
                z[c, j, 2] = _flush(y1)
                z[c, j, 3] = _flush(y2)
            elif j == 0:
                for i in range(N):
                    if gr >= 0:
                        y[c, i] = bands[j, c, i] * gains[gr, r, i]
                    elif gr == -1:
                        y[c, i] = bands[j, c, i]
                    else:
                        y[c, i] = 0.0
            else:
                if gr >= 0:
                    for i in range(N):
                        y[c, i] += bands[j, c, i] * gains[gr, r, i]
                elif gr == -1:
                    for i in range(N):
                        y[c, i] += bands[j, c, i]


# ------------------------------------------------- linear-phase (FIR) bands
#: Half length of the linear-phase crossover kernels, in seconds. The
#: zero-phase impulse response of ``1 / (1 + (f/fc)^4)`` decays as
#: ``exp(-2 pi fc sin(pi/4) |t|)``; at the lowest crossover (50 Hz) it is
#: down to 5e-6 (-106 dB) after 55 ms.
LINEAR_PHASE_HALF_S = 0.055
#: Lowest crossover frequency the linear-phase kernels are designed for.
LINEAR_PHASE_MIN_HZ = 50.0


def linear_phase_half_length(sample_rate: float) -> int:
    """Half length ``D`` (samples) of the linear-phase kernels: ``ceil(0.055 fs)``."""
    return int(np.ceil(LINEAR_PHASE_HALF_S * float(sample_rate)))


def linear_phase_block(half_length: int) -> tuple[int, int]:
    """Overlap-save sizes for kernels of ``2 D + 1`` taps: ``(nfft, block)``.

    ``nfft`` is the power of two >= 1.5 times the kernel length and ``block
    = nfft - 2 D`` new samples are filtered per transform.
    """
    taps = 2 * int(half_length) + 1
    nfft = 1 << int(np.ceil(np.log2(1.5 * taps)))
    return nfft, nfft - (taps - 1)


def linear_phase_lowpass(crossover_hz: float, sample_rate: float, half_length: int) -> np.ndarray:
    """Causal linear-phase low-pass with the LR4 magnitude ``1 / (1 + (f/fc)^4)``.

    Designed by frequency sampling on a grid 8x denser than the kernel
    (zero phase), cut to ``2 D + 1`` taps centred on tap ``D`` and tapered
    with a raised cosine over the outer 20 % on each side. Its complement
    ``delta[n - D] - h[n]`` is the matching high-pass; the two sum to a pure
    delay of ``D`` samples exactly (by construction, to rounding), and their
    magnitudes are the LR4 pair ``1/(1+r^4)``, ``r^4/(1+r^4)`` (they sum to
    one: no bump at the crossover, no phase shift between bands).

    Parameters
    ----------
    crossover_hz : float
        -6.02 dB point, >= 50 Hz (``LINEAR_PHASE_MIN_HZ``) for the stated
        accuracy; designed at ``min(f, 0.49 fs)`` (:func:`~neuromaster.dsp.biquad.design_frequency`).
    sample_rate : float
        In Hz.
    half_length : int
        ``D`` from :func:`linear_phase_half_length`.

    Returns
    -------
    ndarray, shape (2 D + 1,)
    """
    d = int(half_length)
    fc = float(design_frequency(crossover_hz, sample_rate))
    grid = 1 << int(np.ceil(np.log2(8 * (2 * d + 1))))
    f = np.fft.rfftfreq(grid, 1.0 / sample_rate)
    mag = 1.0 / (1.0 + (f / fc) ** 4)
    h0 = np.fft.irfft(mag, grid)                   # zero phase, circular
    h = np.concatenate([h0[-d:], h0[:d + 1]])      # taps -D .. D
    taper = int(0.2 * d)
    if taper > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(taper) + 0.5) / taper)
        h[:taper] *= ramp
        h[-taper:] *= ramp[::-1]
    return h


def linear_phase_response(kernel: np.ndarray, frequency_hz, sample_rate: float) -> np.ndarray:
    """Zero-phase (delay removed) real response of a symmetric kernel at ``frequency_hz``."""
    d = (len(kernel) - 1) // 2
    w = 2 * np.pi * np.atleast_1d(np.asarray(frequency_hz, dtype=np.float64)) / sample_rate
    m = np.arange(-d, d + 1)
    return np.cos(np.outer(w, m)) @ kernel

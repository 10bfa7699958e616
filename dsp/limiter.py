"""True-peak lookahead limiter: detector, gain computer and gain application.

Pure functions over ``(channels, samples)`` float64 arrays with explicit
state (``y, gain_reduction_db, state = limiter_process(x, design, state, ...)``).
The stateful processor is :class:`neuromaster.TruePeakLimiter`.

Signal flow (per input sample ``s``, all channels; ``D`` the detector delay,
``H`` = :data:`HOLD_SAMPLES`, ``W`` the attack ramp)::

    a[m] = max |u(t)|, t in [m, m + 1)               true-peak detector, m = s - D
    q[m] = min(0, ln(target[m] / a[m]))              needed log gain; stereo link
    M[i] = min q over [i - 1 - H, i + W - 1 + H]     running minimum (van Herk / Gil-Werman)
    e[i] = min(M[i], alpha * e[i - 1])               release, log domain (+ slow auto path)
    g[j] = box_W2(box_W1(e))[j], W1 + W2 - 1 = W     attack ramp (or one box of W)
    y[s] = u[s - L] * exp(g[s - L])                  L = W - 1 + H + D, the latency

with ``target = ceiling - true_peak_margin_db(W, oversampling)``.

The detector
------------
A 4x grid is built for every sample by two linear-phase half-band
interpolators: input -> 2x, a Kaiser-windowed half-sample sinc over +-64
input samples (beta 9; it alone decides the accuracy near fs / 2, flat to
~0.47 fs), then 2x -> 4x, a least-squares half-band (8 taps a side, error
< 1e-4 dB on the band the first stage passes). ``a[m]`` is the largest grid
magnitude in the interval, raised to the crest estimated at every local
grid maximum: at 8x and 16x the points half (and a quarter) of a grid step
either side are interpolated on demand from the 4x points (least-squares
half-bands, 4 taps a side), so only the phases around candidate peaks are
computed; the crest is then a three-point sinusoid fit on the finest triple
(exact for one tone, capped at ``1 / cos(pi / 2P)`` times the grid value).
Intervals whose grid maximum is 2 dB or more below the lowest target of the
block are not refined (they cannot need limiting).

Why the output true peak stays below the ceiling
------------------------------------------------
1. *Gain bound, exact.* ``g[j]`` is a weighted mean of ``e[i]`` for ``i`` in
   ``[j - W + 1, j]``; each ``e[i] <= M[i] <= q[m]`` for every ``m`` in
   ``[i - 1 - H, i + W - 1 + H]``, and those ranges all contain
   ``[j - 1 - H, j + H]``. So ``g[j] <= ln(target / a[m])`` for every
   interval within ``H`` samples of ``j``: the gain reaches its target before
   a peak and stays flat across it (``2 H + 2`` samples), whatever the
   release does (it only ever raises ``e`` up to ``M``).
2. *Detector error.* Against the independent 16x reference of
   ``host_tests/truepeak_reference.py`` the detector reads the acceptance
   inputs within -0.005 / +0.003 dB at 8x and 16x and -0.024 dB at 4x
   (the sinusoid fit on the 4x grid).
3. *Gain modulation.* The output is ``g[n] u[n]``; where the gain moves the
   product has side bands that fold around fs / 2, so its reconstruction is
   not exactly ``g(t) u(t)``. The flat hold and the matched moving averages
   keep this second order in the ramp's slope: ~64 / W**2 dB at worst
   (W in samples), measured on clipped noise.
4. *Float32 output.* Rounding moves a reconstructed peak by < 1e-6 dB.
The margin :func:`true_peak_margin_db` covers 2 + 3 + 4 with >= 0.02 dB in
hand at every measured point (its docstring has the measurements), so the
output true peak lands between ``ceiling - margin`` and the ceiling when
limiting is needed: 0.04 dB below it at 44.1 kHz with the defaults.

The reference is a long (+-64-sample) Kaiser-windowed sinc reconstruction,
and the detector's first stage is a filter of the same kind: for broadband
signals (hard-clipped noise, naive squares, doublets) the "true peak"
depends on how a reconstruction treats the last few per cent of the band
below fs / 2, and two good reconstructions that differ there disagree by
tenths of a dB. What cannot be promised by any finite-lookahead limiter is
the *brick-wall* (ideal sinc) reading of such signals: it depends on samples
arbitrarily far away (the sinc's tail sum diverges logarithmically);
``bench/limiter.py`` prints it next to the reference for both limiters.

Exactness below the ceiling
---------------------------
When no interval needs limiting every ``q`` is exactly 0, the minima are 0,
the releases are 0 (snapped to exactly 0 below 1e-12 Np), the moving sums
are reset to exactly 0 once their window holds no reduction, the gain is
``exp(0) == 1.0`` and the output is the input delayed by ``L``, bit for bit.

State and chunking
------------------
Recursions run sample by sample in a fixed order, minima are exact, ring
buffers are indexed by absolute position: any chunking gives bit-identical
output. Controls (log target, stereo link, release coefficients) are given
per input sample and delayed inside to where they act: target and link at
the detector's interval (``D`` samples), the release at the gain's sample
(``L`` samples).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

#: Detection oversampling factors (the resolution at which peaks are located).
OVERSAMPLING_FACTORS = (4, 8, 16)
#: First detector stage (input -> 2x): Kaiser-windowed half-sample sinc,
#: taps per side and beta. All the accuracy near fs / 2 comes from here.
STAGE1_TAPS, STAGE1_BETA = 64, 9.0
#: Later half-band stages (least-squares designs on already oversampled
#: signals): taps per side and the top of the band they must pass, as a
#: fraction of their input rate. Stage 2 (2x -> 4x) runs on every sample;
#: stages 3 (4x -> 8x) and 4 (8x -> 16x) only around candidate peaks.
STAGE2_TAPS, STAGE2_BAND = 8, 0.28
STAGE3_TAPS, STAGE3_BAND = 4, 0.14
STAGE4_TAPS, STAGE4_BAND = 4, 0.07
#: Grid points (4x) of look-ahead / look-behind the refinement may use.
_REFINE_REACH = 8
#: A grid maximum below ``threshold / _PRUNE`` cannot need limiting (2 dB):
#: near a crest ``x' = 0`` and ``|x''| <= (2 pi B)**2 max|x|`` (Bernstein), so
#: a 4x grid (step ``1 / 4 fs``) is within ``(pi B / 4 fs)**2 / 2`` of the
#: crest, 8.7 % (0.79 dB) even for ``B = 0.53 fs`` (the detector's band edge).
_PRUNE = 10.0 ** (2.0 / 20.0)
#: Samples each side of a peak over which the gain is flat at its target.
HOLD_SAMPLES = 8
#: Safety margin between the user's ceiling and the detector's target, in dB:
#: ``MARGIN_FLOOR_DB[oversampling] + MARGIN_RAMP_DB_SAMPLES2 / W**2`` for an
#: attack ramp of ``W`` samples (see :func:`true_peak_margin_db`).
MARGIN_FLOOR_DB = {4: 0.06, 8: 0.03, 16: 0.03}
MARGIN_RAMP_DB_SAMPLES2 = 64.0
#: Auto release: time constants of the fast (transient) and slow (sustained)
#: release paths as multiples of ``release_ms``.
AUTO_RELEASE_FAST = 0.25
AUTO_RELEASE_SLOW = 4.0
#: Log-gain magnitude (nepers) below which a release is snapped to exactly 0.
_SNAP_NP = 1e-12
#: Input samples per detector sub-block (keeps the oversampled streams in cache).
_SUB_BLOCK = 1024
#: Attack shapes.
ATTACK_SHAPES = ("linear", "s_curve")


# ------------------------------------------------------------------ design
def halfband_coefficients(taps_per_side: int, beta: float) -> np.ndarray:
    """Half-sample interpolation taps ``c[j-1]`` for offsets ``+-(j - 1/2)``, ``j = 1..K``.

    Kaiser-windowed sinc (``sinc(j - 1/2) * kaiser(2K, beta)``), scaled so that
    ``2 * sum(c) == 1`` exactly (DC passes with unity gain). The half-band
    interpolator is ``z[2n] = x[n]``, ``z[2n + 1] = sum_j c[j-1] (x[n+j] + x[n+1-j])``.
    """
    k = int(taps_per_side)
    if k < 1:
        raise ValueError(f"taps_per_side must be >= 1; got {taps_per_side}")
    j = np.arange(1, k + 1) - 0.5
    c = np.sinc(j) * np.kaiser(2 * k, float(beta))[k:]
    return c / (2.0 * c.sum())


def least_squares_halfband(taps_per_side: int, band: float) -> np.ndarray:
    """Half-sample interpolation taps minimising the squared error on ``[0, band]``.

    Same layout as :func:`halfband_coefficients`; ``band`` is a fraction of
    the rate of the stream being interpolated (< 0.5). Scaled so that
    ``2 * sum(c) == 1`` exactly. For the detector's stages the pass-band
    error is < 1e-4 dB (``host_tests/test_limiter.py``).
    """
    k = int(taps_per_side)
    f = np.linspace(0.0, float(band), 2048)
    j = np.arange(1, k + 1) - 0.5
    a = 2.0 * np.cos(2.0 * np.pi * np.outer(f, j))
    c, *_ = np.linalg.lstsq(a, np.ones_like(f), rcond=None)
    return c / (2.0 * c.sum())


@dataclass(frozen=True)
class DetectorDesign:
    """True-peak detector of :func:`detector_design` (immutable).

    ``stage1`` / ``stage2`` make the 4x grid for every sample; ``stage3`` /
    ``stage4`` interpolate 8x / 16x points only around grid maxima.
    ``delay_samples`` counts the 4x cascade (66 samples) plus the
    refinement's look-ahead (2).
    """

    factor: int
    stage1: np.ndarray
    stage2: np.ndarray
    stage3: np.ndarray
    stage4: np.ndarray
    delay_samples: int
    history_lengths: tuple       # stage 1, stage 2, refinement (4x points)
    cap: float                   # 1 / cos(pi / (2 factor)): tone crest / nearest grid point

    @property
    def state_size(self) -> int:
        return int(sum(self.history_lengths))


@functools.lru_cache(maxsize=8)
def detector_design(oversampling: int) -> DetectorDesign:
    """Detector for ``oversampling`` in :data:`OVERSAMPLING_FACTORS`."""
    if oversampling not in OVERSAMPLING_FACTORS:
        raise ValueError(f"oversampling must be one of {OVERSAMPLING_FACTORS}; got {oversampling!r}")
    if STAGE2_TAPS % 2:
        raise ValueError("stage 2's delay must be a whole number of input samples")
    hist = (2 * STAGE1_TAPS - 1, 2 * STAGE2_TAPS - 1, 2 * _REFINE_REACH)
    delay = STAGE1_TAPS + STAGE2_TAPS // 2 + _REFINE_REACH // 4
    return DetectorDesign(factor=int(oversampling),
                          stage1=halfband_coefficients(STAGE1_TAPS, STAGE1_BETA),
                          stage2=least_squares_halfband(STAGE2_TAPS, STAGE2_BAND),
                          stage3=least_squares_halfband(STAGE3_TAPS, STAGE3_BAND),
                          stage4=least_squares_halfband(STAGE4_TAPS, STAGE4_BAND),
                          delay_samples=delay, history_lengths=hist,
                          cap=1.0 / math.cos(math.pi / (2 * oversampling)))


@dataclass(frozen=True)
class LimiterDesign:
    """Sizes of one limiter configuration (see :func:`limiter_design`)."""

    detector: DetectorDesign
    box1: int          # first moving average, samples
    box2: int          # second moving average, samples (1 = linear ramp)
    hold: int          # HOLD_SAMPLES
    latency_samples: int

    @property
    def window(self) -> int:
        """Length of the running-minimum window, samples."""
        return self.box1 + self.box2 - 1 + 2 * self.hold + 1


def lookahead_samples(lookahead_ms: float, sample_rate: float) -> int:
    """Attack ramp in samples: ``max(2, round(lookahead_ms * sample_rate / 1000))``."""
    return max(2, int(round(float(lookahead_ms) * 1e-3 * float(sample_rate))))


def true_peak_margin_db(ramp_samples: int, oversampling: int = 8) -> float:
    """Margin (dB) between the ceiling and the detector's target.

    ``MARGIN_FLOOR_DB[oversampling] + MARGIN_RAMP_DB_SAMPLES2 / W**2`` for an
    attack ramp of ``W`` samples: at 8x, 0.038 dB for ``W = 88`` (2 ms at
    44.1 kHz), 0.16 dB for ``W = 22`` (1 ms at 22.05 kHz, the shortest ramp
    the parameter range allows).

    Where the numbers come from (measured, no margin, output true peak by
    the independent 16x reference, worst case over hard-clipped noise of four
    severities, white noise, a naive square, bursts, a 19 kHz tone, 40 Hz
    bursts and music, each driven 3 and 12 dB, release time constants of 22,
    132 and 1323 samples, both attack shapes, 1 s each):

    ==========  =====  =====  =====  =====  =====  =====  =====
    W (samples)    16     22     33     44     66     88    176
    8x (dB)     0.236  0.112  0.050  0.034  0.024  0.018  0.011
    4x (dB)     0.243  0.106  0.065  0.052  0.049  0.046  0.045
    ==========  =====  =====  =====  =====  =====  =====  =====

    The ``1 / W**2`` part is the gain modulation of short ramps (the product
    ``g[n] u[n]`` has side bands that fold around fs / 2); the floor is the
    detector's residual error on broadband signals (at 4x the sinusoid fit
    between grid points; at 8x and 16x the half-band cascade), which grows
    slowly with the number of peaks pinned at the target (+0.007 dB from 0.25
    to 16 s of noise at 8x). The formula keeps >= 0.02 dB in hand at every
    measured point.
    """
    w = float(ramp_samples)
    return MARGIN_FLOOR_DB[int(oversampling)] + MARGIN_RAMP_DB_SAMPLES2 / (w * w)


def limiter_design(sample_rate: float, lookahead_ms: float, oversampling: int = 8,
                   attack_shape: str = "s_curve") -> LimiterDesign:
    """Sizes for a sample rate and settings.

    Parameters
    ----------
    sample_rate : float
        Hz.
    lookahead_ms : float
        Attack ramp: the gain starts to fall this long before a peak's
        hold region (``W`` samples, >= 2).
    oversampling : {4, 8, 16}
    attack_shape : {"linear", "s_curve"}
        One moving average of ``W`` (linear ramp in dB) or two of about
        ``W / 2`` (an S-shaped ramp with continuous slope).

    Latency is ``W - 1 + HOLD_SAMPLES + detector.delay_samples`` input samples.
    """
    if attack_shape not in ATTACK_SHAPES:
        raise ValueError(f"attack_shape must be one of {ATTACK_SHAPES}; got {attack_shape!r}")
    det = detector_design(int(oversampling))
    w = lookahead_samples(lookahead_ms, sample_rate)
    if attack_shape == "linear":
        b1, b2 = w, 1
    else:
        b1 = w // 2 + 1
        b2 = w - b1 + 1
    return LimiterDesign(detector=det, box1=b1, box2=b2, hold=HOLD_SAMPLES,
                         latency_samples=w - 1 + HOLD_SAMPLES + det.delay_samples)


# ------------------------------------------------------------------ state
class LimiterState(NamedTuple):
    """State of :func:`limiter_process` (arrays; the caller's copy is never mutated).

    ``C`` channels, ``L`` the latency, ``win`` the running-minimum window.

    detector : (C, detector.state_size)
        Histories of the half-band stages and of the refinement.
    controls : (5, L)
        The last ``L`` inputs' [log ceiling, ceiling, link, alpha fast, alpha
        slow]; NaN before the first call (then held at the first value).
    needed : (C, win - 1)
        The last needed log gains ``q`` (the running minimum's history).
    ring1, ring2 : (C, box1), (C, box2)
        The last release-envelope values and first-average values.
    sums : (C, 4)
        [running sum of ring1, running sum of ring2, fast release, slow release], nepers.
    last_nonzero : (C, 2) int64
        Absolute index of the last non-zero entry of each ring (sums are reset
        to exactly 0 once their window holds none).
    audio : (C, L)
        Delay line of the driven input.
    position : (1,) int64
        Samples processed since the start.
    """

    detector: np.ndarray
    controls: np.ndarray
    needed: np.ndarray
    ring1: np.ndarray
    ring2: np.ndarray
    sums: np.ndarray
    last_nonzero: np.ndarray
    audio: np.ndarray
    position: np.ndarray

    def copy(self) -> "LimiterState":
        return LimiterState(*(a.copy() for a in self))


def limiter_state(design: LimiterDesign, channels: int) -> LimiterState:
    """Zero state (silence before the start) for ``channels`` channels."""
    c = int(channels)
    lat = design.latency_samples
    return LimiterState(
        detector=np.zeros((c, design.detector.state_size)),
        controls=np.full((5, lat), np.nan),
        needed=np.zeros((c, design.window - 1)),
        ring1=np.zeros((c, design.box1)),
        ring2=np.zeros((c, design.box2)),
        sums=np.zeros((c, 4)),
        last_nonzero=np.full((c, 2), -(1 << 40), dtype=np.int64),
        audio=np.zeros((c, lat)),
        position=np.zeros(1, dtype=np.int64),
    )


# ------------------------------------------------------------------ kernels
@njit(cache=True, nogil=True)
def _halfband_up(src, hist_len, n_new, coef, dst, acc):
    """2x half-band interpolation of ``src[hist_len:hist_len + n_new]``.

    ``src[:hist_len]`` (``hist_len = 2K - 1``) is the history. For new sample
    ``t = hist_len + i``: ``dst[2i] = src[t - K]`` and ``dst[2i + 1] =
    sum_j coef[j-1] (src[t - K + j] + src[t - K + 1 - j])`` (the value half a
    sample after ``t - K``). Summed over ``j`` ascending for every output.
    """
    K = coef.shape[0]
    base = hist_len - K
    for i in range(n_new):
        acc[i] = 0.0
    # four taps per pass over the block (same summation order as one at a
    # time); views with non-negative offsets let LLVM vectorise the loops
    j = 1
    while j + 3 <= K:
        c0 = coef[j - 1]
        c1 = coef[j]
        c2 = coef[j + 1]
        c3 = coef[j + 2]
        lo0 = src[base + 1 - j:base + 1 - j + n_new]
        hi0 = src[base + j:base + j + n_new]
        lo1 = src[base - j:base - j + n_new]
        hi1 = src[base + j + 1:base + j + 1 + n_new]
        lo2 = src[base - j - 1:base - j - 1 + n_new]
        hi2 = src[base + j + 2:base + j + 2 + n_new]
        lo3 = src[base - j - 2:base - j - 2 + n_new]
        hi3 = src[base + j + 3:base + j + 3 + n_new]
        for i in range(n_new):
            acc[i] = (((acc[i] + c0 * (hi0[i] + lo0[i])) + c1 * (hi1[i] + lo1[i]))
                      + c2 * (hi2[i] + lo2[i])) + c3 * (hi3[i] + lo3[i])
        j += 4
    while j <= K:
        c = coef[j - 1]
        lo = src[base + 1 - j:base + 1 - j + n_new]
        hi = src[base + j:base + j + n_new]
        for i in range(n_new):
            acc[i] += c * (hi[i] + lo[i])
        j += 1
    for i in range(n_new):
        dst[2 * i] = src[base + i]
        dst[2 * i + 1] = acc[i]


@njit(cache=True, nogil=True)
def _refine(ym, y0, yp, cap):
    """Continuous peak near grid point 0 from three grid values (``y0 >= ym, yp``, ``y0 > 0``).

    Sinusoid through the three points (exact for one tone): ``cos(theta) =
    (ym + yp) / (2 y0)``, ``A = sqrt(y0**2 + ((yp - ym) / (2 sin(theta)))**2)``;
    a parabola when no tone fits; never more than ``cap * y0``.
    """
    cs = (ym + yp) / (2.0 * y0)
    if 0.0 < cs < 1.0:
        sn = math.sqrt(1.0 - cs * cs)
        b = (yp - ym) / (2.0 * sn)
        est = math.sqrt(y0 * y0 + b * b)
    else:
        den = ym - 2.0 * y0 + yp
        est = y0 - (ym - yp) * (ym - yp) / (8.0 * den) if den < 0.0 else y0
    lim = cap * y0
    return est if est < lim else lim


@njit(cache=True, nogil=True)
def _v8(ext, p, c3):
    """8x point ``p`` (in 8x steps) of the 4x stream ``ext``: a grid point or a stage-3 half point."""
    j = p >> 1
    if p & 1 == 0:
        return ext[j]
    acc = 0.0
    for i in range(1, c3.shape[0] + 1):
        acc += c3[i - 1] * (ext[j + i] + ext[j + 1 - i])
    return acc


@njit(cache=True, nogil=True)
def _peak_near(ext, j, factor, c3, c4, cap):
    """Refined continuous peak near the 4x grid maximum ``ext[j]`` (``|ext[j]| > 0``).

    ``factor`` 4: sinusoid fit through the grid triple. 8: the 8x points either
    side are interpolated (stage 3), the triple around the largest is fitted.
    16: the same once more at 16x (stage 4 on 8x points). Every triple is
    equally spaced at the final resolution. Values are taken with the sign of
    ``ext[j]`` so the crest is a maximum.
    """
    sg = 1.0 if ext[j] > 0.0 else -1.0
    ym = sg * ext[j - 1]
    y0 = sg * ext[j]
    yp = sg * ext[j + 1]
    if factor == 4:
        return _refine(ym, y0, yp, cap)
    # 8x: points at 8x positions 2j - 1, 2j, 2j + 1
    a = sg * _v8(ext, 2 * j - 1, c3)
    b = sg * _v8(ext, 2 * j + 1, c3)
    p = 2 * j
    if a > y0 and a >= b:
        p, ym, y0, yp = 2 * j - 1, ym, a, y0
    elif b > y0:
        p, ym, y0, yp = 2 * j + 1, y0, b, yp
    else:
        ym, yp = a, b
    if factor == 8:
        return _refine(ym, y0, yp, cap)
    # 16x: half points of the 8x stream either side of p (stage 4)
    K4 = c4.shape[0]
    lo = 0.0
    hi = 0.0
    for i in range(1, K4 + 1):
        lo += c4[i - 1] * (_v8(ext, p - 1 + i, c3) + _v8(ext, p - i, c3))
        hi += c4[i - 1] * (_v8(ext, p + i, c3) + _v8(ext, p + 1 - i, c3))
    lo *= sg
    hi *= sg
    if lo > y0 and lo >= hi:
        return _refine(ym, lo, y0, cap)
    if hi > y0:
        return _refine(y0, hi, yp, cap)
    return _refine(lo, y0, hi, cap)


@njit(cache=True, nogil=True)
def _interval_peaks(ext, nb, factor, c3, c4, cap, threshold, mag, out):
    """Peak per interval from the 4x stream ``ext``.

    ``ext`` holds ``2 * _REFINE_REACH`` history points then ``4 nb`` new ones;
    interval ``i`` owns the grid points ``ext[b + p]``, ``b = _REFINE_REACH + 4 i``,
    ``p < 4`` (it lags the newest interval by ``_REFINE_REACH / 4`` samples).
    ``out[i]`` is the largest ``|grid value|`` of the interval, raised to the
    refined crest of every local maximum among its points; intervals whose
    grid maximum is at most ``threshold / _PRUNE`` are not refined.
    """
    r = _REFINE_REACH
    m = 4 * nb + 2 * r
    for j in range(m):
        mag[j] = abs(ext[j])
    for i in range(nb):
        out[i] = mag[r + 4 * i]
    for p in range(1, 4):
        for i in range(nb):
            y = mag[r + 4 * i + p]
            out[i] = y if y > out[i] else out[i]
    lim = threshold / _PRUNE
    for i in range(nb):
        if out[i] <= lim:
            continue
        best = out[i]
        for j in range(r + 4 * i, r + 4 * i + 4):
            y0 = mag[j]
            if mag[j - 1] <= y0 and mag[j + 1] <= y0 and y0 > 0.0:
                est = _peak_near(ext, j, factor, c3, c4, cap)
                if est > best:
                    best = est
        out[i] = best


@njit(cache=True, nogil=True)
def _detect_kernel(x, c1, c2, c3, c4, factor, cap, threshold, state, peaks):
    """Interval peaks of ``x`` (C, N) -> ``peaks`` (C, N); ``state`` (C, S) updated in place.

    ``peaks[c, i]`` is the continuous peak of ``|x|`` over ``[m, m + 1)`` with
    ``m = s - delay`` (``s`` the absolute index of ``x[c, i]``).
    """
    C, N = x.shape
    h1 = 2 * c1.shape[0] - 1
    h2 = 2 * c2.shape[0] - 1
    hr = 2 * _REFINE_REACH
    BL = _SUB_BLOCK
    ext1 = np.empty(h1 + BL)
    ext2 = np.empty(h2 + 2 * BL)
    ext4 = np.empty(hr + 4 * BL)
    acc = np.empty(2 * BL)
    mag = np.empty(hr + 4 * BL)
    out = np.empty(BL)
    for c in range(C):
        n0 = 0
        while n0 < N:
            nb = min(BL, N - n0)
            for i in range(h1):
                ext1[i] = state[c, i]
            for i in range(nb):
                ext1[h1 + i] = x[c, n0 + i]
            for i in range(h2):
                ext2[i] = state[c, h1 + i]
            _halfband_up(ext1, h1, nb, c1, ext2[h2:], acc)          # input -> 2x
            for i in range(hr):
                ext4[i] = state[c, h1 + h2 + i]
            _halfband_up(ext2, h2, 2 * nb, c2, ext4[hr:], acc)      # 2x -> 4x
            _interval_peaks(ext4, nb, factor, c3, c4, cap, threshold, mag, out)
            for k in range(nb):
                peaks[c, n0 + k] = out[k]
            for i in range(h1):                                      # new histories
                state[c, i] = ext1[nb + i]
            for i in range(h2):
                state[c, h1 + i] = ext2[2 * nb + i]
            for i in range(hr):
                state[c, h1 + h2 + i] = ext4[4 * nb + i]
            n0 += nb


@njit(cache=True, nogil=True)
def _sliding_min(z, win, out, fwd, bwd):
    """``out[i] = min(z[i:i + win])`` for ``i < len(out)`` (van Herk / Gil-Werman, O(1) per sample).

    ``len(z) == len(out) + win - 1``; ``fwd``, ``bwd`` are work arrays of ``len(z)``.
    Minima are exact, so the result does not depend on how ``z`` was split.
    """
    n = z.shape[0]
    for a in range(0, n, win):
        b = min(a + win, n)
        m = z[a]
        for j in range(a, b):                      # prefix minima within each segment
            v = z[j]
            m = v if v < m else m
            fwd[j] = m
        m = z[b - 1]
        for j in range(b - 1, a - 1, -1):          # suffix minima within each segment
            v = z[j]
            m = v if v < m else m
            bwd[j] = m
    for i in range(out.shape[0]):
        u = bwd[i]
        v = fwd[i + win - 1]
        out[i] = u if u < v else v


@njit(cache=True, nogil=True)
def _moving_sum_step(ring, r, v, s, last_nz, total, box):
    """Push ``v`` (absolute index ``s``) into the running sum of the last
    ``box`` values kept in ``ring`` at slot ``r``. The sum is reset to
    exactly 0 once the window holds only zeros (no rounding residue after a
    peak). Returns ``(total, last_nz, next slot)``."""
    old = ring[r]
    ring[r] = v
    if v != 0.0:
        last_nz = s
    if s - last_nz >= box:
        total = 0.0
    else:
        total += v - old
    r += 1
    if r == box:
        r = 0
    return total, last_nz, r


@njit(cache=True, nogil=True)
def _envelope_kernel(mins, alpha_fast, alpha_slow, auto, box1, box2, ring1, ring2, sums, last_nz, pos0, g):
    """Release (log domain) and two moving averages; state arrays updated in place.

    ``mins`` (C, N): the running minima ``M``; ``alpha_*`` (N,): per-sample
    release coefficients; ``g`` (C, N) receives the log gain (<= 0).
    Ring slots follow the absolute index ``pos0 + i``.
    """
    C, N = mins.shape
    inv1 = 1.0 / box1
    inv2 = 1.0 / box2
    for c in range(C):
        s1 = sums[c, 0]
        s2 = sums[c, 1]
        f = sums[c, 2]
        sl = sums[c, 3]
        nz1 = last_nz[c, 0]
        nz2 = last_nz[c, 1]
        r1 = pos0 % box1
        r2 = pos0 % box2
        for i in range(N):
            s = pos0 + i
            # release: e = min(M, alpha e_prev), snapped to exactly 0 near 0
            f = f * alpha_fast[i]
            if f > -_SNAP_NP:
                f = 0.0
            mv = mins[c, i]
            if mv < f:
                f = mv
            e = f
            if auto:  # slow path: one-pole average of the fast envelope
                sl = sl + (f - sl) * (1.0 - alpha_slow[i])
                if sl > -_SNAP_NP:
                    sl = 0.0
                if sl < e:
                    e = sl
            # two moving averages (each exactly 0 once its window is all 0)
            s1, nz1, r1 = _moving_sum_step(ring1[c], r1, e, s, nz1, s1, box1)
            b = s1 * inv1
            if b > 0.0:
                b = 0.0
            s2, nz2, r2 = _moving_sum_step(ring2[c], r2, b, s, nz2, s2, box2)
            gv = s2 * inv2
            g[c, i] = gv if gv < 0.0 else 0.0
        sums[c, 0] = s1
        sums[c, 1] = s2
        sums[c, 2] = f
        sums[c, 3] = sl
        last_nz[c, 0] = nz1
        last_nz[c, 1] = nz2


# ------------------------------------------------------------------ public
def detect_peaks(x: np.ndarray, design: DetectorDesign, state: np.ndarray, refine_above: float = 0.0):
    """Continuous peak of ``|x|`` per input-sample interval.

    Parameters
    ----------
    x : ndarray, shape (C, N), float64
    design : DetectorDesign
    state : ndarray, shape (C, design.state_size)
        Histories (zeros at the start: silence before the signal).
    refine_above : float
        Intervals whose largest 4x grid value is at most this / 1.26 (2 dB)
        are returned unrefined (they cannot reach ``refine_above``); 0
        refines every interval.

    Returns
    -------
    peaks : ndarray, shape (C, N)
        ``peaks[:, i]`` estimates ``max |x(t)|`` for ``t`` in ``[m, m + 1)``,
        ``m = s - design.delay_samples`` (``s`` the absolute index of ``x[:, i]``).
    state : ndarray
        The new state (the caller's array is not modified).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    st = np.array(state, dtype=np.float64, copy=True)
    if x.ndim != 2 or st.shape != (x.shape[0], design.state_size):
        raise ValueError(f"x must be (C, N) and state (C, {design.state_size}); got {x.shape}, {st.shape}")
    peaks = np.empty_like(x)
    if x.shape[1]:
        _detect_kernel(x, design.stage1, design.stage2, design.stage3, design.stage4,
                       design.factor, design.cap, float(refine_above), st, peaks)
    return peaks, st


def limiter_process(x: np.ndarray, design: LimiterDesign, state: LimiterState, *,
                    log_ceiling, stereo_link, release_coef, slow_coef=None):
    """Limit ``x`` (C, N) with explicit state.

    Parameters
    ----------
    x : ndarray, shape (C, N), float64
        The (driven) input.
    design : LimiterDesign
    state : LimiterState
        From :func:`limiter_state` or a previous call (not modified).
    log_ceiling : float or ndarray (N,)
        Natural log of the detector's target (the linear ceiling after the
        margin), per input sample.
    stereo_link : float or ndarray (N,)
        0 (channels independent) to 1 (every channel takes the deepest
        reduction); in between, the log gains are interpolated.
    release_coef : float or ndarray (N,)
        Release coefficient ``exp(-1 / (tau * sample_rate))`` in (0, 1) per
        input sample (the fast path's, with auto release).
    slow_coef : None, float or ndarray (N,)
        Coefficient of the slow auto-release path; None: no auto release.

    Returns
    -------
    y : ndarray, shape (C, N)
        The limited signal, delayed by ``design.latency_samples``.
    gain_reduction_db : ndarray, shape (C, N)
        Reduction applied to each sample of ``y``, in dB (>= 0).
    state : LimiterState
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    C, N = x.shape
    st = state.copy()
    lat = design.latency_samples
    dd = design.detector.delay_samples
    win = design.window
    if N == 0:
        return np.zeros((C, 0)), np.zeros((C, 0)), st
    auto = slow_coef is not None
    block = np.empty((5, N))
    block[0] = log_ceiling
    block[1] = np.exp(block[0])
    block[2] = stereo_link
    block[3] = release_coef
    block[4] = slow_coef if auto else 1.0
    hist = st.controls
    if np.isnan(hist[0, 0]):
        hist = np.repeat(block[:, :1], lat, axis=1)  # held before the first sample
    ctrl = np.concatenate([hist, block], axis=1)
    # 1. detector: peaks of intervals m = s - dd
    # (intervals that cannot reach the lowest ceiling of the block need no refinement)
    cl = ctrl[1, lat - dd:lat - dd + N]
    peaks, det = detect_peaks(x, design.detector, st.detector, refine_above=float(cl.min()))
    # 2. needed log gain per interval, stereo link (ceiling/link delayed by dd)
    lc = ctrl[0, lat - dd:lat - dd + N]
    over = peaks > cl
    need = np.zeros((C, N))
    if over.any():
        np.subtract(lc, np.log(peaks, where=over, out=np.ones((C, N))), out=need, where=over)
        np.minimum(need, 0.0, out=need)
        if C > 1:
            deepest = need.min(axis=0)
            need += ctrl[2, lat - dd:lat - dd + N] * (deepest - need)
    # 3. running minimum over the window (history + block)
    z = np.concatenate([st.needed, need], axis=1)
    mins = np.empty((C, N))
    fwd = np.empty(z.shape[1])
    bwd = np.empty(z.shape[1])
    for c in range(C):
        _sliding_min(z[c], win, mins[c], fwd, bwd)
    # 4. release and attack ramp (release coefficients delayed by lat)
    g = np.empty((C, N))
    _envelope_kernel(mins, np.ascontiguousarray(ctrl[3, :N]), np.ascontiguousarray(ctrl[4, :N]), auto,
                     design.box1, design.box2, st.ring1, st.ring2, st.sums, st.last_nonzero,
                     int(st.position[0]), g)
    # 5. apply to the delayed input
    full = np.concatenate([st.audio, x], axis=1)
    y = full[:, :N] * np.exp(g)
    gr = g * (-20.0 / math.log(10.0))
    st = st._replace(detector=det, controls=np.ascontiguousarray(ctrl[:, N:]),
                     needed=np.ascontiguousarray(z[:, N:]), audio=np.ascontiguousarray(full[:, N:]),
                     position=st.position + N)
    return y, gr, st

"""Stateful linear-phase polyphase oversampling: 1, 2, 4, 8 and 16 times.

A cascade of halfband FIR stages, each changing the rate by two. Every stage
is a linear-phase (symmetric) halfband filter split into its two polyphase
branches, so an interpolator computes only the even branch and copies the
odd one (a pure delay), and a decimator only filters the even input samples
and adds half the delayed odd ones (Vaidyanathan, *Multirate Systems and
Filter Banks*, 1993, sec. 4.6: halfband filters; Crochiere & Rabiner,
*Multirate Digital Signal Processing*, 1983, ch. 3: polyphase structures).

Design (rate independent, so "proportionally at other rates")
    passband edge ``PASSBAND_EDGE = 20000/44100`` of the base sample rate
    (20 kHz at 44.1 kHz, 43.5 kHz at 96 kHz). Stage ``s`` (0-based, running
    at ``2**(s+1)`` times the base rate) is an equiripple halfband whose
    passband ends at the audio passband edge and whose stopband starts at its
    mirror image about a quarter of its rate. A halfband's pass and stop
    ripples are equal, so every stage is designed for >= 110 dB stopband
    (ripple < 3e-6, i.e. < 3e-5 dB in the passband). Stage lengths: 4K-1 taps
    with K unique even-branch coefficients, K = 37, 6, 4, 3.

Latency
    Stage ``s`` delays by ``2K_s - 1`` samples at its high rate, on the way
    up and again on the way down. The round trip, summed over the cascade in
    base-rate samples, is padded up to an integer by a short delay line at the
    highest rate inside :func:`downsample`, so ``upsample`` then ``downsample``
    delays by exactly ``design.latency_samples`` base-rate samples:
    0 (1x), 73 (2x), 79 (4x), 81 (8x), 81 (16x).

API (pure functions, explicit state, chunk-invariant by construction)::

    design = oversampler_design(factor)          # immutable, factor in {1, 2, 4, 8, 16}
    state = oversampler_state(design, channels)   # zeros, shape (channels, design.state_size)
    y, state = upsample(x, design, state)         # (C, N) -> (C, N * factor)
    x, state = downsample(y, design, state)       # (C, N * factor) -> (C, N)
    design.latency_samples                        # round trip, base-rate samples (int)
    design.upsample_delay                         # delay of upsample's output, in oversampled samples

One state array serves both directions (the up and down histories live in
separate slices; each function returns a new array and never mutates the
caller's). ``downsample`` needs its input length to be a multiple of the
factor: the phase of the polyphase branches is tied to the block start.
Factor 1 is an exact pass-through with latency 0.

To apply a control value ``c[n]`` given per base-rate input sample to the
oversampled stream, repeat it ``factor`` times and delay it by
``design.upsample_delay`` oversampled samples; a base-rate value meant for the
round-trip output is delayed by ``design.latency_samples``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

#: Oversampling factors offered.
FACTORS = (1, 2, 4, 8, 16)
#: Audio passband edge as a fraction of the base sample rate (20 kHz at 44.1 kHz).
PASSBAND_EDGE = 20000.0 / 44100.0
#: Unique even-branch coefficient count per stage (the halfband has 4K-1 taps).
STAGE_K = (37, 6, 4, 3)
#: Stopband attenuation every stage is designed (and tested) for, in dB.
STAGE_STOPBAND_DB = 110.0


def _halfband_even_taps(K: int, passband_edge: float) -> np.ndarray:
    """Even-branch taps ``h[0], h[2], ..., h[4K-2]`` of an equiripple halfband.

    Vaidyanathan's halfband trick: a type-II equiripple lowpass ``g`` of
    length ``2K`` approximating 1 on ``[0, 2 * passband_edge]`` (normalised to
    a sample rate of 1) gives ``H(z) = (z**-(2K-1) + G(z**2)) / 2``, a halfband
    with centre tap 1/2 and equal pass/stop ripple.
    """
    from scipy.signal import remez  # design time only

    g = remez(2 * K, [0.0, 2.0 * passband_edge], [1.0], fs=1.0, maxiter=200)
    return np.ascontiguousarray(g / 2.0)


def halfband_taps(even_taps: np.ndarray) -> np.ndarray:
    """Full halfband impulse response (``4K-1`` taps, DC gain 1) from its
    ``2K`` even-branch taps (a stage of :attr:`OversamplerDesign.stages`)."""
    even_taps = np.asarray(even_taps, dtype=np.float64)
    h = np.zeros(2 * even_taps.size - 1)
    h[0::2] = even_taps
    h[even_taps.size - 1] = 0.5  # centre tap; the other odd taps are zero
    return h


@dataclass(frozen=True, eq=False)
class OversamplerDesign:
    """Immutable coefficients and bookkeeping for one oversampling factor.

    Attributes
    ----------
    factor : int
        1, 2, 4, 8 or 16.
    stages : tuple of ndarray
        Per halfband stage (base rate first), the ``2K`` even-branch taps
        (symmetric; the halfband's centre tap 1/2 is implied).
    latency_samples : int
        Round-trip delay of ``upsample`` then ``downsample``, base-rate samples.
    upsample_delay : int
        Delay of ``upsample``'s output in oversampled samples
        (``y[m]`` ~ ``x((m - upsample_delay) / factor)``).
    align_delay : int
        Padding delay at the highest rate inside ``downsample`` that makes the
        round trip an integer number of base-rate samples.
    state_size : int
        Per-channel length of the state array.
    """

    factor: int
    stages: tuple
    latency_samples: int
    upsample_delay: int
    align_delay: int
    state_size: int
    coefs: np.ndarray  # (M, Kmax): first K (unique) even-branch taps per stage
    ks: np.ndarray  # (M,) int64
    up_offsets: np.ndarray  # (M,) start of each stage's interpolator history (2K-1 samples)
    down_offsets: np.ndarray  # (M,) start of each stage's decimator history (2K-1 even, K odd samples)

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def __repr__(self) -> str:
        return (f"OversamplerDesign(factor={self.factor}, stages={[s.size for s in self.stages]} even taps, "
                f"latency_samples={self.latency_samples})")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@lru_cache(maxsize=None)
def oversampler_design(factor: int) -> OversamplerDesign:
    """Design (once, cached) the halfband cascade for ``factor``.

    Parameters
    ----------
    factor : int
        1, 2, 4, 8 or 16.

    Returns
    -------
    OversamplerDesign
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or int(factor) not in FACTORS:
        raise ValueError(f"oversampling factor must be one of {FACTORS}; got {factor!r}")
    factor = int(factor)
    M = int(round(math.log2(factor)))
    stages = []
    for s in range(M):
        half = _halfband_even_taps(STAGE_K[s], PASSBAND_EDGE / 2 ** (s + 1))
        stages.append(_readonly(half))
    # round trip in base samples: stage s delays 2K-1 samples at rate 2**(s+1),
    # up and down -> (2K-1) / 2**s base samples
    num = sum((2 * STAGE_K[s] - 1) * 2 ** (M - s) for s in range(M))  # in units of 1/2**M base samples
    latency = -(-num // factor) if M else 0
    align = latency * factor - num
    up_delay = sum((2 * STAGE_K[s] - 1) * 2 ** (M - 1 - s) for s in range(M))
    kmax = max(STAGE_K[:M]) if M else 1
    coefs = np.zeros((M, kmax))
    ks = np.zeros(M, dtype=np.int64)
    up_off = np.zeros(M, dtype=np.int64)
    dn_off = np.zeros(M, dtype=np.int64)
    pos = 0
    for s in range(M):
        K = STAGE_K[s]
        coefs[s, :K] = stages[s][:K]
        ks[s] = K
        up_off[s] = pos
        pos += 2 * K - 1
    for s in range(M):
        dn_off[s] = pos
        pos += 3 * STAGE_K[s] - 1  # 2K-1 even + K odd samples
    pos += align  # alignment delay line, after the top stage
    return OversamplerDesign(
        factor=factor, stages=tuple(stages), latency_samples=int(latency), upsample_delay=int(up_delay),
        align_delay=int(align), state_size=int(pos), coefs=_readonly(coefs), ks=_readonly(ks),
        up_offsets=_readonly(up_off), down_offsets=_readonly(dn_off),
    )


def oversampler_state(design: OversamplerDesign, channels: int) -> np.ndarray:
    """Zero state for ``channels`` channels: shape ``(channels, design.state_size)``."""
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise ValueError(f"channels must be an integer >= 1; got {channels!r}")
    return np.zeros((int(channels), design.state_size))


# -------------------------------------------------------------------- kernels
#: Base-rate samples pushed through the whole cascade at a time inside the
#: kernels (keeps every stage's work buffer in L1; any value gives the same
#: result to the last bit).
SUB_BLOCK = 256


@njit(cache=True, nogil=True)
def _even_branch(src, K, h, acc, n):
    """``acc[j] = sum_{k<2K} h_e[k] src[j + 2K-1 - k]`` for j < n.

    ``h`` holds the first K of the symmetric taps (h_e[k] = h_e[2K-1-k],
    linear phase), so each tap multiplies a pair of samples. The loop runs
    over outputs inside a loop over pairs of taps (an axpy per two taps over
    slices, which LLVM vectorises; two taps per pass over ``acc`` save a load
    and a store per tap); the summation order of every output is the same
    fixed order wherever a block starts, so chunking never changes a bit.
    """
    H = 2 * K - 1
    k0 = K % 2
    if k0:
        hk = h[0]
        a = src[H:H + n]
        b = src[0:n]
        for j in range(n):
            acc[j] = hk * (a[j] + b[j])
    else:
        for j in range(n):
            acc[j] = 0.0
    for k in range(k0, K, 2):
        h0 = h[k]
        h1 = h[k + 1]
        a0 = src[H - k:H - k + n]
        b0 = src[k:k + n]
        a1 = src[H - k - 1:H - k - 1 + n]
        b1 = src[k + 1:k + 1 + n]
        for j in range(n):
            acc[j] += h0 * (a0[j] + b0[j]) + h1 * (a1[j] + b1[j])


@njit(cache=True, nogil=True)
def _interp_stage(src, K, h, dst, doff, n, acc):
    """One halfband interpolator stage (polyphase).

    ``src[2K-1 + j]`` is input sample x[j] (the 2K-1 samples before it are
    the history). Writes ``dst[doff + 2j] = 2 sum_{k<2K} h_e[k] x[j-k]`` (even
    branch) and ``dst[doff + 2j + 1] = x[j-K+1]`` (odd branch: the halfband's
    centre tap 1/2 times the interpolation gain 2). ``acc``: scratch >= n.
    """
    _even_branch(src, K, h, acc, n)
    d = dst[doff:doff + 2 * n]
    odd = src[K:K + n]
    for j in range(n):
        d[2 * j] = 2.0 * acc[j]
        d[2 * j + 1] = odd[j]


@njit(cache=True, nogil=True)
def _decim_stage(ev, od, K, h, out, m):
    """One halfband decimator stage (polyphase).

    ``ev[2K-1 + j]`` = v[2j] (after 2K-1 samples of history) and
    ``od[j]`` = v[2(j-K)+1] (the odd samples, K behind). Writes ``out[j] = sum_{k<2K}
    h_e[k] v[2(j-k)] + v[2(j-K)+1] / 2``: the even branch on the even
    samples plus the centre tap 1/2 on the odd ones.
    """
    _even_branch(ev, K, h, out, m)
    odd = od[:m]
    o = out[:m]
    for j in range(m):
        o[j] += 0.5 * odd[j]


@njit(cache=True, nogil=True)
def _upsample_kernel(x, coefs, ks, up_off, state, y, sub_block):
    """Interpolate ``x`` (C, N) through the cascade into ``y`` (C, N * 2**M).

    ``state`` (C, S) is updated in place (the public wrapper passes a copy).
    Stage s keeps its last 2K_s - 1 input samples at ``state[:, up_off[s]:]``.
    """
    C, N = x.shape
    M = ks.shape[0]
    F = 1 << M
    hmax = 0
    for s in range(M):
        if 2 * ks[s] - 1 > hmax:
            hmax = 2 * ks[s] - 1
    work = np.empty((M, hmax + sub_block * (F // 2)))
    acc = np.empty(sub_block * (F // 2))
    for c in range(C):
        for s in range(M):
            H = 2 * ks[s] - 1
            for i in range(H):
                work[s, i] = state[c, up_off[s] + i]
        for b0 in range(0, N, sub_block):
            nb = min(sub_block, N - b0)
            H0 = 2 * ks[0] - 1
            for i in range(nb):
                work[0, H0 + i] = x[c, b0 + i]
            n = nb
            for s in range(M):
                K = ks[s]
                H = 2 * K - 1
                src = work[s]
                if s + 1 < M:
                    _interp_stage(src, K, coefs[s], work[s + 1], 2 * ks[s + 1] - 1, n, acc)
                else:
                    _interp_stage(src, K, coefs[s], y[c], b0 * F, n, acc)
                for i in range(H):  # keep the last H inputs as history
                    src[i] = src[n + i]
                n *= 2
        for s in range(M):
            H = 2 * ks[s] - 1
            for i in range(H):
                state[c, up_off[s] + i] = work[s, i]


@njit(cache=True, nogil=True)
def _downsample_kernel(y, coefs, ks, dn_off, align, state, x, sub_block):
    """Decimate ``y`` (C, N * 2**M) through the cascade into ``x`` (C, N).

    Per channel, the state holds for each stage s (at ``dn_off[s]``) the last
    2K_s - 1 even and then the last K_s odd input samples, followed (after
    the top stage) by the ``align`` samples of the alignment delay line.
    ``state`` is updated in place.
    """
    C, NF = y.shape
    M = ks.shape[0]
    F = 1 << M
    N = NF // F
    kmax = 0
    for s in range(M):
        if ks[s] > kmax:
            kmax = ks[s]
    cap = sub_block * F // 2  # most samples a branch receives per sub-block
    ev = np.empty((M, 2 * kmax - 1 + cap))
    od = np.empty((M, kmax + cap))
    out = np.empty(cap)
    dl = np.empty(align + sub_block * F)
    top = M - 1
    aoff = dn_off[top] + 3 * ks[top] - 1
    for c in range(C):
        for s in range(M):
            K = ks[s]
            for i in range(2 * K - 1):
                ev[s, i] = state[c, dn_off[s] + i]
            for i in range(K):
                od[s, i] = state[c, dn_off[s] + 2 * K - 1 + i]
        for i in range(align):
            dl[i] = state[c, aoff + i]
        for b0 in range(0, N, sub_block):
            nb = min(sub_block, N - b0)
            n = nb * F
            # alignment delay, then split into the top stage's branches
            Kt = ks[top]
            evt = ev[top, 2 * Kt - 1:2 * Kt - 1 + n // 2]
            odt = od[top, Kt:Kt + n // 2]
            if align > 0:
                d = dl[align:align + n]
                yc = y[c, b0 * F:b0 * F + n]
                for i in range(n):
                    d[i] = yc[i]
                src = dl[:n]
            else:
                src = y[c, b0 * F:b0 * F + n]
            for j in range(n // 2):
                evt[j] = src[2 * j]
                odt[j] = src[2 * j + 1]
            for i in range(align):
                dl[i] = dl[n + i]
            for s in range(top, -1, -1):
                K = ks[s]
                H = 2 * K - 1
                m = n // 2
                e = ev[s]
                o = od[s]
                _decim_stage(e, o, K, coefs[s], out, m)
                if s > 0:
                    Kn = ks[s - 1]
                    en = ev[s - 1, 2 * Kn - 1:2 * Kn - 1 + m // 2]
                    on = od[s - 1, Kn:Kn + m // 2]
                    for j in range(m // 2):
                        en[j] = out[2 * j]
                        on[j] = out[2 * j + 1]
                else:
                    xc = x[c, b0:b0 + m]
                    for j in range(m):
                        xc[j] = out[j]
                for i in range(H):  # histories: the last 2K-1 even and K odd samples
                    e[i] = e[m + i]
                for i in range(K):
                    o[i] = o[m + i]
                n = m
        for s in range(M):
            K = ks[s]
            for i in range(2 * K - 1):
                state[c, dn_off[s] + i] = ev[s, i]
            for i in range(K):
                state[c, dn_off[s] + 2 * K - 1 + i] = od[s, i]
        for i in range(align):
            state[c, aoff + i] = dl[i]


# ------------------------------------------------------------------ public API
def _check(a: np.ndarray, design: OversamplerDesign, state: np.ndarray, what: str):
    if not isinstance(design, OversamplerDesign):
        raise TypeError(f"design must come from oversampler_design(); got {type(design).__name__}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{what} must be 2-D (channels, samples); got shape {a.shape}")
    state = np.asarray(state, dtype=np.float64)
    if state.shape != (a.shape[0], design.state_size):
        raise ValueError(f"state shape {state.shape} does not match (channels, state_size) = {(a.shape[0], design.state_size)}")
    return a, np.array(state, copy=True)


def upsample(x: np.ndarray, design: OversamplerDesign, state: np.ndarray):
    """Raise the rate of ``x`` by ``design.factor``.

    Parameters
    ----------
    x : ndarray, shape (C, N), float64
        Base-rate audio.
    design : OversamplerDesign
    state : ndarray, shape (C, design.state_size)

    Returns
    -------
    y : ndarray, shape (C, N * factor)
        Interpolated audio, delayed by ``design.upsample_delay`` oversampled samples.
    state : ndarray
        New state (the caller's array is not modified).
    """
    x, st = _check(x, design, state, "x")
    y = np.empty((x.shape[0], x.shape[1] * design.factor))
    if design.factor == 1:
        y[:] = x
    elif x.shape[1]:
        _upsample_kernel(x, design.coefs, design.ks, design.up_offsets, st, y, SUB_BLOCK)
    return y, st


def downsample(y: np.ndarray, design: OversamplerDesign, state: np.ndarray):
    """Lower the rate of ``y`` by ``design.factor``.

    Parameters
    ----------
    y : ndarray, shape (C, N * factor), float64
        Oversampled audio; the length must be a multiple of the factor.
    design : OversamplerDesign
    state : ndarray, shape (C, design.state_size)

    Returns
    -------
    x : ndarray, shape (C, N)
    state : ndarray
        New state (the caller's array is not modified).
    """
    y, st = _check(y, design, state, "y")
    F = design.factor
    if y.shape[1] % F:
        raise ValueError(f"downsample needs a length that is a multiple of the factor {F}; got {y.shape[1]}")
    x = np.empty((y.shape[0], y.shape[1] // F))
    if F == 1:
        x[:] = y
    elif y.shape[1]:
        _downsample_kernel(y, design.coefs, design.ks, design.down_offsets, design.align_delay, st, x, SUB_BLOCK)
    return x, st

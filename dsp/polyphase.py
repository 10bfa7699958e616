"""Stateful polyphase FIR interpolation (integer up-sampling) and peak tracking.

An interpolator by ``P`` with a prototype low-pass ``h`` of ``P * T`` taps is
held as ``taps_by_phase`` of shape ``(P, T)`` with
``taps_by_phase[p, k] = h[P k + p]``; output sample ``P n + p`` is

    y[P n + p] = sum_{k=0}^{T-1} taps_by_phase[p, k] * x[n - k]

(the textbook polyphase identity for zero-stuffing followed by ``h``; the
layout of BS.1770-4 Annex 2's table). The output therefore lags the input
by the prototype's group delay, ``(L - 1) / (2 P)`` input samples for a
symmetric ``h`` of ``L`` taps (5.875 for the BS.1770-4 filter).

State
-----
``state`` has shape ``(channels, T - 1)``: the last ``T - 1`` input samples
of each channel, oldest first (zeros before the first call: the signal is
taken as silent before it starts). It is what makes chunked calls equal one
call on the concatenation, bit for bit: every output is summed over ``k``
in the same order whatever the chunking. The caller's state is never
mutated; a new one is returned. :func:`polyphase_state` makes a zero state.

Kernels work through the input in blocks of 512 samples (a small buffer
holds the history and the block, so nothing proportional to the input is
allocated) and compute a block of outputs per phase with the input loop
innermost, four taps at a time (summed pairwise, then added to the running
sum - a fixed order, so results never depend on the chunking), which LLVM
vectorises. The (4, 12) BS.1770-4 interpolator has a register-resident
special case: about 4 ns per input sample and channel here.

The peak detector :func:`polyphase_peak` is what true-peak meters and
limiter detectors want: it returns the largest ``|y|`` per segment of input
samples and never materialises the oversampled signal.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: Input samples processed per inner block (outputs stay in L1 cache).
_BLOCK = 512


@njit(cache=True, nogil=True)
def _phase_block(ext, start, n_out, taps, p, acc):
    """acc[:n_out] = sum_k taps[p, k] * ext[start + n - k].

    ``ext`` is one channel's history followed by its input; ``start`` is the
    index in ``ext`` of the first output's newest input sample. The order of
    the additions is fixed per output (see below), so results never depend
    on how the input was chunked.
    """
    T = taps.shape[1]
    for n in range(n_out):
        acc[n] = 0.0
    # Views starting at the right offset keep every index non-negative and
    # loop-derived, so numba needs no wrap-around test and LLVM vectorises.
    # Taps go four at a time, summed pairwise ((h0 x0 + h1 x1) + (h2 x2 + h3 x3))
    # and added to the running sum: short dependency chains, and the exact
    # order _peak_block_4x12 uses, so both kernels give identical bits.
    k = 0
    while k + 4 <= T:
        h0 = taps[p, k]
        h1 = taps[p, k + 1]
        h2 = taps[p, k + 2]
        h3 = taps[p, k + 3]
        e0 = ext[start - k:]
        e1 = ext[start - k - 1:]
        e2 = ext[start - k - 2:]
        e3 = ext[start - k - 3:]
        for n in range(n_out):
            acc[n] += (h0 * e0[n] + h1 * e1[n]) + (h2 * e2[n] + h3 * e3[n])
        k += 4
    while k < T:
        h0 = taps[p, k]
        e0 = ext[start - k:]
        for n in range(n_out):
            acc[n] += h0 * e0[n]
        k += 1


@njit(cache=True, nogil=True)
def _interpolate_kernel(x, taps, hist, y):
    """y[c, P n + p] for all n, p; hist (C, T-1) is replaced by the new history."""
    C, N = x.shape
    P, T = taps.shape
    H = T - 1
    buf = np.empty(H + _BLOCK)          # history, then the current block (no copy of the whole input)
    acc = np.empty(_BLOCK)
    for c in range(C):
        for i in range(H):
            buf[i] = hist[c, i]
        n0 = 0
        while n0 < N:
            nb = min(_BLOCK, N - n0)
            for i in range(nb):
                buf[H + i] = x[c, n0 + i]
            for p in range(P):
                _phase_block(buf, H, nb, taps, p, acc)
                for n in range(nb):
                    y[c, P * (n0 + n) + p] = acc[n]
            for i in range(H):              # the block's last H samples are the next history
                buf[i] = buf[nb + i]
            n0 += nb
        for i in range(H):
            hist[c, i] = buf[i]


@njit(cache=True, nogil=True)
def _peak_block_4x12(ext, start, n_out, taps, mx):
    """mx[n] = max(mx[n], |y_p[n]|, p = 0..3) for a (4, 12) interpolator, all in registers.

    The same sums in the same order as :func:`_phase_block` (bit-identical
    results), but the 12 input samples each output needs are loaded
    once for the four phases and no partial sum goes through memory: the
    BS.1770-4 Annex 2 detector at a few cycles per sample.
    """
    h00 = taps[0, 0]; h01 = taps[0, 1]; h02 = taps[0, 2]; h03 = taps[0, 3]; h04 = taps[0, 4]; h05 = taps[0, 5]
    h06 = taps[0, 6]; h07 = taps[0, 7]; h08 = taps[0, 8]; h09 = taps[0, 9]; h0a = taps[0, 10]; h0b = taps[0, 11]
    h10 = taps[1, 0]; h11 = taps[1, 1]; h12 = taps[1, 2]; h13 = taps[1, 3]; h14 = taps[1, 4]; h15 = taps[1, 5]
    h16 = taps[1, 6]; h17 = taps[1, 7]; h18 = taps[1, 8]; h19 = taps[1, 9]; h1a = taps[1, 10]; h1b = taps[1, 11]
    h20 = taps[2, 0]; h21 = taps[2, 1]; h22 = taps[2, 2]; h23 = taps[2, 3]; h24 = taps[2, 4]; h25 = taps[2, 5]
    h26 = taps[2, 6]; h27 = taps[2, 7]; h28 = taps[2, 8]; h29 = taps[2, 9]; h2a = taps[2, 10]; h2b = taps[2, 11]
    h30 = taps[3, 0]; h31 = taps[3, 1]; h32 = taps[3, 2]; h33 = taps[3, 3]; h34 = taps[3, 4]; h35 = taps[3, 5]
    h36 = taps[3, 6]; h37 = taps[3, 7]; h38 = taps[3, 8]; h39 = taps[3, 9]; h3a = taps[3, 10]; h3b = taps[3, 11]
    e0 = ext[start:]
    e1 = ext[start - 1:]
    e2 = ext[start - 2:]
    e3 = ext[start - 3:]
    e4 = ext[start - 4:]
    e5 = ext[start - 5:]
    e6 = ext[start - 6:]
    e7 = ext[start - 7:]
    e8 = ext[start - 8:]
    e9 = ext[start - 9:]
    ea = ext[start - 10:]
    eb = ext[start - 11:]
    for n in range(n_out):
        x0 = e0[n]; x1 = e1[n]; x2 = e2[n]; x3 = e3[n]; x4 = e4[n]; x5 = e5[n]
        x6 = e6[n]; x7 = e7[n]; x8 = e8[n]; x9 = e9[n]; xa = ea[n]; xb = eb[n]
        # pairwise sums (depth 4, not a 12-long dependency chain)
        a = (((h00 * x0 + h01 * x1) + (h02 * x2 + h03 * x3)) + ((h04 * x4 + h05 * x5) + (h06 * x6 + h07 * x7))
             + ((h08 * x8 + h09 * x9) + (h0a * xa + h0b * xb)))
        b = (((h10 * x0 + h11 * x1) + (h12 * x2 + h13 * x3)) + ((h14 * x4 + h15 * x5) + (h16 * x6 + h17 * x7))
             + ((h18 * x8 + h19 * x9) + (h1a * xa + h1b * xb)))
        c = (((h20 * x0 + h21 * x1) + (h22 * x2 + h23 * x3)) + ((h24 * x4 + h25 * x5) + (h26 * x6 + h27 * x7))
             + ((h28 * x8 + h29 * x9) + (h2a * xa + h2b * xb)))
        d = (((h30 * x0 + h31 * x1) + (h32 * x2 + h33 * x3)) + ((h34 * x4 + h35 * x5) + (h36 * x6 + h37 * x7))
             + ((h38 * x8 + h39 * x9) + (h3a * xa + h3b * xb)))
        m = max(mx[n], abs(a))
        m = max(m, abs(b))
        m = max(m, abs(c))
        mx[n] = max(m, abs(d))


@njit(cache=True, nogil=True)
def _peak_kernel(x, taps, hist, segment_length, position, include_input, peaks):
    """Max |y| (and |x| if include_input) per absolute input segment; peaks (C, S) starts at
    segment position // L."""
    C, N = x.shape
    P, T = taps.shape
    H = T - 1
    buf = np.empty(H + _BLOCK)          # history, then the current block
    acc = np.empty(_BLOCK)
    mx = np.empty(_BLOCK)
    first = position // segment_length
    for c in range(C):
        for i in range(H):
            buf[i] = hist[c, i]
        n0 = 0
        while n0 < N:
            nb = min(_BLOCK, N - n0)
            xb = x[c, n0:n0 + nb]
            for i in range(nb):
                buf[H + i] = xb[i]
            if include_input:
                for n in range(nb):
                    mx[n] = abs(xb[n])
            else:
                for n in range(nb):
                    mx[n] = 0.0
            if P == 4 and T == 12:
                _peak_block_4x12(buf, H, nb, taps, mx)
            else:
                for p in range(P):
                    _phase_block(buf, H, nb, taps, p, acc)
                    for n in range(nb):
                        mx[n] = max(mx[n], abs(acc[n]))
            # reduce the block into its segments (absolute sample positions),
            # one run of samples per segment
            n = 0
            while n < nb:
                a = position + n0 + n
                s = a // segment_length
                run = min(nb - n, (s + 1) * segment_length - a)
                m = peaks[c, s - first]
                for j in range(n, n + run):
                    m = max(m, mx[j])
                peaks[c, s - first] = m
                n += run
            for i in range(H):
                buf[i] = buf[nb + i]
            n0 += nb
        for i in range(H):
            hist[c, i] = buf[i]


def polyphase_state(channels: int, taps_per_phase: int) -> np.ndarray:
    """Zero state for :func:`polyphase_interpolate`: shape ``(channels, taps_per_phase - 1)``."""
    return np.zeros((int(channels), max(int(taps_per_phase) - 1, 0)))


def _check(x, taps_by_phase, state):
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (channels, samples); got {x.shape}")
    taps = np.ascontiguousarray(taps_by_phase, dtype=np.float64)
    if taps.ndim != 2 or taps.shape[0] < 1 or taps.shape[1] < 1:
        raise ValueError(f"taps_by_phase must have shape (phases, taps_per_phase); got {taps.shape}")
    hist = np.array(state, dtype=np.float64, copy=True)
    if hist.shape != (x.shape[0], taps.shape[1] - 1):
        raise ValueError(f"state shape {hist.shape} does not match (channels, taps_per_phase - 1) = "
                         f"{(x.shape[0], taps.shape[1] - 1)}")
    return x, taps, hist


def polyphase_interpolate(x: np.ndarray, taps_by_phase: np.ndarray, state: np.ndarray):
    """Up-sample ``x`` by ``P = taps_by_phase.shape[0]`` through a polyphase FIR.

    Parameters
    ----------
    x : ndarray, shape (channels, N), float64
    taps_by_phase : ndarray, shape (P, T)
        ``taps_by_phase[p, k] = h[P k + p]`` for a prototype ``h`` of ``P T``
        taps whose gain is ``P`` at DC (so the pass band has unity gain).
    state : ndarray, shape (channels, T - 1)
        Previous input samples, oldest first (see the module docstring).

    Returns
    -------
    y : ndarray, shape (channels, N * P)
        ``y[:, P n + p]`` as in the module docstring.
    state : ndarray, shape (channels, T - 1)
        The new state (the caller's array is not modified).
    """
    x, taps, hist = _check(x, taps_by_phase, state)
    y = np.empty((x.shape[0], x.shape[1] * taps.shape[0]))
    if x.shape[1]:
        _interpolate_kernel(x, taps, hist, y)
    return y, hist


def polyphase_peak(x: np.ndarray, taps_by_phase: np.ndarray, state: np.ndarray, *,
                   segment_length: int, position: int, include_input: bool = False):
    """Peak magnitude of the interpolated signal per segment of input samples.

    Equivalent to ``abs(polyphase_interpolate(x, ...)[0])`` reduced by ``max``
    over the ``P`` outputs of each input sample and then over segments of
    ``segment_length`` input samples at absolute positions, without keeping
    the oversampled signal.

    Parameters
    ----------
    x, taps_by_phase, state
        As in :func:`polyphase_interpolate`.
    segment_length : int
        Segment length in input samples (>= 1).
    position : int
        Absolute index of ``x[:, 0]`` in the stream (samples since the start).
    include_input : bool
        Also count ``|x|`` itself (so a segment's peak is never below its
        sample peak, whatever the filter does at the samples).

    Returns
    -------
    peaks : ndarray, shape (channels, S)
        ``peaks[:, j]`` is the largest ``|y|`` produced by this call's input
        samples that fall in segment ``position // segment_length + j``
        (``S`` covers every segment touched; the first and last may be partial:
        merge them with ``max`` across calls). Zero for an empty ``x``.
    state : ndarray, shape (channels, T - 1)
        The new state.
    """
    x, taps, hist = _check(x, taps_by_phase, state)
    segment_length = int(segment_length)
    position = int(position)
    if segment_length < 1 or position < 0:
        raise ValueError(f"segment_length must be >= 1 and position >= 0; got {segment_length}, {position}")
    n = x.shape[1]
    if n == 0:
        return np.zeros((x.shape[0], 0)), hist
    segments = (position + n - 1) // segment_length - position // segment_length + 1
    peaks = np.zeros((x.shape[0], segments))
    _peak_kernel(x, taps, hist, segment_length, position, bool(include_input), peaks)
    return peaks, hist

"""Biquads: RBJ Audio-EQ-Cookbook design and the direct-form-I section kernels.

This module is the one home of second-order sections: every stage designs
its sections here and runs them through the kernels here (the parametric
EQ adds its channel routing on top, in :mod:`neuromaster.dsp.eq`).

Design
------
:func:`rbj` is vectorised numpy: every argument may be an array, and the
result has shape ``broadcast(...) + (6,)`` holding ``[b0, b1, b2, a0, a1,
a2]`` normalised so that ``a0 == 1`` (scipy's ``sos`` row layout). That lets
a stage design one set of coefficients per control block for automated
parameters. The cookbook formulas themselves are written once, in the
numba function :func:`_rbj_section`; :func:`rbj` and :func:`_rbj_rows_kernel`
(a kernel's per-control-block design, e.g. the dynamic EQ's gain) both
call it, so the two agree to the bit.

:func:`design_frequency` is the one rule for a design frequency near
Nyquist: every stage clamps its frequencies with it.

Kernels
-------
Sections run in **direct form I** (RBJ cookbook eq. 4, ``a0 = 1``)::

    y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a2 y[n-2] - a1 y[n-1]

in float64 on ``(channels, samples)`` arrays, with explicit state of shape
``(channels, sections, 4)`` holding ``[x[n-1], x[n-2], y[n-1], y[n-2]]`` per
section (scipy's ``sosfilt`` keeps ``(sections, ..., 2)`` transposed-form-II
state; ours puts channels first to match the audio layout). The caller's
state is never mutated: a new state is returned.

Why direct form I, for static and time-varying coefficients alike:

* its state is the signal's own history, so it stays meaningful when the
  coefficients change per control block (automation, a dynamic EQ's gain):
  a coefficient change acts on the signal history, as ``scipy.signal.lfilter``
  per block with ``lfiltic`` state (host_tests/test_eq.py);
* the newest output enters last (``... - a1 y[n-1]``), so the loop-carried
  dependency is one multiply and one subtract, and two channels run
  interleaved in the inner loop (:func:`_df1_pair`): 2-2.7x faster than the
  transposed form II here, for one to six sections;
* static results equal ``scipy.signal.sosfilt`` to rounding order.

Exactness: the identity row ``[1, 0, 0, 1, 0, 0]`` passes its input bit
for bit. A section whose numerator merely equals its denominator (an RBJ
bell or shelf at 0 dB) is the identity only to rounding in this form;
a stage that needs it exact filters the *difference* ``H - 1`` (numerator
``b - a``, exactly zero at 0 dB) and adds the input back, which is the same
direct-form-I filter with the state ``y - x`` (see ``DynamicEQ``).

Kernels take a tile of :data:`TILE` samples through all sections at a time,
so the work buffer stays in L1. Denormals: every state value below 1e-300
is set to 0 at the end of a call (:func:`_flush`).
"""
from __future__ import annotations

import numpy as np
from numba import njit

# --------------------------------------------------------------------- design
KINDS = ("peak", "low_shelf", "high_shelf", "lowpass", "highpass", "bandpass", "notch", "allpass")
#: Integer codes of :data:`KINDS` for the numba design functions.
PEAK, LOW_SHELF, HIGH_SHELF, LOWPASS, HIGHPASS, BANDPASS, NOTCH, ALLPASS = range(len(KINDS))

#: Highest design frequency as a fraction of the sample rate.
MAX_DESIGN_FRACTION = 0.49


def design_frequency(frequency_hz, sample_rate: float) -> np.ndarray:
    """The frequency a filter is designed at: ``min(frequency_hz, 0.49 * sample_rate)``.

    Every RBJ design needs ``0 < f < sample_rate / 2``; as ``f`` approaches
    Nyquist, ``sin(w0)`` (hence the cookbook's ``alpha``) goes to 0 and the
    sections degenerate (a bell or band-pass collapses to zero width, the
    poles reach ``z = -1``). The limit 0.49 keeps every design clear of that
    and still designs the whole 20 Hz-20 kHz parameter range of the stages
    exactly as given at every rate from 40.8 kHz up (20 kHz is 0.4535 of
    44.1 kHz); only below 40.8 kHz can a frequency be moved (to 0.49 fs).

    Parameters
    ----------
    frequency_hz : float or array
        Hz.
    sample_rate : float
        Hz.

    Returns
    -------
    ndarray (float64), the shape of ``frequency_hz``
    """
    return np.minimum(np.asarray(frequency_hz, dtype=np.float64), MAX_DESIGN_FRACTION * float(sample_rate))


@njit(cache=True, nogil=True)
def _rbj_section(kind, cw, alpha, gain_db):
    """One RBJ cookbook section, normalised by ``a0``: ``(b0, b1, b2, a1, a2)``.

    ``cw = cos(w0)``, ``alpha = sin(w0) / (2 Q)``, ``A = 10**(gain_db / 40)``
    (R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter
    coefficients"). The only place the cookbook formulas are written.
    """
    if kind == PEAK:  # RBJ cookbook, peakingEQ
        A = 10.0 ** (gain_db / 40.0)
        b0 = 1 + alpha * A
        b1 = -2 * cw
        b2 = 1 - alpha * A
        a0 = 1 + alpha / A
        a1 = -2 * cw
        a2 = 1 - alpha / A
    elif kind == LOW_SHELF:  # RBJ cookbook, lowShelf
        A = 10.0 ** (gain_db / 40.0)
        sq = 2 * np.sqrt(A) * alpha
        b0 = A * ((A + 1) - (A - 1) * cw + sq)
        b1 = 2 * A * ((A - 1) - (A + 1) * cw)
        b2 = A * ((A + 1) - (A - 1) * cw - sq)
        a0 = (A + 1) + (A - 1) * cw + sq
        a1 = -2 * ((A - 1) + (A + 1) * cw)
        a2 = (A + 1) + (A - 1) * cw - sq
    elif kind == HIGH_SHELF:  # RBJ cookbook, highShelf
        A = 10.0 ** (gain_db / 40.0)
        sq = 2 * np.sqrt(A) * alpha
        b0 = A * ((A + 1) + (A - 1) * cw + sq)
        b1 = -2 * A * ((A - 1) + (A + 1) * cw)
        b2 = A * ((A + 1) + (A - 1) * cw - sq)
        a0 = (A + 1) - (A - 1) * cw + sq
        a1 = 2 * ((A - 1) - (A + 1) * cw)
        a2 = (A + 1) - (A - 1) * cw - sq
    elif kind == LOWPASS:  # RBJ cookbook, LPF
        b0 = (1 - cw) / 2
        b1 = 1 - cw
        b2 = (1 - cw) / 2
        a0 = 1 + alpha
        a1 = -2 * cw
        a2 = 1 - alpha
    elif kind == HIGHPASS:  # RBJ cookbook, HPF
        b0 = (1 + cw) / 2
        b1 = -(1 + cw)
        b2 = (1 + cw) / 2
        a0 = 1 + alpha
        a1 = -2 * cw
        a2 = 1 - alpha
    elif kind == BANDPASS:  # RBJ cookbook, BPF (constant 0 dB peak gain)
        b0 = alpha
        b1 = 0.0
        b2 = -alpha
        a0 = 1 + alpha
        a1 = -2 * cw
        a2 = 1 - alpha
    elif kind == NOTCH:  # RBJ cookbook, notch
        b0 = 1.0
        b1 = -2 * cw
        b2 = 1.0
        a0 = 1 + alpha
        a1 = -2 * cw
        a2 = 1 - alpha
    else:  # RBJ cookbook, APF
        b0 = 1 - alpha
        b1 = -2 * cw
        b2 = 1 + alpha
        a0 = 1 + alpha
        a1 = -2 * cw
        a2 = 1 - alpha
    return b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0


@njit(cache=True, nogil=True)
def _rbj_rows_kernel(kind, cw, alpha, gain_db, out):
    """RBJ sections, one per row: ``out[m] = [b0, b1, b2, 1, a1, a2]``.

    kind: a code (:data:`PEAK` ...); cw, alpha, gain_db: (M,) or (1,) (a
    length-1 argument holds for every row); out (M, 6) with
    ``M = max`` of their lengths. A bell or shelf at exactly 0 dB gets a
    numerator equal to its denominator, to the bit.
    """
    M = out.shape[0]
    sc = 1 if cw.shape[0] > 1 else 0
    sa = 1 if alpha.shape[0] > 1 else 0
    sg = 1 if gain_db.shape[0] > 1 else 0
    for m in range(M):
        b0, b1, b2, a1, a2 = _rbj_section(kind, cw[m * sc], alpha[m * sa], gain_db[m * sg])
        out[m, 0] = b0
        out[m, 1] = b1
        out[m, 2] = b2
        out[m, 3] = 1.0
        out[m, 4] = a1
        out[m, 5] = a2


def cos_alpha(frequency_hz, q, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The cookbook's ``cos(w0)`` and ``alpha = sin(w0) / (2 Q)``, ``w0 = 2 pi f / sample_rate``.

    Shapes: ``cos`` that of ``frequency_hz``, ``alpha`` ``broadcast(frequency_hz, q)``.
    """
    w0 = 2.0 * np.pi * np.asarray(frequency_hz, dtype=np.float64) / sample_rate
    return np.cos(w0), np.sin(w0) / (2.0 * np.asarray(q, dtype=np.float64))


def rbj(kind: str, frequency_hz, gain_db, q, sample_rate: float) -> np.ndarray:
    """RBJ cookbook biquad coefficients.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    frequency_hz : float or array
        Centre / corner frequency in Hz, ``0 < f < sample_rate / 2`` (callers
        clamp it with :func:`design_frequency`).
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
    if kind not in KINDS:
        raise ValueError(f"unknown biquad kind {kind!r}; one of {KINDS}")
    cw, alpha = cos_alpha(frequency_hz, q, sample_rate)
    cw, alpha, g = np.broadcast_arrays(cw, alpha, np.asarray(gain_db, dtype=np.float64))
    out = np.empty(cw.shape + (6,))
    if out.size:
        _rbj_rows_kernel(KINDS.index(kind), np.ascontiguousarray(cw).reshape(-1),
                        np.ascontiguousarray(alpha).reshape(-1), np.ascontiguousarray(g).reshape(-1),
                        out.reshape(-1, 6))
    return out


def first_order(kind: str, frequency_hz, sample_rate: float) -> np.ndarray:
    """First-order low/high-pass by bilinear transform with pre-warping,
    as a biquad row (``b2 = a2 = 0``). ``kind`` in {"lowpass", "highpass"}."""
    k = np.tan(np.pi * np.asarray(frequency_hz, dtype=np.float64) / sample_rate)
    zero = np.zeros_like(k)
    one = np.ones_like(k)
    if kind == "lowpass":
        rows = (k, k, zero, k + 1, k - 1, zero)
    elif kind == "highpass":
        rows = (one, -one, zero, k + 1, k - 1, zero)
    else:
        raise ValueError(f"unknown first-order kind {kind!r}")
    out = np.stack(np.broadcast_arrays(*rows), axis=-1)
    return out / out[..., 3:4]


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
#: Samples per channel taken through all sections at a time.
TILE = 256


@njit(cache=True, nogil=True)
def _df1_pair(src, w, a, b, c0, c1, c2, d1, d2, state, slot):
    """One DF-I section on two channels, samples a..b-1, interleaved, reading
    ``src`` (2, N) and writing ``w`` (2, N) (the same array but for a
    cascade's first section); ``state[0 or 1, slot]`` updated in place."""
    lx1 = state[0, slot, 0]
    lx2 = state[0, slot, 1]
    ly1 = state[0, slot, 2]
    ly2 = state[0, slot, 3]
    rx1 = state[1, slot, 0]
    rx2 = state[1, slot, 1]
    ry1 = state[1, slot, 2]
    ry2 = state[1, slot, 3]
    for i in range(a, b):
        vl = src[0, i]
        vr = src[1, i]
        # RBJ cookbook eq. 4 (direct form I), a0 = 1; the newest output enters last
        ol = (c0 * vl + c1 * lx1 + c2 * lx2 - d2 * ly2) - d1 * ly1
        orr = (c0 * vr + c1 * rx1 + c2 * rx2 - d2 * ry2) - d1 * ry1
        lx2 = lx1
        lx1 = vl
        ly2 = ly1
        ly1 = ol
        rx2 = rx1
        rx1 = vr
        ry2 = ry1
        ry1 = orr
        w[0, i] = ol
        w[1, i] = orr
    state[0, slot, 0] = lx1
    state[0, slot, 1] = lx2
    state[0, slot, 2] = ly1
    state[0, slot, 3] = ly2
    state[1, slot, 0] = rx1
    state[1, slot, 1] = rx2
    state[1, slot, 2] = ry1
    state[1, slot, 3] = ry2


@njit(cache=True, nogil=True)
def _df1_one(w, ch, a, b, c0, c1, c2, d1, d2, state, slot):
    """One DF-I section in place on channel ``ch`` of ``w``, samples a..b-1;
    ``state[ch, slot]`` updated in place."""
    x1 = state[ch, slot, 0]
    x2 = state[ch, slot, 1]
    y1 = state[ch, slot, 2]
    y2 = state[ch, slot, 3]
    for i in range(a, b):
        v = w[ch, i]
        o = (c0 * v + c1 * x1 + c2 * x2 - d2 * y2) - d1 * y1  # RBJ cookbook eq. 4
        x2 = x1
        x1 = v
        y2 = y1
        y1 = o
        w[ch, i] = o
    state[ch, slot, 0] = x1
    state[ch, slot, 1] = x2
    state[ch, slot, 2] = y1
    state[ch, slot, 3] = y2


@njit(cache=True, nogil=True)
def _df1_all(y, a, b, c0, c1, c2, d1, d2, state, slot):
    """One DF-I section in place on every channel of ``y`` (C, N), in pairs;
    ``state`` (C, slots, 4)."""
    C = y.shape[0]
    c = 0
    while c + 1 < C:
        _df1_pair(y[c:c + 2], y[c:c + 2], a, b, c0, c1, c2, d1, d2, state[c:c + 2], slot)
        c += 2
    if c < C:
        _df1_one(y, c, a, b, c0, c1, c2, d1, d2, state, slot)


@njit(cache=True, nogil=True)
def _flush(state):
    """Zero state values below 1e-300 so that decaying recursions never go denormal."""
    for c in range(state.shape[0]):
        for s in range(state.shape[1]):
            for k in range(state.shape[2]):
                if abs(state[c, s, k]) < 1e-300:
                    state[c, s, k] = 0.0


@njit(cache=True, nogil=True)
def _cascade_kernel(x, y, sos, state):
    """Static cascade on every channel. x, y: (C, N), any C; sos: (S, 6);
    state: (C, S, 4) updated in place. Channels run in pairs, a tile at a time."""
    C, N = x.shape
    for a in range(0, N, TILE):  # tiles keep y in L1 across sections
        b = min(N, a + TILE)
        for c in range(C):
            for i in range(a, b):
                y[c, i] = x[c, i]
        for s in range(sos.shape[0]):
            _df1_all(y, a, b, sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5], state, s)
    _flush(state)


@njit(cache=True, nogil=True)
def _control_block_span(position, interval, first, a, n):
    """The control block holding local sample ``a`` of a call that starts at
    absolute ``position`` (``first = position // interval``): its index ``k``
    relative to ``first`` and the local end ``b`` (exclusive, at most ``n``)."""
    k = (position + a) // interval - first
    return k, min(n, (first + k + 1) * interval - position)


@njit(cache=True, nogil=True)
def _cascade_blocks_kernel(x, y, sos_blocks, state, position, interval):
    """Like :func:`_cascade_kernel` with ``sos_blocks[k]`` (S, 6) applying to the
    samples whose absolute index ``j`` has ``j // interval == position // interval + k``."""
    C, N = x.shape
    for c in range(C):
        for i in range(N):
            y[c, i] = x[c, i]
    first = position // interval
    for s in range(sos_blocks.shape[1]):
        a = 0
        while a < N:
            k, b = _control_block_span(position, interval, first, a, N)
            _df1_all(y, a, b, sos_blocks[k, s, 0], sos_blocks[k, s, 1], sos_blocks[k, s, 2],
                     sos_blocks[k, s, 4], sos_blocks[k, s, 5], state, s)
            a = b
    _flush(state)


# ------------------------------------------------------------ routed kernels
# The parametric EQ's cascades (:mod:`neuromaster.dsp.eq` documents the routing
# and validates it). Each section acts on both internal channels (route 0), the
# first (1) or the second (2), and keeps its state in its own slot of
# ``state`` (2, slots, 4). Internal channels: the input channels (mode 0), mid
# and side (mode 1: M = (L+R)/2, S = (L-R)/2 in, L = M+S, R = M-S out), or a
# mono input as a centred stereo pair averaged back to mono (mode 2).
@njit(cache=True, nogil=True)
def _encode(x, w, mode, a, b):
    """Fill the internal work buffer ``w`` (2 or C, N) from the input ``x``, samples a..b-1."""
    C = x.shape[0]
    if mode == 1:  # M = (L+R)/2, S = (L-R)/2
        for i in range(a, b):
            l = x[0, i]
            r = x[1, i]
            w[0, i] = (l + r) * 0.5
            w[1, i] = (l - r) * 0.5
    elif mode == 2:  # mono as a centred stereo pair
        for i in range(a, b):
            w[0, i] = x[0, i]
            w[1, i] = x[0, i]
    else:
        for c in range(C):
            for i in range(a, b):
                w[c, i] = x[c, i]


@njit(cache=True, nogil=True)
def _decode(w, y, mode, a, b):
    """Write the output ``y`` (C, N) from the internal work buffer ``w``, samples a..b-1."""
    if mode == 1:  # L = M + S, R = M - S
        for i in range(a, b):
            m = w[0, i]
            s = w[1, i]
            y[0, i] = m + s
            y[1, i] = m - s
    elif mode == 2:  # back to mono: the mean of the pair
        for i in range(a, b):
            y[0, i] = (w[0, i] + w[1, i]) * 0.5
    # mode 0: w is y


@njit(cache=True, nogil=True)
def _section(w, a, b, c0, c1, c2, d1, d2, route, state, slot):
    """One routed section in place on the work buffer (route 0: both, 1: first, 2: second)."""
    ci = w.shape[0]
    if route == 0 and ci == 2:
        _df1_pair(w, w, a, b, c0, c1, c2, d1, d2, state, slot)
    elif route == 2:
        if ci == 2:
            _df1_one(w, 1, a, b, c0, c1, c2, d1, d2, state, slot)
    else:
        _df1_one(w, 0, a, b, c0, c1, c2, d1, d2, state, slot)


@njit(cache=True, nogil=True)
def _routed_kernel(x, y, w, sos, slots, routes, state, mode):
    """Static cascade. x, y: (C, N); w: internal work buffer (2 or C, N), may be y
    (mode 0); sos: (S, 6); slots, routes: (S,) int64; state updated in place."""
    N = x.shape[1]
    S = sos.shape[0]
    # stereo whose first section acts on both channels: that section reads the
    # input directly (saves a copy pass)
    fuse = mode == 0 and x.shape[0] == 2 and S > 0 and routes[0] == 0
    for a in range(0, N, TILE):  # tiles keep the work buffer in L1 across sections
        b = min(N, a + TILE)
        first = 0
        if fuse:
            _df1_pair(x, w, a, b, sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5], state, slots[0])
            first = 1
        else:
            _encode(x, w, mode, a, b)
        for s in range(first, S):
            _section(w, a, b, sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5], routes[s], state, slots[s])
        _decode(w, y, mode, a, b)
    _flush(state)


@njit(cache=True, nogil=True)
def _routed_blocks_kernel(x, y, w, sos_blocks, slots, routes, state, mode, position, interval):
    """Cascade whose coefficients change per control block: ``sos_blocks[k]``
    (S, 6) applies to the samples whose absolute index j has
    ``j // interval == position // interval + k``."""
    N = x.shape[1]
    _encode(x, w, mode, 0, N)
    first = position // interval
    for s in range(sos_blocks.shape[1]):
        a = 0
        while a < N:
            k, b = _control_block_span(position, interval, first, a, N)
            _section(w, a, b, sos_blocks[k, s, 0], sos_blocks[k, s, 1], sos_blocks[k, s, 2],
                     sos_blocks[k, s, 4], sos_blocks[k, s, 5], routes[s], state, slots[s])
            a = b
    _decode(w, y, mode, 0, N)
    _flush(state)


# ---------------------------------------------------------------- public API
def sos_state(channels: int, sections: int) -> np.ndarray:
    """Zero state for :func:`sos_filter`: shape ``(channels, sections, 4)``."""
    return np.zeros((int(channels), int(sections), 4))


def control_blocks(position: int, n: int, interval: int) -> int:
    """How many control blocks ``n`` samples from absolute ``position`` touch:
    ``(position + n - 1) // interval - position // interval + 1``."""
    return (position + n - 1) // interval - position // interval + 1


def check_sos_blocks(sos_blocks, position: int, n: int, interval: int) -> np.ndarray:
    """``sos_blocks`` as a contiguous float64 ``(B, S, 6)`` array, checked to hold
    ``B = control_blocks(position, n, interval)`` control blocks."""
    sos_blocks = np.ascontiguousarray(sos_blocks, dtype=np.float64)
    if sos_blocks.ndim != 3 or sos_blocks.shape[2] != 6:
        raise ValueError(f"sos_blocks must have shape (B, S, 6); got {sos_blocks.shape}")
    need = control_blocks(position, n, interval)
    if sos_blocks.shape[0] != need:
        raise ValueError(f"sos_blocks must have {need} control blocks for {n} samples at position {position}; "
                         f"got {sos_blocks.shape[0]}")
    return sos_blocks


def _as_signal(x) -> np.ndarray:
    """``x`` as a float64 ``(channels, samples)`` array (no copy when it is one)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be (channels, samples); got shape {x.shape}")
    return x


def _state_copy(state, channels: int, sections: int) -> np.ndarray:
    """A float64 copy of ``state``, checked to be ``(channels, sections, 4)``."""
    st = np.array(state, dtype=np.float64, copy=True)
    if st.shape != (channels, sections, 4):
        raise ValueError(f"state must have shape (channels, sections, 4) = {(channels, sections, 4)}; "
                         f"got {st.shape}")
    return st


def sos_filter(x: np.ndarray, sos: np.ndarray, state: np.ndarray):
    """Filter every channel of ``x`` (C, N) through the cascade ``sos`` (S, 6).

    Direct form I; equals ``scipy.signal.sosfilt`` per channel to rounding.
    ``state`` has shape ``(C, S, 4)`` (:func:`sos_state`) and is not mutated.
    Returns ``(y, state)``.
    """
    x = _as_signal(x)
    sos = np.ascontiguousarray(sos, dtype=np.float64).reshape(-1, 6)
    st = _state_copy(state, x.shape[0], sos.shape[0])
    y = np.empty(x.shape)
    _cascade_kernel(x, y, sos, st)
    return y, st


def sos_filter_blocks(x: np.ndarray, sos_blocks: np.ndarray, state: np.ndarray, position: int, interval: int):
    """Like :func:`sos_filter` with coefficients per control block.

    ``sos_blocks`` has shape ``(B, S, 6)``; block ``k`` applies from absolute
    sample ``(position // interval + k) * interval``, and
    ``B = control_blocks(position, N, interval)``.
    """
    x = _as_signal(x)
    sos_blocks = check_sos_blocks(sos_blocks, position, x.shape[1], interval)
    st = _state_copy(state, x.shape[0], sos_blocks.shape[1])
    y = np.empty(x.shape)
    _cascade_blocks_kernel(x, y, sos_blocks, st, int(position), int(interval))
    return y, st

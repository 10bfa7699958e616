"""Parametric-EQ band designs and routed direct-form-I biquad cascades.

Design
------
:func:`band_sections` turns one EQ band (type, frequency, gain, Q, slope)
into second-order sections from the RBJ Audio-EQ-Cookbook designs in
:mod:`neuromaster.dsp.biquad`. It is vectorised over frequency, gain and Q so
that a stage can design one set of sections per control block.

Kernels
-------
The sections run in direct form I through the routed kernels of
:mod:`neuromaster.dsp.biquad` (``_routed_kernel``, ``_routed_blocks_kernel``),
built on the same section kernels as every other biquad in the project.
They live there, not here, because numba's on-disk cache does not notice
when a kernel's callee in *another* file changes: keeping every kernel that
inlines the section arithmetic in the file that defines it means an edit
to that arithmetic recompiles all of them. This module holds what is
EQ-specific: the band designs, and the routing of sections to channels
(modes, routes, slots) with its validation.
Static results agree with ``scipy.signal.sosfilt`` to rounding order; under
time-varying coefficients the reference is ``scipy.signal.lfilter`` per
control block with its state rebuilt by ``lfiltic`` from the past inputs and
outputs (see host_tests/test_eq.py).

Every section is *routed*: it acts on both internal channels, on the first
only or on the second only. Internal channels are the input channels
(``mode=0``), mid and side (``mode=1``: ``M=(L+R)/2, S=(L-R)/2`` in, ``L=M+S,
R=M-S`` out), or a mono input duplicated as a centred stereo pair whose two
outputs are averaged back to mono (``mode=2``).

State has shape ``(2, slots, 4)``: per internal channel and *slot*
``[x[n-1], x[n-2], y[n-1], y[n-2]]``. Sections name their slot, so a band
keeps its own state while other bands are switched on or off.
"""
from __future__ import annotations

import numpy as np

from . import biquad
from .biquad import _as_signal, _routed_blocks_kernel, _routed_kernel, check_sos_blocks  # noqa: F401  (kernels re-exported)

#: Band types understood by :func:`band_sections`.
BAND_TYPES = ("bell", "low_shelf", "high_shelf", "highpass", "lowpass", "notch", "tilt")
#: High/low-pass slopes in dB/octave (Butterworth orders 2, 4, 8).
SLOPES = (12, 24, 48)
#: Most sections one band can need (48 dB/oct = 4 sections).
MAX_SECTIONS_PER_BAND = 4

ROUTE_BOTH, ROUTE_FIRST, ROUTE_SECOND = 0, 1, 2
MODE_DIRECT, MODE_MID_SIDE, MODE_MONO_AS_STEREO = 0, 1, 2


def sections_for(band_type: str, slope: int = 12) -> int:
    """Number of second-order sections a band of this type and slope uses."""
    if band_type in ("highpass", "lowpass"):
        return {12: 1, 24: 2, 48: 4}[int(slope)]
    return 1


def band_sections(band_type: str, frequency_hz, gain_db, q, slope: int, sample_rate: float) -> np.ndarray:
    """Second-order sections of one EQ band (RBJ cookbook).

    Parameters
    ----------
    band_type : str
        One of :data:`BAND_TYPES`:

        ``bell``        RBJ peakingEQ: ``gain_db`` at ``frequency_hz``, bandwidth from Q.
        ``low_shelf``,
        ``high_shelf``  RBJ shelves: ``gain_db`` in the shelf, ``gain_db/2`` at
                        ``frequency_hz`` (the midpoint); Q = 1/sqrt(2) is the
                        cookbook's slope S = 1 (no overshoot).
        ``highpass``,
        ``lowpass``     Butterworth of order 2, 4 or 8 (``slope`` 12/24/48 dB/oct)
                        as a cascade of RBJ sections at ``frequency_hz``, -3.01 dB
                        there. Q scales the *highest-Q* section's Q by
                        ``q * sqrt(2)``: Q = 1/sqrt(2) is exact Butterworth at
                        every slope, larger Q adds a resonant peak near the corner
                        (at 12 dB/oct that section is the whole filter, so Q is the
                        cookbook's Q).
        ``notch``       RBJ notch (gain ignored).
        ``tilt``        RBJ high shelf of ``gain_db`` at ``frequency_hz`` scaled by
                        ``-gain_db/2``: -gain/2 dB toward DC, 0 dB at
                        ``frequency_hz`` (the pivot), +gain/2 dB toward Nyquist.
    frequency_hz : float or array
        Hz, > 0; designed at :func:`neuromaster.dsp.biquad.design_frequency`
        (``min(f, 0.49 sample_rate)``).
    gain_db : float or array
        dB (bell, shelves, tilt).
    q : float or array
        > 0.
    slope : int
        12, 24 or 48 (high/low-pass only).
    sample_rate : float
        Hz.

    Returns
    -------
    ndarray, shape ``broadcast(frequency_hz, gain_db, q) + (sections, 6)``
        Rows ``[b0, b1, b2, 1, a1, a2]``.
    """
    f = biquad.design_frequency(frequency_hz, sample_rate)
    g = np.asarray(gain_db, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if band_type == "bell":
        return biquad.rbj("peak", f, g, q, sample_rate)[..., None, :]
    if band_type in ("low_shelf", "high_shelf", "notch"):
        return biquad.rbj(band_type, f, g, q, sample_rate)[..., None, :]
    if band_type == "tilt":
        sos = biquad.rbj("high_shelf", f, g, q, sample_rate).copy()
        sos[..., :3] *= np.asarray(10.0 ** (-g / 40.0))[..., None]  # -gain/2 dB on the numerator
        return sos[..., None, :]
    if band_type in ("highpass", "lowpass"):
        if int(slope) not in SLOPES:
            raise ValueError(f"slope must be one of {SLOPES} dB/oct; got {slope!r}")
        order = {12: 2, 24: 4, 48: 8}[int(slope)]
        qs = biquad.butterworth_qs(order)  # ascending: the last is the highest-Q section
        shape = np.broadcast(f, q).shape
        out = np.empty(shape + (order // 2, 6))
        for k, qk in enumerate(qs):
            qsec = qk * q * np.sqrt(2.0) if k == order // 2 - 1 else np.full(shape, qk)
            out[..., k, :] = biquad.rbj(band_type, f, 0.0, qsec, sample_rate)
        return out
    raise ValueError(f"unknown band type {band_type!r}; one of {BAND_TYPES}")


# ---------------------------------------------------------------- public API
def cascade_state(slots: int) -> np.ndarray:
    """Zero state for :func:`routed_cascade`: shape ``(2, slots, 4)``."""
    return np.zeros((2, int(slots), 4))


def _check(x, sos_rows, slots, routes, state, mode):
    """Validate the routed-cascade arguments; return canonical copies (state copied)."""
    x = _as_signal(x)  # strided blocks are fine: no copy
    if mode not in (MODE_DIRECT, MODE_MID_SIDE, MODE_MONO_AS_STEREO):
        raise ValueError(f"mode must be 0, 1 or 2; got {mode!r}")
    need = {MODE_DIRECT: None, MODE_MID_SIDE: 2, MODE_MONO_AS_STEREO: 1}[mode]
    if need is not None and x.shape[0] != need:
        raise ValueError(f"mode {mode} needs {need} input channel(s); got {x.shape[0]}")
    if mode == MODE_DIRECT and x.shape[0] > 2:
        raise ValueError(f"routed cascades take 1 or 2 channels; got {x.shape[0]}")
    slots = np.ascontiguousarray(slots, dtype=np.int64)
    routes = np.ascontiguousarray(routes, dtype=np.int64)
    st = np.array(state, dtype=np.float64, copy=True)
    if st.ndim != 3 or st.shape[0] != 2 or st.shape[2] != 4:
        raise ValueError(f"state must have shape (2, slots, 4); got {st.shape}")
    if slots.shape != (sos_rows,) or routes.shape != (sos_rows,):
        raise ValueError(f"slots and routes need one entry per section ({sos_rows})")
    if sos_rows and (slots.min() < 0 or slots.max() >= st.shape[1]):
        raise ValueError(f"slots must lie in [0, {st.shape[1] - 1}]")
    if sos_rows and (routes.min() < 0 or routes.max() > 2):
        raise ValueError("routes must be 0 (both), 1 (first) or 2 (second)")
    return x, slots, routes, st


def _work(x, y, mode):
    """The internal work buffer: ``y`` itself except for mono-as-stereo."""
    return np.empty((2, x.shape[1])) if mode == MODE_MONO_AS_STEREO else y


def routed_cascade(x: np.ndarray, sos: np.ndarray, slots, routes, state: np.ndarray, mode: int = MODE_DIRECT):
    """Filter ``x`` (C, N) through routed DF-I sections.

    Parameters
    ----------
    x : ndarray, (channels, samples)
        1 or 2 channels (2 for ``mode=1``, 1 for ``mode=2``).
    sos : ndarray, (S, 6)
        Sections ``[b0, b1, b2, 1, a1, a2]``, applied in order.
    slots : array of int, (S,)
        State slot of each section.
    routes : array of int, (S,)
        0: both internal channels; 1: the first (left / mid); 2: the second (right / side).
    state : ndarray, (2, slots, 4)
        Not mutated.
    mode : int
        0 direct, 1 mid/side, 2 mono as a centred stereo pair (see module doc).

    Returns
    -------
    (y, state) : output ``(C, N)`` and the new state.
    """
    sos = np.ascontiguousarray(sos, dtype=np.float64).reshape(-1, 6)
    x, slots, routes, st = _check(x, sos.shape[0], slots, routes, state, mode)
    y = np.empty(x.shape)
    _routed_kernel(x, y, _work(x, y, mode), sos, slots, routes, st, mode)
    return y, st


def routed_cascade_blocks(x: np.ndarray, sos_blocks: np.ndarray, slots, routes, state: np.ndarray, mode: int,
                          position: int, interval: int):
    """Like :func:`routed_cascade` with coefficients per control block.

    ``sos_blocks`` has shape ``(B, S, 6)`` with ``B =
    biquad.control_blocks(position, N, interval)``; block ``k`` applies from
    absolute sample ``(position // interval + k) * interval``.
    """
    x = _as_signal(x)
    sos_blocks = check_sos_blocks(sos_blocks, position, x.shape[1], interval)
    x, slots, routes, st = _check(x, sos_blocks.shape[1], slots, routes, state, mode)
    y = np.empty(x.shape)
    _routed_blocks_kernel(x, y, _work(x, y, mode), sos_blocks, slots, routes, st, mode, int(position), int(interval))
    return y, st

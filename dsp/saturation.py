"""Memoryless saturation curves for the oversampled stages.

Every kernel here returns the *residual* ``r = f(v) - v`` of its curve ``f``
on an oversampled block ``v`` (C, M): the stage downsamples ``r`` and adds it
to its (latency-aligned) dry input. Where the curve is the identity the
residual is exactly zero, so "transparent below the knee" and "drive 0 is a
null" hold to the last bit, and the linear part of the signal never passes
through the oversampling filters at all.

Per-sample controls are arrays of length 1 (constant over the block) or M.

Curves
------
``softclip_residual``
    Linear up to ``t`` (of the ceiling), then a tanh knee that approaches
    the ceiling asymptotically; ``t = 1`` is a hard clip, ``t -> 0`` a tanh.
``tanh_drive_residual``
    ``f(v) = v/g + (1 - 1/g) tanh(g v)/g`` with ``g = 10**(drive_db/20)``:
    unity small-signal gain at every drive, the identity at drive 0 dB.
``triode_residual``
    A common-cathode triode stage (Koren 1996 plate current, resistive load
    line), AC plate voltage inverted back to the input's polarity and scaled
    so its small-signal gain is 1. See :func:`koren_plate_current`.

Koren triode model (N. Koren, "Improved vacuum tube models for SPICE
simulations", Glass Audio 8(5), 1996)::

    E1 = (Ep / Kp) ln(1 + exp(Kp (1/mu + Eg / sqrt(Kvb + Ep^2))))
    Ip = (E1^Ex / Kg1) (1 + sgn(E1))            [A]

Load line: ``Ep = B+ - R_L Ip(Eg, Ep)``, implicit in Ep. It is solved by a
bracketed Newton iteration (:func:`triode_plate_voltage`), and for speed the
solution Ep(Eg) (a 1-D function, since B+, R_L and the tube are fixed) is
tabulated with its exact derivative and read back by cubic Hermite
interpolation; grid voltages outside the table fall back to the Newton
solve. Grid current (Eg > 0) is not modelled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from .controls import control as _ctrl


# ------------------------------------------------------------------ helpers
@njit(cache=True, nogil=True)
def _tanh(x):
    """tanh via one exp: ``sgn(x) (1 - e) / (1 + e)``, ``e = exp(-2|x|)``.

    Absolute error <= 3e-16 (measured against libm tanh over N(0, 1) and the
    knee range), about three times faster than ``math.tanh`` here.
    """
    a = abs(x)
    if a > 20.0:  # tanh(20) rounds to 1.0
        t = 1.0
    else:
        e = math.exp(-2.0 * a)
        t = (1.0 - e) / (1.0 + e)
    return t if x >= 0.0 else -t


# ------------------------------------------------------------------ soft clip


def knee_threshold(knee_db):
    """Start of the knee as a fraction of the ceiling: ``10**(-knee_db/20)``."""
    return 10.0 ** (-np.asarray(knee_db, dtype=np.float64) / 20.0)


@njit(cache=True, nogil=True)
def _softclip_unit(u, t):
    """The soft-clip family on a unit ceiling.

    ``f(u) = u`` for ``|u| <= t``; above, ``sgn(u) (t + (1-t) tanh((|u|-t)/(1-t)))``,
    continuous with slope 1 and zero curvature at ``t`` (tanh'' (0) = 0), odd,
    and below 1 for every finite input. ``t >= 1``: hard clip at +-1.
    """
    a = abs(u)
    if a <= t:
        return u
    if t >= 1.0:
        y = 1.0
    else:
        w = 1.0 - t
        y = t + w * _tanh((a - t) / w)
    return y if u > 0 else -y


@njit(cache=True, nogil=True)
def _softclip_residual_kernel(v, gain, ceiling, t, r):
    """r = ceiling f(gain v / ceiling; t) - v. Controls: length 1 or M.

    On the linear segment the residual is computed as ``gain v - v``, which is
    exactly 0 at unity gain (no round trip through the ceiling scaling)."""
    C, M = v.shape
    sg = 1 if gain.shape[0] > 1 else 0
    sc = 1 if ceiling.shape[0] > 1 else 0
    st = 1 if t.shape[0] > 1 else 0
    for c in range(C):
        for i in range(M):
            x = v[c, i]
            cl = ceiling[i * sc]
            gx = gain[i * sg] * x
            u = gx / cl
            ti = t[i * st]
            if abs(u) <= ti:
                r[c, i] = gx - x
            else:
                r[c, i] = cl * _softclip_unit(u, ti) - x


def softclip_residual(v: np.ndarray, gain, ceiling, knee_t) -> np.ndarray:
    """Residual of the soft clipper: ``ceiling f(gain v / ceiling) - v``.

    Parameters
    ----------
    v : ndarray, shape (C, M)
        Signal (any rate).
    gain : float or ndarray (M,)
        Linear drive gain (> 0).
    ceiling : float or ndarray (M,)
        Linear ceiling (> 0): the output magnitude stays below it.
    knee_t : float or ndarray (M,)
        Start of the knee as a fraction of the ceiling, in (0, 1]; 1 is a hard clip.

    Returns
    -------
    ndarray, shape (C, M)
    """
    v = np.ascontiguousarray(v, dtype=np.float64)
    m = v.shape[1]
    r = np.empty_like(v)
    _softclip_residual_kernel(v, _ctrl(gain, m, "gain"), _ctrl(ceiling, m, "ceiling"), _ctrl(knee_t, m, "knee_t"), r)
    return r


# ------------------------------------------------------------------ peak guard
def peak_guard_state(channels: int, window: int) -> np.ndarray:
    """Zero state for :func:`peak_guard`: shape ``(channels, 4 * (window - 1) + 2)``."""
    if window < 1:
        raise ValueError(f"window must be >= 1 sample; got {window}")
    st = np.zeros((int(channels), 4 * (int(window) - 1) + 2))
    D = int(window) - 1
    st[:, 2 * D:4 * D] = 1.0  # gain histories start at unity
    st[:, 4 * D:] = D + 1.0  # "samples since the last gain < 1": long ago
    return st


@njit(cache=True, nogil=True)
def _peak_guard_kernel(w, ceiling, D, state, y):
    """Lookahead gain that keeps ``|y| <= ceiling`` sample by sample.

    Required gain ``a[n] = min(1, c[n] / |w[n]|)``; ``m[n] = min(a[n-D..n])``
    (moving minimum over L = D+1 samples); ``g[n] = mean(m[n-D..n])``; output
    ``y[n] = w[n-D] g[n]``. Every m in the mean covers sample n-D, so
    ``g[n] <= a[n-D]`` and ``|y[n]| <= c[n-D]`` (the classic min-then-average
    lookahead limiter; the final clamp only removes rounding). The gain is a
    smooth dip 2L samples wide instead of a clip, so it adds no aliasing.

    State per channel: w history (D), c history (D), a history (D), m history
    (D), samples since the last a < 1, samples since the last m < 1.
    """
    C, n = w.shape
    L = D + 1
    sc = 1 if ceiling.shape[0] > 1 else 0
    W = np.empty(D + n)
    Cc = np.empty(D + n)
    A = np.empty(D + n)
    Mm = np.empty(D + n)
    for c in range(C):
        for i in range(D):
            W[i] = state[c, i]
            Cc[i] = state[c, D + i]
            A[i] = state[c, 2 * D + i]
            Mm[i] = state[c, 3 * D + i]
        since_a = state[c, 4 * D]
        since_m = state[c, 4 * D + 1]
        for i in range(n):
            x = w[c, i]
            cl = ceiling[i * sc]
            W[D + i] = x
            Cc[D + i] = cl
            ax = abs(x)
            a = cl / ax if ax > cl else 1.0
            A[D + i] = a
            since_a = 0.0 if a < 1.0 else since_a + 1.0
            if since_a > D:
                m = 1.0
            else:
                m = a
                for k in range(i, i + D):
                    if A[k] < m:
                        m = A[k]
            Mm[D + i] = m
            since_m = 0.0 if m < 1.0 else since_m + 1.0
            if since_m > D:
                g = 1.0
            else:
                acc = 0.0
                for k in range(i, i + L):
                    acc += Mm[k]
                g = acc / L
            v = W[i] * g
            lim = Cc[i]
            if v > lim:
                v = lim
            elif v < -lim:
                v = -lim
            y[c, i] = v
        for i in range(D):
            state[c, i] = W[n + i]
            state[c, D + i] = Cc[n + i]
            state[c, 2 * D + i] = A[n + i]
            state[c, 3 * D + i] = Mm[n + i]
        state[c, 4 * D] = since_a
        state[c, 4 * D + 1] = since_m


def peak_guard(w: np.ndarray, ceiling, state: np.ndarray):
    """Keep every sample of ``w`` within ``+-ceiling`` by a smooth lookahead gain.

    Parameters
    ----------
    w : ndarray, shape (C, N)
    ceiling : float or ndarray (N,)
        Linear ceiling per sample of ``w`` (> 0).
    state : ndarray, shape (C, 4 (L-1) + 2)
        From :func:`peak_guard_state` with window L; the output is delayed by
        L - 1 samples.

    Returns
    -------
    (y, state) : output (C, N) with ``|y[:, n]| <= ceiling[n - L + 1]``, new state.
    """
    w = np.ascontiguousarray(w, dtype=np.float64)
    st = np.array(state, dtype=np.float64, copy=True)
    D = (st.shape[1] - 2) // 4
    if st.shape != (w.shape[0], 4 * D + 2):
        raise ValueError(f"state shape {st.shape} does not fit {w.shape[0]} channel(s)")
    y = np.empty_like(w)
    _peak_guard_kernel(w, _ctrl(ceiling, w.shape[1], "ceiling"), D, st, y)
    return y, st


# ------------------------------------------------------------------ tanh drive
@njit(cache=True, nogil=True)
def _tanh_drive_residual_kernel(v, g, th, r):
    """r = f_g(v) - v = (1 - 1/g) (tanh(g v)/g - v), given ``th = tanh(g v)``.

    g = 1 gives exactly 0 (the factor 1 - 1/g is 0). ``g``: length 1 or M.
    """
    C, M = v.shape
    if g.shape[0] == 1:
        ig = 1.0 / g[0]
        a = 1.0 - ig
        for c in range(C):
            for i in range(M):
                r[c, i] = a * (th[c, i] * ig - v[c, i])
    else:
        for c in range(C):
            for i in range(M):
                ig = 1.0 / g[i]
                r[c, i] = (1.0 - ig) * (th[c, i] * ig - v[c, i])


def tanh_drive_residual(v: np.ndarray, gain) -> np.ndarray:
    """Residual of the drive curve ``f_g(v) = v/g + (1-1/g) tanh(g v)/g``.

    Parameters
    ----------
    v : ndarray, shape (C, M)
    gain : float or ndarray (M,)
        ``g = 10**(drive_db/20) >= 1``. At 1 the curve is the identity and the
        residual exactly 0; the small-signal gain is 1 at every drive, the
        large-signal slope 1/g.

    Returns
    -------
    ndarray, shape (C, M)

    Notes
    -----
    ``tanh`` comes from numpy's ufunc (SIMD on AVX-512 machines, within
    2.2e-16 of libm here, about 7x faster than a scalar call per sample);
    the rest is a numba kernel.
    """
    v = np.ascontiguousarray(v, dtype=np.float64)
    g = _ctrl(gain, v.shape[1], "gain")
    th = np.multiply(v, g if g.shape[0] > 1 else g[0])
    np.tanh(th, out=th)
    r = np.empty_like(v)
    _tanh_drive_residual_kernel(v, g, th, r)
    return r


# ------------------------------------------------------------------ Koren triode
#: Published Koren parameter sets: (mu, ex, kg1, kp, kvb)
#: (N. Koren, Glass Audio 1996 and his tube parameter table).
KOREN_TUBES = {
    "12AX7": (100.0, 1.4, 1060.0, 600.0, 300.0),
    "12AT7": (60.0, 1.35, 460.0, 300.0, 300.0),
    "12AU7": (21.5, 1.3, 1180.0, 84.0, 300.0),
}


@njit(cache=True, nogil=True)
def _koren(vg, vp, mu, ex, kg1, kp, kvb):
    """Koren 1996 plate current and its partial derivatives.

    Returns ``(ip, dip/dvp, dip/dvg)`` in A and A/V. ``vp <= 0`` gives 0.
    """
    if vp <= 0.0:
        return 0.0, 0.0, 0.0
    rt = math.sqrt(kvb + vp * vp)
    a = kp * (1.0 / mu + vg / rt)
    # softplus ln(1 + e^a) and logistic sigma(a), overflow-safe
    if a > 0.0:
        ea = math.exp(-a)
        sp = a + math.log1p(ea)
        sg = 1.0 / (1.0 + ea)
    else:
        ea = math.exp(a)
        sp = math.log1p(ea)
        sg = ea / (1.0 + ea)
    e1 = vp / kp * sp  # Koren 1996, E1
    if e1 <= 0.0:
        return 0.0, 0.0, 0.0
    p = e1 ** (ex - 1.0)
    ip = 2.0 * e1 * p / kg1  # (E1^Ex / Kg1) (1 + sgn E1)
    dip_de1 = 2.0 * ex * p / kg1
    de1_dvp = sp / kp - vp * vp * vg * sg / (rt * rt * rt)
    de1_dvg = vp * sg / rt
    return ip, dip_de1 * de1_dvp, dip_de1 * de1_dvg


@njit(cache=True, nogil=True)
def _plate_voltage(vg, supply_v, load_ohm, mu, ex, kg1, kp, kvb, guess):
    """Solve the load line ``Ep + R_L Ip(Eg, Ep) = B+`` for Ep (bracketed Newton).

    ``F(Ep) = Ep + R_L Ip - B+`` rises monotonically from -B+ at Ep = 0 to
    >= 0 at Ep = B+, so the root is unique; Newton steps that leave the
    bracket are replaced by bisection. Returns ``(Ep, dEp/dEg)`` with the
    derivative from the implicit function theorem.
    """
    lo = 0.0
    hi = supply_v
    x = guess
    if not (lo < x < hi):
        x = 0.5 * supply_v
    tol = 1e-13 * supply_v
    for _ in range(200):
        ip, dvp, dvg = _koren(vg, x, mu, ex, kg1, kp, kvb)
        f = x + load_ohm * ip - supply_v
        if f == 0.0:
            break
        if f < 0.0:
            lo = x
        else:
            hi = x
        step = f / (1.0 + load_ohm * dvp)
        xn = x - step
        if not (lo < xn < hi):
            xn = 0.5 * (lo + hi)
        if abs(xn - x) <= tol or hi - lo <= tol:
            x = xn
            break
        x = xn
    ip, dvp, dvg = _koren(vg, x, mu, ex, kg1, kp, kvb)
    return x, -load_ohm * dvg / (1.0 + load_ohm * dvp)


@njit(cache=True, nogil=True)
def _plate_voltage_many(vg, supply_v, load_ohm, mu, ex, kg1, kp, kvb, ep, dep):
    guess = 0.5 * supply_v
    for i in range(vg.shape[0]):
        ep[i], dep[i] = _plate_voltage(vg[i], supply_v, load_ohm, mu, ex, kg1, kp, kvb, guess)
        guess = ep[i]


def koren_plate_current(vg, vp, mu=100.0, ex=1.4, kg1=1060.0, kp=600.0, kvb=300.0):
    """Koren 1996 triode plate current in A (vectorised numpy, written
    separately from the numba kernel so each can check the other).

    Parameters
    ----------
    vg, vp : float or ndarray
        Grid-cathode and plate-cathode voltages in V.
    mu, ex, kg1, kp, kvb : float
        Koren's parameters (defaults: his 12AX7 set).
    """
    vg, vp = np.broadcast_arrays(np.asarray(vg, dtype=np.float64), np.asarray(vp, dtype=np.float64))
    vpp = np.maximum(vp, 0.0)
    e1 = vpp / kp * np.logaddexp(0.0, kp * (1.0 / mu + vg / np.sqrt(kvb + vpp * vpp)))
    return np.where(e1 > 0.0, 2.0 * np.maximum(e1, 0.0) ** ex / kg1, 0.0)


def triode_plate_voltage(vg, supply_v=250.0, load_ohm=100e3, mu=100.0, ex=1.4, kg1=1060.0, kp=600.0, kvb=300.0):
    """Plate voltage (V) and dEp/dEg of a triode on a resistive load line.

    Exact (Newton to 1e-13 of B+), no table. ``vg`` float or 1-D array (V).
    Returns ``(ep, dep_dvg)`` arrays shaped like ``vg``.
    """
    vg_a = np.ascontiguousarray(np.atleast_1d(np.asarray(vg, dtype=np.float64))).ravel()
    ep = np.empty_like(vg_a)
    dep = np.empty_like(vg_a)
    _plate_voltage_many(vg_a, float(supply_v), float(load_ohm), float(mu), float(ex), float(kg1), float(kp), float(kvb), ep, dep)
    shape = np.shape(vg)
    return ep.reshape(shape), dep.reshape(shape)


#: Grid-voltage span of the load-line table, in V, and its node count.
TABLE_VG_RANGE = (-80.0, 40.0)
TABLE_NODES = 1 << 15


@dataclass(frozen=True, eq=False)
class TriodeTable:
    """Tabulated load-line solution Ep(Eg) for one tube and circuit.

    ``ep[i]`` and ``slope[i]`` (= dEp/dEg) at ``Eg = vg_lo + i / inv_step``;
    ``coef[i]`` the cubic Hermite interpolant on interval i as polynomial
    coefficients in the local coordinate t in [0, 1) (for Horner's rule);
    ``params`` = (supply_v, load_ohm, mu, ex, kg1, kp, kvb) for the Newton
    fallback outside the table.
    """

    vg_lo: float
    inv_step: float
    ep: np.ndarray
    slope: np.ndarray
    coef: np.ndarray
    params: tuple


@lru_cache(maxsize=32)
def triode_table(supply_v: float, load_ohm: float, mu: float, ex: float, kg1: float, kp: float, kvb: float) -> TriodeTable:
    """Build (once per parameter set) the load-line table (see module docstring)."""
    lo, hi = TABLE_VG_RANGE
    vg = np.linspace(lo, hi, TABLE_NODES)
    ep, dep = triode_plate_voltage(vg, supply_v, load_ohm, mu, ex, kg1, kp, kvb)
    h = (hi - lo) / (TABLE_NODES - 1)
    p0, p1, m0, m1 = ep[:-1], ep[1:], dep[:-1] * h, dep[1:] * h
    # Hermite basis expanded: p(t) = p0 + m0 t + (3(p1-p0) - 2m0 - m1) t^2 + (2(p0-p1) + m0 + m1) t^3
    coef = np.ascontiguousarray(np.stack([p0, m0, 3.0 * (p1 - p0) - 2.0 * m0 - m1, 2.0 * (p0 - p1) + m0 + m1], axis=1))
    for a in (ep, dep, coef):
        a.setflags(write=False)
    return TriodeTable(float(lo), float((TABLE_NODES - 1) / (hi - lo)), ep, dep, coef,
                       (float(supply_v), float(load_ohm), float(mu), float(ex), float(kg1), float(kp), float(kvb)))


@njit(cache=True, nogil=True)
def _table_eval(vg, vg_lo, inv_step, ep, slope, supply_v, load_ohm, mu, ex, kg1, kp, kvb):
    """Ep(vg) and dEp/dvg: cubic Hermite on the table, Newton outside it."""
    s = (vg - vg_lo) * inv_step
    n = ep.shape[0]
    if s >= 0.0 and s < n - 1:
        i = int(s)
        t = s - i
        h = 1.0 / inv_step
        p0 = ep[i]
        p1 = ep[i + 1]
        m0 = slope[i] * h
        m1 = slope[i + 1] * h
        t2 = t * t
        t3 = t2 * t
        y = (2.0 * t3 - 3.0 * t2 + 1.0) * p0 + (t3 - 2.0 * t2 + t) * m0 + (3.0 * t2 - 2.0 * t3) * p1 + (t3 - t2) * m1
        d = ((6.0 * t2 - 6.0 * t) * (p0 - p1) + (3.0 * t2 - 4.0 * t + 1.0) * m0 + (3.0 * t2 - 2.0 * t) * m1) * inv_step
        return y, d
    guess = supply_v if s < 0.0 else 1.0
    return _plate_voltage(vg, supply_v, load_ohm, mu, ex, kg1, kp, kvb, guess)


@njit(cache=True, nogil=True)
def _table_value(vg, vg_lo, inv_step, coef, supply_v, load_ohm, mu, ex, kg1, kp, kvb):
    """Ep(vg): the table's cubic by Horner's rule, Newton outside the table."""
    s = (vg - vg_lo) * inv_step
    if s >= 0.0 and s < coef.shape[0]:
        j = int(s)
        t = s - j
        return coef[j, 0] + t * (coef[j, 1] + t * (coef[j, 2] + t * coef[j, 3]))
    guess = supply_v if s < 0.0 else 1.0
    return _plate_voltage(vg, supply_v, load_ohm, mu, ex, kg1, kp, kvb, guess)[0]


@njit(cache=True, nogil=True)
def _triode_residual_kernel(v, bias, gain, vg_lo, inv_step, ep, slope, coef, supply_v, load_ohm, mu, ex, kg1, kp, kvb,
                            r):
    """Triode stage residual. Eg = bias + gain v; out = (Ep(bias) - Ep(Eg)) / (A gain)
    with A = -dEp/dEg at the bias point (small-signal gain 1, polarity kept);
    r = out - v. Ep(bias) and A are recomputed only when the bias changes."""
    C, M = v.shape
    sb = 1 if bias.shape[0] > 1 else 0
    sgn = 1 if gain.shape[0] > 1 else 0
    last_b = np.nan
    last_g = np.nan
    ep0 = 0.0
    a0 = 1.0
    k = 1.0
    for c in range(C):
        for i in range(M):
            b = bias[i * sb]
            g = gain[i * sgn]
            if b != last_b or g != last_g:
                if b != last_b:  # quiescent point and small-signal gain for this bias
                    ep0 = _table_value(b, vg_lo, inv_step, coef, supply_v, load_ohm, mu, ex, kg1, kp, kvb)
                    a0 = -_table_eval(b, vg_lo, inv_step, ep, slope, supply_v, load_ohm, mu, ex, kg1, kp, kvb)[1]
                    last_b = b
                k = 1.0 / (a0 * g)
                last_g = g
            x = v[c, i]
            e = _table_value(b + g * x, vg_lo, inv_step, coef, supply_v, load_ohm, mu, ex, kg1, kp, kvb)
            r[c, i] = (ep0 - e) * k - x


def triode_residual(v: np.ndarray, table: TriodeTable, bias_v, gain) -> np.ndarray:
    """Residual of the level-compensated triode stage.

    Parameters
    ----------
    v : ndarray, shape (C, M)
        Signal, full scale 1.0.
    table : TriodeTable
        From :func:`triode_table`.
    bias_v : float or ndarray (M,)
        Grid bias in V (negative).
    gain : float or ndarray (M,)
        Grid volts per unit of signal (``10**(drive_db/20)``).

    Returns
    -------
    ndarray, shape (C, M): ``(Ep(bias) - Ep(bias + gain v)) / (A gain) - v``.
    """
    v = np.ascontiguousarray(v, dtype=np.float64)
    m = v.shape[1]
    r = np.empty_like(v)
    _triode_residual_kernel(v, _ctrl(bias_v, m, "bias_v"), _ctrl(gain, m, "gain"), table.vg_lo, table.inv_step,
                            table.ep, table.slope, table.coef, *table.params, r)
    return r

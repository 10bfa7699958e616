"""Jiles-Atherton magnetic hysteresis: the Langevin function, the J-A slope,
and two implicit per-sample solvers (a field-driven core for tape, and a
voltage-driven transformer core).

Model (D. C. Jiles & D. L. Atherton, "Theory of ferromagnetic hysteresis",
J. Magn. Magn. Mater. 61, 1986), in normalised units ``h = H / a`` and
``m = M / Ms``::

    he    = h + alpha m                         effective (Weiss mean-field) field
    m_an  = L(he),  L(x) = coth(x) - 1/x        anhysteretic magnetisation (Langevin)
    m     = c m_an + (1 - c) m_irr              reversible + irreversible parts
    dm_irr/dhe = delta_M (m_an - m_irr) / (delta k)     pinning, delta = sign(dh/dt)

with ``alpha = alpha_SI Ms / a``, ``k = k_SI / a`` (loop width relative to
the field scale ``a``) and ``c`` the reversible fraction. ``delta_M`` is 1
when ``m_an - m`` has the sign of ``delta`` and 0 otherwise (the usual fix
that stops the irreversible part from moving against the anhysteretic just
after a field reversal). Using ``(1 - c)(m_an - m_irr) = m_an - m`` and the
chain rule through ``he`` gives the slope the solvers integrate::

    G        = c L'(he) + delta_M (L(he) - m) / (delta k)       ( = dm/dhe >= 0 )
    dm/dh    = chi(m, h, delta) = G / (1 - alpha G)                            (1)

``chi`` is never negative (``G >= 0`` by the ``delta_M`` gate). The
denominator of (1) can approach 0 only when ``alpha G -> 1`` (the mean-field
runaway of the J-A equations, reached transiently when ``|m_an - m| / k``
exceeds ``1 / alpha``); it is floored at ``DEN_MIN``, a guard only. With
narrow loops that happens on steep field steps (with the plain trapezoidal
rule, ``k = 1e-4`` and a published tape value ``alpha = 0.0255``, a noisy
field ran away to 1e303), so both stages use ``alpha = 0``.

Integration scheme (both solvers)
    The J-A equations are rate independent (time enters only through the
    direction ``delta``), so a step from ``h0`` to ``h1`` is taken along the
    straight line between them, with ``delta = sign(h1 - h0)`` fixed for the
    whole step, by the theta-method in the field ``h``::

        m1 = m0 + (h1 - h0) ((1 - theta) chi(m0, h0, delta) + theta chi(m1, h1, delta))   (2)

    ``theta = 1/2`` (trapezoidal: 2nd order, A-stable) while the step's
    stiffness ``|z| = |dh d chi/dm| <= 2``; ``theta = 1`` (backward Euler,
    L-stable) beyond, so the explicit half can never push ``m`` past the
    anhysteretic it relaxes towards (see :func:`_theta`). (2) is solved per
    sample by Newton's method on the exact Jacobian of (1), started from a
    linearly implicit predictor (the residual with ``chi(m1, h1)`` linearised
    about the start point, solved exactly). A Newton update smaller than
    ``NEWTON_TOL`` (1e-7 in ``h`` or ``m``; the remaining error is then ~1e-14
    by quadratic convergence) ends the iteration; ``NEWTON_MAX_ITER`` bounds it.
    Steps longer than ``MAX_STEP_H`` in ``h`` are split into equal sub-steps.
    The slope at a step's start is the previous step's end slope (reused
    while direction and parameters are unchanged).

    Evidence (``host_tests/test_transformer.py``): on a slow loop the scheme
    agrees with itself on a 64-times finer grid to 2e-6..2e-5 (normalised
    magnetisation), also at 47 loop widths per step; random fields stepping
    up to 100 loop widths keep ``m`` inside (-1, 1); Newton iterations per
    sample on a pop mix at 8x: 1.09 (transformer, drive 0 dB), 1.63 (+12 dB),
    1.33 (tape, drive 0 dB), 2.13 (+12 dB).

Langevin function near 0
    ``coth(x) - 1/x`` cancels catastrophically as ``x -> 0``; below
    ``|x| < 0.1`` the series ``sum 2^(2n) B_2n x^(2n-1) / (2n)!``
    (``x/3 - x^3/45 + 2x^5/945 - ...``, six terms, truncation < 1e-17) is used.
    The solvers read L and L' from a table of the exact values at a spacing
    of 1/32 on ``[0, 16]`` by cubic Hermite interpolation (measured error
    3.2e-10 in L, 3.2e-8 in L'; no ``exp`` and no division per evaluation),
    using the odd symmetry, and
    the asymptote ``L = sgn(x) - 1/x`` beyond 16 (``exp(-32)`` is below
    double precision there).

Transformer core (:func:`transformer_core`)
    The primary of a transformer is driven by a voltage source ``u`` through
    a source resistance; the core flux obeys Faraday's law, so the flux is the
    *integral* of the voltage, and the magnetising current ``~ H`` drops a
    voltage across the source resistance. Normalised::

        phi = h / rho + m                 flux density B / (mu0 Ms), rho = Ms / a
        dphi/dt = w_s (u - r h)           Faraday + Kirchhoff (w_s: 1/s, r: source resistance)
        y = u - r h                       voltage across the winding (the output)

    In the linear region the winding is an inductor, ``y`` is ``u`` high-passed
    at ``w_s r / (1/rho + chi)`` (a few Hz); when the flux (the integral of the
    input: large at low frequencies) nears saturation, ``chi`` collapses, the
    current ``h`` rises steeply and ``r h`` eats into the output: distortion
    that grows as frequency falls and level rises, with the loop's hysteresis
    on top. The output is exactly DC-free in steady state (it is ``dphi/dt``
    and ``phi`` is bounded). Per sample the circuit equation is integrated by
    the trapezoidal rule too, which makes ``m1`` linear in ``h1``
    (``m1 = C - kappa h1``); substituted into (2) it leaves one scalar Newton
    iteration in ``h1``. The step direction is known before solving:
    ``kappa h + m(h) - C`` increases with ``h`` (``chi >= 0``), so
    ``delta = sign(u0 + u1 - 2 r h0)``.

Field-driven core (:func:`ja_magnetisation`)
    ``h`` given per sample (tape: the record head field follows the record
    current), ``m`` from (2) with Newton in ``m1``.

State is an explicit array per channel (see :func:`ja_state` and
:func:`transformer_state`); every function returns a new state and leaves the
caller's untouched. Controls are arrays of length 1 (constant) or one value
per sample.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

#: Langevin table spacing (1/32) and range ([0, 16]; beyond it L = sgn - 1/x).
LANGEVIN_STEP = 1.0 / 32.0
LANGEVIN_MAX = 16.0
_INV_STEP = 32.0
#: Newton: stop when an update is smaller than this (absolute, in h or m).
NEWTON_TOL = 1e-7
#: Newton: at most this many iterations per sample.
NEWTON_MAX_ITER = 12
#: Field steps longer than this (in h = H/a) are split into equal sub-steps ...
MAX_STEP_H = 0.25
#: ... at most this many.
MAX_SUBSTEPS = 64
#: Floor of ``1 - alpha G`` in (1) (see module docstring).
DEN_MIN = 0.05

# Series of L(x) = coth x - 1/x: a_n = 2^(2n) B_2n / (2n)!, n = 1..6
_SERIES = (1.0 / 3.0, -1.0 / 45.0, 2.0 / 945.0, -1.0 / 4725.0, 2.0 / 93555.0, -1382.0 / 638512875.0)


def langevin(x):
    """Langevin function ``L(x) = coth(x) - 1/x`` and its derivative, exactly.

    Parameters
    ----------
    x : float or ndarray
        Any real values.

    Returns
    -------
    L, dL : ndarray
        ``L(x)`` in (-1, 1) and ``L'(x) = 1/x^2 - 1/sinh^2(x)`` in (0, 1/3].
        The series expansion is used for ``|x| < 0.1``, ``exp(-2|x|)`` forms
        elsewhere (no overflow for any ``x``).
    """
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    small = ax < 0.1
    x2 = x * x
    # series (Horner in x^2)
    Ls = np.zeros_like(x)
    dLs = np.zeros_like(x)
    for n in range(len(_SERIES) - 1, -1, -1):
        Ls = Ls * x2 + _SERIES[n]
        dLs = dLs * x2 + (2 * n + 1) * _SERIES[n]
    Ls = Ls * x
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e = np.exp(-2.0 * ax)
        coth = (1.0 + e) / (1.0 - e)
        csch2 = 4.0 * e / ((1.0 - e) * (1.0 - e))
        Lb = np.sign(x) * (coth - 1.0 / ax)
        dLb = 1.0 / x2 - csch2
    return np.where(small, Ls, Lb), np.where(small, dLs, dLb)


@lru_cache(maxsize=1)
def langevin_table() -> np.ndarray:
    """Table for the solvers: shape ``(513, 2)``, row ``i`` holds ``L(x_i)`` and
    ``LANGEVIN_STEP * L'(x_i)`` at ``x_i = i * LANGEVIN_STEP``, ``0 <= x_i <= 16``."""
    n = int(round(LANGEVIN_MAX / LANGEVIN_STEP)) + 1
    x = np.arange(n) * LANGEVIN_STEP
    L, dL = langevin(x)
    tab = np.ascontiguousarray(np.stack([L, LANGEVIN_STEP * dL], axis=1))
    tab.setflags(write=False)
    return tab


# -------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True, inline="always")
def _langevin_t(x, tab):
    """L(x), L'(x), L''(x) from the table: cubic Hermite in |x| < 16
    (L'' is the interpolant's, used only in Jacobians), asymptote beyond."""
    ax = abs(x)
    if ax < LANGEVIN_MAX:
        s = ax * _INV_STEP
        i = int(s)
        t = s - i
        y0 = tab[i, 0]
        d0 = tab[i, 1]
        y1 = tab[i + 1, 0]
        d1 = tab[i + 1, 1]
        dy = y1 - y0
        a2 = 3.0 * dy - 2.0 * d0 - d1
        a3 = d0 + d1 - 2.0 * dy
        L = y0 + t * (d0 + t * (a2 + t * a3))
        L1 = (d0 + t * (2.0 * a2 + 3.0 * t * a3)) * _INV_STEP
        L2 = (2.0 * a2 + 6.0 * t * a3) * (_INV_STEP * _INV_STEP)
    else:
        inv = 1.0 / ax
        L = 1.0 - inv
        L1 = inv * inv
        L2 = -2.0 * L1 * inv
    if x < 0.0:
        return -L, L1, -L2
    return L, L1, L2


@njit(cache=True, nogil=True, inline="always")
def _ja_slope(m, h, d, inv_k, c, alpha, tab):
    """chi = dm/dh of eq. (1) for direction d (+-1), with d chi/dm and d chi/dh."""
    he = h + alpha * m
    L, L1, L2 = _langevin_t(he, tab)
    D = L - m
    G = c * L1
    Gm = c * L2 * alpha
    Gh = c * L2
    if D * d > 0.0:  # delta_M = 1
        q = d * inv_k
        G += D * q
        Gm += (L1 * alpha - 1.0) * q
        Gh += L1 * q
    if alpha == 0.0:
        return G, Gm, Gh
    den = 1.0 - alpha * G
    if den < DEN_MIN:
        inv = 1.0 / DEN_MIN
        return G * inv, Gm * inv, Gh * inv
    inv = 1.0 / den
    f = inv * inv
    return G * inv, Gm * f, Gh * f


@njit(cache=True, nogil=True, inline="always")
def _theta(az2, bound):
    """Implicitness of eq. (2) for a step with stiffness ``z = dh * d chi/dm``,
    given as ``|z| * bound`` and ``bound`` (so no division is needed): 1/2
    (trapezoidal, 2nd order) while ``|z| <= 2``, 1 (backward Euler, L-stable)
    beyond. The linear test equation's amplification ``(1 - (1 - theta)|z|) /
    (1 + theta |z|)`` then stays in [0, 1]: the explicit half of the step can
    never push ``m`` past the anhysteretic it relaxes towards (the trapezoidal
    rule alone overshoots, and with the ``delta_M`` gate that can run away)."""
    return 0.5 if az2 <= 2.0 * bound else 1.0


@njit(cache=True, nogil=True, inline="always")
def _field_step(m0, h0, h1, d, chi0, cm0, chh0, ik, cc, al, tab):
    """One step of eq. (2) from (h0, m0) to field h1 in direction d, given the
    slope chi0 and its derivatives at the start. Returns m1 and the slope
    and its derivatives at the end (the next step's start)."""
    dh = h1 - h0
    th = _theta(abs(dh * cm0), 1.0)
    a0 = dh * (1.0 - th) * chi0  # explicit part of eq. (2)
    hd = th * dh
    # linearly implicit predictor (stable for stiff steps, |dh| >> k):
    # chi1 ~ chi0 + cm0 (m1 - m0) + chh0 dh in eq. (2), solved for m1
    m1 = m0 + dh * (chi0 + th * chh0 * dh) / (1.0 - hd * cm0)
    chi1 = chi0
    cm = cm0
    chh = chh0
    for _it in range(NEWTON_MAX_ITER):
        chi1, cm, chh = _ja_slope(m1, h1, d, ik, cc, al, tab)
        R = m1 - m0 - a0 - hd * chi1
        Rp = 1.0 - hd * cm
        step = R / Rp
        m1 -= step
        chi1 -= step * cm  # slope at the updated point (1st order in a tiny step)
        if abs(step) <= NEWTON_TOL:
            break
    return m1, chi1, cm, chh


@njit(cache=True, nogil=True)
def _field_kernel(hin, h_scale, out_scale, inv_k, c, alpha, tab, state, out, residual):
    """Field-driven J-A core. h = h_scale * hin; m from eq. (2) by Newton.

    out = out_scale * m - hin if ``residual`` else m. Controls: length 1 or N.
    state (C, 9): h0, m0, chi0, d chi/dm and d chi/dh at the start point,
    d0, and the (inv_k, c, alpha) chi0 was taken with. Field steps longer
    than ``MAX_STEP_H`` are split into equal sub-steps.

    The channel loop is innermost so that the channels' independent
    Newton chains overlap in the CPU (the work per sample is one serial
    dependency chain per channel).
    """
    C, N = hin.shape
    s_h = 1 if h_scale.shape[0] > 1 else 0
    s_o = 1 if out_scale.shape[0] > 1 else 0
    s_k = 1 if inv_k.shape[0] > 1 else 0
    s_c = 1 if c.shape[0] > 1 else 0
    s_a = 1 if alpha.shape[0] > 1 else 0
    st = state.copy()
    for i in range(N):
        ik = inv_k[i * s_k]
        cc = c[i * s_c]
        al = alpha[i * s_a]
        hs = h_scale[i * s_h]
        os_ = out_scale[i * s_o]
        for ch in range(C):
            h0 = st[ch, 0]
            m0 = st[ch, 1]
            x = hin[ch, i]
            h1 = hs * x
            dh = h1 - h0
            if dh != 0.0:
                d = 1.0 if dh > 0.0 else -1.0
                chi0 = st[ch, 2]
                cm0 = st[ch, 3]
                chh0 = st[ch, 4]
                if d != st[ch, 5] or ik != st[ch, 6] or cc != st[ch, 7] or al != st[ch, 8]:
                    chi0, cm0, chh0 = _ja_slope(m0, h0, d, ik, cc, al, tab)
                    st[ch, 5] = d
                    st[ch, 6] = ik
                    st[ch, 7] = cc
                    st[ch, 8] = al
                if abs(dh) <= MAX_STEP_H:
                    m0, chi0, cm0, chh0 = _field_step(m0, h0, h1, d, chi0, cm0, chh0, ik, cc, al, tab)
                else:
                    ns = min(int(abs(dh) / MAX_STEP_H) + 1, MAX_SUBSTEPS)
                    ha = h0
                    for j in range(ns):
                        hb = h1 if j == ns - 1 else h0 + dh * (j + 1) / ns
                        m0, chi0, cm0, chh0 = _field_step(m0, ha, hb, d, chi0, cm0, chh0, ik, cc, al, tab)
                        ha = hb
                st[ch, 0] = h1
                st[ch, 1] = m0
                st[ch, 2] = chi0
                st[ch, 3] = cm0
                st[ch, 4] = chh0
            if residual:
                out[ch, i] = os_ * m0 - x
            else:
                out[ch, i] = m0
    for ch in range(C):
        for j in range(state.shape[1]):
            state[ch, j] = st[ch, j]


@njit(cache=True, nogil=True, inline="always")
def _core_step(h0, m0, F0, Cst, kap, d, chi0, cm0, chh0, ik, cc, al, tab):
    """One time step of the transformer core: solve eq. (2) with m1 = Cst - kap h1
    for h1 (Newton), given F0 = kap h0 + m0 - Cst and the start slope.
    Returns h1, m1 and the slope and its derivatives at the end."""
    th = _theta(abs(F0 * cm0), kap + chi0)  # z ~ dh cm0, dh ~ -F0 / (kap + chi0)
    # predictor: the residual with chi1 linearised about the start point,
    # chi1 ~ chi0 + cm0 (m1 - m0) + chh0 dh, m1 - m0 = -F0 - kap dh, i.e.
    # -F0 - (kap + chi0 - th cm0 F0) dh - th (chh0 - kap cm0) dh^2 = 0,
    # solved to 2nd order in F0. Where that linearisation would more than
    # halve the slope (the step crosses the delta_M gate, where chi has a
    # kink), the plain first-order guess -F0 / (kap + chi0) is used instead.
    a = kap + chi0 - th * cm0 * F0
    if a > 0.5 * (kap + chi0):
        inv = 1.0 / a
        dh1 = -F0 * inv
        h1 = h0 + dh1 - th * (chh0 - kap * cm0) * dh1 * dh1 * inv
        if (h1 - h0) * d <= 0.0:
            h1 = h0 + dh1
    else:
        h1 = h0 - F0 / (kap + chi0)
    chi1 = chi0
    cm = cm0
    chh = chh0
    ex = (1.0 - th) * chi0
    # Safeguard: the residual R(h1) is monotone along the direction d with
    # d R(h0) = |F0| > 0, so its root is bracketed by s = d (h1 - h0) in
    # [s_lo, s_hi]; a Newton update leaving the bracket is replaced by bisection.
    s_lo = 0.0
    s_hi = np.inf
    for _it in range(NEWTON_MAX_ITER):
        m1 = Cst - kap * h1
        dh = h1 - h0
        chi1, cm, chh = _ja_slope(m1, h1, d, ik, cc, al, tab)
        tot = chh - kap * cm  # d chi / d h1 along m1 = C - kap h1
        sl = ex + th * chi1
        R = m1 - m0 - dh * sl
        Rp = -kap - sl - th * dh * tot
        sc = d * dh
        if d * R > 0.0:
            s_lo = max(s_lo, sc)
        else:
            s_hi = min(s_hi, sc)
        step = R / Rp
        s_new = sc - d * step
        if not (s_new > s_lo and s_new < s_hi):
            s_new = 0.5 * (s_lo + s_hi) if s_hi < np.inf else 2.0 * s_lo + 1e-12
            step = d * (sc - s_new)
        h1 -= step
        chi1 -= step * tot
        if abs(step) <= NEWTON_TOL:
            break
    # flush denormals from the decaying field (the remanence m stays)
    if abs(h1) < 1e-250:
        h1 = 0.0
    return h1, Cst - kap * h1, chi1, cm, chh


@njit(cache=True, nogil=True)
def _core_substeps(h0, m0, u0, u1, ns, beta, r, ip, d0, chi0, cm0, chh0, ik, cc, al, tab):
    """One time step of the transformer core as ``ns`` equal sub-steps, the
    input interpolated linearly (for steps whose field change would exceed
    ``MAX_STEP_H``). Returns h1, m1, the last direction and the end slope."""
    bj = beta / ns
    kap = ip + bj * r
    for j in range(ns):
        ua = u0 + (u1 - u0) * j / ns
        ub = u1 if j == ns - 1 else u0 + (u1 - u0) * (j + 1) / ns
        Cst = h0 * ip + m0 + bj * (ua + ub - r * h0)
        F0 = bj * (2.0 * r * h0 - ua - ub)
        if F0 == 0.0:
            continue
        d = 1.0 if F0 < 0.0 else -1.0
        if d != d0:
            chi0, cm0, chh0 = _ja_slope(m0, h0, d, ik, cc, al, tab)
            d0 = d
        h0, m0, chi0, cm0, chh0 = _core_step(h0, m0, F0, Cst, kap, d, chi0, cm0, chh0, ik, cc, al, tab)
    return h0, m0, d0, chi0, cm0, chh0


@njit(cache=True, nogil=True)
def _transformer_kernel(u, beta, r_src, inv_rho, inv_k, c, alpha, tab, state, out, trace, h_out, m_out):
    """Voltage-driven J-A transformer core (module docstring).

    out = -r h (the output minus the input, i.e. the residual), per sample.
    beta = w_s dt / 2 (scalar); controls r_src, inv_rho, inv_k, c, alpha:
    length 1 or N. With ``trace`` the field and magnetisation go to
    h_out, m_out. state (C, 10): h0, m0, u0, chi0, d chi/dm and d chi/dh at
    the start point, d0, and the (inv_k, c, alpha) chi0 was taken with.
    A step whose linear estimate of the field change exceeds ``MAX_STEP_H``
    is split into equal sub-steps (:func:`_core_substeps`).
    Channels innermost, as in :func:`_field_kernel`.
    """
    C, N = u.shape
    s_r = 1 if r_src.shape[0] > 1 else 0
    s_p = 1 if inv_rho.shape[0] > 1 else 0
    s_k = 1 if inv_k.shape[0] > 1 else 0
    s_c = 1 if c.shape[0] > 1 else 0
    s_a = 1 if alpha.shape[0] > 1 else 0
    st = state.copy()
    for i in range(N):
        r = r_src[i * s_r]
        ip = inv_rho[i * s_p]
        ik = inv_k[i * s_k]
        cc = c[i * s_c]
        al = alpha[i * s_a]
        kap = ip + beta * r
        for ch in range(C):
            h0 = st[ch, 0]
            m0 = st[ch, 1]
            u0 = st[ch, 2]
            u1 = u[ch, i]
            # trapezoidal Faraday step: phi1 = phi0 + beta (u0 + u1 - r h0 - r h1), m1 = Cst - kap h1
            Cst = h0 * ip + m0 + beta * (u0 + u1 - r * h0)
            F0 = beta * (2.0 * r * h0 - u0 - u1)  # = kap h0 + m0 - Cst; h1 - h0 has the sign of -F0
            if F0 != 0.0:
                d = 1.0 if F0 < 0.0 else -1.0
                chi0 = st[ch, 3]
                cm0 = st[ch, 4]
                chh0 = st[ch, 5]
                if d != st[ch, 6] or ik != st[ch, 7] or cc != st[ch, 8] or al != st[ch, 9]:
                    chi0, cm0, chh0 = _ja_slope(m0, h0, d, ik, cc, al, tab)
                    st[ch, 7] = ik
                    st[ch, 8] = cc
                    st[ch, 9] = al
                if abs(F0) <= MAX_STEP_H * (kap + chi0):
                    h1, m1, chi1, cm1, chh1 = _core_step(h0, m0, F0, Cst, kap, d, chi0, cm0, chh0, ik, cc, al, tab)
                else:
                    ns = min(int(abs(F0) / (MAX_STEP_H * (kap + chi0))) + 1, MAX_SUBSTEPS)
                    h1, m1, d, chi1, cm1, chh1 = _core_substeps(h0, m0, u0, u1, ns, beta, r, ip, d, chi0, cm0, chh0,
                                                               ik, cc, al, tab)
                st[ch, 0] = h1
                st[ch, 1] = m1
                st[ch, 3] = chi1
                st[ch, 4] = cm1
                st[ch, 5] = chh1
                st[ch, 6] = d
            st[ch, 2] = u1
            out[ch, i] = -r * st[ch, 0]
            if trace:
                h_out[ch, i] = st[ch, 0]
                m_out[ch, i] = st[ch, 1]
    for ch in range(C):
        for j in range(state.shape[1]):
            state[ch, j] = st[ch, j]


# ----------------------------------------------------------------- public API
def _ctrl(a, n: int, name: str) -> np.ndarray:
    a = np.ascontiguousarray(np.atleast_1d(np.asarray(a, dtype=np.float64)))
    if a.ndim != 1 or a.shape[0] not in (1, n):
        raise ValueError(f"{name} must be a scalar or have {n} values (one per sample); got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite")
    return a


def _check_ja(k, c, alpha, n):
    k = _ctrl(k, n, "k")
    c = _ctrl(c, n, "c")
    alpha = _ctrl(alpha, n, "alpha")
    if (k <= 0).any():
        raise ValueError(f"k (loop width / a) must be > 0; got min {k.min():g}")
    if (c < 0).any() or (c > 1).any():
        raise ValueError(f"c (reversible fraction) must be in [0, 1]; got [{c.min():g}, {c.max():g}]")
    if (alpha < 0).any() or (alpha >= 1).any():
        raise ValueError(f"alpha (mean-field coupling, Ms/a units) must be in [0, 1); got [{alpha.min():g}, {alpha.max():g}]")
    return np.ascontiguousarray(1.0 / k), c, alpha


def _check_signal(x, name):
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (channels, samples); got shape {x.shape}")
    return x


def ja_state(channels: int) -> np.ndarray:
    """Demagnetised state for :func:`ja_magnetisation`: shape ``(channels, 9)``."""
    st = np.zeros((int(channels), 9))
    st[:, 6:] = np.nan  # no slope cached yet
    return st


def ja_magnetisation(h: np.ndarray, k, c, alpha, state: np.ndarray, h_scale=1.0):
    """Normalised magnetisation ``m = M/Ms`` for a field ``h = H/a`` given per sample.

    Parameters
    ----------
    h : ndarray, shape (C, N)
        Field (times ``h_scale``) per sample, normalised by ``a``.
    k : float or ndarray (N,)
        Pinning ``k/a`` (> 0): the loop's half-width is about ``(1 - c) k``.
    c : float or ndarray (N,)
        Reversible fraction, 0-1.
    alpha : float or ndarray (N,)
        Mean-field coupling ``alpha Ms / a``, 0 <= alpha < 1.
    state : ndarray, shape (C, 9)
        From :func:`ja_state` or a previous call.
    h_scale : float or ndarray (N,)
        Multiplies ``h``.

    Returns
    -------
    m : ndarray, shape (C, N)
        In (-1, 1).
    state : ndarray
        New state.
    """
    h = _check_signal(h, "h")
    n = h.shape[1]
    inv_k, c, alpha = _check_ja(k, c, alpha, n)
    st = np.array(state, dtype=np.float64, copy=True)
    if st.shape != (h.shape[0], 9):
        raise ValueError(f"state shape {st.shape} does not match (channels, 9) = {(h.shape[0], 9)}")
    m = np.empty_like(h)
    if n:
        _field_kernel(h, _ctrl(h_scale, n, "h_scale"), np.ones(1), inv_k, c, alpha, langevin_table(), st, m, False)
    return m, st


def ja_residual(v: np.ndarray, h_scale, out_scale, k, c, alpha, state: np.ndarray):
    """Residual ``out_scale * m(h_scale * v) - v`` of a field-driven core (the
    stages' form: zero where the core is linear with gain 1). Arguments as
    :func:`ja_magnetisation`; returns ``(residual, state)``."""
    v = _check_signal(v, "v")
    n = v.shape[1]
    inv_k, c, alpha = _check_ja(k, c, alpha, n)
    st = np.array(state, dtype=np.float64, copy=True)
    if st.shape != (v.shape[0], 9):
        raise ValueError(f"state shape {st.shape} does not match (channels, 9) = {(v.shape[0], 9)}")
    out = np.empty_like(v)
    if n:
        _field_kernel(v, _ctrl(h_scale, n, "h_scale"), _ctrl(out_scale, n, "out_scale"), inv_k, c, alpha,
                      langevin_table(), st, out, True)
    return out, st


def transformer_state(channels: int) -> np.ndarray:
    """Demagnetised, de-energised state for :func:`transformer_core`: shape ``(channels, 10)``."""
    st = np.zeros((int(channels), 10))
    st[:, 7:] = np.nan
    return st


def transformer_core(u: np.ndarray, flux_rate, source_r, rho, k, c, alpha, sample_rate: float,
                     state: np.ndarray, trace: bool = False):
    """Voltage-driven J-A transformer core (module docstring).

    Parameters
    ----------
    u : ndarray, shape (C, N)
        Primary voltage per sample (signal units).
    flux_rate : float
        ``w_s`` in 1/s: normalised flux per unit voltage-second (> 0).
    source_r : float or ndarray (N,)
        Source resistance in normalised units (>= 0).
    rho : float or ndarray (N,)
        ``Ms / a`` (> 0).
    k, c, alpha : float or ndarray (N,)
        J-A parameters as in :func:`ja_magnetisation`.
    sample_rate : float
        Rate of ``u`` in Hz.
    state : ndarray, shape (C, 10)
        From :func:`transformer_state` or a previous call.
    trace : bool
        Also return the field ``h`` and magnetisation ``m`` per sample.

    Returns
    -------
    residual : ndarray, shape (C, N)
        ``y - u = -r h``: the output minus the input.
    state : ndarray
        New state.
    h, m : ndarray, shape (C, N)
        Only with ``trace=True`` (returned before the state).
    """
    u = _check_signal(u, "u")
    n = u.shape[1]
    inv_k, c, alpha = _check_ja(k, c, alpha, n)
    r = _ctrl(source_r, n, "source_r")
    rho = _ctrl(rho, n, "rho")
    if (rho <= 0).any() or (r < 0).any():
        raise ValueError("rho must be > 0 and source_r >= 0")
    if not flux_rate > 0 or not sample_rate > 0:
        raise ValueError(f"flux_rate and sample_rate must be > 0; got {flux_rate!r}, {sample_rate!r}")
    st = np.array(state, dtype=np.float64, copy=True)
    if st.shape != (u.shape[0], 10):
        raise ValueError(f"state shape {st.shape} does not match (channels, 10) = {(u.shape[0], 10)}")
    out = np.empty_like(u)
    shape = u.shape if trace else (1, 1)
    h_out = np.empty(shape)
    m_out = np.empty(shape)
    if n:
        _transformer_kernel(u, 0.5 * float(flux_rate) / float(sample_rate), r, np.ascontiguousarray(1.0 / rho),
                            inv_k, c, alpha, langevin_table(), st, out, bool(trace), h_out, m_out)
    if trace:
        return out, h_out, m_out, st
    return out, st

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
field ran away to 1e303), so both stages use ``alpha = 0``; the kernels have
a fast path for ``alpha = 0`` (below) and a general path for ``alpha > 0``.

Integration scheme (both solvers)
    The J-A equations are rate independent (time enters only through the
    direction ``delta``), so a step from ``h0`` to ``h1`` is taken along the
    straight line between them, with ``delta = sign(h1 - h0)`` fixed for the
    whole step, by the theta-method in the field ``h``::

        m1 = m0 + (h1 - h0) ((1 - theta) chi(m0, h0, delta) + theta chi(m1, h1, delta))   (2)

    ``theta = 1/2`` (trapezoidal: 2nd order, A-stable) while the step's
    stiffness ``|z| = |dh d chi/dm| <= 2``; ``theta = 1`` (backward Euler,
    L-stable) beyond, so the explicit half can never push ``m`` past the
    anhysteretic it relaxes towards (see :func:`_theta`). Steps longer than
    ``MAX_STEP_H`` in ``h`` are split into equal sub-steps.

    With ``alpha = 0`` the slope (1) is *linear* in ``m`` for a given field
    and gate, ``chi = c L'(h) + delta_M |L(h) - m| / k``, so (2) for a known
    ``h1`` has the closed-form solution::

        A  = m0 + dh ((1 - theta) chi0 + theta c L'(h1))
        m1 = (A + w L(h1)) / (1 + w),  w = theta |dh| / k    if (L(h1) - A) delta > 0
        m1 = A                                                otherwise           (3)

    (the end gate is consistent: ``L(h1) - m1`` has the sign of
    ``L(h1) - A`` in both cases, so (3) is the unique root of (2)). The
    field-driven core uses (3) directly, with no iteration; with
    ``alpha > 0`` (``L`` then depends on ``m`` through ``he``) it solves (2)
    by Newton's method in ``m1``.

    The transformer core's field is itself unknown (see below); (2) is solved
    per sample by Newton's method in ``h1`` on the exact Jacobian, started
    from a linearly implicit predictor (the residual with ``chi(m1, h1)``
    linearised about the start point, solved to 2nd order). A Newton update
    smaller than ``NEWTON_TOL`` (1e-7 in ``h``; the remaining error is then
    ~1e-14 by quadratic convergence) ends the iteration; ``NEWTON_MAX_ITER``
    bounds it, and an update that leaves the bracket of the (monotone)
    residual's root is replaced by bisection. (Measured with an instrumented
    copy of the solver on a pop mix at 8x: 1.05 Newton iterations per sample
    on average at drive 0 dB, 1.6 at +12 dB.)

    Evidence (``host_tests/test_transformer.py``): both cores agree with the
    same scheme on a 64-times finer grid (field-driven core on a slow loop:
    2.3e-6, 1.5e-5 and 3.1e-6 in normalised magnetisation for k = 0.05,
    0.008 and 1e-4, the last at 47 loop widths per step; transformer core,
    40 Hz at the 8x rate: 1.5e-9 at drive 0 dB, 5.3e-7 at +12 dB); random
    fields stepping up to 100 loop widths keep ``m`` inside (-1, 1); the
    fast paths agree with the general (Newton) path run with ``alpha = 0`` to
    1e-15 (field-driven) and 7e-12 (transformer).

How the kernels are made fast (the J-A recursion is one serial chain of
dependent floating-point operations per channel and sample). Measured per
oversampled sample and channel on the pop mix at 8x, same run: transformer
46.0 ns before, 22.5 ns after (21.7 with two channels in one loop; outputs
within 8e-10); field-driven (tape) 43.9 ns before, 11.7 ns after (outputs
within 2e-16).
    * Field-driven core: the closed form (3), no Newton iteration (and the
      Langevin evaluation at the input-driven field is off the chain).
    * The Langevin function comes from a table of cubic polynomial
      coefficients (``langevin_table``), one row per cell of width 1/32 on
      [-16, 16), the cell of the previous evaluation kept (the field moves
      by a few thousandths of a cell per sample at 8x), so an evaluation is
      a subtraction and a 4-term polynomial: no ``exp``, no division, no
      float-to-int conversion. The table is a module constant (frozen into
      the compiled kernels): passed as an argument to the inlined helpers it
      cost a reference-count call pair per evaluation.
    * Transformer: the predictor's reciprocal is formed from the values at
      the previous Newton point (the direction taken from there too,
      corrected in the rare case it differs), so that division runs in
      parallel with the previous Newton division instead of after it; the
      start slope used in (2) is taken exactly (first-order Taylor from that
      point, error ~1e-14); the bracket bookkeeping of the Newton safeguard
      starts only when a first update exceeds ``NEWTON_TOL``.
    * The kernels use ``error_model="numpy"`` (no Python zero-division
      checks in the loop; no division here can be by zero), keep the state in
      local variables and hoist constant controls out of the loop; the
      transformer kernel runs channels in pairs when its controls are
      constant (their chains overlap in the CPU). The stages can also run
      channels in parallel threads (the kernels release the GIL; one
      channel's arithmetic does not depend on the grouping, so the output is
      identical).

Langevin near 0
    ``coth(x) - 1/x`` cancels catastrophically as ``x -> 0``; below
    ``|x| < 0.1`` the series ``sum 2^(2n) B_2n x^(2n-1) / (2n)!``
    (``x/3 - x^3/45 + 2x^5/945 - ...``, six terms, truncation < 1e-17) is used
    by :func:`langevin` (exact values, which the table interpolates by cubic
    Hermite polynomials: measured error 3.2e-10 in L, 3.2e-8 in L'); beyond
    ``|x| = 16`` the asymptote ``L = sgn(x) - 1/x`` (``exp(-32)`` is below
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
    current), ``m`` from (2): by (3) with ``alpha = 0``, by Newton otherwise.

State is an explicit array per channel (see :func:`ja_state` and
:func:`transformer_state`); every public function returns a new state and
leaves the caller's untouched. Controls are arrays of length 1 (constant) or
one value per sample.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit

from .controls import control as _ctrl

#: Langevin table spacing (1/32) and range ([-16, 16); beyond it L = sgn - 1/x).
LANGEVIN_STEP = 1.0 / 32.0
LANGEVIN_MAX = 16.0
_INV_STEP = 32.0
#: Table row of the cell that starts at x = 0.
_CELL0 = 512
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
#: |h| below this is flushed to 0 in the transformer's decaying field (denormals).
_FLUSH = 1e-250

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
    """Coefficient table of the solvers' Langevin function: shape ``(1024, 8)``.

    Row ``i`` is the cell ``x in [x_i, x_i + 1/32)``, ``x_i = (i - 512) / 32``
    (so [-16, 16)). With ``e = x - x_i``, the cubic Hermite interpolant of the
    exact ``L`` and ``L'`` at the cell's ends and its derivatives are::

        L   = (T0 + T1 e) + e^2 (T2 + T3 e)
        L'  = (T1 + T4 e) + e^2 T5
        L'' =  T4 + T6 e

    (``T4 = 2 T2``, ``T5 = 3 T3``, ``T6 = 6 T3``: stored so that no
    evaluation needs more than a 4-term polynomial; column 7 is padding, for
    64-byte rows). Read only.
    """
    n = 2 * _CELL0 + 1
    x = (np.arange(n) - _CELL0) * LANGEVIN_STEP
    L, dL = langevin(x)
    y0, y1 = L[:-1], L[1:]
    d0, d1 = LANGEVIN_STEP * dL[:-1], LANGEVIN_STEP * dL[1:]  # slopes per cell width
    dy = y1 - y0
    a2 = 3.0 * dy - 2.0 * d0 - d1  # Hermite cubic in t = e / step: y0 + d0 t + a2 t^2 + a3 t^3
    a3 = d0 + d1 - 2.0 * dy
    tab = np.zeros((n - 1, 8))
    tab[:, 0] = y0
    tab[:, 1] = d0 * _INV_STEP  # exact scalings by powers of 2
    tab[:, 2] = a2 * _INV_STEP ** 2
    tab[:, 3] = a3 * _INV_STEP ** 3
    tab[:, 4] = 2.0 * tab[:, 2]
    tab[:, 5] = 3.0 * tab[:, 3]
    tab[:, 6] = 6.0 * tab[:, 3]
    tab = np.ascontiguousarray(tab)
    tab.setflags(write=False)
    return tab


#: The table as a module constant: the kernels read it as a global (numba
#: freezes it into the compiled code), never through an argument.
_TABLE = langevin_table()


# -------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _langevin_cell(x, ic, xc):
    """L(x), L'(x), L''(x) from the table, given the cell (row ``ic``, start
    ``xc``) of a previous evaluation, which is reused while ``x`` is still
    inside it (``xc = inf``: none). Returns ``(L, L', L'', ic, xc)``. The
    value depends only on ``x``: the cell is always ``floor(32 x)``. Beyond
    |x| = 16 the asymptote ``sgn(x) - 1/x``."""
    tab = _TABLE
    e = x - xc
    if not (e >= 0.0 and e < LANGEVIN_STEP):
        if abs(x) < LANGEVIN_MAX:
            f = np.floor(x * _INV_STEP)
            ic = int(f) + _CELL0
            xc = f * LANGEVIN_STEP
            e = x - xc
        else:
            inv = 1.0 / abs(x)
            L1 = inv * inv
            return math.copysign(1.0 - inv, x), L1, math.copysign(-2.0 * L1 * inv, x), 0, np.inf
    e2 = e * e
    L = (tab[ic, 0] + tab[ic, 1] * e) + e2 * (tab[ic, 2] + tab[ic, 3] * e)
    L1 = (tab[ic, 1] + tab[ic, 4] * e) + e2 * tab[ic, 5]
    L2 = tab[ic, 4] + tab[ic, 6] * e
    return L, L1, L2, ic, xc


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _langevin_t(x):
    """L(x), L'(x), L''(x) from the table (L'' is the interpolant's, used only
    in Jacobians)."""
    L, L1, L2, _ic, _fc = _langevin_cell(x, 0, np.inf)
    return L, L1, L2


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _ja_slope(m, h, d, inv_k, c, alpha):
    """chi = dm/dh of eq. (1) for direction d (+-1), with d chi/dm and d chi/dh."""
    he = h + alpha * m
    L, L1, L2 = _langevin_t(he)
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


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _theta(az2, bound):
    """Implicitness of eq. (2) for a step with stiffness ``z = dh * d chi/dm``,
    given as ``|z| * bound`` and ``bound`` (so no division is needed): 1/2
    (trapezoidal, 2nd order) while ``|z| <= 2``, 1 (backward Euler, L-stable)
    beyond. The linear test equation's amplification ``(1 - (1 - theta)|z|) /
    (1 + theta |z|)`` then stays in [0, 1]: the explicit half of the step can
    never push ``m`` past the anhysteretic it relaxes towards (the trapezoidal
    rule alone overshoots, and with the ``delta_M`` gate that can run away)."""
    return 0.5 if az2 <= 2.0 * bound else 1.0


# ------------------------------------------------- field-driven core (tape)
@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _field_step0(h0, m0, L0, P0, h1, ik, c, ic, xc):
    """One step of eq. (2) with alpha = 0 from (h0, m0) to the field h1, by
    the closed form (3). ``L0, P0``: L and L' at h0. Returns m1, L and L' at
    h1, and the table cell."""
    L, P, _Q, ic, xc = _langevin_cell(h1, ic, xc)
    dh = h1 - h0
    D0 = L0 - m0
    chi0 = c * P0
    th = 0.5
    if D0 * dh > 0.0:  # delta_M = 1 at the start: chi0 = c L' + |L - m| / k
        chi0 += abs(D0) * ik
        if abs(dh) * ik > 2.0:  # |z| = |dh| / k > 2: backward Euler (_theta)
            th = 1.0
    A = (m0 + dh * ((1.0 - th) * chi0)) + (th * dh) * (c * P)
    if (L - A) * dh > 0.0:  # delta_M = 1 at the end
        w = th * abs(dh) * ik
        m1 = (A + w * L) / (1.0 + w)
    else:
        m1 = A
    return m1, L, P, ic, xc


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _field_step(m0, h0, h1, d, chi0, cm0, chh0, ik, cc, al):
    """One step of eq. (2) (any alpha) from (h0, m0) to field h1 in direction
    d by Newton's method in m1, given the slope chi0 and its derivatives at
    the start. Returns m1 and the slope and its derivatives at the end."""
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
        chi1, cm, chh = _ja_slope(m1, h1, d, ik, cc, al)
        R = m1 - m0 - a0 - hd * chi1
        Rp = 1.0 - hd * cm
        step = R / Rp
        m1 -= step
        chi1 -= step * cm  # slope at the updated point (1st order in a tiny step)
        if abs(step) <= NEWTON_TOL:
            break
    return m1, chi1, cm, chh


@njit(cache=True, nogil=True, error_model="numpy")
def _field_general(h0, m0, h1, ik, cc, al):
    """Eq. (2) from (h0, m0) to h1 for alpha > 0 (Newton in m1, sub-steps
    for steps longer than ``MAX_STEP_H``). Returns m1."""
    dh = h1 - h0
    d = 1.0 if dh > 0.0 else -1.0
    chi0, cm0, chh0 = _ja_slope(m0, h0, d, ik, cc, al)
    ns = 1
    if abs(dh) > MAX_STEP_H:
        ns = min(int(abs(dh) / MAX_STEP_H) + 1, MAX_SUBSTEPS)
    ha = h0
    for j in range(ns):
        hb = h1 if j == ns - 1 else h0 + dh * (j + 1) / ns
        m0, chi0, cm0, chh0 = _field_step(m0, ha, hb, d, chi0, cm0, chh0, ik, cc, al)
        ha = hb
    return m0


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _field_sample(h0, m0, L0, P0, ic, xc, h1, ik, cc, al):
    """Advance the field-driven core to the field h1 (any alpha; sub-steps for
    steps longer than ``MAX_STEP_H``). Returns m1, L(h1), L'(h1), the cell."""
    dh = h1 - h0
    if al == 0.0:
        if abs(dh) <= MAX_STEP_H:
            return _field_step0(h0, m0, L0, P0, h1, ik, cc, ic, xc)
        ns = min(int(abs(dh) / MAX_STEP_H) + 1, MAX_SUBSTEPS)
        ha = h0
        for j in range(ns):
            hb = h1 if j == ns - 1 else h0 + dh * (j + 1) / ns
            m0, L0, P0, ic, xc = _field_step0(ha, m0, L0, P0, hb, ik, cc, ic, xc)
            ha = hb
        return m0, L0, P0, ic, xc
    m1 = _field_general(h0, m0, h1, ik, cc, al)
    L, P, _Q = _langevin_t(h1)
    return m1, L, P, ic, xc


@njit(cache=True, nogil=True, error_model="numpy")
def _field_kernel(hin, h_scale, out_scale, inv_k, c, alpha, state, out, residual):
    """Field-driven J-A core. h = h_scale * hin; m from eq. (2): the closed
    form (3) with alpha = 0, Newton otherwise.

    out = out_scale * m - hin if ``residual`` else m. Controls: length 1 or N.
    state (C, 4), updated in place: h0, m0, and L(h0), L'(h0) (the Langevin
    function at the field, alpha = 0 sense). Field steps longer than
    ``MAX_STEP_H`` are split into equal sub-steps.
    """
    C, N = hin.shape
    const = h_scale.shape[0] == 1 and out_scale.shape[0] == 1 and inv_k.shape[0] == 1 and c.shape[0] == 1 \
        and alpha.shape[0] == 1
    s_h = 1 if h_scale.shape[0] > 1 else 0
    s_o = 1 if out_scale.shape[0] > 1 else 0
    s_k = 1 if inv_k.shape[0] > 1 else 0
    s_c = 1 if c.shape[0] > 1 else 0
    s_a = 1 if alpha.shape[0] > 1 else 0
    for ch in range(C):
        h0 = state[ch, 0]
        m0 = state[ch, 1]
        L0 = state[ch, 2]
        P0 = state[ch, 3]
        ic = 0
        xc = np.inf
        if const:  # the common case, with the controls hoisted out of the loop
            hs = h_scale[0]
            os_ = out_scale[0]
            ik = inv_k[0]
            cc = c[0]
            al = alpha[0]
            for i in range(N):
                x = hin[ch, i]
                h1 = hs * x
                if h1 != h0:
                    m0, L0, P0, ic, xc = _field_sample(h0, m0, L0, P0, ic, xc, h1, ik, cc, al)
                    h0 = h1
                out[ch, i] = os_ * m0 - x if residual else m0
        else:
            for i in range(N):
                x = hin[ch, i]
                h1 = h_scale[i * s_h] * x
                if h1 != h0:
                    m0, L0, P0, ic, xc = _field_sample(h0, m0, L0, P0, ic, xc, h1, inv_k[i * s_k], c[i * s_c],
                                                       alpha[i * s_a])
                    h0 = h1
                out[ch, i] = out_scale[i * s_o] * m0 - x if residual else m0
        state[ch, 0] = h0
        state[ch, 1] = m0
        state[ch, 2] = L0
        state[ch, 3] = P0


# ------------------------------------------------- transformer core, alpha = 0
@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _slope0(L, P, Q, m, d, c, ik):
    """chi, d chi/dh and d chi/dm of eq. (1) with alpha = 0 from L, L', L''
    at the field, for direction d."""
    D = L - m
    chi = c * P
    chh = c * Q
    cm = 0.0
    if D * d > 0.0:  # delta_M = 1
        chi += abs(D) * ik
        chh += d * P * ik
        cm = -d * ik
    return chi, chh, cm


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _core_prelude(s, hp, ma, L, P, Q, u0, u1, beta, r, ip, ik, c):
    """Quantities of a transformer step known before it is solved (alpha = 0).

    The state is the end point (h0, m0) of the last step, its last Newton
    point ``hp = h0 + s`` with L, L', L'' there, and ``ma`` (m on the
    circuit line at hp). F0 = kappa h0 + m0 - C (the step's drive: h1 - h0
    has the sign of -F0) and the predictor's linearisation ``a`` are formed
    from the values at hp (``a`` approximately: it only shapes the
    predictor), so that they do not wait for the last Newton update.
    Returns F0, Fa (F0 at hp), d, theta, a, and the approximate start slope
    (chi, d chi/dh, d chi/dm) and kappa."""
    kap = ip + beta * r
    r2b = 2.0 * beta * r
    ub = beta * (u0 + u1)
    Fa = r2b * hp - ub
    F0 = Fa - r2b * s
    # the direction of Fa first (known early), corrected in the rare case it differs
    da = 1.0 if Fa < 0.0 else -1.0
    chia, chha, cma = _slope0(L, P, Q, ma, da, c, ik)
    d = 1.0 if F0 < 0.0 else -1.0
    if d != da:
        chia, chha, cma = _slope0(L, P, Q, ma, d, c, ik)
    th = _theta(abs(Fa * cma), kap + chia)  # z ~ dh cm, dh ~ -F0 / (kap + chi)
    a = kap + chia - th * cma * Fa
    return F0, Fa, d, th, a, chia, chha, cma, kap


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _core_residual(h1, h0, m0, L, P, Q, Cst, kap, ex, th, d, c, ik):
    """Residual of eq. (2) with m1 = Cst - kap h1 at the field h1 (L, L', L''
    there), and its derivative in h1. Written out (chi1 = c L' + |D| / k when
    gated, d chi/dh along the circuit line = c L'' + d (L' + kap) / k) so
    that both wait for as few operations as possible after L(h1)."""
    m1 = Cst - kap * h1
    dh = h1 - h0
    B = th * dh
    cP = c * P
    A = ((m1 - m0) - dh * ex) - B * cP
    Rp = (-(kap + ex) - th * cP) - B * (c * Q)
    D = L - m1
    if D * d > 0.0:  # delta_M = 1
        aD = abs(D)
        A = A - (B * ik) * aD  # R = m1 - m0 - dh ((1 - th) chi0 + th chi1)
        Rp = (Rp - B * ((d * ik) * (P + kap))) - (th * ik) * aD
    return A, Rp


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _core_solve(h0, m0, s, hp, L, P, Q, ic, xc, u0, u1, beta, r, ip, ik, c, F0, d, th, a, chia, chha, cma, kap):
    """Solve one transformer step (alpha = 0): eq. (2) with m1 = C - kappa h1,
    by Newton's method in h1 from the 2nd-order predictor, bracketed.
    Returns h1, m1, the last Newton update, the last Newton point with
    ``m`` there and L, L', L'' there, and the table cell."""
    ub = beta * (u0 + u1)
    Cst = (m0 + (ip - beta * r) * h0) + ub  # = h0 / rho + m0 + beta (u0 + u1 - r h0)
    # exact start slope, by first-order Taylor from hp back to h0 = hp - s (error ~ s^2 L'')
    D0 = (L - s * P) - m0
    chi0 = c * (P - s * Q)
    if D0 * d > 0.0:
        chi0 += abs(D0) * ik
    ex = (1.0 - th) * chi0
    # predictor: the residual with chi1 linearised about the start point,
    # chi1 ~ chi0 + cm0 (m1 - m0) + chh0 dh, m1 - m0 = -F0 - kap dh, i.e.
    # -F0 - (kap + chi0 - th cm0 F0) dh - th (chh0 - kap cm0) dh^2 = 0,
    # solved to 2nd order in F0. Where that linearisation would more than
    # halve the slope (the step crosses the delta_M gate, where chi has a
    # kink), the plain first-order guess -F0 / (kap + chi0) is used instead.
    if a > 0.5 * (kap + chia):
        inv = 1.0 / a
        K = th * (chha - kap * cma) * inv
        dh1 = -F0 * inv
        h1 = (h0 + dh1) - K * (dh1 * dh1)
        if (h1 - h0) * d <= 0.0:
            h1 = h0 + dh1
    else:
        h1 = h0 - F0 / (kap + chia)
    # first Newton iteration: in the common case its update is below NEWTON_TOL
    L, P, Q, ic, xc = _langevin_cell(h1, ic, xc)
    hp = h1
    R, Rp = _core_residual(h1, h0, m0, L, P, Q, Cst, kap, ex, th, d, c, ik)
    step = R / Rp
    if abs(step) > NEWTON_TOL:
        # Safeguarded iterations: the residual R(h1) is monotone along the
        # direction d with d R(h0) = |F0| > 0, so its root is bracketed by
        # sc = d (h1 - h0) in [s_lo, s_hi]; a Newton update leaving the
        # bracket is replaced by bisection.
        s_lo = 0.0
        s_hi = np.inf
        for _it in range(NEWTON_MAX_ITER):
            sc = d * (hp - h0)
            if d * R > 0.0:
                s_lo = max(s_lo, sc)
            else:
                s_hi = min(s_hi, sc)
            s_new = sc - d * step
            if not (s_new > s_lo and s_new < s_hi):
                s_new = 0.5 * (s_lo + s_hi) if s_hi < np.inf else 2.0 * s_lo + 1e-12
                step = d * (sc - s_new)
            if abs(step) <= NEWTON_TOL or _it == NEWTON_MAX_ITER - 2:
                break
            h1 = hp - step
            L, P, Q, ic, xc = _langevin_cell(h1, ic, xc)
            hp = h1
            R, Rp = _core_residual(h1, h0, m0, L, P, Q, Cst, kap, ex, th, d, c, ik)
            step = R / Rp
    h1 = hp - step
    if abs(h1) < _FLUSH and h1 != 0.0:  # flush the decaying field's denormals (the remanence m stays)
        step = hp
        h1 = 0.0
    return h1, Cst - kap * h1, step, hp, Cst - kap * hp, L, P, Q, ic, xc


@njit(cache=True, nogil=True, error_model="numpy")
def _core_substeps0(ns, h0, m0, s, hp, ma, L, P, Q, ic, xc, u0, u1, beta, r, ip, ik, c):
    """One transformer time step (alpha = 0) as ``ns`` equal sub-steps, the
    input interpolated linearly (for steps whose field change would exceed
    ``MAX_STEP_H``). Arguments and returns as :func:`_core_solve`."""
    bj = beta / ns
    for j in range(ns):
        ua = u0 + (u1 - u0) * j / ns
        ub = u1 if j == ns - 1 else u0 + (u1 - u0) * (j + 1) / ns
        F0, _Fa, d, th, a, chia, chha, cma, kap = _core_prelude(s, hp, ma, L, P, Q, ua, ub, bj, r, ip, ik, c)
        if F0 == 0.0:
            continue
        h0, m0, s, hp, ma, L, P, Q, ic, xc = _core_solve(h0, m0, s, hp, L, P, Q, ic, xc, ua, ub, bj, r, ip, ik, c,
                                                         F0, d, th, a, chia, chha, cma, kap)
    return h0, m0, s, hp, ma, L, P, Q, ic, xc


# ----------------------------------------------- transformer core, any alpha
@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _core_step(h0, m0, F0, Cst, kap, d, chi0, cm0, chh0, ik, cc, al):
    """One time step of the transformer core (any alpha): solve eq. (2) with
    m1 = Cst - kap h1 for h1 (Newton), given F0 = kap h0 + m0 - Cst and the
    start slope. Returns h1, m1 and the slope and its derivatives at the end."""
    th = _theta(abs(F0 * cm0), kap + chi0)
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
    s_lo = 0.0
    s_hi = np.inf
    for _it in range(NEWTON_MAX_ITER):
        m1 = Cst - kap * h1
        dh = h1 - h0
        chi1, cm, chh = _ja_slope(m1, h1, d, ik, cc, al)
        tot = chh - kap * cm
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
    if abs(h1) < _FLUSH:  # flush the decaying field's denormals (the remanence m stays)
        h1 = 0.0
    return h1, Cst - kap * h1, chi1, cm, chh


@njit(cache=True, nogil=True, error_model="numpy")
def _core_general(h0, m0, u0, u1, beta, r, ip, ik, cc, al):
    """One transformer time step for any alpha (the slope (1) evaluated in
    full; used for alpha > 0), split into sub-steps as the fast path does.
    Returns h1, m1."""
    kap = ip + beta * r
    F0 = beta * (2.0 * r * h0 - u0 - u1)  # = kap h0 + m0 - Cst
    if F0 == 0.0:
        return h0, m0
    d = 1.0 if F0 < 0.0 else -1.0
    chi0, cm0, chh0 = _ja_slope(m0, h0, d, ik, cc, al)
    if abs(F0) <= MAX_STEP_H * (kap + chi0):
        Cst = h0 * ip + m0 + beta * (u0 + u1 - r * h0)
        h1, m1, _chi, _cm, _chh = _core_step(h0, m0, F0, Cst, kap, d, chi0, cm0, chh0, ik, cc, al)
        return h1, m1
    ns = min(int(abs(F0) / (MAX_STEP_H * (kap + chi0))) + 1, MAX_SUBSTEPS)
    bj = beta / ns
    kj = ip + bj * r
    d0 = d
    for j in range(ns):
        ua = u0 + (u1 - u0) * j / ns
        ub = u1 if j == ns - 1 else u0 + (u1 - u0) * (j + 1) / ns
        Cst = h0 * ip + m0 + bj * (ua + ub - r * h0)
        F0 = bj * (2.0 * r * h0 - ua - ub)
        if F0 == 0.0:
            continue
        d = 1.0 if F0 < 0.0 else -1.0
        if d != d0:
            chi0, cm0, chh0 = _ja_slope(m0, h0, d, ik, cc, al)
            d0 = d
        h0, m0, chi0, cm0, chh0 = _core_step(h0, m0, F0, Cst, kj, d, chi0, cm0, chh0, ik, cc, al)
    return h0, m0


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _core_sample(h0, m0, u0, s, hp, ma, L, P, Q, ic, xc, u1, beta, r, ip, ik, cc, al):
    """One sample of the transformer core, any alpha (state as in
    :func:`_transformer_kernel`). Returns the new state (without u0)."""
    if al == 0.0:
        F0, _Fa, d, th, a, chia, chha, cma, kap = _core_prelude(s, hp, ma, L, P, Q, u0, u1, beta, r, ip, ik, cc)
        if F0 != 0.0:
            if abs(F0) <= MAX_STEP_H * (kap + chia):
                return _core_solve(h0, m0, s, hp, L, P, Q, ic, xc, u0, u1, beta, r, ip, ik, cc, F0, d, th, a,
                                   chia, chha, cma, kap)
            ns = min(int(abs(F0) / (MAX_STEP_H * (kap + chia))) + 1, MAX_SUBSTEPS)
            return _core_substeps0(ns, h0, m0, s, hp, ma, L, P, Q, ic, xc, u0, u1, beta, r, ip, ik, cc)
        return h0, m0, s, hp, ma, L, P, Q, ic, xc
    h0, m0 = _core_general(h0, m0, u0, u1, beta, r, ip, ik, cc, al)
    L, P, Q = _langevin_t(h0)
    return h0, m0, 0.0, h0, m0, L, P, Q, ic, xc


@njit(cache=True, nogil=True, error_model="numpy")
def _coupling_kernel(x, b0, b1, a1, gain, z, xg, diff):
    """The transformer's input network at the base rate: the coupling
    capacitor, a first-order high-pass ``(b0 + b1 z^-1) / (1 + a1 z^-1)``
    (transposed direct form II: one state value suffices for a first-order
    section), and the drive gain, fused in one pass.

    x (C, N); gain: length 1 or N; z (C,): the filter state, updated in place
    (denormals flushed at the end). Writes ``xg = gain * HP(x)`` (the core's
    input) and ``diff = HP(x) - x`` (what the high-pass removed).
    """
    C, N = x.shape
    s_g = 1 if gain.shape[0] > 1 else 0
    for ch in range(C):
        zc = z[ch]
        for i in range(N):
            v = x[ch, i]
            y = b0 * v + zc
            zc = b1 * v - a1 * y
            xg[ch, i] = gain[i * s_g] * y
            diff[ch, i] = y - v
        if abs(zc) < 1e-300:
            zc = 0.0
        z[ch] = zc


@njit(cache=True, nogil=True, error_model="numpy")
def _core_pair_const(u, ch, beta, r, ip, ik, cc, al, state, out):
    """Channels ``ch`` and ``ch + 1`` with constant controls, in one loop: the
    two independent recursions overlap in the CPU (about 5 % faster than one
    after the other). Same arithmetic per channel as the single loop."""
    N = u.shape[1]
    a0, a1, a2, a3, a4 = state[ch, 0], state[ch, 1], state[ch, 2], state[ch, 3], state[ch, 4]
    a5, a6, a7, a8 = state[ch, 5], state[ch, 6], state[ch, 7], state[ch, 8]
    b0, b1, b2, b3, b4 = state[ch + 1, 0], state[ch + 1, 1], state[ch + 1, 2], state[ch + 1, 3], state[ch + 1, 4]
    b5, b6, b7, b8 = state[ch + 1, 5], state[ch + 1, 6], state[ch + 1, 7], state[ch + 1, 8]
    aic = 0
    axc = np.inf
    bic = 0
    bxc = np.inf
    for i in range(N):
        ua = u[ch, i]
        ub = u[ch + 1, i]
        a0, a1, a3, a4, a5, a6, a7, a8, aic, axc = _core_sample(a0, a1, a2, a3, a4, a5, a6, a7, a8, aic, axc, ua,
                                                                beta, r, ip, ik, cc, al)
        b0, b1, b3, b4, b5, b6, b7, b8, bic, bxc = _core_sample(b0, b1, b2, b3, b4, b5, b6, b7, b8, bic, bxc, ub,
                                                                beta, r, ip, ik, cc, al)
        a2 = ua
        b2 = ub
        out[ch, i] = -r * a0
        out[ch + 1, i] = -r * b0
    state[ch, 0], state[ch, 1], state[ch, 2], state[ch, 3], state[ch, 4] = a0, a1, a2, a3, a4
    state[ch, 5], state[ch, 6], state[ch, 7], state[ch, 8] = a5, a6, a7, a8
    state[ch + 1, 0], state[ch + 1, 1], state[ch + 1, 2], state[ch + 1, 3], state[ch + 1, 4] = b0, b1, b2, b3, b4
    state[ch + 1, 5], state[ch + 1, 6], state[ch + 1, 7], state[ch + 1, 8] = b5, b6, b7, b8


@njit(cache=True, nogil=True, error_model="numpy")
def _transformer_kernel(u, beta, r_src, inv_rho, inv_k, c, alpha, state, out, trace, h_out, m_out):
    """Voltage-driven J-A transformer core (module docstring).

    out = -r h (the output minus the input, i.e. the residual), per sample.
    beta = w_s dt / 2 (scalar); controls r_src, inv_rho, inv_k, c, alpha:
    length 1 or N. With ``trace`` the field and magnetisation go to
    h_out, m_out. state (C, 9), updated in place: h0, m0 (end of the last
    step), u0 (last input), s (last Newton update), hp = h0 + s (last Newton
    point), ma (m on the circuit line at hp), and L, L', L'' at hp. A step
    whose linear estimate of the field change exceeds ``MAX_STEP_H`` is split
    into equal sub-steps (:func:`_core_substeps0`). With constant controls
    the channels go in pairs (:func:`_core_pair_const`), otherwise one after
    the other; either way each channel's arithmetic is the same, so the
    output does not depend on how channels are grouped (or threaded).
    """
    C, N = u.shape
    const = r_src.shape[0] == 1 and inv_rho.shape[0] == 1 and inv_k.shape[0] == 1 and c.shape[0] == 1 \
        and alpha.shape[0] == 1
    first = 0
    if const and not trace:
        while first + 1 < C:
            _core_pair_const(u, first, beta, r_src[0], inv_rho[0], inv_k[0], c[0], alpha[0], state, out)
            first += 2
    s_r = 1 if r_src.shape[0] > 1 else 0
    s_p = 1 if inv_rho.shape[0] > 1 else 0
    s_k = 1 if inv_k.shape[0] > 1 else 0
    s_c = 1 if c.shape[0] > 1 else 0
    s_a = 1 if alpha.shape[0] > 1 else 0
    for ch in range(first, C):
        h0 = state[ch, 0]
        m0 = state[ch, 1]
        u0 = state[ch, 2]
        s = state[ch, 3]
        hp = state[ch, 4]
        ma = state[ch, 5]
        L = state[ch, 6]
        P = state[ch, 7]
        Q = state[ch, 8]
        ic = 0
        xc = np.inf
        if const and not trace:  # the controls hoisted out of the loop
            r = r_src[0]
            ip = inv_rho[0]
            ik = inv_k[0]
            cc = c[0]
            al = alpha[0]
            for i in range(N):
                u1 = u[ch, i]
                h0, m0, s, hp, ma, L, P, Q, ic, xc = _core_sample(h0, m0, u0, s, hp, ma, L, P, Q, ic, xc, u1, beta,
                                                                  r, ip, ik, cc, al)
                u0 = u1
                out[ch, i] = -r * h0
        else:
            for i in range(N):
                r = r_src[i * s_r]
                u1 = u[ch, i]
                h0, m0, s, hp, ma, L, P, Q, ic, xc = _core_sample(h0, m0, u0, s, hp, ma, L, P, Q, ic, xc, u1, beta,
                                                                  r, inv_rho[i * s_p], inv_k[i * s_k], c[i * s_c],
                                                                  alpha[i * s_a])
                u0 = u1
                out[ch, i] = -r * h0
                if trace:
                    h_out[ch, i] = h0
                    m_out[ch, i] = m0
        state[ch, 0] = h0
        state[ch, 1] = m0
        state[ch, 2] = u0
        state[ch, 3] = s
        state[ch, 4] = hp
        state[ch, 5] = ma
        state[ch, 6] = L
        state[ch, 7] = P
        state[ch, 8] = Q


# ----------------------------------------------------------------- public API
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


def _langevin_at_zero() -> tuple[float, float, float]:
    """L, L', L'' at 0 exactly as the kernels evaluate the table there."""
    tab = _TABLE
    return float(tab[_CELL0, 0]), float(tab[_CELL0, 1]), float(tab[_CELL0, 4])


def ja_state(channels: int) -> np.ndarray:
    """Demagnetised state for :func:`ja_magnetisation`: shape ``(channels, 4)``
    (h, m, and L(h), L'(h) of the Langevin table at h: 0 and 1/3)."""
    st = np.zeros((int(channels), 4))
    st[:, 2], st[:, 3], _ = _langevin_at_zero()
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
    state : ndarray, shape (C, 4)
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
    return _run_field(_check_signal(h, "h"), h_scale, 1.0, k, c, alpha, state, False)


def ja_residual(v: np.ndarray, h_scale, out_scale, k, c, alpha, state: np.ndarray):
    """Residual ``out_scale * m(h_scale * v) - v`` of a field-driven core (the
    stages' form: zero where the core is linear with gain 1). Arguments as
    :func:`ja_magnetisation`; returns ``(residual, state)``."""
    return _run_field(_check_signal(v, "v"), h_scale, out_scale, k, c, alpha, state, True)


def _run_field(v, h_scale, out_scale, k, c, alpha, state, residual: bool):
    """Checks, a fresh state and :func:`_field_kernel` for :func:`ja_magnetisation` and :func:`ja_residual`."""
    n = v.shape[1]
    inv_k, c, alpha = _check_ja(k, c, alpha, n)
    st = np.array(state, dtype=np.float64, copy=True)
    if st.shape != (v.shape[0], 4):
        raise ValueError(f"state shape {st.shape} does not match (channels, 4) = {(v.shape[0], 4)}")
    out = np.empty_like(v)
    if n:
        _field_kernel(v, _ctrl(h_scale, n, "h_scale"), _ctrl(out_scale, n, "out_scale"), inv_k, c, alpha,
                      st, out, residual)
    return out, st


def transformer_state(channels: int) -> np.ndarray:
    """Demagnetised, de-energised state for :func:`transformer_core`: shape
    ``(channels, 9)`` (see :func:`_transformer_kernel` for the columns)."""
    st = np.zeros((int(channels), 9))
    st[:, 6], st[:, 7], st[:, 8] = _langevin_at_zero()
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
    state : ndarray, shape (C, 9)
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
    if st.shape != (u.shape[0], 9):
        raise ValueError(f"state shape {st.shape} does not match (channels, 9) = {(u.shape[0], 9)}")
    out = np.empty_like(u)
    shape = u.shape if trace else (1, 1)
    h_out = np.empty(shape)
    m_out = np.empty(shape)
    if n:
        _transformer_kernel(u, 0.5 * float(flux_rate) / float(sample_rate), r, np.ascontiguousarray(1.0 / rho),
                            inv_k, c, alpha, st, out, bool(trace), h_out, m_out)
    if trace:
        return out, h_out, m_out, st
    return out, st

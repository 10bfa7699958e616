"""Dynamics kernels: level detection, the static gain curve, attack/release.

The signal flow is Giannoulis, Massberg & Reiss 2012 ("Digital Dynamic
Range Compressor Design - A Tutorial and Analysis", JAES 60(6)), fig. 7(b):
level detection on the detector signal -> dB -> static gain computer ->
attack/release smoothing of the gain *in dB* -> makeup -> linear gain.

Level detection (``detection``)
    ``"peak"``: the instantaneous magnitude ``|x[n]|``, in dB re full scale.
    ``"rms"``: ``10 log10(ms[n])`` with the one-pole mean square
    ``ms[n] = ms[n-1] + (1 - a) (x[n]^2 - ms[n-1])``,
    ``a = exp(-1 / (rms_window_ms 1e-3 fs))``. The averager's equivalent
    noise bandwidth equals that of a rectangular window ``2 rms_window_ms``
    long; a steady sine reads its RMS level (peak - 3.01 dB).

Stereo link (``stereo_link``, 0-1)
    Channel ``c``'s level in dB becomes ``L_c + link (max_c L_c - L_c)``:
    0 = every channel on its own, 1 = every channel sees the loudest one
    (identical gains, the stereo image stays put).

Static curve (Giannoulis et al. 2012, eq. 4), ``x`` the level, ``T``
threshold_db, ``W`` knee_db, ``R`` ratio, gain ``g = y - x``::

    2 (x - T) < -W        : g = 0
    2 |x - T| <= W        : g = (1/R - 1) (x - T + W/2)^2 / (2 W)
    2 (x - T) >  W        : g = (1/R - 1) (x - T)

An optional floor limits the reduction: ``g = max(g, -floor_db)`` (the
dynamic EQ's ``range_db``).

Attack / release (log domain, "smooth branching" peak detector, Giannoulis
et al. eq. 16, placed after the gain computer)::

    g_s[n] = a_A g_s[n-1] + (1 - a_A) g_c[n]   if g_c[n] < g_s[n-1]   (more reduction)
    g_s[n] = a_R g_s[n-1] + (1 - a_R) g_c[n]   otherwise
    a = exp(-1 / (time_ms 1e-3 fs))

So ``attack_ms`` (``release_ms``) is the time the applied gain in dB takes to
cover 1 - 1/e = 63.2 % of a step of the gain computer's output towards more
(less) reduction. After every ``FLUSH_INTERVAL``-th absolute sample position
a smoothed gain within ``SNAP_DB`` of 0 dB is set to exactly 0 dB (ends the
tail of a release before it turns denormal; ``< 1.2e-10`` relative in
amplitude).

The floor (``floor_db``) clamps the gain computer's output and the smoothed
gain that is applied; the smoother's state itself is not clamped.

Parameters of the kernels are arrays of shape ``(K, m)`` (or ``(m,)``) with
``m == 1`` (constant) or ``m == N`` (per sample), so automation curves go in
sample-accurately.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Level detection modes.
DETECTIONS = ("peak", "rms")
#: ln(10) / 20: ``10**(g/20) == exp(LN10_OVER_20 * g)``.
LN10_OVER_20 = math.log(10.0) / 20.0
#: Magnitude floor for the detector (-400 dB re full scale): silence stays finite.
LEVEL_FLOOR = 1e-20
#: A smoothed gain closer than this to 0 dB is snapped to 0 dB ...
SNAP_DB = 1e-9
#: ... after absolute sample positions ``p`` with ``p % FLUSH_INTERVAL == FLUSH_INTERVAL - 1``
#: (chunk-invariant; a power of two).
FLUSH_INTERVAL = 16
FLUSH_MASK = FLUSH_INTERVAL - 1
#: Knee widths below this (dB) are treated as a hard knee.
HARD_KNEE_DB = 1e-9


# ----------------------------------------------------------------- designs
def smoothing_coefficient(time_ms, sample_rate: float) -> np.ndarray:
    """One-pole coefficient ``a = exp(-1 / (time_ms 1e-3 sample_rate))``.

    ``time_ms`` (> 0) is the time to cover 63.2 % of a step.
    """
    t = np.asarray(time_ms, dtype=np.float64)
    return np.exp(-1000.0 / (t * float(sample_rate)))


def static_gain_db(level_db, threshold_db, ratio, knee_db, floor_db=np.inf) -> np.ndarray:
    """Static gain curve in dB (Giannoulis et al. 2012, eq. 4), vectorised.

    Parameters
    ----------
    level_db : float or array
        Detector level in dB re full scale.
    threshold_db : float or array
        Threshold in dB.
    ratio : float or array
        Compression ratio >= 1 (1 = no compression).
    knee_db : float or array
        Soft-knee width in dB >= 0 (0 = hard knee).
    floor_db : float or array
        Largest reduction in dB (default: unlimited).

    Returns
    -------
    ndarray
        Gain in dB (<= 0).
    """
    x, t, r, w, f = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in
                                          (level_db, threshold_db, ratio, knee_db, floor_db)))
    slope = 1.0 - 1.0 / r
    over = x - t
    g = np.where(2 * over > w, -slope * over, 0.0)
    soft = (2 * np.abs(over) <= w) & (w > HARD_KNEE_DB)
    g = np.where(soft, -slope * (over + w / 2) ** 2 / (2 * np.where(w > 0, w, 1.0)), g)
    return np.maximum(g, -f)


# -------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _static_gain(x_db, thr, knee, slope):
    """Giannoulis et al. 2012, eq. 4 for one level (gain in dB, <= 0).

    Written without branches on the level (``u`` is the position inside the
    knee, clipped to [0, W]): ``-slope (u^2 / 2W + max(x - T - W/2, 0))``.
    """
    over = x_db - thr
    if knee > HARD_KNEE_DB:
        half = 0.5 * knee
        u = min(max(over + half, 0.0), knee)
        return -slope * (u * u / (2.0 * knee) + max(over - half, 0.0))
    return -slope * max(over, 0.0)


@njit(cache=True, nogil=True)
def _smooth_step(gc, prev, aa, ar):
    """One step of the branching smoother in dB (Giannoulis et al. 2012, eq. 16).

    Both candidates are formed and one is selected, which keeps the
    loop-carried chain short (multiply, add, select).
    """
    va = (1.0 - aa) * gc + aa * prev
    vr = (1.0 - ar) * gc + ar * prev
    return va if gc < prev else vr


def knee_inverse(knee_db) -> np.ndarray:
    """``1 / (2 W)`` for the kernels (0 for a hard knee), so no sample divides."""
    w = np.asarray(knee_db, dtype=np.float64)
    return np.where(w > HARD_KNEE_DB, 0.5 / np.where(w > HARD_KNEE_DB, w, 1.0), 0.0)


@njit(cache=True, nogil=True)
def _static_gain_fast(x_db, thr, knee, inv2k, slope):
    """:func:`_static_gain` with ``inv2k = 1 / (2 W)`` given (0 for a hard
    knee, where ``u`` is 0 and only the linear part remains)."""
    over = x_db - thr
    half = 0.5 * knee
    u = min(max(over + half, 0.0), knee)
    return -slope * (u * u * inv2k + max(over - half, 0.0))


@njit(cache=True, nogil=True)
def _lane(level_db, thr, knee, inv2k, slope, fl, aa, ar, g):
    """One detector lane for one sample: static curve (floored at ``-fl``),
    smoothing; returns ``(new state, applied gain)`` (the floor clamps the
    applied gain, not the state)."""
    gc = _static_gain_fast(level_db, thr, knee, inv2k, slope)
    g = _smooth_step(max(gc, -fl), g, aa, ar)
    return g, max(g, -fl)


@njit(cache=True, nogil=True)
def _band_constants(k, thr, knee, knee_inv, slope, floor, alpha_a, alpha_r, makeup):
    """Band ``k``'s constant parameters as the fast paths keep them in registers:
    ``(thr, knee, knee / 2, knee_inv, slope, -floor, alpha_a, 1 - alpha_a, alpha_r, 1 - alpha_r, makeup)``."""
    aa = alpha_a[k, 0]
    ar = alpha_r[k, 0]
    return (thr[k, 0], knee[k, 0], 0.5 * knee[k, 0], knee_inv[k, 0], slope[k, 0], -floor[k, 0],
            aa, 1.0 - aa, ar, 1.0 - ar, makeup[k, 0])


@njit(cache=True, nogil=True)
def _lane_fast(over, half, w0, wi0, s0, nf, aa, ca, ar, cr, g):
    """:func:`_lane` on precomputed constants (``over`` = level - threshold):
    Giannoulis et al. 2012 eq. 4 in branch-free form, floored at ``nf``, and
    the branching smoother (eq. 16) as a select between both candidates.
    Returns ``(new state, applied gain)``."""
    u = min(max(over + half, 0.0), w0)
    gc = max(-s0 * (u * u * wi0 + max(over - half, 0.0)), nf)
    va = ca * gc + aa * g
    vr = cr * gc + ar * g
    g = va if gc < g else vr
    return g, max(g, nf)


@njit(cache=True, nogil=True)
def _mean_square_kernel(det, coeff, ms, out):
    """One-pole mean square per row. det, out (R, N); coeff (m,); ms (R,) in place."""
    R, N = det.shape
    step = 1 if coeff.shape[0] > 1 else 0
    for r in range(R):
        m = ms[r]
        for i in range(N):
            v = det[r, i]
            m = v * v + coeff[i * step] * (m - v * v)
            out[r, i] = m
        if m < 1e-300:
            m = 0.0
        ms[r] = m


#: ``_gain_kernel`` flags: write the smoothed gain, write ``t``, collect per-hop minima.
WRITE_GAIN = 1
WRITE_T = 2
COLLECT_HOPS = 4
#: with WRITE_GAIN: write the reduction ``0 - gain`` (>= 0) instead of the gain
NEGATE_GAIN = 8


@njit(cache=True, nogil=True)
def _gain_kernel(level_log10, scale, link, thr, knee, knee_inv, slope, floor, alpha_a, alpha_r, makeup, gs, gs_out,
                 t_out, position, hop_acc, hop_out, flags):
    """Gain computer + log-domain branching smoothing (K bands).

    level_log10 (K, R, N): log10 of the detector level (amplitude: scale 20;
    mean square: scale 10). R is 1 (levels already linked by their max) or
    the channel count. link (m,), thr/knee/knee_inv/slope/floor/alpha_a/
    alpha_r/makeup (K, m) (``knee_inv`` from :func:`knee_inverse`). gs (K, C)
    smoothed gain state in dB, updated in place (a linked
    stretch continues from the deepest channel state and leaves every
    channel's state equal). position: absolute index of the first sample.

    ``flags`` (bit set): WRITE_GAIN -> gs_out (K, R, N) = applied gain in dB
    (with NEGATE_GAIN: the reduction ``0 - gain``; gs_out may be float32);
    WRITE_T -> t_out (K, R, N) = ln(10)/20 (gain + makeup); COLLECT_HOPS ->
    the minimum of the applied gain over rows and over each hop of
    FLUSH_INTERVAL samples (absolute positions) is tracked in hop_acc (K,)
    and written to hop_out[:, j] when the hop completes. Returns the number
    of completed hops.

    The floor clamps the output, not the state, so a shrinking floor acts
    at once.
    """
    K, R, N = level_log10.shape
    C = gs.shape[1]
    # index masks: i & -1 = i (per-sample parameter), i & 0 = 0 (constant); cheaper than i * stride
    sl = -1 if link.shape[0] > 1 else 0
    st = -1 if thr.shape[1] > 1 else 0
    sk = -1 if knee.shape[1] > 1 else 0
    si = -1 if knee_inv.shape[1] > 1 else 0
    ss = -1 if slope.shape[1] > 1 else 0
    sf = -1 if floor.shape[1] > 1 else 0
    sa = -1 if alpha_a.shape[1] > 1 else 0
    sr = -1 if alpha_r.shape[1] > 1 else 0
    sm = -1 if makeup.shape[1] > 1 else 0
    write_g = (flags & WRITE_GAIN) != 0
    neg = -1.0 if (flags & NEGATE_GAIN) != 0 else 1.0
    write_t = (flags & WRITE_T) != 0
    hops = (flags & COLLECT_HOPS) != 0
    count = 0
    if R == 1 and (st | sk | si | ss | sf | sa | sr | sm) == 0:
        # linked (or mono), every parameter constant: parameters in registers
        for k in range(K):
            t0, w0, half, wi0, s0, nf, aa, ca, ar, cr, mk = _band_constants(k, thr, knee, knee_inv, slope, floor,
                                                                            alpha_a, alpha_r, makeup)
            g = gs[k, 0]
            for c in range(1, C):
                g = min(g, gs[k, c])
            acc = hop_acc[k] if hops else 0.0
            count = 0
            for i in range(N):
                g, v = _lane_fast(scale * level_log10[k, 0, i] - t0, half, w0, wi0, s0, nf, aa, ca, ar, cr, g)
                if write_g:
                    gs_out[k, 0, i] = 0.0 + neg * v
                if write_t:
                    t_out[k, 0, i] = LN10_OVER_20 * (v + mk)
                acc = min(acc, v)
                if ((position + i) & FLUSH_MASK) == FLUSH_MASK:
                    g = 0.0 if g > -SNAP_DB else g
                    if hops:
                        hop_out[k, count] = acc
                    acc = 0.0
                    count += 1
            if hops:
                hop_acc[k] = acc
            for c in range(C):
                gs[k, c] = g
        return count
    if R == 1:
        # linked (or mono): one recursion per band; two bands per pass so that
        # their (latency-bound) recursions overlap, states in registers
        for k0 in range(0, K, 2):
            k1 = min(k0 + 1, K - 1)
            pair = k1 != k0
            ga = gs[k0, 0]
            gb = gs[k1, 0]
            for c in range(1, C):
                ga = min(ga, gs[k0, c])
                gb = min(gb, gs[k1, c])
            acc_a = hop_acc[k0] if hops else 0.0
            acc_b = hop_acc[k1] if hops else 0.0
            count = 0
            for i in range(N):
                end = ((position + i) & FLUSH_MASK) == FLUSH_MASK
                fa = floor[k0, i & sf]
                ga, va = _lane(scale * level_log10[k0, 0, i], thr[k0, i & st], knee[k0, i & sk],
                               knee_inv[k0, i & si], slope[k0, i & ss], fa, alpha_a[k0, i & sa], alpha_r[k0, i & sr],
                               ga)
                if write_g:
                    gs_out[k0, 0, i] = 0.0 + neg * va
                if write_t:
                    t_out[k0, 0, i] = LN10_OVER_20 * (va + makeup[k0, i & sm])
                acc_a = min(acc_a, va)
                if pair:
                    fb = floor[k1, i & sf]
                    gb, vb = _lane(scale * level_log10[k1, 0, i], thr[k1, i & st], knee[k1, i & sk],
                                   knee_inv[k1, i & si], slope[k1, i & ss], fb, alpha_a[k1, i & sa],
                                   alpha_r[k1, i & sr], gb)
                    if write_g:
                        gs_out[k1, 0, i] = 0.0 + neg * vb
                    if write_t:
                        t_out[k1, 0, i] = LN10_OVER_20 * (vb + makeup[k1, i & sm])
                    acc_b = min(acc_b, vb)
                if end:
                    ga = 0.0 if ga > -SNAP_DB else ga
                    gb = 0.0 if gb > -SNAP_DB else gb
                    if hops:
                        hop_out[k0, count] = acc_a
                        hop_out[k1, count] = acc_b
                    acc_a = 0.0
                    acc_b = 0.0
                    count += 1
            if hops:
                hop_acc[k0] = acc_a
                hop_acc[k1] = acc_b
            for c in range(C):
                gs[k0, c] = ga
                if pair:
                    gs[k1, c] = gb
        return count
    if R == 2 and (sl | st | sk | si | ss | sf | sa | sr | sm) == 0:
        # stereo, not fully linked, every parameter constant: parameters in registers
        lk = link[0]
        for k in range(K):
            t0, w0, half, wi0, s0, nf, aa, ca, ar, cr, mk = _band_constants(k, thr, knee, knee_inv, slope, floor,
                                                                            alpha_a, alpha_r, makeup)
            g0 = gs[k, 0]
            g1 = gs[k, 1]
            acc = hop_acc[k] if hops else 0.0
            count = 0
            for i in range(N):
                l0 = level_log10[k, 0, i]
                l1 = level_log10[k, 1, i]
                mx = max(l0, l1)
                # stereo link in dB, then the static curve and smoother per channel
                g0, v0 = _lane_fast(scale * (l0 + lk * (mx - l0)) - t0, half, w0, wi0, s0, nf, aa, ca, ar, cr, g0)
                g1, v1 = _lane_fast(scale * (l1 + lk * (mx - l1)) - t0, half, w0, wi0, s0, nf, aa, ca, ar, cr, g1)
                if write_g:
                    gs_out[k, 0, i] = 0.0 + neg * v0
                    gs_out[k, 1, i] = 0.0 + neg * v1
                if write_t:
                    t_out[k, 0, i] = LN10_OVER_20 * (v0 + mk)
                    t_out[k, 1, i] = LN10_OVER_20 * (v1 + mk)
                acc = min(acc, min(v0, v1))
                if ((position + i) & FLUSH_MASK) == FLUSH_MASK:
                    g0 = 0.0 if g0 > -SNAP_DB else g0
                    g1 = 0.0 if g1 > -SNAP_DB else g1
                    if hops:
                        hop_out[k, count] = acc
                    acc = 0.0
                    count += 1
            if hops:
                hop_acc[k] = acc
            gs[k, 0] = g0
            gs[k, 1] = g1
        return count
    if R == 2:
        # stereo, not fully linked: two recursions per band, states in registers
        for k in range(K):
            g0 = gs[k, 0]
            g1 = gs[k, 1]
            acc = hop_acc[k] if hops else 0.0
            count = 0
            for i in range(N):
                end = ((position + i) & FLUSH_MASK) == FLUSH_MASK
                lk = link[i & sl]
                l0 = level_log10[k, 0, i]
                l1 = level_log10[k, 1, i]
                mx = max(l0, l1)
                t = thr[k, i & st]
                w = knee[k, i & sk]
                wi = knee_inv[k, i & si]
                s = slope[k, i & ss]
                fl = floor[k, i & sf]
                aa = alpha_a[k, i & sa]
                ar = alpha_r[k, i & sr]
                # stereo link in dB: L_c + link (max L - L_c)
                g0, v0 = _lane(scale * (l0 + lk * (mx - l0)), t, w, wi, s, fl, aa, ar, g0)
                g1, v1 = _lane(scale * (l1 + lk * (mx - l1)), t, w, wi, s, fl, aa, ar, g1)
                if write_g:
                    gs_out[k, 0, i] = 0.0 + neg * v0
                    gs_out[k, 1, i] = 0.0 + neg * v1
                if write_t:
                    mk = makeup[k, i & sm]
                    t_out[k, 0, i] = LN10_OVER_20 * (v0 + mk)
                    t_out[k, 1, i] = LN10_OVER_20 * (v1 + mk)
                acc = min(acc, min(v0, v1))
                if end:
                    g0 = 0.0 if g0 > -SNAP_DB else g0
                    g1 = 0.0 if g1 > -SNAP_DB else g1
                    if hops:
                        hop_out[k, count] = acc
                    acc = 0.0
                    count += 1
            if hops:
                hop_acc[k] = acc
            gs[k, 0] = g0
            gs[k, 1] = g1
        return count
    g = np.empty(R)
    for k in range(K):
        for r in range(R):
            g[r] = gs[k, r]
        acc = hop_acc[k] if hops else 0.0
        count = 0
        for i in range(N):
            end = ((position + i) & FLUSH_MASK) == FLUSH_MASK
            lk = link[i & sl]
            mx = level_log10[k, 0, i]
            for r in range(1, R):
                mx = max(mx, level_log10[k, r, i])
            t = thr[k, i & st]
            w = knee[k, i & sk]
            wi = knee_inv[k, i & si]
            s = slope[k, i & ss]
            fl = floor[k, i & sf]
            aa = alpha_a[k, i & sa]
            ar = alpha_r[k, i & sr]
            for r in range(R):
                lv = level_log10[k, r, i]
                gr, v = _lane(scale * (lv + lk * (mx - lv)), t, w, wi, s, fl, aa, ar, g[r])
                if write_g:
                    gs_out[k, r, i] = 0.0 + neg * v
                if write_t:
                    t_out[k, r, i] = LN10_OVER_20 * (v + makeup[k, i & sm])
                acc = min(acc, v)
                if end and gr > -SNAP_DB:
                    gr = 0.0
                g[r] = gr
            if end:
                if hops:
                    hop_out[k, count] = acc
                acc = 0.0
                count += 1
        if hops:
            hop_acc[k] = acc
        for c in range(C):
            gs[k, c] = g[c]
    return count


# ------------------------------------------------------------ public layer
def as_rows(value, rows: int, n: int) -> np.ndarray:
    """A parameter as a ``(rows, m)`` float64 array, ``m`` in ``{1, n}``.

    ``value`` is a float, a per-sample array of length ``n`` (same for every
    row), or a sequence of ``rows`` such items.
    """
    if np.isscalar(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return np.full((rows, 1), float(value))
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.shape[0] == n and rows != n:
        return np.ascontiguousarray(np.broadcast_to(value, (rows, n)), dtype=np.float64)
    items = list(value)
    if len(items) != rows:
        raise ValueError(f"expected {rows} per-band values; got {len(items)}")
    if all(np.isscalar(v) or np.ndim(v) == 0 for v in items):
        return np.asarray(items, dtype=np.float64).reshape(rows, 1)
    out = np.empty((rows, n))
    for r, v in enumerate(items):
        arr = np.asarray(v, dtype=np.float64)
        if arr.ndim == 0:
            out[r] = float(arr)
        elif arr.shape != (n,):
            raise ValueError(f"a per-sample parameter must have {n} values; got shape {arr.shape}")
        else:
            out[r] = arr
    return out


@njit(cache=True, nogil=True)
def _peak_level_kernel(det, floor, out):
    """out (K, R, N) = max(floor, |det|), reduced to the loudest channel when R == 1. det (K, C, N)."""
    K, C, N = det.shape
    R = out.shape[1]
    for k in range(K):
        if R == 1:
            for i in range(N):
                out[k, 0, i] = max(abs(det[k, 0, i]), floor)
            for c in range(1, C):
                for i in range(N):
                    out[k, 0, i] = max(out[k, 0, i], abs(det[k, c, i]))
        else:
            for c in range(C):
                for i in range(N):
                    out[k, c, i] = max(abs(det[k, c, i]), floor)


def detector_levels(det: np.ndarray, detection: str, rms_coeff, ms_state: np.ndarray, linked: bool, out=None):
    """log10 detector levels for :func:`_gain_kernel`.

    Parameters
    ----------
    det : ndarray (K, C, N)
        Detector signals (per band and channel).
    detection : {"peak", "rms"}
    rms_coeff : ndarray (m,)
        One-pole mean-square coefficient (ignored for peak).
    ms_state : ndarray (K, C)
        Mean-square state (not mutated).
    linked : bool
        Reduce to the loudest channel (stereo_link == 1 throughout).
    out : ndarray (K, R, N), optional
        Where to write the levels (peak detection).

    Returns
    -------
    (level_log10 (K, R, N), scale, new ms_state) with R = 1 when linked.
    """
    K, C, N = det.shape
    ms_state = np.array(ms_state, dtype=np.float64, copy=True)
    if detection == "peak":
        r = 1 if linked else C
        a = out if out is not None and out.shape == (K, r, N) else np.empty((K, r, N))
        _peak_level_kernel(det, LEVEL_FLOOR, a)
        np.log10(a, out=a)
        return a, 20.0, ms_state
    elif detection == "rms":
        a = np.empty((K * C, N))
        st = ms_state.reshape(K * C)
        _mean_square_kernel(np.ascontiguousarray(det.reshape(K * C, N)),
                            np.ascontiguousarray(rms_coeff, dtype=np.float64), st, a)
        ms_state = st.reshape(K, C)
        a = a.reshape(K, C, N)
        if linked and C > 1:
            a = a.max(axis=1, keepdims=True)
        scale = 10.0
        floor = LEVEL_FLOOR * LEVEL_FLOOR
    else:
        raise ValueError(f"detection must be one of {DETECTIONS}; got {detection!r}")
    np.maximum(a, floor, out=a)
    np.log10(a, out=a)
    return a, scale, ms_state


def gain_state(num_bands: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero state for :func:`dynamics_gain_db`: ``(ms (K, C), gs (K, C))``."""
    return np.zeros((num_bands, channels)), np.zeros((num_bands, channels))


def dynamics_gain_db(det: np.ndarray, sample_rate: float, threshold_db, ratio, knee_db, attack_ms, release_ms,
                     detection: str = "peak", rms_window_ms=10.0, stereo_link=1.0, floor_db=np.inf, state=None,
                     position: int = 0):
    """Smoothed gain in dB of a compressor (one or several bands).

    Parameters
    ----------
    det : ndarray (K, C, N) or (C, N)
        Detector signal per band (and channel), float64.
    sample_rate : float
        In Hz.
    threshold_db, ratio, knee_db, attack_ms, release_ms : float, (N,) array, or K of them
        Settings (per band), constant or per sample. ``ratio`` >= 1,
        ``knee_db`` >= 0, times > 0 ms.
    detection : {"peak", "rms"}
    rms_window_ms : float or (N,) array
        Time constant of the mean-square averager (``"rms"`` only).
    stereo_link : float or (N,) array
        0-1 (see the module docstring).
    floor_db : float, (N,) array or K of them
        Largest reduction in dB (``inf``: unlimited).
    state : tuple, optional
        From :func:`gain_state` or a previous call; not mutated.
    position : int
        Samples since the stream started (the flush to 0 dB happens at
        multiples of ``FLUSH_INTERVAL``; pass it when streaming).

    Returns
    -------
    (gain_db, state)
        gain_db (K, R, N) <= 0, R = 1 when ``stereo_link`` is the constant 1.0
        (all channels share it), else R = C.
    """
    det = np.asarray(det, dtype=np.float64)
    if det.ndim == 2:
        det = det[np.newaxis]
    if det.ndim != 3:
        raise ValueError(f"det must be (K, C, N) or (C, N); got shape {det.shape}")
    K, C, N = det.shape
    if detection not in DETECTIONS:
        raise ValueError(f"detection must be one of {DETECTIONS}; got {detection!r}")
    ms, gs = gain_state(K, C) if state is None else state
    if np.shape(ms) != (K, C) or np.shape(gs) != (K, C):
        raise ValueError(f"state shapes must be ({K}, {C})")
    gs = np.array(gs, dtype=np.float64, copy=True)
    link = np.atleast_1d(np.asarray(stereo_link, dtype=np.float64))
    linked = C == 1 or (link.size == 1 and link[0] >= 1.0)
    rms_c = np.atleast_1d(smoothing_coefficient(rms_window_ms, sample_rate))
    lev, scale, ms = detector_levels(det, detection, rms_c, ms, linked)
    ratio_rows = as_rows(ratio, K, N)
    out = np.empty(lev.shape)
    knee_rows = as_rows(knee_db, K, N)
    _gain_kernel(lev, scale, link, as_rows(threshold_db, K, N), knee_rows, knee_inverse(knee_rows),
                 1.0 - 1.0 / ratio_rows,
                 as_rows(floor_db, K, N), smoothing_coefficient(as_rows(attack_ms, K, N), sample_rate),
                 smoothing_coefficient(as_rows(release_ms, K, N), sample_rate), np.zeros((K, 1)), gs, out, out,
                 int(position), np.zeros(K), np.zeros((K, 1)), WRITE_GAIN)
    return out, (ms, gs)

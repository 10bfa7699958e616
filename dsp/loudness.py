"""BS.1770-4 loudness: K-weighted energy per tick, windows, gating, EBU Tech 3342 LRA.

The streaming core is one numba pass, :func:`kweighted_ticks`, that runs the
K-weighting cascade (:mod:`neuromaster.dsp.kweighting`) and sums the squared
output over consecutive *ticks* of ``tick_length`` samples at absolute
positions (BS.1770-4 eq. 1 without the ``1/T``). Everything else is
arithmetic on those tick sums, exact under any chunking:

* a 100 ms gating sub-block is ``ticks_per_block`` ticks
  (:func:`tick_layout`: the tick is the largest divisor of the 100 ms block
  that is <= 10 ms, i.e. exactly 10 ms at 44.1/48/88.2/96/192 kHz and
  6.67 ms at 22.05 kHz);
* momentary loudness is the 400 ms (4 sub-block) window and short-term
  the 3 s (30 sub-block) window, both evaluated at every tick;
* integrated loudness gates the 400 ms blocks that start every 100 ms
  (75 % overlap), whole blocks only (BS.1770-4 eqs. 3-7);
* loudness range uses the 3 s windows every 100 ms (EBU Tech 3342).

The same kernel pass also gathers the raw statistics the analysis needs
(per-channel sum, sum of squares, sample peak, and the channel 0 x 1 cross
products, K-weighted per tick and raw in total).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kweighting import LOUDNESS_OFFSET_DB

#: BS.1770-4 absolute gate (LKFS) for integrated loudness; also EBU Tech 3342's.
ABSOLUTE_GATE_LUFS = -70.0
#: BS.1770-4 relative gate (LU below the absolute-gated loudness).
RELATIVE_GATE_LU = -10.0
#: EBU Tech 3342 relative gate for loudness range.
LRA_RELATIVE_GATE_LU = -20.0
#: EBU Tech 3342 percentiles.
LRA_LOW_PERCENTILE = 10.0
LRA_HIGH_PERCENTILE = 95.0
#: Window lengths in 100 ms sub-blocks.
MOMENTARY_BLOCKS = 4
SHORT_TERM_BLOCKS = 30

#: Layout of the ``stats`` accumulator of :func:`kweighted_ticks` (per channel row).
STAT_SUM, STAT_SUMSQ, STAT_PEAK = 0, 1, 2


def tick_layout(sample_rate: float) -> tuple[int, int]:
    """``(tick_length, ticks_per_block)`` in samples for ``sample_rate`` (Hz).

    The 100 ms gating sub-block is ``round(0.1 * sample_rate)`` samples
    (exact for every rate that is a multiple of 10 Hz); the tick is its
    largest divisor not longer than 10 ms.
    """
    block = int(round(0.1 * float(sample_rate)))
    if block < 10:
        raise ValueError(f"sample_rate {sample_rate!r} Hz is too low for 100 ms blocks")
    limit = 0.01 * float(sample_rate)
    best = 1
    for d in range(1, int(math.isqrt(block)) + 1):
        if block % d == 0:
            for cand in (d, block // d):
                if cand <= limit + 1e-9 and cand > best:
                    best = cand
    return best, block // best


@njit(cache=True, nogil=True)
def _kweight_run(x, c, i0, n, sos, z, stats):
    """K-weight x[c, i0:i0+n] (state z[c] in local variables); returns the sum of squares.

    BS.1770-4 stage 1 (shelf) then stage 2 (RLB high-pass), transposed direct
    form II; also updates the raw statistics of the channel (stream order)."""
    s0b0 = sos[0, 0]; s0b1 = sos[0, 1]; s0b2 = sos[0, 2]; s0a1 = sos[0, 4]; s0a2 = sos[0, 5]
    s1b0 = sos[1, 0]; s1b1 = sos[1, 1]; s1b2 = sos[1, 2]; s1a1 = sos[1, 4]; s1a2 = sos[1, 5]
    z00 = z[c, 0, 0]; z01 = z[c, 0, 1]; z10 = z[c, 1, 0]; z11 = z[c, 1, 1]
    sm = stats[c, 0]; sq = stats[c, 1]; pk = stats[c, 2]
    e = 0.0
    xs = x[c, i0:i0 + n]
    for i in range(n):
        v = xs[i]
        sm += v
        sq += v * v
        pk = max(pk, abs(v))
        o = s0b0 * v + z00
        z00 = s0b1 * v - s0a1 * o + z01
        z01 = s0b2 * v - s0a2 * o
        w = s1b0 * o + z10
        z10 = s1b1 * o - s1a1 * w + z11
        z11 = s1b2 * o - s1a2 * w
        e += w * w                                   # BS.1770-4 eq. 1 (sum part)
    z[c, 0, 0] = z00; z[c, 0, 1] = z01; z[c, 1, 0] = z10; z[c, 1, 1] = z11
    stats[c, 0] = sm; stats[c, 1] = sq; stats[c, 2] = pk
    return e


@njit(cache=True, nogil=True)
def _kweight_pair_run(x, i0, n, sos, z, stats, cross):
    """Channels 0 and 1 together: returns (sum w0^2, sum w1^2, sum w0 w1); raw x0 x1 into cross."""
    s0b0 = sos[0, 0]; s0b1 = sos[0, 1]; s0b2 = sos[0, 2]; s0a1 = sos[0, 4]; s0a2 = sos[0, 5]
    s1b0 = sos[1, 0]; s1b1 = sos[1, 1]; s1b2 = sos[1, 2]; s1a1 = sos[1, 4]; s1a2 = sos[1, 5]
    a00 = z[0, 0, 0]; a01 = z[0, 0, 1]; a10 = z[0, 1, 0]; a11 = z[0, 1, 1]
    b00 = z[1, 0, 0]; b01 = z[1, 0, 1]; b10 = z[1, 1, 0]; b11 = z[1, 1, 1]
    sm0 = stats[0, 0]; sq0 = stats[0, 1]; pk0 = stats[0, 2]
    sm1 = stats[1, 0]; sq1 = stats[1, 1]; pk1 = stats[1, 2]
    xc = cross[0]
    e0 = 0.0
    e1 = 0.0
    e01 = 0.0
    xs0 = x[0, i0:i0 + n]
    xs1 = x[1, i0:i0 + n]
    for i in range(n):
        u = xs0[i]
        v = xs1[i]
        sm0 += u
        sq0 += u * u
        pk0 = max(pk0, abs(u))
        sm1 += v
        sq1 += v * v
        pk1 = max(pk1, abs(v))
        xc += u * v
        # two independent recursions side by side (the CPU overlaps them)
        o = s0b0 * u + a00
        p = s0b0 * v + b00
        a00 = s0b1 * u - s0a1 * o + a01
        b00 = s0b1 * v - s0a1 * p + b01
        a01 = s0b2 * u - s0a2 * o
        b01 = s0b2 * v - s0a2 * p
        w = s1b0 * o + a10
        y = s1b0 * p + b10
        a10 = s1b1 * o - s1a1 * w + a11
        b10 = s1b1 * p - s1a1 * y + b11
        a11 = s1b2 * o - s1a2 * w
        b11 = s1b2 * p - s1a2 * y
        e0 += w * w
        e1 += y * y
        e01 += w * y
    z[0, 0, 0] = a00; z[0, 0, 1] = a01; z[0, 1, 0] = a10; z[0, 1, 1] = a11
    z[1, 0, 0] = b00; z[1, 0, 1] = b01; z[1, 1, 0] = b10; z[1, 1, 1] = b11
    stats[0, 0] = sm0; stats[0, 1] = sq0; stats[0, 2] = pk0
    stats[1, 0] = sm1; stats[1, 1] = sq1; stats[1, 2] = pk1
    cross[0] = xc
    return e0, e1, e01


@njit(cache=True, nogil=True)
def _ticks_kernel(x, sos, z, tick_length, tick_fill, acc, out, stats, cross):
    """K-weight x (C, N) through sos (2, 6); sum squares per tick.

    z (C, 2, 2): TDF-II state, updated. acc (R,): running sums of the
    unfinished tick (R = C, or C + 1 with the channel 0 x 1 cross product
    as the last row), updated. out (R, M): completed ticks, written from
    column 0. stats (C, 3): sum, sum of squares, max |x|, updated.
    cross (1,): raw sum x0 * x1, updated. Returns (ticks written, new fill).

    Work goes in runs that end on tick boundaries (absolute positions), so
    the per-tick sums and the denormal flush of the recursive state happen at
    the same samples whatever the chunking.
    """
    C, N = x.shape
    R = acc.shape[0]
    with_cross = R > C
    m = 0
    fill = tick_fill
    i0 = 0
    while i0 < N:
        n = min(N - i0, tick_length - fill)
        c0 = 0
        if with_cross:
            e0, e1, e01 = _kweight_pair_run(x, i0, n, sos, z, stats, cross)
            acc[0] += e0
            acc[1] += e1
            acc[C] += e01
            c0 = 2
        for c in range(c0, C):
            acc[c] += _kweight_run(x, c, i0, n, sos, z, stats)
        fill += n
        i0 += n
        if fill == tick_length:
            for r in range(R):
                out[r, m] = acc[r]
                acc[r] = 0.0
            m += 1
            fill = 0
            # flush denormals out of the recursive state (at absolute tick ends)
            for c in range(C):
                for s in range(2):
                    for k in range(2):
                        if abs(z[c, s, k]) < 1e-250:
                            z[c, s, k] = 0.0
    return m, fill


def ticks_state(channels: int, with_cross: bool | None = None) -> dict:
    """Zero state for :func:`kweighted_ticks`.

    Keys: ``z`` (channels, 2, 2) filter state; ``acc`` (R,) sums of the
    unfinished tick; ``fill`` samples in it; ``stats`` (channels, 3) raw
    sum / sum of squares / peak; ``cross`` (1,) raw sum of ``x0 * x1``.
    ``R = channels + 1`` when the channel 0 x 1 cross term is kept
    (default for two or more channels).
    """
    if with_cross is None:
        with_cross = channels >= 2
    return {"z": np.zeros((channels, 2, 2)), "acc": np.zeros(channels + int(bool(with_cross))),
            "fill": 0, "stats": np.zeros((channels, 3)), "cross": np.zeros(1)}


def kweighted_ticks(x: np.ndarray, sos: np.ndarray, tick_length: int, state: dict):
    """K-weight ``x`` and return the completed tick energies.

    Parameters
    ----------
    x : ndarray, shape (channels, N), float64
    sos : ndarray, shape (2, 6)
        :func:`neuromaster.dsp.kweighting.kweighting_sos` for the rate.
    tick_length : int
        Samples per tick (:func:`tick_layout`).
    state : dict
        :func:`ticks_state`; not mutated.

    Returns
    -------
    ticks : ndarray, shape (R, M)
        Sum of squared K-weighted samples of each tick completed in this call
        (rows: channels, then the channel 0 x 1 cross sum if kept).
    state : dict
        The new state.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    new = {"z": state["z"].copy(), "acc": state["acc"].copy(), "fill": int(state["fill"]),
           "stats": state["stats"].copy(), "cross": state["cross"].copy()}
    C, N = x.shape
    R = new["acc"].shape[0]
    out = np.empty((R, (new["fill"] + N) // tick_length))
    if N:
        m, fill = _ticks_kernel(x, np.ascontiguousarray(sos, dtype=np.float64), new["z"], int(tick_length),
                                new["fill"], new["acc"], out, new["stats"], new["cross"])
        new["fill"] = int(fill)
        out = out[:, :m]
    return out, new


@njit(cache=True, nogil=True)
def _window_sums(e, width, step, out):
    """out[j] = sum(e[j*step : j*step + width]) summed left to right (no cancellation)."""
    for j in range(out.shape[0]):
        s = 0.0
        b = j * step
        for k in range(width):
            s += e[b + k]
        out[j] = s


def window_sums(energy: np.ndarray, width: int, step: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """Sums of ``energy`` (1-D) over windows of ``width`` every ``step`` (complete windows only).

    Summed directly rather than by cumulative differences, so a silent window
    after loud material is exactly zero (-inf LUFS), not rounding noise.
    ``out`` (optional, 1-D float64 of the right length) receives the sums.
    """
    energy = np.ascontiguousarray(energy, dtype=np.float64)
    n = max((energy.size - width) // step + 1 if energy.size >= width else 0, 0)
    if out is None:
        out = np.empty(n)
    elif out.shape != (n,) or out.dtype != np.float64:
        raise ValueError(f"out must be float64 of shape ({n},); got {out.dtype} {out.shape}")
    if n > 0:
        _window_sums(energy, int(width), int(step), out)
    return out


def energy_to_lufs(mean_square) -> np.ndarray:
    """BS.1770-4 eq. 2/4: ``-0.691 + 10 log10(sum_i G_i z_i)``; zero maps to ``-inf``."""
    e = np.asarray(mean_square, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET_DB + 10.0 * np.log10(e)


def gate_blocks(block_mean_square: np.ndarray) -> tuple[np.ndarray, float]:
    """BS.1770-4 two-stage gate over 400 ms blocks (eqs. 5-7).

    Parameters
    ----------
    block_mean_square : ndarray, shape (J,)
        Channel-weighted mean square ``sum_i G_i z_ij`` of each block.

    Returns
    -------
    (keep, relative_gate_lufs)
        Boolean mask of the blocks above both gates (``l_j > -70`` and
        ``l_j > Gamma_r``), and ``Gamma_r`` (``-inf`` when no block passes
        the absolute gate).
    """
    z = np.asarray(block_mean_square, dtype=np.float64)
    l = energy_to_lufs(z)
    above = l > ABSOLUTE_GATE_LUFS                      # J_g = {j : l_j > Gamma_a}
    if not above.any():
        return above, -math.inf
    gamma_r = float(energy_to_lufs(z[above].mean())) + RELATIVE_GATE_LU     # eq. 6
    return above & (l > gamma_r), gamma_r               # eq. 7


def gated_loudness(block_mean_square: np.ndarray) -> tuple[float, float]:
    """Integrated loudness (LUFS) of 400 ms gating blocks (BS.1770-4 eq. 7).

    Returns ``(integrated_lufs, relative_gate_lufs)``; ``-inf`` for both when
    no block passes the absolute gate (silence, or shorter than one block).
    """
    z = np.asarray(block_mean_square, dtype=np.float64)
    keep, gamma_r = gate_blocks(z)
    if not keep.any():
        return -math.inf, gamma_r
    return float(energy_to_lufs(z[keep].mean())), gamma_r


def loudness_range(short_term_lufs: np.ndarray) -> tuple[float, float, float]:
    """EBU Tech 3342 loudness range of short-term values taken every 100 ms or faster.

    Absolute gate -70 LUFS, relative gate 20 LU below the power mean of the
    absolute-gated values, then the 95th minus the 10th percentile of what
    remains (nearest-rank on the sorted values, Tech 3342's reference).

    Returns
    -------
    (lra_lu, low_lufs, high_lufs)
        ``nan`` for all three when no value passes the gates.
    """
    s = np.asarray(short_term_lufs, dtype=np.float64)
    s = s[np.isfinite(s) & (s > ABSOLUTE_GATE_LUFS)]
    if s.size == 0:
        return math.nan, math.nan, math.nan
    power_mean = 10.0 * np.log10(np.mean(10.0 ** (s / 10.0)))
    s = np.sort(s[s > power_mean + LRA_RELATIVE_GATE_LU])
    if s.size == 0:
        return math.nan, math.nan, math.nan
    lo = s[int(round((s.size - 1) * LRA_LOW_PERCENTILE / 100.0))]
    hi = s[int(round((s.size - 1) * LRA_HIGH_PERCENTILE / 100.0))]
    return float(hi - lo), float(lo), float(hi)

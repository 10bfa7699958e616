"""Tape-machine pieces around the hysteresis core: the playback response
(head bump and high-frequency loss per tape speed), wow and flutter (a
modulated fractional delay) and hiss (seeded, position-addressed noise).

Playback response (design choices, stated as such)
    *Head bump*: at long recorded wavelengths the playback head's finite pole
    faces pick up flux from beyond the gap (the "contour effect"), which
    shows as a low-frequency bump followed by a shallower dip. Its frequency
    scales with tape speed: ``f = v / lambda_c`` with ``lambda_c`` = 6.35 mm
    (0.25 in, a pole-face length chosen for the model), i.e. 30 / 60 / 120 Hz
    at 7.5 / 15 / 30 ips; modelled as an RBJ peaking boost (Q 1.0) and a
    peaking dip one octave higher (Q 2.0). Gains +3.0 / +2.5 / +2.0 dB and
    -1.0 / -1.0 / -0.75 dB are design choices in the range of published
    reproduce curves, not measurements of a particular machine.
    *High-frequency loss*: spacing, gap and self-demagnetisation losses that
    the playback equalisation does not fully recover, as a gentle first-order
    low-pass at 12 / 18 / 25 kHz (design choices). It is a magnitude-matched
    first-order section (exact at DC, at Nyquist and at the corner or fs/4),
    which keeps the analogue shape even when the corner is above Nyquist
    (25 kHz at 44.1 kHz).

Wow and flutter
    ``y(t) = x(t - tau(t))`` with ``tau(t) = tau0 + depth sum_k a_k / (2 pi f_k)
    cos(2 pi f_k t + p_k)``, so the instantaneous frequency of a tone ``f0``
    is ``f0 (1 + depth sum_k a_k sin(2 pi f_k t + p_k))`` exactly: ``a_k`` are
    peak pitch deviations (:data:`WOW_FLUTTER_COMPONENTS`: two slow wow
    components, two flutter components; 0.23 % peak in total at depth 1).
    ``t`` is the absolute sample position since reset over the sample rate, so
    the modulation does not depend on how the audio is chunked. The
    fractional delay is a 64-tap Kaiser-windowed sinc (beta 8) read from a
    table of 512 phases with linear interpolation between phases; at a
    fractional delay of 0 it is exactly a pure delay.

Hiss
    Gaussian white noise addressed by (seed, channel, absolute sample index)
    through a counter-based generator (SplitMix64 finaliser + Box-Muller),
    so it is reproducible and chunk-invariant. The stage adds it before the
    playback response (it is on the tape), scaled so that the hiss after the
    playback response has the requested RMS level.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit

from .biquad import rbj, sos_response

#: Tape speeds offered, inches per second (as the stage's choice strings).
SPEEDS_IPS = ("7.5", "15", "30")
#: Contour-effect wavelength in metres (head bump at v / lambda).
CONTOUR_WAVELENGTH_M = 6.35e-3
#: Per speed: (bump gain dB, bump Q, dip gain dB, dip Q, HF-loss corner Hz).
PLAYBACK = {
    "7.5": (3.0, 1.0, -1.0, 2.0, 12000.0),
    "15": (2.5, 1.0, -1.0, 2.0, 18000.0),
    "30": (2.0, 1.0, -0.75, 2.0, 25000.0),
}
#: Wow/flutter components at depth 1: (frequency Hz, peak pitch deviation, phase rad).
WOW_FLUTTER_COMPONENTS = (
    (0.55, 1.2e-3, 0.0),
    (0.31, 0.5e-3, 1.3),
    (6.8, 0.4e-3, 0.4),
    (11.3, 0.2e-3, 2.1),
)
#: Half-length of the fractional-delay kernel (taps = 2 * this).
FD_HALF_TAPS = 32
#: Phases of the fractional-delay table.
FD_PHASES = 512
FD_KAISER_BETA = 8.0


# ------------------------------------------------------------ playback EQ
def head_bump_hz(speed_ips: str) -> float:
    """Head-bump frequency in Hz for a speed in ips ("7.5", "15", "30")."""
    return float(speed_ips) * 0.0254 / CONTOUR_WAVELENGTH_M


def matched_lowpass(corner_hz: float, sample_rate: float) -> np.ndarray:
    """First-order low-pass whose magnitude matches the analogue
    ``1 / (1 + j f / fc)`` at DC, at Nyquist and at ``f_m = min(fc, fs / 4)``.

    A pole-zero section ``(b0 + b1 z^-1) / (1 + a1 z^-1)`` has
    ``|H|^2 = (B0 + B1 cos w) / (A0 + A1 cos w)`` with ``A0 = 1 + a1^2``,
    ``A1 = 2 a1``, ``B0 = b0^2 + b1^2``, ``B1 = 2 b0 b1``. The DC and Nyquist
    conditions fix ``B0, B1`` for a given ``a1``; the third condition is then
    ``A a1^2 + B a1 + A = 0`` (reciprocal roots: the stable one is taken), and
    ``b0 +- b1`` follow as square roots (zero inside the unit circle). This
    keeps the analogue shape even with the corner above Nyquist.

    Returns
    -------
    ndarray, shape (6,)
        ``[b0, b1, 0, 1, a1, 0]``.
    """
    fc = float(corner_hz)
    fs = float(sample_rate)
    g_ny = 1.0 / (1.0 + (0.5 * fs / fc) ** 2)  # |H|^2 at Nyquist
    f_m = min(fc, 0.25 * fs)
    g_m = 1.0 / (1.0 + (f_m / fc) ** 2)  # |H|^2 at f_m
    cw = math.cos(2.0 * math.pi * f_m / fs)
    P = 0.5 * (1.0 + cw)
    Q = 0.5 * (1.0 - cw)
    A = P + g_ny * Q - g_m
    B = 2.0 * (P - g_ny * Q - g_m * cw)
    disc = math.sqrt(max(B * B - 4.0 * A * A, 0.0))
    r1 = (-B + disc) / (2.0 * A)
    r2 = (-B - disc) / (2.0 * A)
    a1 = r1 if abs(r1) < 1.0 else r2
    s_plus = 1.0 + a1  # b0 + b1: DC gain 1
    s_minus = math.sqrt(g_ny) * (1.0 - a1)  # b0 - b1: Nyquist gain
    return np.array([0.5 * (s_plus + s_minus), 0.5 * (s_plus - s_minus), 0.0, 1.0, a1, 0.0])


def playback_sos(speed_ips: str, sample_rate: float) -> np.ndarray:
    """Second-order sections of the playback response: bump, dip, HF loss.

    Parameters
    ----------
    speed_ips : {"7.5", "15", "30"}
    sample_rate : float
        In Hz.

    Returns
    -------
    ndarray, shape (3, 6)
    """
    if speed_ips not in PLAYBACK:
        raise ValueError(f"speed_ips must be one of {SPEEDS_IPS}; got {speed_ips!r}")
    bump_db, bump_q, dip_db, dip_q, hf_hz = PLAYBACK[speed_ips]
    f = head_bump_hz(speed_ips)
    return np.stack([
        rbj("peak", f, bump_db, bump_q, sample_rate),  # RBJ cookbook, peakingEQ
        rbj("peak", 2.0 * f, dip_db, dip_q, sample_rate),
        matched_lowpass(hf_hz, sample_rate),
    ])


def playback_response_db(speed_ips: str, frequency_hz, sample_rate: float) -> np.ndarray:
    """Magnitude of :func:`playback_sos` in dB at ``frequency_hz`` (the analytic reference)."""
    return 20.0 * np.log10(np.abs(sos_response(playback_sos(speed_ips, sample_rate), frequency_hz, sample_rate)))


# ------------------------------------------------------------------- hiss
@njit(cache=True, nogil=True)
def _splitmix(z):
    """SplitMix64 finaliser (Steele, Lea & Flood 2014): uint64 -> well-mixed uint64."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _gauss_kernel(seed, position, out):
    """out[c, i] = N(0, 1) sample addressed by (seed, c, position + i) (Box-Muller)."""
    C, N = out.shape
    scale = 1.0 / 9007199254740992.0  # 2**-53
    two_pi = 2.0 * math.pi
    for c in range(C):
        # (np.uint64 around every call keeps py_func on uint64 arithmetic too)
        key = np.uint64(_splitmix(np.uint64(seed) * np.uint64(0x100000001B3) + np.uint64(c)))
        for i in range(N):
            k = np.uint64(key ^ np.uint64(_splitmix(np.uint64(position + i))))
            a = np.uint64(_splitmix(k))
            b = np.uint64(_splitmix(np.uint64(k ^ np.uint64(0xD1B54A32D192ED03))))
            u1 = (float(a >> np.uint64(11)) + 1.0) * scale  # (0, 1]
            u2 = float(b >> np.uint64(11)) * scale  # [0, 1)
            out[c, i] = math.sqrt(-2.0 * math.log(u1)) * math.cos(two_pi * u2)


def gaussian_noise(channels: int, n: int, position: int, seed: int = 0) -> np.ndarray:
    """Standard Gaussian noise, shape ``(channels, n)``, for absolute sample
    indices ``position .. position + n - 1``: the same index gives the same
    value whatever the chunking."""
    if position < 0 or seed < 0:
        raise ValueError(f"position and seed must be >= 0; got {position}, {seed}")
    out = np.empty((int(channels), int(n)))
    if n:
        _gauss_kernel(int(seed), int(position), out)
    return out


# ------------------------------------------------------------ wow/flutter
def wow_flutter_excursion_s() -> float:
    """Largest delay excursion of the modulation at depth 1, in seconds."""
    return sum(a / (2.0 * math.pi * f) for f, a, _ in WOW_FLUTTER_COMPONENTS)


def wow_flutter_delay_samples(sample_rate: float) -> int:
    """Centre delay ``tau0`` in samples (the stage's added latency): room for
    the excursion plus the interpolation kernel."""
    return int(math.ceil(wow_flutter_excursion_s() * sample_rate)) + FD_HALF_TAPS + 1


def pitch_deviation(t_s) -> np.ndarray:
    """Relative pitch deviation at depth 1 at times ``t_s`` (seconds since reset):
    ``sum_k a_k sin(2 pi f_k t + p_k)`` (the analytic reference)."""
    t = np.asarray(t_s, dtype=np.float64)
    return sum(a * np.sin(2.0 * np.pi * f * t + p) for f, a, p in WOW_FLUTTER_COMPONENTS)


def _delay_modulation(position: int, n: int, sample_rate: float) -> np.ndarray:
    """``sum_k a_k / (2 pi f_k) cos(...)`` in samples at absolute indices (depth 1)."""
    idx = position + np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    for f, a, p in WOW_FLUTTER_COMPONENTS:
        w = 2.0 * np.pi * f / sample_rate
        out += (a * sample_rate / (2.0 * np.pi * f)) * np.cos(w * idx + p)
    return out


@lru_cache(maxsize=1)
def fractional_delay_table() -> np.ndarray:
    """Kernel table, shape ``(FD_PHASES + 1, 2 * FD_HALF_TAPS)``: row ``p`` holds the
    windowed sinc for fractional delay ``p / FD_PHASES``; tap ``j`` multiplies
    ``x[n - I - (j - H + 1)]`` (``I`` the integer delay, ``H`` the half length)."""
    H = FD_HALF_TAPS
    f = np.arange(FD_PHASES + 1)[:, None] / FD_PHASES
    j = np.arange(-H + 1, H + 1)[None, :]
    x = f - j  # distance from the wanted instant, samples
    w = np.i0(FD_KAISER_BETA * np.sqrt(np.clip(1.0 - (x / H) ** 2, 0.0, 1.0))) / np.i0(FD_KAISER_BETA)
    tab = np.sinc(x) * w
    tab[0] = 0.0
    tab[0, H - 1] = 1.0  # fraction 0: exactly a pure delay
    tab[-1] = 0.0
    tab[-1, H] = 1.0  # fraction 1: a pure delay of one more sample
    tab = np.ascontiguousarray(tab)
    tab.setflags(write=False)
    return tab


@njit(cache=True, nogil=True)
def _fd_kernel(x, delay, tab, hist, y):
    """y[c, i] = x delayed by delay[i] samples (>= H), windowed-sinc interpolated.

    hist (C, L): the last L input samples (oldest first), updated in place.
    """
    C, N = x.shape
    L = hist.shape[1]
    T = tab.shape[1]
    H = T // 2
    P = tab.shape[0] - 1
    buf = np.empty(L + N)
    for c in range(C):
        for i in range(L):
            buf[i] = hist[c, i]
        for i in range(N):
            buf[L + i] = x[c, i]
        for i in range(N):
            d = delay[i]
            I = int(d)
            fr = (d - I) * P
            p = int(fr)
            if p >= P:
                p = P - 1
            w = fr - p
            base = L + i - I + H - 1  # buf index of x[n - I - (j - H + 1)] at j = 0
            acc = 0.0
            if w == 0.0:
                for j in range(T):
                    acc += tab[p, j] * buf[base - j]
            else:
                for j in range(T):
                    acc += (tab[p, j] + w * (tab[p + 1, j] - tab[p, j])) * buf[base - j]
            y[c, i] = acc
        for i in range(L):
            hist[c, i] = buf[N + i]


def wow_flutter_state(channels: int, sample_rate: float) -> np.ndarray:
    """Zero history for :func:`wow_flutter`: shape ``(channels, 2 * tau0 + 1)``."""
    return np.zeros((int(channels), 2 * wow_flutter_delay_samples(sample_rate) + 1))


def wow_flutter(x: np.ndarray, depth, position: int, sample_rate: float, state: np.ndarray):
    """Apply wow and flutter: ``x`` delayed by ``tau0 + depth * modulation``.

    Parameters
    ----------
    x : ndarray, shape (C, N)
    depth : float or ndarray (N,)
        0-1 (0: a pure delay of ``tau0`` samples).
    position : int
        Absolute index of ``x[:, 0]`` since reset (drives the modulation).
    sample_rate : float
        In Hz.
    state : ndarray
        From :func:`wow_flutter_state` or a previous call.

    Returns
    -------
    y : ndarray, shape (C, N)
    state : ndarray
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = x.shape[1]
    st = np.array(state, dtype=np.float64, copy=True)
    if st.shape != (x.shape[0], 2 * wow_flutter_delay_samples(sample_rate) + 1):
        raise ValueError(f"state shape {st.shape} does not match this sample rate and channel count")
    depth = np.asarray(depth, dtype=np.float64)
    if (depth < 0).any() or (depth > 1).any():
        raise ValueError("depth must be in [0, 1]")
    tau0 = wow_flutter_delay_samples(sample_rate)
    if depth.ndim == 0 and float(depth) == 0.0:
        # no modulation: the kernel would return x delayed by tau0 exactly
        # (its phase-0 row is a unit impulse); take the samples directly
        L = st.shape[1]
        full = np.concatenate([st, x], axis=1)
        return full[:, L - tau0:L - tau0 + n].copy(), full[:, n:].copy()
    delay = tau0 + depth * _delay_modulation(position, n, sample_rate)
    y = np.empty_like(x)
    if n:
        _fd_kernel(x, np.ascontiguousarray(delay), fractional_delay_table(), st, y)
    return y, st

"""Independent true-peak references for the limiter's tests and benchmark.

Nothing here shares code, filters or method with the limiter's detector
(``neuromaster.dsp.limiter``): the references below are what the tests
measure the limiter's *output* with.

``true_peak`` (the acceptance reference)
    A long Kaiser-windowed sinc reconstruction at 16x (zero-stuffing and an
    FFT convolution, ``scipy.signal.oaconvolve``; ``resample_poly_peak`` is
    the same filter through ``scipy.signal.resample_poly``): prototype ``sinc(m / 16) * kaiser(beta=9)``
    over +-64 input samples (2049 taps at the 16x rate), cut-off exactly at the
    input Nyquist frequency (so the reconstruction passes through every
    sample), ~-90 dB side lobes, flat (< 0.001 dB) to ~0.47 fs. The continuous
    peak between 16x points is refined with a three-point parabola around the
    largest point (under-reads a tone at fs/2 by at most 3e-4 dB, see
    ``host_tests/test_limiter.py::test_reference_resolution``). The signal is
    taken as silent before and after (zero padding, tails included). Long
    signals are processed in overlapping chunks (exact: the overlap covers the
    filter).

``ideal_true_peak``
    The brick-wall (ideal band-limited) reconstruction by FFT zero-padding of
    the whole, zero-extended signal at 32x plus the same parabolic refinement.
    Reported for information: it is not a physical reconstruction filter, and
    for broadband signals (hard-clipped noise, naive squares) its peak grows
    with the signal's length (the sinc's tail sum diverges logarithmically),
    so no finite-lookahead limiter can bound it for every signal. See the
    module docstring of ``neuromaster.dsp.limiter``.

``short_true_peak``
    ``resample_poly``'s own default design at 16x (+-10 input samples, Kaiser
    beta 5): a short, DAC-like reconstruction, for the side-by-side table.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import signal as _ss

#: Up-sampling factor of the acceptance reference.
FACTOR = 16
#: Half length of the reference prototype in input samples.
HALF_LENGTH = 64
#: Kaiser beta of the reference prototype.
BETA = 9.0
#: Input samples per chunk for long signals.
CHUNK = 1 << 16


@functools.lru_cache(maxsize=4)
def reference_filter(factor: int = FACTOR, half_length: int = HALF_LENGTH, beta: float = BETA) -> np.ndarray:
    """Kaiser-windowed sinc prototype (length ``2 half_length factor + 1``), unity DC gain per phase."""
    n = 2 * half_length * factor + 1
    m = np.arange(n) - half_length * factor
    h = np.sinc(m / factor) * np.kaiser(n, beta)
    return h / factor  # resample_poly multiplies by `up`


def _parabolic_peak(a: np.ndarray) -> float:
    """Largest value of ``|a|`` refined by a parabola through its two neighbours."""
    if a.size == 0:
        return 0.0
    a = np.abs(a)
    j = int(np.argmax(a))
    y0 = a[j]
    if 0 < j < a.size - 1:
        ym, yp = a[j - 1], a[j + 1]
        den = ym - 2.0 * y0 + yp
        if den < 0.0:
            return float(y0 - (ym - yp) ** 2 / (8.0 * den))
    return float(y0)


def _channel_peak(x: np.ndarray, h: np.ndarray, factor: int, half_length: int) -> float:
    """Reference peak of one channel: zero-stuff by ``factor`` and convolve with ``h * factor`` (FFT)."""
    pad = half_length + 2
    n = x.size
    best = float(np.max(np.abs(x))) if n else 0.0
    hf = h * factor
    centre = half_length * factor          # h is symmetric about this tap
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        lo, hi = a - 2 * pad, b + 2 * pad
        seg = np.zeros(hi - lo)
        s0, s1 = max(lo, 0), min(hi, n)
        seg[s0 - lo:s1 - lo] = x[s0:s1]
        z = np.zeros(seg.size * factor)
        z[::factor] = seg
        y = _ss.oaconvolve(z, hf, mode="full")
        # y[factor * t + centre] is the reconstruction at time t (input samples from lo);
        # keep times a - pad ... b + pad, whose inputs all lie inside seg
        k0 = factor * pad + centre
        k1 = factor * (b - a + 3 * pad) + centre
        core = np.abs(y[k0:k1])
        j = k0 + int(np.argmax(core))
        best = max(best, _parabolic_peak(y[j - 1:j + 2]))
    return best


def resample_poly_peak(x, factor: int = FACTOR, half_length: int = HALF_LENGTH, beta: float = BETA) -> float:
    """The same reconstruction through ``scipy.signal.resample_poly`` (one piece; for cross-checks)."""
    x = np.asarray(x, dtype=np.float64)
    pad = half_length + 2
    seg = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    y = _ss.resample_poly(seg, factor, 1, window=reference_filter(factor, half_length, beta))
    return max(_parabolic_peak(y), float(np.max(np.abs(x))))


def true_peak(x, factor: int = FACTOR, half_length: int = HALF_LENGTH, beta: float = BETA) -> np.ndarray:
    """Reference true peak (linear) per channel of ``x`` ((C, N) or (N,))."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    h = reference_filter(factor, half_length, beta)
    return np.array([_channel_peak(ch, h, factor, half_length) for ch in x])


def true_peak_db(x, **kw) -> float:
    """Reference true peak in dBTP over all channels."""
    return float(20.0 * np.log10(max(float(np.max(true_peak(x, **kw))), 1e-300)))


def short_true_peak_db(x) -> float:
    """True peak in dBTP with ``resample_poly``'s default 16x design (+-10 samples, Kaiser 5)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    pad = 16
    best = 0.0
    for ch in x:
        seg = np.concatenate([np.zeros(pad), ch, np.zeros(pad)])
        best = max(best, _parabolic_peak(_ss.resample_poly(seg, 16, 1)), float(np.max(np.abs(ch))))
    return float(20.0 * np.log10(max(best, 1e-300)))


def ideal_true_peak(x, factor: int = 32) -> np.ndarray:
    """Brick-wall band-limited true peak (linear) per channel, FFT zero-padding (short signals)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    out = []
    for ch in x:
        n = ch.size
        m = 1 << int(np.ceil(np.log2(2 * n + 64)))
        s = np.zeros(m)
        s[:n] = ch
        spec = np.fft.rfft(s)
        up = np.zeros(factor * m // 2 + 1, dtype=complex)
        up[:m // 2] = spec[:m // 2]
        up[m // 2] = spec[m // 2] / 2.0  # split the Nyquist bin between +-fs/2
        y = np.fft.irfft(up, factor * m) * factor
        out.append(max(_parabolic_peak(y), float(np.max(np.abs(ch))) if n else 0.0))
    return np.array(out)


def ideal_true_peak_db(x) -> float:
    """Brick-wall true peak in dBTP over all channels."""
    return float(20.0 * np.log10(max(float(np.max(ideal_true_peak(x))), 1e-300)))


# ------------------------------------------------------------------ material
def acceptance_signals(sample_rate: float = 44100.0, seconds: float = 1.0, seed: int = 0,
                       music_seconds: float | None = None) -> dict:
    """The issue's true-peak acceptance signals, at levels that need limiting at -1 dBTP.

    Returns ``{name: (channels, n) float64}``. Inter-sample sines put the
    sample points off the crest (their sample peak is 0 dBFS, their true
    peak above it); the others are at full scale or driven. The music is
    ``neuromaster.demo.make_mix`` (sample peak -3 dBFS) driven +12 dB.
    """
    sr = float(sample_rate)
    rng = np.random.default_rng(seed)
    n = int(round(sr * seconds))
    t = np.arange(n)

    def full_scale(x):
        return x / np.max(np.abs(x))

    s = {}
    s["sine fs/4, 45 deg"] = full_scale(np.sin(np.pi / 2 * t + np.pi / 4))       # samples at +-0.707 of the crest
    s["sine fs/6, 0 deg"] = full_scale(np.sin(np.pi / 3 * t))                     # samples at +-0.866
    s["sine fs/8, 22.5 deg"] = full_scale(np.sin(np.pi / 4 * t + np.pi / 8))     # samples at +-0.924
    s["square 1 kHz (naive)"] = np.where(np.sin(2 * np.pi * 1000.0 * t / sr + 0.1) >= 0.0, 1.0, -1.0)
    s["square 3 kHz (naive)"] = np.where(np.sin(2 * np.pi * 3000.0 * t / sr + 0.1) >= 0.0, 1.0, -1.0)
    s["hard-clipped noise"] = np.clip(rng.standard_normal(n) * 0.5, -1.0, 1.0)
    imp = np.zeros(n)
    imp[n // 5::n // 5] = 1.0
    imp[n // 5 + n // 10::n // 5] = -1.0
    s["impulses"] = imp
    dbl = np.zeros(n)
    for k in range(n // 7, n - 1, n // 7):
        dbl[k], dbl[k + 1] = 1.0, -1.0
    s["doublets (+1, -1)"] = dbl
    burst = np.zeros(n)
    period, length = int(0.05 * sr), int(0.005 * sr)
    for i, a in enumerate(range(0, n - length, period)):
        if i % 2:
            burst[a:a + length] = rng.standard_normal(length)
        else:
            burst[a:a + length] = np.sin(2 * np.pi * 5000.0 * np.arange(length) / sr)
    s["burst train"] = full_scale(burst)
    f19 = 19000.0 if sr > 2 * 19500.0 else 0.43 * sr
    s["sine 19 kHz"] = np.sin(2 * np.pi * f19 * t / sr + 0.3)
    s["40 Hz bursts, +6 dB"] = 2.0 * np.sin(2 * np.pi * 40.0 * t / sr) * ((t // int(0.1 * sr)) % 2 == 0)
    s["DC step to +3 dB"] = np.where(t >= n // 4, 10 ** (3 / 20), 0.0)
    out = {k: np.atleast_2d(v) for k, v in s.items()}
    from neuromaster import demo
    ms = seconds if music_seconds is None else music_seconds
    out["music +12 dB"] = demo.make_mix("pop", ms, int(sr), seed=seed) * 10 ** (12.0 / 20.0)
    return out

"""Dither: the grid, TPDF statistics, shaped spectra, signal independence, seeds, full scale.

Figures: ``.venv/bin/python -m pytest host_tests/test_dither.py -q -n 0 -s``.
"""
import numpy as np
import pytest
import scipy.signal as ss

import neuromaster as nm
from neuromaster.dsp import dither as dd

RATES = (22050.0, 44100.0, 48000.0, 88200.0, 96000.0, 192000.0)


def _lsb(bits):
    return 2.0 ** -(bits - 1)


def _f_weighting_power(frequency_hz):
    """Wannamaker's F-weighting (JAES 40(7/8), 1992) as a power ratio, 0 dB at 1 kHz.

    The published pole-zero form in kHz: zeros at 0 (x3 in power: f^6), at
    0.58 +- 1.03j and 3.18 +- 8.75j (x3); poles at 0.18 (x3), 1.63 (x2),
    2.51 +- 3.85j (x4) and 6.62 +- 14.29j (x20)."""
    def pair(re, im, s):  # |(s - p)(s - p*)|^2 on s = j f
        return ((re * re + im * im) - s) ** 2 + 4.0 * re * re * s

    def power(f):
        s = (np.asarray(f, dtype=np.float64) / 1000.0) ** 2
        num = s ** 3 * pair(0.58, 1.03, s) * pair(3.18, 8.75, s) ** 3
        den = ((0.18 ** 2 + s) ** 3 * (1.63 ** 2 + s) ** 2 * pair(2.51, 3.85, s) ** 4
               * (pair(6.62, 14.29, s) / 1e5) ** 20)
        return num / den

    return power(frequency_hz) / power(1000.0)


# ---------------------------------------------------------------- the grid
@pytest.mark.parametrize("bits", [16, 20, 24])
@pytest.mark.parametrize("shaping", dd.SHAPINGS)
def test_output_lies_exactly_on_the_grid(rng, bits, shaping):
    n = 20000
    t = np.arange(n) / 44100.0
    x = np.vstack([1.2 * np.sin(2 * np.pi * 50.0 * t),  # clips
                   0.3 * rng.standard_normal(n).clip(-1.3, 1.3)])
    y = nm.Dither(bit_depth=bits, noise_shaping=shaping, seed=5)(x, 44100)
    assert y.dtype == np.float32
    k = y.astype(np.float64) * 2.0 ** (bits - 1)  # float32 -> float64 is exact
    assert np.array_equal(k, np.round(k)), "output off the grid after float32 conversion"
    assert k.min() >= -(2 ** (bits - 1)) and k.max() <= 2 ** (bits - 1) - 1
    assert k.min() == -(2 ** (bits - 1)) and k.max() == 2 ** (bits - 1) - 1  # the clipped sine reaches both ends


def test_bit_depth_parameter():
    d = nm.Dither(bit_depth=24)
    assert d.bit_depth == 24
    with pytest.raises(nm.ParameterError, match=r"bit_depth must be one of 16, 20, 24; got '24'"):
        nm.Dither(bit_depth="24")
    d.bit_depth = 20
    with pytest.raises(nm.ParameterError, match=r"bit_depth must be one of 16, 20, 24; got 18"):
        d.bit_depth = 18
    with pytest.raises(nm.ParameterError, match="noise_shaping"):
        nm.Dither(noise_shaping="heavy")


# ---------------------------------------------------------- TPDF statistics
def test_dither_is_triangular():
    d = dd.tpdf_noise(seed=9, channels=2, position=0, n=400000)
    assert d.min() > -1.0 and d.max() < 1.0
    counts, edges = np.histogram(d[0], bins=40, range=(-1, 1))
    centres = (edges[:-1] + edges[1:]) / 2
    # exact bin probabilities of the triangular pdf 1 - |d| on (-1, 1)
    cdf = np.where(edges < 0, (1 + edges) ** 2 / 2, 1 - (1 - edges) ** 2 / 2)
    expect = np.diff(cdf) * d.shape[1]
    z = (counts - expect) / np.sqrt(expect)
    assert np.max(np.abs(z)) < 5.0, f"histogram off the triangle by {np.max(np.abs(z)):.1f} sigma"
    chi2 = np.sum(z ** 2)
    assert chi2 < 39 + 5 * np.sqrt(2 * 39), f"chi2 {chi2:.1f} for 39 dof"
    assert abs(d.mean()) < 5 * np.sqrt(1 / 6 / d.size)
    assert d.var() == pytest.approx(1 / 6, rel=0.01)
    # the two channels' streams are independent; so are neighbouring samples
    assert abs(np.corrcoef(d[0], d[1])[0, 1]) < 5 / np.sqrt(d.shape[1])
    assert abs(np.corrcoef(d[0, 1:], d[0, :-1])[0, 1]) < 5 / np.sqrt(d.shape[1])


@pytest.mark.parametrize("bits", [16, 24])
def test_unshaped_error_is_white_with_variance_lsb2_over_4(rng, bits):
    n = 300000
    t = np.arange(n) / 48000.0
    x = 0.5 * np.sin(2 * np.pi * 441.0 * t) + 0.01 * rng.standard_normal(n)
    y = nm.Dither(bit_depth=bits, noise_shaping="none", seed=1)(x, 48000).astype(np.float64)
    e = (y - x) / _lsb(bits)
    assert abs(e.mean()) < 5 * np.sqrt(0.25 / n)
    assert e.var() == pytest.approx(0.25, rel=0.02), f"error variance {e.var():.4f} LSB^2 (expected 0.25)"
    # white: no correlation between neighbours
    assert abs(np.corrcoef(e[1:], e[:-1])[0, 1]) < 5 / np.sqrt(n)
    print(f"\n{bits}-bit TPDF: error mean {e.mean():+.2e} LSB, variance {e.var():.4f} LSB^2 (0.25 expected)")


def test_error_variance_does_not_depend_on_the_signal(rng):
    """No noise modulation: the total error's variance is LSB^2/4 at every level
    and at every position of the input between two codes."""
    bits, n = 16, 200000
    lsb = _lsb(bits)
    t = np.arange(n) / 44100.0
    signals = {
        "silence": np.zeros(n),
        "dc 0.3 LSB": np.full(n, 0.3 * lsb),
        "-120 dBFS sine": 1e-6 * np.sin(2 * np.pi * 1000 * t),
        "-60 dBFS sine": 1e-3 * np.sin(2 * np.pi * 1000 * t),
        "-1 dBFS sine": 0.89 * np.sin(2 * np.pi * 1000 * t),
        "slow ramp over 3 LSB": np.linspace(-1.5 * lsb, 1.5 * lsb, n),
    }
    variances = {}
    for name, x in signals.items():
        e = (nm.Dither(bit_depth=bits, seed=2)(x, 44100).astype(np.float64) - x) / lsb
        variances[name] = e.var()
        assert abs(e.mean()) < 5 * np.sqrt(0.25 / n), f"{name}: error mean {e.mean():.3g} LSB"
        assert e.var() == pytest.approx(0.25, rel=0.02), f"{name}: error variance {e.var():.4f} LSB^2"
    # conditional on where the input sits between codes (the ramp sweeps it)
    x = signals["slow ramp over 3 LSB"]
    e = (nm.Dither(bit_depth=bits, seed=4)(x, 44100).astype(np.float64) - x) / lsb
    frac = np.mod(x / lsb, 1.0)
    for k in range(10):
        sel = (frac >= k / 10) & (frac < (k + 1) / 10)
        assert e[sel].var() == pytest.approx(0.25, rel=0.06), f"fraction bin {k}: {e[sel].var():.3f}"
        assert abs(e[sel].mean()) < 5 * np.sqrt(0.25 / sel.sum())
    print("\nerror variance (LSB^2) by signal: " + ", ".join(f"{k} {v:.4f}" for k, v in variances.items()))


# ------------------------------------------------------------ shaped noise
def _error_psd(shaping, sample_rate, bits=16, seconds=6.0, nperseg=1024, seed=3):
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    x = 0.25 * np.sin(2 * np.pi * 997.0 * t)  # a signal, so that the loop is exercised off zero
    y = nm.Dither(bit_depth=bits, noise_shaping=shaping, seed=seed)(x, sample_rate).astype(np.float64)
    e = (y - x) / _lsb(bits)
    f, p = ss.welch(e, fs=sample_rate, window="hann", nperseg=nperseg, noverlap=nperseg // 2, detrend=False)
    return f, p, e


@pytest.mark.parametrize("sample_rate", [22050.0, 44100.0, 48000.0, 96000.0])
@pytest.mark.parametrize("shaping", ["simple", "psychoacoustic"])
def test_shaped_noise_spectrum_follows_the_filter(shaping, sample_rate):
    f, p, e = _error_psd(shaping, sample_rate)
    h = dd.shaping_filter(shaping, sample_rate)
    model = 2 * 0.25 / sample_rate * np.abs(dd.noise_transfer(h, f, sample_rate)) ** 2  # one-sided PSD, LSB^2/Hz
    sel = (f > 0) & (f < 0.49 * sample_rate)
    # average 8 neighbouring bins (in power, model and measurement alike)
    k = (sel.sum() // 8) * 8
    meas = p[sel][:k].reshape(-1, 8).mean(axis=1)
    mod = model[sel][:k].reshape(-1, 8).mean(axis=1)
    diff_db = 10 * np.log10(meas / mod)
    assert np.max(np.abs(diff_db)) < 0.6, f"shaped spectrum off the NTF by up to {np.max(np.abs(diff_db)):.2f} dB"
    # total error power = LSB^2/4 times the NTF's energy gain
    gain = 1 + np.sum(np.asarray(h) ** 2)
    assert e.var() == pytest.approx(0.25 * gain, rel=0.03)
    span = 10 * np.log10(mod.max() / mod.min())
    print(f"\n{shaping} at {sample_rate:g} Hz: spectrum within {np.max(np.abs(diff_db)):.2f} dB of |NTF|^2 "
          f"(NTF spans {span:.1f} dB), total noise {10 * np.log10(e.var() / 0.25):+.1f} dB vs flat TPDF")


@pytest.mark.parametrize("sample_rate", RATES)
def test_psychoacoustic_shaping_lowers_f_weighted_noise(sample_rate):
    """Measured from the processor output, weighted by Wannamaker's F-weighting."""
    levels = {}
    for shaping in ("none", "psychoacoustic"):
        f, p, _ = _error_psd(shaping, sample_rate, seconds=3.0, nperseg=4096)
        levels[shaping] = 10 * np.log10(np.sum(p * _f_weighting_power(f)))
    gain_db = levels["psychoacoustic"] - levels["none"]
    print(f"\nF-weighted noise at {sample_rate:g} Hz: psychoacoustic {gain_db:+.1f} dB vs flat TPDF")
    assert gain_db < -2.0
    if sample_rate >= 44100.0:
        assert gain_db < -12.0


def test_psychoacoustic_filter_is_the_published_one():
    np.testing.assert_array_equal(dd.shaping_filter("psychoacoustic", 44100.0), dd.F_WEIGHTED_9)
    np.testing.assert_array_equal(dd.shaping_filter("psychoacoustic", 32000.0), dd.F_WEIGHTED_3)
    # its NTF is minimum phase (Gerzon-Craven: mean log magnitude 0) and
    # dips deepest in the ear's most sensitive region, 2.5-5 kHz
    w = np.linspace(0, 22050, 200001)
    ntf = np.abs(dd.noise_transfer(dd.F_WEIGHTED_9, w, 44100.0))
    assert abs(np.mean(np.log(ntf))) < 1e-3
    assert 2500 < w[np.argmin(ntf)] < 5000
    assert 20 * np.log10(ntf.min()) < -20 and 20 * np.log10(ntf[-1]) > 20


# ---------------------------------------------------------------- seeds
def test_seed_determinism_and_chunk_independence(rng):
    x = 0.4 * rng.standard_normal((2, 30000))
    a = nm.Dither(noise_shaping="psychoacoustic", seed=77)(x, 44100)
    b = nm.Dither(noise_shaping="psychoacoustic", seed=77)(x, 44100)
    np.testing.assert_array_equal(a, b)
    c = nm.Dither(noise_shaping="psychoacoustic", seed=78)(x, 44100)
    assert np.mean(a != c) > 0.3
    # random-length streaming is bit-identical to one call
    proc = nm.Dither(noise_shaping="psychoacoustic", seed=77)
    parts, pos = [], 0
    while pos < x.shape[1]:
        step = int(rng.integers(1, 5000))
        parts.append(proc(x[:, pos:pos + step], 44100, reset=False))
        pos += step
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), a)
    # the noise of sample n of channel c is the same whatever else is processed
    np.testing.assert_array_equal(dd.tpdf_noise(5, 2, 1000, 10), dd.tpdf_noise(5, 2, 0, 1010)[:, 1000:])


def test_kernel_py_func_matches_compiled(rng):
    x = 0.3 * rng.standard_normal((2, 400))
    h = np.array(dd.F_WEIGHTED_9)
    y, st = dd.dither(x, 16, h, dd.dither_state(2, 9), 3, 12345)
    yp, errp = np.empty_like(x), dd.dither_state(2, 9)
    with np.errstate(over="ignore"):  # SplitMix64 wraps around on purpose
        dd._dither_kernel.py_func(x, yp, h, errp, dd.stream_keys(3, 2), 12345, 2.0 ** 15)
    np.testing.assert_array_equal(yp, y)
    np.testing.assert_array_equal(errp, st)


# ----------------------------------------------------------- near full scale
@pytest.mark.parametrize("shaping", ["simple", "psychoacoustic"])
def test_error_feedback_stays_bounded_at_and_beyond_full_scale(rng, shaping):
    """Clipping does not feed back: the shaped error stays within its bound on
    every unclipped sample, and the noise is back to normal right after."""
    bits, sample_rate = 16, 44100.0
    lsb = _lsb(bits)
    n = 44100
    t = np.arange(n) / sample_rate
    loud = np.concatenate([np.sign(np.sin(2 * np.pi * 1000 * t[:8000])),   # full-scale square
                           1.5 * np.sin(2 * np.pi * 60 * t[:8000]),        # +3.5 dBFS sine, clipped
                           np.clip(2.0 * rng.standard_normal(8000), -1.0, 1.0)])  # hard-clipped noise
    x = np.concatenate([loud, 0.01 * np.sin(2 * np.pi * 440 * t[:n - loud.size])])
    y = nm.Dither(bit_depth=bits, noise_shaping=shaping, seed=6)(x, sample_rate).astype(np.float64)
    assert np.isfinite(y).all() and y.max() <= 1 - lsb and y.min() >= -1
    h = dd.shaping_filter(shaping, sample_rate)
    bound = 1.5 * (1 + np.sum(np.abs(h))) * lsb  # |e| <= 1.5 LSB through the NTF taps
    inside = np.abs(x) < 1 - 2 * bound
    err = np.abs(y - x)[inside]
    assert err.max() <= bound, f"error {err.max() / lsb:.1f} LSB on an unclipped sample (bound {bound / lsb:.1f})"
    # after the loud part the shaped noise has its normal statistics
    tail = (y - x)[loud.size + 20:] / lsb
    assert tail.var() == pytest.approx(0.25 * (1 + np.sum(h ** 2)), rel=0.05)
    print(f"\n{shaping}: worst unclipped error {err.max() / lsb:.2f} LSB (bound {bound / lsb:.2f}); "
          f"noise after clipping {10 * np.log10(tail.var() / (0.25 * (1 + np.sum(h ** 2)))):+.2f} dB vs expected")

"""The oversampling engine (issue 4 item 1): halfband cascade at 2/4/8/16x.

Bars: passband flat within 0.05 dB to 20 kHz at 44.1 kHz (the same fraction
of the rate at other rates), image and alias rejection >= 100 dB, integer
round-trip latency, chunk invariance, kernels equal their ``py_func``.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import freqz

from neuromaster.dsp import oversampling as ovs
from neuromaster.dsp.oversampling import (
    FACTORS, PASSBAND_EDGE, downsample, halfband_taps, oversampler_design, oversampler_state, upsample,
)

OS = [f for f in FACTORS if f > 1]
SR = 44100.0


def _py(kernel):
    """The plain-Python body of a numba kernel (itself under NUMBA_DISABLE_JIT=1)."""
    return getattr(kernel, "py_func", kernel)


def _db(x):
    return 20.0 * np.log10(np.maximum(np.abs(x), 1e-300))


def _round_trip(x, factor):
    d = oversampler_design(factor)
    st = oversampler_state(d, x.shape[0])
    y, st = upsample(x, d, st)
    z, st = downsample(y, d, st)
    return y, z


def _round_trip_impulse_response(factor, n=1024):
    x = np.zeros((1, n))
    x[0, 0] = 1.0
    return _round_trip(x, factor)[1][0]


# ------------------------------------------------------------ filter design
@pytest.mark.parametrize("factor", OS)
def test_stage_responses(factor):
    """Every halfband: stopband >= 110 dB from its mirror edge, passband ripple tiny."""
    d = oversampler_design(factor)
    for s, even in enumerate(d.stages):
        h = halfband_taps(even)
        assert np.allclose(h, h[::-1], atol=0), "halfband must be symmetric (linear phase)"
        assert h[h.size // 2] == 0.5 and np.all(h[1::2][np.arange(h.size // 2) != h.size // 4] == 0.0)
        fp = PASSBAND_EDGE / 2 ** (s + 1)  # passband edge, fraction of the stage's high rate
        w, H = freqz(h, worN=1 << 15, fs=1.0)
        stop = -_db(H[w >= 0.5 - fp]).max()
        ripple = np.abs(_db(H[w <= fp])).max()
        print(f"{factor}x stage {s}: {h.size} taps, stopband {stop:.1f} dB, passband ripple {ripple:.2e} dB")
        assert stop >= ovs.STAGE_STOPBAND_DB
        assert ripple <= 1e-4


@pytest.mark.parametrize("factor", OS)
def test_round_trip_passband_flat_and_linear_phase(factor):
    """Impulse through up + down: peak at the integer latency, symmetric about
    it (linear phase), magnitude within 0.05 dB up to 20 kHz at 44.1 kHz."""
    d = oversampler_design(factor)
    h = _round_trip_impulse_response(factor)
    L = d.latency_samples
    assert isinstance(L, int) and int(np.argmax(np.abs(h))) == L
    assert np.max(np.abs(h[: 2 * L + 1] - h[2 * L::-1])) < 1e-12, "round trip is not linear phase"
    assert np.max(np.abs(h[2 * L + 1:])) < 1e-15
    for sr in (44100.0, 48000.0, 96000.0):
        f = np.linspace(0.0, PASSBAND_EDGE * sr, 2000)
        H = np.exp(-2j * np.pi * np.outer(f / sr, np.arange(h.size))) @ h
        dev = np.abs(_db(H)).max()
        print(f"{factor}x round trip, {sr:g} Hz: max deviation {dev:.2e} dB up to {PASSBAND_EDGE * sr:.0f} Hz")
        assert dev <= 0.05


@pytest.mark.parametrize("factor", OS)
def test_upsampled_impulse_flat_passband(factor):
    """The interpolator alone: gain `factor` response flat to 0.05 dB in the passband,
    >= 100 dB down everywhere an image of the passband can land."""
    d = oversampler_design(factor)
    x = np.zeros((1, 512))
    x[0, 0] = 1.0
    y = upsample(x, d, oversampler_state(d, 1))[0][0] / factor
    n = 1 << 16
    H = np.fft.rfft(y, n)
    f = np.fft.rfftfreq(n, 1.0 / factor)  # in units of the base rate
    assert np.abs(_db(H[f <= PASSBAND_EDGE])).max() <= 0.05
    # images of [0, edge] sit at k +- [0, edge] for k = 1 .. factor/2 (base-rate units)
    img = np.zeros_like(f, dtype=bool)
    for k in range(1, factor // 2 + 1):
        img |= np.abs(f - k) <= PASSBAND_EDGE
    worst = _db(H[img]).max()
    print(f"{factor}x interpolator: worst image-band gain {worst:.1f} dB")
    assert worst <= -100.0


# ------------------------------------------------------------ with sines
def _coherent_spectrum(y, period):
    """Magnitude spectrum of exactly one period (rectangular window, no leakage)."""
    seg = y[-period:]
    return np.abs(np.fft.rfft(seg)) / (period / 2)


@pytest.mark.parametrize("factor", OS)
@pytest.mark.parametrize("freq_hz", [100, 1000, 7000, 15000, 19900])
def test_image_rejection_with_sines(factor, freq_hz):
    """Upsample a sine: every bin but the fundamental is >= 100 dB down."""
    n = int(SR)  # 1 s: integer-Hz sines are periodic in it, every image on a bin
    t = np.arange(n + 2000) / SR
    x = np.sin(2 * np.pi * freq_hz * t + 0.3)[None, :]
    d = oversampler_design(factor)
    y = upsample(x, d, oversampler_state(d, 1))[0][0]
    spec = _coherent_spectrum(y, n * factor)
    fund = spec[freq_hz]
    assert abs(_db(fund)) < 0.01
    spec[freq_hz] = 0.0
    worst = _db(spec.max() / fund)
    print(f"{factor}x, {freq_hz} Hz: strongest image/spur {worst:.1f} dBc")
    assert worst <= -100.0


@pytest.mark.parametrize("factor", OS)
def test_alias_rejection_with_sines(factor):
    """Downsample high-rate sines that would fold into 0-20 kHz: >= 100 dB down.
    Passband sines come through at 0 dB."""
    hi = SR * factor
    n = int(hi)  # 1 s at the high rate
    d = oversampler_design(factor)
    edge = PASSBAND_EDGE * SR
    # frequencies (integer Hz) whose alias lands at or below 20 kHz
    rng = np.random.default_rng(3)
    cand = rng.integers(int(SR - edge) + 1, int(hi / 2), size=40)
    cand = [f for f in cand if abs((f + SR / 2) % SR - SR / 2) <= edge]
    cand += [int(SR - edge) + 1, int(hi / 2) - 1]
    t = np.arange(n + 3000 * factor) / hi
    worst = -np.inf
    for f in cand:
        y = np.sin(2 * np.pi * f * t)[None, :]
        x = downsample(y, d, oversampler_state(d, 1))[0][0]
        level = _db(np.max(np.abs(x[-int(SR):])))
        worst = max(worst, level)
    print(f"{factor}x: strongest alias of {len(cand)} stopband sines {worst:.1f} dB")
    assert worst <= -100.0
    y = np.sin(2 * np.pi * 19000 * t)[None, :]
    x = downsample(y, d, oversampler_state(d, 1))[0][0]
    assert abs(_db(np.max(np.abs(x[-int(SR):])))) < 0.01


# ------------------------------------------------------------ round trip, state
@pytest.mark.parametrize("factor", OS)
def test_round_trip_of_band_limited_signal_is_delayed_input(factor, rng):
    """Noise band-limited to 19 kHz comes back as itself, delayed by the latency."""
    n = 8192
    spec = np.fft.rfft(rng.standard_normal((2, n)), axis=1)
    spec[:, np.fft.rfftfreq(n, 1 / SR) > 19000.0] = 0.0
    period = np.fft.irfft(spec, n, axis=1)
    period /= np.abs(period).max()
    x = np.concatenate([period, period, period], axis=1)  # periodic: no start-up band spill
    _, z = _round_trip(x, factor)
    L = oversampler_design(factor).latency_samples
    err = np.max(np.abs(z[:, n + L:2 * n + L] - x[:, n:2 * n]))
    print(f"{factor}x round trip of 19 kHz band-limited noise (peak 1): max error {err:.2e} ({_db(err):.1f} dB)")
    assert err <= 1e-4


@pytest.mark.parametrize("factor", OS)
def test_chunk_invariance_exact(factor, rng):
    x = rng.standard_normal((2, 3001))
    d = oversampler_design(factor)
    y_ref, z_ref = _round_trip(x, factor)
    st = oversampler_state(d, 2)
    ys, zs, a = [], [], 0
    while a < x.shape[1]:
        b = min(x.shape[1], a + int(rng.choice([1, 2, 3, 7, 64, 255, 256, 257, 1000])))
        y, st = upsample(x[:, a:b], d, st)
        z, st = downsample(y, d, st)
        ys.append(y)
        zs.append(z)
        a = b
    np.testing.assert_array_equal(np.concatenate(ys, axis=1), y_ref)
    np.testing.assert_array_equal(np.concatenate(zs, axis=1), z_ref)


def test_factor_one_is_exact_pass_through(rng):
    d = oversampler_design(1)
    assert d.latency_samples == 0 and d.upsample_delay == 0 and d.state_size == 0
    x = rng.standard_normal((2, 100))
    st = oversampler_state(d, 2)
    y, st = upsample(x, d, st)
    z, st = downsample(y, d, st)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(z, x)


@pytest.mark.parametrize("factor", OS)
def test_upsample_delay_attribute(factor):
    """``upsample_delay`` is where an input impulse lands in the oversampled stream."""
    d = oversampler_design(factor)
    x = np.zeros((1, 300))
    x[0, 5] = 1.0
    y = upsample(x, d, oversampler_state(d, 1))[0][0]
    assert int(np.argmax(y)) == 5 * factor + d.upsample_delay


def test_latencies_are_published_values():
    assert [oversampler_design(f).latency_samples for f in FACTORS] == [0, 73, 79, 81, 81]


def test_state_of_caller_not_mutated(rng):
    d = oversampler_design(8)
    st = oversampler_state(d, 1)
    st0 = st.copy()
    y, st1 = upsample(rng.standard_normal((1, 50)), d, st)
    downsample(y, d, st1)
    st1_copy = st1.copy()
    downsample(y, d, st1)
    np.testing.assert_array_equal(st, st0)
    np.testing.assert_array_equal(st1, st1_copy)


def test_kernels_match_py_func(rng):
    d = oversampler_design(8)
    x = rng.standard_normal((2, 37))
    st = rng.standard_normal((2, d.state_size))
    y1 = np.empty((2, 37 * 8))
    y2 = np.empty_like(y1)
    s1, s2 = st.copy(), st.copy()
    ovs._upsample_kernel(x, d.coefs, d.ks, d.up_offsets, s1, y1, 16)
    _py(ovs._upsample_kernel)(x, d.coefs, d.ks, d.up_offsets, s2, y2, 16)
    np.testing.assert_allclose(y1, y2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-12)
    z1 = np.empty((2, 37))
    z2 = np.empty_like(z1)
    ovs._downsample_kernel(y1, d.coefs, d.ks, d.down_offsets, d.align_delay, s1, z1, 16)
    _py(ovs._downsample_kernel)(y1, d.coefs, d.ks, d.down_offsets, d.align_delay, s2, z2, 16)
    np.testing.assert_allclose(z1, z2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-12)


def test_sub_block_size_does_not_change_a_bit(rng):
    d = oversampler_design(16)
    x = rng.standard_normal((1, 700))
    outs = []
    for sb in (1, 3, 64, 256, 1000):
        st = oversampler_state(d, 1)
        y = np.empty((1, 700 * 16))
        ovs._upsample_kernel(x, d.coefs, d.ks, d.up_offsets, st, y, sb)
        z = np.empty((1, 700))
        ovs._downsample_kernel(y, d.coefs, d.ks, d.down_offsets, d.align_delay, st, z, sb)
        outs.append(np.concatenate([y[0], z[0]]))
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="one of"):
        oversampler_design(3)
    with pytest.raises(ValueError, match="one of"):
        oversampler_design(True)
    d = oversampler_design(4)
    with pytest.raises(ValueError, match="state shape"):
        upsample(np.zeros((2, 10)), d, oversampler_state(d, 1))
    with pytest.raises(ValueError, match="multiple of the factor 4"):
        downsample(np.zeros((1, 10)), d, oversampler_state(d, 1))
    with pytest.raises(ValueError, match="2-D"):
        upsample(np.zeros(10), d, oversampler_state(d, 1))
    with pytest.raises(ValueError, match="channels"):
        oversampler_state(d, 0)

"""dsp.crossover: LR4 band splits (analytic, kernel, processor) and the
linear-phase kernels of StereoWidth.

Bar (issue 3): the band sum is flat within +-0.01 dB from 20 Hz to 20 kHz.
"""
import numpy as np
import pytest
import scipy.signal as ss

import neuromaster as nm
from neuromaster.dsp import biquad as bq
from neuromaster.dsp import crossover as xo

CROSSOVERS = {2: [250.0], 3: [150.0, 2500.0], 4: [120.0, 1000.0, 6000.0], 5: [80.0, 400.0, 2000.0, 8000.0],
              6: [60.0, 250.0, 1000.0, 4000.0, 12000.0]}
F_AUDIO = np.geomspace(20.0, 20000.0, 600)


@pytest.mark.parametrize("sample_rate", [44100.0, 48000.0, 96000.0, 192000.0])
@pytest.mark.parametrize("num_bands", [2, 3, 4, 5, 6])
def test_band_sum_is_flat_analytic(num_bands, sample_rate):
    h = xo.lr4_band_responses(CROSSOVERS[num_bands], sample_rate, F_AUDIO)
    db = 20 * np.log10(np.abs(h.sum(axis=0)))
    print(f"{num_bands} bands @ {sample_rate:g}: band sum within {np.max(np.abs(db)):.2e} dB")
    assert np.max(np.abs(db)) <= 0.01
    # without the allpass compensation the sum is not flat (the test can fail)
    if num_bands > 2:
        raw = xo.lr4_band_responses(CROSSOVERS[num_bands], sample_rate, F_AUDIO, compensate=False)
        assert np.max(np.abs(20 * np.log10(np.abs(raw.sum(axis=0))))) > 0.03


def test_lr4_shape():
    fc, sr = 1000.0, 48000.0
    h = xo.lr4_band_responses([fc], sr, [fc, 2 * fc, fc / 2, 20.0])
    db = 20 * np.log10(np.abs(h))
    assert db[0, 0] == pytest.approx(-6.0206, abs=1e-3) and db[1, 0] == pytest.approx(-6.0206, abs=1e-3)
    # 24 dB/octave: analog LR4 LP at 2 fc is 1/(1+16) -> -24.6 dB (bilinear adds a little)
    assert -25.5 < db[0, 1] < -24.5 and -25.5 < db[1, 2] < -24.5
    # low-pass and high-pass in phase at every frequency (the LR property)
    ph = np.angle(h[0] / h[1])
    assert np.max(np.abs(ph)) < 1e-9


@pytest.mark.parametrize("num_bands", [2, 4, 6])
def test_split_kernel_matches_analytic_responses(num_bands):
    sr = 48000.0
    imp = np.zeros((1, 1 << 16))
    imp[0, 0] = 1.0
    co = xo.lr4_coefficients(CROSSOVERS[num_bands], sr)
    bands, _ = xo.lr4_split(imp, co, xo.lr4_state(1, num_bands))
    f = np.fft.rfftfreq(imp.shape[1], 1 / sr)
    sel = (f >= 20) & (f <= 20000)
    got = np.fft.rfft(bands[:, 0], axis=-1)[:, sel]
    want = xo.lr4_band_responses(CROSSOVERS[num_bands], sr, f[sel])
    assert np.max(np.abs(got - want)) < 1e-9
    total = 20 * np.log10(np.abs(got.sum(axis=0)))
    assert np.max(np.abs(total)) <= 0.01


def test_two_band_split_equals_scipy(rng):
    sr = 44100.0
    x = rng.standard_normal((2, 4000))
    co = xo.lr4_coefficients([700.0], sr)
    bands, _ = xo.lr4_split(x, co, xo.lr4_state(2, 2))
    lp = bq.rbj("lowpass", 700.0, 0.0, xo.LR4_Q, sr)
    hp = bq.rbj("highpass", 700.0, 0.0, xo.LR4_Q, sr)
    np.testing.assert_allclose(bands[0], ss.sosfilt(np.vstack([lp, lp]), x, axis=1), atol=1e-12)
    np.testing.assert_allclose(bands[1], ss.sosfilt(np.vstack([hp, hp]), x, axis=1), atol=1e-12)


def test_split_chunks_state_and_py_func(rng):
    sr = 44100.0
    x = rng.standard_normal((2, 3000))
    co = xo.lr4_coefficients(CROSSOVERS[4], sr)
    ref, _ = xo.lr4_split(x, co, xo.lr4_state(2, 4))
    st0 = xo.lr4_state(2, 4)
    b1, st1 = xo.lr4_split(x[:, :1111], co, st0, position=0)
    assert not np.any(st0[0]) and not np.any(st0[1]), "caller's state was mutated"
    b2, _ = xo.lr4_split(x[:, 1111:], co, st1, position=1111)
    np.testing.assert_allclose(np.concatenate([b1, b2], axis=-1), ref, atol=1e-12)
    # per-control-block coefficients that happen to be constant equal the static path
    nb = (3000 - 1) // 16 + 1
    blk, _ = xo.lr4_split(x, np.broadcast_to(co, (nb,) + co.shape), xo.lr4_state(2, 4))
    np.testing.assert_array_equal(blk, ref)
    # the python body of the split kernel agrees with the compiled one
    yp = np.empty((4, 2, 200))
    xo._lr4_split_kernel.py_func(np.ascontiguousarray(x[:, :200]), co[np.newaxis], 0, 16, np.zeros((2, 3, 8)), yp, yp,
                                 False, 0.0)
    raw = np.empty((4, 2, 200))
    xo._lr4_split_kernel(np.ascontiguousarray(x[:, :200]), co[np.newaxis], 0, 16, np.zeros((2, 3, 8)), raw, raw, False, 0.0)
    np.testing.assert_allclose(yp, raw, atol=1e-12)


@pytest.mark.parametrize("sample_rate", [44100.0, 96000.0])
@pytest.mark.parametrize("num_bands", [2, 3, 4, 5, 6])
def test_multiband_processor_unity_is_flat(num_bands, sample_rate):
    """All bands at unity gain (ratio 1): the output's magnitude response is flat."""
    kw = {f"crossover{j + 1}_hz": f for j, f in enumerate(CROSSOVERS[num_bands])}
    mbc = nm.MultibandCompressor(num_bands=num_bands, **kw, **{f"band{k}_ratio": 1.0 for k in range(1, 7)})
    imp = np.zeros((2, 1 << 16))
    imp[:, 0] = 1.0
    h = mbc(imp, sample_rate).astype(np.float64)
    f = np.fft.rfftfreq(h.shape[1], 1 / sample_rate)
    sel = (f >= 20) & (f <= 20000)
    db = 20 * np.log10(np.abs(np.fft.rfft(h, axis=-1)[:, sel]))
    print(f"MultibandCompressor {num_bands} bands @ {sample_rate:g}: |H| within {np.max(np.abs(db)):.2e} dB")
    assert np.max(np.abs(db)) <= 0.01
    # and it is the analytic allpass of the crossovers
    want = xo.lr4_band_responses(CROSSOVERS[num_bands], sample_rate, f[sel]).sum(axis=0)
    assert np.max(np.abs(np.fft.rfft(h[0])[sel] - want)) < 1e-5   # float32 output


# ----------------------------------------------------------- linear phase
@pytest.mark.parametrize("sample_rate", [44100.0, 192000.0])
@pytest.mark.parametrize("fc", [50.0, 200.0, 4000.0])
def test_linear_phase_lowpass_has_the_lr4_magnitude(fc, sample_rate):
    d = xo.linear_phase_half_length(sample_rate)
    h = xo.linear_phase_lowpass(fc, sample_rate, d)
    assert h.shape == (2 * d + 1,)
    np.testing.assert_allclose(h, h[::-1], atol=1e-15)               # symmetric: linear phase
    f = np.geomspace(20.0, 20000.0, 300)
    got = xo.linear_phase_response(h, f, sample_rate)
    want = 1.0 / (1.0 + (f / fc) ** 4)
    err = np.max(np.abs(got - want))
    print(f"linear-phase LP {fc:g} Hz @ {sample_rate:g}: max |H - 1/(1+r^4)| = {err:.2e}")
    assert err < 1e-3
    # the complementary high-pass: delta - h has magnitude r^4/(1+r^4), and the two sum to the delay
    hp = -h.copy()
    hp[d] += 1.0
    np.testing.assert_allclose(xo.linear_phase_response(hp, f, sample_rate), 1 - want, atol=1e-3)


def test_linear_phase_sizes():
    for sr in (22050.0, 44100.0, 48000.0, 96000.0, 192000.0):
        d = xo.linear_phase_half_length(sr)
        nfft, block = xo.linear_phase_block(d)
        assert nfft & (nfft - 1) == 0 and block == nfft - 2 * d and block >= (2 * d + 1) // 2


def test_gain_sum_kernel_is_the_compensated_sum(rng):
    """Nested compensation after the gains == per-band compensation, for unity
    gains exactly and with constant per-band gains (linear, time-invariant)."""
    sr = 44100.0
    x = rng.standard_normal((2, 2000))
    co = xo.lr4_coefficients(CROSSOVERS[5], sr)
    comp, _ = xo.lr4_split(x, co, xo.lr4_state(2, 5))
    raw, _ = xo.lr4_split(x, co, xo.lr4_state(2, 5), compensate=False)
    g = np.array([0.5, 1.0, 2.0, 0.25, 1.5])
    gains = np.broadcast_to(g[:, np.newaxis, np.newaxis], (5, 1, 2000)).copy()
    for fn in (xo._lr4_gain_sum_kernel, xo._lr4_gain_sum_kernel.py_func):
        y = np.empty_like(x)
        fn(raw, gains, np.arange(5), co[np.newaxis], 0, 16, np.zeros((2, 4, 4)), y)
        np.testing.assert_allclose(y, np.tensordot(g, comp, axes=1), atol=1e-10)
    # -1 = unity, -2 = muted
    y = np.empty_like(x)
    xo._lr4_gain_sum_kernel(raw, gains, np.array([-1, -2, 2, -2, -1]), co[np.newaxis], 0, 16, np.zeros((2, 4, 4)), y)
    np.testing.assert_allclose(y, comp[0] + 2.0 * comp[2] + comp[4], atol=1e-10)

"""StereoWidth: width 1.0 is transparent, side gone below mono_below_hz
(<= -60 dB for f <= 0.56 x cutoff), per-band widths as designed."""
import numpy as np
import pytest

import neuromaster as nm
from neuromaster.dsp import crossover as xo

SR = 44100.0


def _ms(y):
    y = np.asarray(y, dtype=np.float64)
    return 0.5 * (y[0] + y[1]), 0.5 * (y[0] - y[1])


def _tone(f, seconds, sample_rate, amp=0.5):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return amp * np.sin(2 * np.pi * f * t)


def test_width_one_is_transparent(rng):
    x = rng.standard_normal((2, 40000)) * 0.3
    w = nm.StereoWidth()
    assert w.reported_latency_samples == xo.linear_phase_block(xo.linear_phase_half_length(SR))[1] + \
        xo.linear_phase_half_length(SR)
    y = w(x.astype(np.float32), SR)
    assert np.max(np.abs(y.astype(np.float64) - x.astype(np.float32))) <= 1e-9
    # float64 internals: the delayed input, to rounding
    w.prepare(SR, 2, 8192)
    lat = w.reported_latency_samples
    y64 = w._run(x, 8192, None)
    err = np.max(np.abs(y64[:, lat:] - x[:, :-lat]))
    print(f"width 1.0: max |out - delayed in| = {err:.2e} (latency {lat} samples = {1000 * lat / SR:.1f} ms)")
    assert err <= 1e-9
    # automated widths that stay at 1.0 take the per-sample path and are still exact
    w2 = nm.StereoWidth()
    w2.set_automation("width_mid", np.ones(100))
    assert np.max(np.abs(w2(x, SR).astype(np.float64) - x.astype(np.float32))) <= 1e-6


def test_uniform_width_scales_the_side_and_keeps_the_mid(rng):
    x = rng.standard_normal((2, 30000)) * 0.3
    m_in, s_in = _ms(x)
    for width in (0.0, 0.5, 2.0):
        y = nm.StereoWidth(width_low=width, width_mid=width, width_high=width)(x, SR)
        m_out, s_out = _ms(y)
        np.testing.assert_allclose(m_out, m_in, atol=1e-6)
        np.testing.assert_allclose(s_out, width * s_in, atol=2e-6)
    mono = nm.StereoWidth(width_low=0.0, width_mid=0.0, width_high=0.0)(x, SR)
    np.testing.assert_array_equal(mono[0], mono[1])


@pytest.mark.parametrize("widths", [(0.0, 1.0, 1.0), (0.5, 1.5, 2.0), (2.0, 0.0, 1.0)])
def test_band_widths_follow_the_linear_phase_design(widths):
    """Side-only tones: the side gain at each frequency is W(f) = w_hi + (w_lo - w_mid) H_lo(f) + (w_mid - w_hi) H_hi(f)."""
    lo, hi = 200.0, 4000.0
    w = nm.StereoWidth(width_low=widths[0], width_mid=widths[1], width_high=widths[2],
                       crossover_low_hz=lo, crossover_high_hz=hi)
    d = xo.linear_phase_half_length(SR)
    h_lo = xo.linear_phase_lowpass(lo, SR, d)
    h_hi = xo.linear_phase_lowpass(hi, SR, d)
    for f in (40.0, 200.0, 900.0, 4000.0, 14000.0):
        s = _tone(f, 0.6, SR)
        m = _tone(f * 1.01, 0.6, SR, amp=0.2)
        y = w(np.vstack([m + s, m - s]), SR)
        m_out, s_out = _ms(y)
        seg = slice(int(0.2 * SR), int(0.45 * SR))              # away from the start and the end (FIR look-ahead)
        want = widths[2] + (widths[0] - widths[1]) * xo.linear_phase_response(h_lo, f, SR)[0] + \
            (widths[1] - widths[2]) * xo.linear_phase_response(h_hi, f, SR)[0]
        got = np.std(s_out[seg]) / np.std(s[seg])
        assert got == pytest.approx(abs(want), abs=2e-4)
        np.testing.assert_allclose(m_out, m, atol=1e-6)            # the mid never changes
    # width 0 in the low band: the side 2.3 octaves under the crossover is gone to < -40 dB
    if widths[0] == 0.0:
        s = _tone(40.0, 0.6, SR)
        _, s_out = _ms(w(np.vstack([s, -s]), SR))
        assert 20 * np.log10(np.std(s_out[int(0.2 * SR):int(0.45 * SR)]) / np.std(s)) < -40


@pytest.mark.parametrize("sample_rate", [44100.0, 96000.0])
@pytest.mark.parametrize("cutoff", [60.0, 120.0, 300.0])
def test_side_gone_below_mono_cutoff(cutoff, sample_rate):
    w = nm.StereoWidth(mono_below_hz=cutoff)
    worst_below, report = -np.inf, []
    for ratio in (0.1, 0.25, 0.4, 0.5, 0.56):
        f = cutoff * ratio
        s = _tone(f, 2.0, sample_rate)
        _, s_out = _ms(w(np.vstack([s, -s]), sample_rate))
        seg = slice(int(1.0 * sample_rate), None)                 # past the filter's transient
        db = 20 * np.log10(np.std(s_out[seg]) / np.std(s[seg]) + 1e-300)
        worst_below = max(worst_below, db)
        report.append(f"{f:.1f} Hz: {db:.1f} dB")
    print(f"mono_below_hz={cutoff} @ {sample_rate:g}: side " + ", ".join(report))
    assert worst_below <= -60.0
    # the side is kept above the cutoff and the mid's magnitude is untouched (allpass)
    for f in (4 * cutoff, 10 * cutoff):
        s = _tone(f, 0.5, sample_rate)
        m = _tone(f * 0.93, 0.5, sample_rate, amp=0.3)
        m_out, s_out = _ms(w(np.vstack([m + s, m - s]), sample_rate))
        seg = slice(int(0.2 * sample_rate), None)
        assert 20 * np.log10(np.std(s_out[seg]) / np.std(s[seg])) == pytest.approx(0.0, abs=0.1)
    for f in (0.3 * cutoff, cutoff, 3 * cutoff):
        m = _tone(f, 2.0, sample_rate)
        m_out, _ = _ms(w(np.vstack([m, m]), sample_rate))
        seg = slice(int(1.0 * sample_rate), None)
        assert 20 * np.log10(np.std(m_out[seg]) / np.std(m[seg])) == pytest.approx(0.0, abs=0.01)


def test_stereo_only_and_crossover_change_is_smooth(rng):
    w = nm.StereoWidth(width_low=0.2, width_high=1.8)
    with pytest.raises(nm.ParameterError, match="channel"):
        w(np.zeros(1000), SR)
    with pytest.raises(nm.ParameterError, match="cannot be automated"):
        w.set_automation("crossover_low_hz", np.full(10, 300.0))
    # a crossover change between streaming calls cross-fades: no step in the output
    x = np.vstack([_tone(150.0, 3.0, SR), _tone(150.0, 3.0, SR, amp=0.1)])
    w.reset()
    a = w(x[:, :60000], SR, reset=False)
    w.crossover_low_hz = 100.0
    b = w(x[:, 60000:], SR, reset=False)
    y = np.concatenate([a, b], axis=1).astype(np.float64)
    lat = w.reported_latency_samples
    jump = np.max(np.abs(np.diff(y[0, lat + 1000:], 2)))
    tone_curvature = (2 * np.pi * 150.0 / SR) ** 2 * 0.6           # |x''| of the tone, generously
    assert jump < 2 * tone_curvature

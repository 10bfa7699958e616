"""ParametricEQ: magnitude against the closed form at every rate, routing, automation, kernels.

Figures: ``.venv/bin/python -m pytest host_tests/test_eq.py -q -n 0 -s`` prints
the worst magnitude error per sample rate.
"""
import numpy as np
import pytest
import scipy.signal as ss

import neuromaster as nm
from neuromaster.dsp import biquad as bq
from neuromaster.dsp import eq as eqdsp
from neuromaster.processor import CONTROL_INTERVAL
from test_biquad import analog_prototype, butterworth_prototype, reference_response

RATES = (22050.0, 44100.0, 48000.0, 88200.0, 96000.0, 192000.0)
BUTTERWORTH_Q = 1 / np.sqrt(2)

# (type, frequency_hz, gain_db, q, slope): each run alone through the processor
BAND_SETS = [
    ("bell", 80.0, 9.0, 2.0, 12),
    ("bell", 3000.0, -7.5, 0.5, 12),
    ("low_shelf", 150.0, 6.0, BUTTERWORTH_Q, 12),
    ("high_shelf", 6000.0, -8.0, 1.2, 12),
    ("highpass", 60.0, 0.0, BUTTERWORTH_Q, 12),
    ("highpass", 200.0, 0.0, BUTTERWORTH_Q, 24),
    ("highpass", 120.0, 0.0, 1.5, 48),
    ("lowpass", 9000.0, 0.0, BUTTERWORTH_Q, 12),
    ("lowpass", 5000.0, 0.0, 0.9, 24),
    ("lowpass", 2000.0, 0.0, BUTTERWORTH_Q, 48),
    ("notch", 1000.0, 0.0, 3.0, 12),
    ("tilt", 700.0, 6.0, BUTTERWORTH_Q, 12),
]


def _eq(band_type, f, g, q, slope, n=1, **kw):
    return nm.ParametricEQ(**{f"band{n}_enabled": True, f"band{n}_type": band_type, f"band{n}_frequency_hz": f,
                              f"band{n}_gain_db": g, f"band{n}_q": q, f"band{n}_slope": slope}, **kw)


def _ir_length(sos, sample_rate, floor=1e-13):
    """Samples until the slowest pole has decayed below ``floor``."""
    r = max(np.max(np.abs(np.roots(s[3:]))) for s in np.atleast_2d(sos))
    return int(min(np.log(floor) / np.log(r), 4 * sample_rate)) + 64


def _response_from_ir(h, frequency_hz, sample_rate):
    """DFT of an impulse response at arbitrary frequencies (complex)."""
    n = np.arange(h.size)
    out = np.empty(len(frequency_hz), dtype=complex)
    for k, f in enumerate(frequency_hz):
        out[k] = np.dot(h, np.exp(-2j * np.pi * f / sample_rate * n))
    return out


def _ir_length_from_prototype(a, f0, sample_rate, floor=1e-13):
    """Like :func:`_ir_length` for an analogue prototype denominator ``a`` (s at 1 rad/s): its poles
    (well conditioned in s) scaled to f0 and mapped by the pre-warped bilinear transform."""
    s = np.roots(a) * 2.0 * sample_rate * np.tan(np.pi * f0 / sample_rate)
    r = np.max(np.abs((1 + s / (2 * sample_rate)) / (1 - s / (2 * sample_rate))))
    return int(min(np.log(floor) / np.log(r), 4 * sample_rate)) + 64


def _impulse_response(proc, n, sample_rate):
    x = np.zeros(n)
    x[0] = 1.0
    return proc(x, sample_rate).astype(np.float64)


def _measure(proc, sos, freqs, sample_rate):
    h = _impulse_response(proc, _ir_length(sos, sample_rate), sample_rate)
    return _response_from_ir(h, freqs, sample_rate)


@pytest.mark.parametrize("sample_rate", RATES)
def test_processor_magnitude_matches_closed_form(sample_rate):
    """Processor impulse response vs |H(e^jw)| of the designed sections, 20 Hz-0.45 fs."""
    freqs = np.geomspace(20.0, 0.45 * sample_rate, 48)
    worst = 0.0
    for band_type, f0, g, q, slope in BAND_SETS:
        proc = _eq(band_type, f0, g, q, slope)
        sos = eqdsp.band_sections(band_type, f0, g, q, slope, sample_rate)
        measured = _measure(proc, sos, freqs, sample_rate)
        analytic = bq.sos_response(sos, freqs, sample_rate)
        mag = 20 * np.log10(np.abs(analytic))
        ok = mag > -60.0  # deep stop bands: float32 output noise dominates the dB figure
        err_db = np.abs(20 * np.log10(np.abs(measured[ok])) - mag[ok])
        worst = max(worst, err_db.max())
        assert err_db.max() < 0.01, f"{band_type} {f0} Hz at {sample_rate} Hz: {err_db.max():.4f} dB off"
        # below -60 dB: absolute agreement of the complex response
        assert np.all(np.abs(measured[~ok] - analytic[~ok]) < 1e-5)
    print(f"\nParametricEQ magnitude vs closed form at {sample_rate:g} Hz: worst {worst:.2e} dB "
          f"({len(BAND_SETS)} bands x {len(freqs)} frequencies)")


def _prototype_for_band(band_type, g, q, slope):
    """The band's analogue prototype (s normalised to its frequency), written out in test_biquad.py
    from the RBJ cookbook and scipy's analogue Butterworth: independent of neuromaster's design code."""
    if band_type == "bell":
        return analog_prototype("peak", g, q)
    if band_type in ("low_shelf", "high_shelf", "notch"):
        return analog_prototype(band_type, g, q)
    if band_type == "tilt":           # a high shelf of the full gain, moved down by half of it
        b, a = analog_prototype("high_shelf", g, q)
        return np.asarray(b) * 10 ** (-g / 40), a
    return butterworth_prototype(slope // 6, q, band_type == "highpass")


@pytest.mark.parametrize("sample_rate", RATES)
def test_processor_matches_the_prewarped_bilinear_image_of_the_analogue_prototypes(sample_rate):
    """Independent reference (not ``band_sections``): the cookbook's analogue prototypes through a
    bilinear transform pre-warped so that f0 maps exactly (scipy lp2lp + bilinear + freqz), against
    the processor's measured impulse response, 0.01 dB over 20 Hz-0.45 fs."""
    freqs = np.geomspace(20.0, 0.45 * sample_rate, 64)
    worst = 0.0
    for band_type, f0, g, q, slope in BAND_SETS:
        b, a = _prototype_for_band(band_type, g, q, slope)
        ref = reference_response(b, a, f0, freqs, sample_rate)
        n = _ir_length_from_prototype(a, f0, sample_rate)
        h = _impulse_response(_eq(band_type, f0, g, q, slope), n, sample_rate)
        measured = _response_from_ir(h, freqs, sample_rate)
        mag = 20 * np.log10(np.abs(ref))
        ok = mag > -60.0  # deep stop bands: float32 output noise dominates the dB figure
        err_db = np.abs(20 * np.log10(np.abs(measured[ok])) - mag[ok])
        worst = max(worst, err_db.max())
        assert err_db.max() < 0.01, f"{band_type} {f0} Hz at {sample_rate} Hz: {err_db.max():.4f} dB off the prototype"
        assert np.all(np.abs(measured[~ok] - ref[~ok]) < 1e-5)
    print(f"\nParametricEQ vs analogue prototypes (pre-warped bilinear) at {sample_rate:g} Hz: worst {worst:.2e} dB")


@pytest.mark.parametrize("sample_rate", [44100.0, 48000.0, 96000.0])
@pytest.mark.parametrize("band_type,f0,g,q", [("bell", 100.0, 6.0, 0.7), ("bell", 1000.0, -9.0, 2.0),
                                              ("bell", 8000.0, 12.0, 1.0), ("bell", 3000.0, 3.0, 6.0),
                                              ("notch", 2000.0, 0.0, 1.5)])
def test_bandwidth_matches_q_as_the_cookbook_defines_it(sample_rate, band_type, f0, g, q):
    """RBJ: a bell's bandwidth is measured between its half-gain (g/2 dB) points, a notch's between
    its -3 dB points, and 1/Q = 2 sinh(ln 2 / 2 * BW) on the analogue prototype. Measured on the
    processor and mapped back through the bilinear warping (tan(pi f / fs) / tan(pi f0 / fs)), the
    edges sit symmetrically around f0 (geometric mean) with exactly that bandwidth in octaves."""
    from scipy.optimize import brentq
    proc = _eq(band_type, f0, g, q, 12)
    sos = eqdsp.band_sections(band_type, f0, g, q, 12, sample_rate)
    h = _impulse_response(proc, _ir_length(sos, sample_rate), sample_rate)
    level = g / 2 if band_type == "bell" else -10 * np.log10(2)

    def excess_db(f):
        return 20 * np.log10(np.abs(_response_from_ir(h, [f], sample_rate)[0])) - level

    lo = brentq(excess_db, f0 / 64, f0, xtol=1e-9 * f0)
    hi = brentq(excess_db, f0, min(0.4999 * sample_rate, f0 * 64), xtol=1e-9 * f0)
    warp = np.tan(np.pi * np.array([lo, hi]) / sample_rate) / np.tan(np.pi * f0 / sample_rate)
    bw_oct = np.log2(warp[1] / warp[0])
    expect = 2 / np.log(2) * np.arcsinh(1 / (2 * q))
    print(f"\n  {band_type} {f0:g} Hz Q {q:g} @ {sample_rate:g}: edges {lo:.2f}-{hi:.2f} Hz, analogue BW "
          f"{bw_oct:.5f} oct (RBJ {expect:.5f}), digital {np.log2(hi / lo):.5f} oct", end="")
    assert bw_oct == pytest.approx(expect, abs=2e-5)
    assert warp[0] * warp[1] == pytest.approx(1.0, abs=2e-5)      # centred on f0 in the analogue domain
    if f0 <= 1000.0:   # where warping is negligible, the digital bandwidth itself is the cookbook's
        assert np.log2(hi / lo) == pytest.approx(expect, rel=0.01)


@pytest.mark.parametrize("sample_rate", RATES)
def test_analogue_intent_at_design_frequency(sample_rate):
    """Gain at f0 for bells, half gain at shelf midpoints, -3.01 dB at Butterworth
    corners (every slope), 0 dB at the tilt pivot, measured from the processor."""
    f0 = min(1000.0, 0.2 * sample_rate)
    cases = [("bell", 7.0, 1.3, 12, 7.0), ("low_shelf", -5.0, BUTTERWORTH_Q, 12, -2.5),
             ("high_shelf", 9.0, 0.9, 12, 4.5), ("tilt", 8.0, BUTTERWORTH_Q, 12, 0.0)]
    cases += [(t, 0.0, BUTTERWORTH_Q, s, -10 * np.log10(2)) for t in ("highpass", "lowpass") for s in (12, 24, 48)]
    # Q sets the corner gain at every slope: 20 log10(q)
    cases += [("highpass", 0.0, 2.0, s, 20 * np.log10(2.0)) for s in (24, 48)]
    for band_type, g, q, slope, expect_db in cases:
        sos = eqdsp.band_sections(band_type, f0, g, q, slope, sample_rate)
        h = _measure(_eq(band_type, f0, g, q, slope), sos, [f0], sample_rate)
        got = 20 * np.log10(np.abs(h[0]))
        assert got == pytest.approx(expect_db, abs=0.01), f"{band_type}/{slope} at {sample_rate}: {got:.4f} dB"


def test_tilt_is_a_balanced_tilt():
    sample_rate, f0, g = 48000.0, 1000.0, 6.0
    sos = eqdsp.band_sections("tilt", f0, g, BUTTERWORTH_Q, 12, sample_rate)
    db = 20 * np.log10(np.abs(bq.sos_response(sos, [1.0, f0, 0.4999 * sample_rate], sample_rate)))
    assert db[0] == pytest.approx(-g / 2, abs=1e-4)
    assert db[1] == pytest.approx(0.0, abs=1e-9)
    assert db[2] == pytest.approx(g / 2, abs=1e-4)
    # a tilt equals a high shelf of the full gain moved down by half of it
    hs = bq.rbj("high_shelf", f0, g, BUTTERWORTH_Q, sample_rate)
    f = np.geomspace(20, 20000, 50)
    np.testing.assert_allclose(20 * np.log10(np.abs(bq.sos_response(sos, f, sample_rate))),
                               20 * np.log10(np.abs(bq.sos_response(hs, f, sample_rate))) - g / 2, atol=1e-9)


@pytest.mark.parametrize("slope", [12, 24, 48])
def test_pass_filter_asymptotic_slope(slope):
    sample_rate = 96000.0
    sos = eqdsp.band_sections("highpass", 2000.0, 0.0, BUTTERWORTH_Q, slope, sample_rate)
    db = 20 * np.log10(np.abs(bq.sos_response(sos, [62.5, 125.0], sample_rate)))
    order = slope // 6
    assert db[1] - db[0] == pytest.approx(order * 20 * np.log10(2), abs=0.01)  # 6.02 dB/oct per pole


def test_bands_cascade_in_order_and_disabled_bands_do_nothing(rng):
    sample_rate = 44100.0
    kw = dict(band2_enabled=True, band2_type="bell", band2_frequency_hz=300.0, band2_gain_db=4.0, band2_q=2.0,
              band5_enabled=True, band5_type="highpass", band5_frequency_hz=40.0, band5_slope=48,
              band9_enabled=False, band9_gain_db=12.0, band9_type="bell")
    x = 0.1 * rng.standard_normal((2, 20000))
    y = nm.ParametricEQ(**kw)(x, sample_rate).astype(np.float64)
    sos = np.vstack([eqdsp.band_sections("bell", 300.0, 4.0, 2.0, 12, sample_rate),
                     eqdsp.band_sections("highpass", 40.0, 0.0, BUTTERWORTH_Q, 48, sample_rate)])
    np.testing.assert_allclose(y, ss.sosfilt(sos, x, axis=1), atol=2e-7)  # float32 output


def test_no_bands_is_transparent(rng):
    x = (0.5 * rng.standard_normal((2, 5000))).astype(np.float32)
    for mode in ("stereo", "mid_side"):
        y = nm.ParametricEQ(channel_mode=mode, band3_gain_db=6.0)(x, 48000)
        np.testing.assert_array_equal(y, x)
    # bands at 0 dB are transparent to rounding
    eq0 = nm.ParametricEQ(band1_enabled=True, band1_type="bell", band2_enabled=True, band2_type="low_shelf",
                          band3_enabled=True, band3_type="tilt", channel_mode="mid_side")
    assert np.max(np.abs(eq0(x, 48000) - x)) < 1e-7


# ------------------------------------------------------------------ routing
def test_side_only_high_shelf_leaves_mid_untouched(rng):
    sample_rate = 44100.0
    m, s = 0.3 * rng.standard_normal(30000), 0.2 * rng.standard_normal(30000)
    x = np.vstack([m + s, m - s])
    proc = nm.ParametricEQ(channel_mode="mid_side", band1_enabled=True, band1_type="high_shelf",
                           band1_frequency_hz=5000.0, band1_gain_db=6.0, band1_channels="side")
    y = proc(x, sample_rate).astype(np.float64)
    mid, side = (y[0] + y[1]) / 2, (y[0] - y[1]) / 2
    sos = eqdsp.band_sections("high_shelf", 5000.0, 6.0, BUTTERWORTH_Q, 12, sample_rate)
    assert np.max(np.abs(mid - m)) < 1e-6
    assert np.max(np.abs(side - ss.sosfilt(sos, s))) < 1e-6
    # the side really was boosted (+6 dB above 5 kHz)
    assert np.std(side) > 1.2 * np.std(s)


def test_mid_only_and_left_right_targets(rng):
    sample_rate = 48000.0
    x = 0.3 * rng.standard_normal((2, 20000))
    sos = eqdsp.band_sections("bell", 1000.0, -6.0, 1.0, 12, sample_rate)
    band = dict(band4_enabled=True, band4_type="bell", band4_frequency_hz=1000.0, band4_gain_db=-6.0, band4_q=1.0)
    y = nm.ParametricEQ(channel_mode="mid_side", band4_channels="mid", **band)(x, sample_rate).astype(np.float64)
    m, s = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2
    fm = ss.sosfilt(sos, m)
    np.testing.assert_allclose(y, np.vstack([fm + s, fm - s]), atol=1e-6)
    for target, ch in (("left", 0), ("right", 1)):
        y = nm.ParametricEQ(band4_channels=target, **band)(x, sample_rate).astype(np.float64)
        np.testing.assert_allclose(y[ch], ss.sosfilt(sos, x[ch]), atol=1e-6)
        np.testing.assert_allclose(y[1 - ch], x[1 - ch], atol=1e-7)


def test_targets_must_exist_in_the_channel_mode(rng):
    x = 0.1 * rng.standard_normal((2, 1000))
    bad = nm.ParametricEQ(band3_enabled=True, band3_channels="side", band3_gain_db=3.0)
    with pytest.raises(nm.ParameterError, match=r"band3_channels='side' needs channel_mode='mid_side'"):
        bad(x, 44100)
    bad2 = nm.ParametricEQ(channel_mode="mid_side", band2_enabled=True, band2_channels="left")
    with pytest.raises(nm.ParameterError, match="channel_mode='stereo'"):
        bad2(x, 44100)
    # parameters may be set in any order; only processing checks the combination
    ok = nm.ParametricEQ(band3_channels="side", band3_enabled=True, band3_gain_db=3.0, channel_mode="mid_side")
    assert np.isfinite(ok(x, 44100)).all()
    # a disabled band's target does not matter
    nm.ParametricEQ(band3_channels="side")(x, 44100)
    # a preset round trip keeps a mid/side setup valid
    assert np.array_equal(nm.ParametricEQ.from_dict(ok.to_dict())(x, 44100), ok(x, 44100))


def test_channel_mode_with_all_targets_gives_the_same_output(rng):
    """Why channel_mode is exempt in the registry: linear, same filter on both channels."""
    x = 0.2 * rng.standard_normal((2, 8000))
    kw = dict(band2_enabled=True, band2_type="bell", band2_gain_db=5.0, band2_frequency_hz=500.0,
              band7_enabled=True, band7_type="lowpass", band7_frequency_hz=6000.0, band7_slope=24)
    a = nm.ParametricEQ(channel_mode="stereo", **kw)(x, 44100).astype(np.float64)
    b = nm.ParametricEQ(channel_mode="mid_side", **kw)(x, 44100).astype(np.float64)
    assert np.max(np.abs(a - b)) < 1e-6


def test_mono_input_is_a_centred_source(rng):
    sample_rate = 44100.0
    x = 0.3 * rng.standard_normal(10000)
    sos = eqdsp.band_sections("high_shelf", 3000.0, 6.0, BUTTERWORTH_Q, 12, sample_rate)
    band = dict(band1_enabled=True, band1_type="high_shelf", band1_frequency_hz=3000.0, band1_gain_db=6.0)
    filtered = ss.sosfilt(sos, x)
    # mid_side: side bands have nothing to act on, mid bands act on the signal
    y = nm.ParametricEQ(channel_mode="mid_side", band1_channels="side", **band)(x, sample_rate)
    np.testing.assert_allclose(y, x, atol=1e-7)
    y = nm.ParametricEQ(channel_mode="mid_side", band1_channels="mid", **band)(x, sample_rate)
    np.testing.assert_allclose(y, filtered, atol=1e-6)
    # stereo: a left-only band is heard at half in the mono fold-down
    y = nm.ParametricEQ(band1_channels="left", **band)(x, sample_rate)
    np.testing.assert_allclose(y, (filtered + x) / 2, atol=1e-6)
    y = nm.ParametricEQ(**band)(x, sample_rate)
    np.testing.assert_allclose(y, filtered, atol=1e-6)


# --------------------------------------------------------------- automation
def _df1_reference(x, sos_blocks):
    """Independent reference for time-varying sections: scipy's lfilter per control
    block, its initial state rebuilt from the past inputs and outputs with lfiltic
    (direct-form-I semantics: a coefficient change acts on the signal history)."""
    y = np.array(x, dtype=np.float64)
    for c in range(y.shape[0]):
        for s in range(sos_blocks.shape[1]):
            v = y[c].copy()
            for k in range(sos_blocks.shape[0]):
                a, b = k * CONTROL_INTERVAL, min(v.size, (k + 1) * CONTROL_INTERVAL)
                num, den = sos_blocks[k, s, :3], sos_blocks[k, s, 3:]
                xh = [x_ for x_ in v[max(0, a - 2):a][::-1]] if a else []
                yh = [y_ for y_ in y[c, max(0, a - 2):a][::-1]] if a else []
                zi = ss.lfiltic(num, den, yh, xh) if a else np.zeros(2)
                y[c, a:b], _ = ss.lfilter(num, den, v[a:b], zi=zi)
    return y


def _reference_blocks(x, values, band_type, g, q, slope, sample_rate):
    idx = np.arange(0, x.shape[1], CONTROL_INTERVAL)
    return _df1_reference(x, eqdsp.band_sections(band_type, values[idx], g, q, slope, sample_rate))


@pytest.mark.parametrize("band_type,slope", [("bell", 12), ("highpass", 48), ("tilt", 12)])
def test_frequency_automation_per_control_block(rng, band_type, slope):
    sample_rate = 48000.0
    n = 12000
    x = 0.2 * rng.standard_normal((2, n))
    sweep = np.geomspace(100.0, 8000.0, n)
    proc = _eq(band_type, 1000.0, 6.0, 1.0, slope, n=3)
    proc.set_automation("band3_frequency_hz", sweep)
    y = proc(x, sample_rate).astype(np.float64)
    ref = _reference_blocks(x, sweep, band_type, 6.0, 1.0, slope, sample_rate)
    assert np.max(np.abs(y - ref)) < 1e-6
    # and the result does not depend on block size or streaming
    for bs in (1, 7, 65, 8193):
        np.testing.assert_allclose(proc(x, sample_rate, buffer_size=bs), y, atol=1e-6, rtol=0)
    proc.reset()
    parts, a = [], 0
    for b in (5, 100, 4099, 9000, n):
        parts.append(proc(x[:, a:b], sample_rate, reset=False))
        a = b
    np.testing.assert_allclose(np.concatenate(parts, axis=1), y, atol=1e-6, rtol=0)


def test_gain_and_q_automation_breakpoints(rng):
    sample_rate = 44100.0
    n = 22050
    x = 0.2 * rng.standard_normal((1, n))
    proc = _eq("bell", 2000.0, 0.0, 1.0, 12, n=6)
    proc.set_automation("band6_gain_db", [(0.0, -12.0), (0.5, 12.0)])
    proc.set_automation("band6_q", [(0.0, 0.5), (0.5, 4.0)])
    y = proc(x, sample_rate).astype(np.float64)
    idx = np.arange(0, n, CONTROL_INTERVAL)
    g = np.interp(idx / sample_rate, [0.0, 0.5], [-12.0, 12.0])
    q = np.interp(idx / sample_rate, [0.0, 0.5], [0.5, 4.0])
    ref = _df1_reference(x, eqdsp.band_sections("bell", 2000.0, g, q, 12, sample_rate))
    assert np.max(np.abs(y - ref)) < 1e-6


def test_parameter_change_between_streaming_calls_is_smoothed(rng):
    """A gain change between streaming calls glides over 20 ms: the output equals
    a run automated with that ramp (both redesign per control block)."""
    sample_rate = 44100.0
    n, cut = 8820, 4410
    x = 0.3 * np.sin(2 * np.pi * 1000.0 * np.arange(n) / sample_rate)[None, :]
    proc = _eq("bell", 1000.0, 0.0, 1.0, 12)
    a = proc(x[:, :cut], sample_rate, reset=False)
    proc.band1_gain_db = 12.0
    b = proc(x[:, cut:], sample_rate, reset=False)
    y = np.concatenate([a, b], axis=1)
    total = int(round(0.020 * sample_rate))
    ramp = np.concatenate([np.zeros(cut), 12.0 * np.minimum(np.arange(1, n - cut + 1) / total, 1.0)])
    ref = _eq("bell", 1000.0, 0.0, 1.0, 12)
    ref.set_automation("band1_gain_db", ramp)
    np.testing.assert_allclose(y, ref(x, sample_rate), atol=1e-6, rtol=0)
    # and it lands on +12 dB at the bell's centre
    assert 20 * np.log10(np.max(np.abs(y[0, -2000:])) / 0.3) == pytest.approx(12.0, abs=0.05)


# ------------------------------------------------------------------ kernels
def test_routed_kernel_matches_scipy_and_py_func(rng):
    sample_rate = 44100.0
    sos = np.vstack([eqdsp.band_sections("bell", 100.0, 4.0, 1.0, 12, sample_rate),
                     eqdsp.band_sections("lowpass", 10000.0, 0.0, BUTTERWORTH_Q, 48, sample_rate)])
    x = rng.standard_normal((2, 6000))
    slots, routes = np.arange(5), np.zeros(5, dtype=np.int64)
    y, st = eqdsp.routed_cascade(x, sos, slots, routes, eqdsp.cascade_state(5))
    ref = ss.sosfilt(sos, x, axis=1)
    assert np.max(np.abs(y - ref)) < 1e-12 * np.max(np.abs(ref)) * 100
    st0 = eqdsp.cascade_state(5)
    y1, st1 = eqdsp.routed_cascade(x[:, :2345], sos, slots, routes, st0)
    assert not st0.any(), "caller's state was mutated"
    y2, _ = eqdsp.routed_cascade(x[:, 2345:], sos, slots, routes, st1)
    np.testing.assert_array_equal(np.concatenate([y1, y2], axis=1), y)
    yp = np.empty((2, 300))
    eqdsp._routed_kernel.py_func(x[:, :300], yp, yp, sos, slots, routes, eqdsp.cascade_state(5), 0)
    np.testing.assert_allclose(yp, y[:, :300], atol=1e-13)
    nb = (300 - 1) // 16 + 1
    yb = np.empty((2, 300))
    eqdsp._routed_blocks_kernel.py_func(x[:, :300], yb, yb, np.broadcast_to(sos, (nb, 5, 6)).copy(), slots, routes,
                                        eqdsp.cascade_state(5), 0, 0, 16)
    np.testing.assert_allclose(yb, y[:, :300], atol=1e-13)


@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_multichannel_df1_cascade(rng, channels):
    sample_rate = 48000.0
    sos = np.vstack([eqdsp.band_sections("highpass", 5.0, 0.0, BUTTERWORTH_Q, 12, sample_rate),
                     eqdsp.band_sections("bell", 700.0, -5.0, 2.0, 12, sample_rate)])
    x = rng.standard_normal((channels, 3000)) + 0.5
    y, st = bq.sos_filter(x, sos, bq.sos_state(channels, 2))
    ref = ss.sosfilt(sos, x, axis=1)
    # structures differ in rounding order; a 5 Hz pole pair (r = 1 - 6.5e-4) amplifies it
    assert np.max(np.abs(y - ref)) < 1e-9
    y1, st1 = bq.sos_filter(x[:, :1001], sos, bq.sos_state(channels, 2))
    y2, st2 = bq.sos_filter(x[:, 1001:], sos, st1)
    np.testing.assert_array_equal(np.concatenate([y1, y2], axis=1), y)
    np.testing.assert_array_equal(st2, st)
    # time-varying: per-block coefficients against the lfilter/lfiltic reference
    n = x.shape[1]
    f = np.geomspace(2.0, 10.0, (n - 1) // 16 + 1)
    blocks = eqdsp.band_sections("highpass", f, 0.0, BUTTERWORTH_Q, 24, sample_rate)
    yb, _ = bq.sos_filter_blocks(x, blocks, bq.sos_state(channels, 2), 0, 16)
    assert np.max(np.abs(yb - _df1_reference(x, blocks))) < 1e-10
    yp = np.empty((channels, 200))
    bq._cascade_kernel.py_func(x[:, :200], yp, sos, bq.sos_state(channels, 2))
    np.testing.assert_allclose(yp, y[:, :200], atol=1e-13)


def test_frequencies_above_nyquist_are_designed_below_it():
    # 20 kHz at 22.05 kHz sampling: designed at 0.49 fs, stable and finite
    proc = _eq("bell", 20000.0, 6.0, 1.0, 12)
    x = np.zeros(4000)
    x[0] = 1.0
    h = proc(x, 22050.0)
    assert np.isfinite(h).all() and np.max(np.abs(h[-100:])) < 1e-6
    sos = eqdsp.band_sections("bell", 20000.0, 6.0, 1.0, 12, 22050.0)
    np.testing.assert_allclose(sos, eqdsp.band_sections("bell", 0.49 * 22050.0, 6.0, 1.0, 12, 22050.0))


def test_slope_parameter_takes_its_values_only():
    proc = nm.ParametricEQ(band1_slope=24.0)
    assert proc.band1_slope == 24 and isinstance(proc.band1_slope, int)
    with pytest.raises(nm.ParameterError, match=r"band1_slope must be one of 12, 24, 48; got '24'"):
        nm.ParametricEQ(band1_slope="24")  # a number is a number, as for every int parameter
    proc.band1_slope = 48
    assert proc.get_normalized("band1_slope") == 1.0
    with pytest.raises(nm.ParameterError, match=r"band1_slope must be one of 12, 24, 48; got 36"):
        proc.band1_slope = 36
    with pytest.raises(nm.ParameterError, match="band1_slope"):
        proc.band1_slope = True

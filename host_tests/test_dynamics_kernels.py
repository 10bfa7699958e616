"""dsp.dynamics and the single-band Compressor: static curve, time constants,
detection, stereo link, sidechain, automation (DESIGN.md "Dynamics").

Definitions under test (neuromaster.dsp.dynamics):
* static curve: Giannoulis, Massberg & Reiss 2012, eq. 4;
* attack_ms / release_ms: time for the applied gain (dB) to cover 63.2 % of a
  step of the gain computer's output;
* "rms": one-pole mean square with time constant rms_window_ms;
* stereo_link: L_c + link (max L - L_c), in dB.

On a steady sine the branching peak detector does not sit exactly on the
static curve: between the peaks it releases, at the peaks it attacks, and the
balance leaves the gain above the curve by an amount set by
release_ms / attack_ms (about 0.28 dB at 10 dB of reduction for a ratio of
100, 0.04 dB for 4000; measured below). The static-curve tests therefore use
release/attack >= 4000 for peak detection, and RMS detection (no such bias,
only the averager's ripple) at ordinary settings.
"""
import numpy as np
import pytest

import neuromaster as nm
from neuromaster.dsp import dynamics as dyn

SR = 44100.0


def _sine(amp, seconds=1.0, f=1000.0, sample_rate=SR, channels=1):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return np.tile(amp * np.sin(2 * np.pi * f * t), (channels, 1))


def _steady_gain_db(x, y, sample_rate=SR, tail_s=0.3):
    """Output/input RMS ratio in dB over the last tail_s (a whole number of 1 kHz periods)."""
    n = int(round(tail_s * sample_rate))
    xi, yo = x[..., -n:], np.asarray(y, dtype=np.float64)[..., -n:]
    return 20 * np.log10(np.sqrt(np.mean(yo ** 2, axis=-1)) / np.sqrt(np.mean(xi ** 2, axis=-1)))


# ------------------------------------------------------------ static curve
def test_static_curve_formula_points():
    # T = -20, R = 4, W = 10: edges of the knee at -25 and -15 dB
    x = np.array([-40.0, -25.0, -20.0, -15.0, -10.0, 0.0])
    g = dyn.static_gain_db(x, -20.0, 4.0, 10.0)
    np.testing.assert_allclose(g, [0.0, 0.0, -0.75 * 25 / 20, -0.75 * 5, -7.5, -15.0], atol=1e-12)
    # hard knee, ratio 1 (no compression), floor
    np.testing.assert_allclose(dyn.static_gain_db([-30, -10], -20.0, 4.0, 0.0), [0, -7.5], atol=1e-12)
    np.testing.assert_allclose(dyn.static_gain_db([-30, -10], -20.0, 1.0, 6.0), [0, 0], atol=1e-12)
    np.testing.assert_allclose(dyn.static_gain_db(-10, -20.0, 4.0, 0.0, floor_db=3.0), -3.0, atol=1e-12)


def test_static_curve_is_continuous_and_monotonic(rng):
    for _ in range(20):
        t, r, w = rng.uniform(-50, -5), rng.uniform(1, 50), rng.uniform(0, 24)
        x = np.linspace(t - 30, t + 30, 20001)
        y = x + dyn.static_gain_db(x, t, r, w)
        assert np.all(np.diff(y) >= -1e-12)               # output level never falls with input level
        assert np.max(np.abs(np.diff(y))) < 0.01          # no jumps (grid step 0.003 dB)


def test_static_gain_kernel_matches_reference(rng):
    x = rng.uniform(-80, 0, 500)
    for t, r, w in [(-20.0, 4.0, 6.0), (-35.0, 100.0, 0.0), (-10.0, 1.5, 24.0)]:
        ref = dyn.static_gain_db(x, t, r, w)
        slope = 1 - 1 / r
        got = np.array([dyn._static_gain(v, t, w, slope) for v in x])
        py = np.array([dyn._static_gain.py_func(v, t, w, slope) for v in x])
        inv = float(dyn.knee_inverse(w))
        fast = np.array([dyn._static_gain_fast(v, t, w, inv, slope) for v in x])
        np.testing.assert_allclose(got, ref, atol=1e-12)
        np.testing.assert_allclose(py, ref, atol=1e-12)
        np.testing.assert_allclose(fast, ref, atol=1e-12)


# Levels relative to the knee: below, inside (3 points), above.
_KNEE_CASES = [(-20.0, 4.0, 10.0), (-30.0, 2.0, 6.0), (-12.0, 10.0, 0.0), (-24.0, 100.0, 12.0)]


@pytest.mark.parametrize("threshold_db,ratio,knee_db", _KNEE_CASES)
def test_static_curve_on_steady_sines_peak(threshold_db, ratio, knee_db):
    offsets = [-knee_db / 2 - 4.0, -knee_db / 4, 0.0, knee_db / 4, knee_db / 2 + 6.0]
    comp = nm.Compressor(threshold_db=threshold_db, ratio=ratio, knee_db=knee_db, attack_ms=0.5, release_ms=2000.0)
    errs = []
    for off in offsets:
        level = min(threshold_db + off, -1.0)
        x = _sine(10 ** (level / 20))
        got = _steady_gain_db(x, comp(x, SR))[0]
        want = dyn.static_gain_db(level, threshold_db, ratio, knee_db)
        errs.append(got - want)
    print(f"peak static curve T={threshold_db} R={ratio} W={knee_db}: errors {np.round(errs, 4)} dB")
    assert np.max(np.abs(errs)) <= 0.1


@pytest.mark.parametrize("threshold_db,ratio,knee_db", _KNEE_CASES)
def test_static_curve_on_steady_sines_rms(threshold_db, ratio, knee_db):
    offsets = [-knee_db / 2 - 4.0, -knee_db / 4, 0.0, knee_db / 4, knee_db / 2 + 6.0]
    comp = nm.Compressor(threshold_db=threshold_db, ratio=ratio, knee_db=knee_db, attack_ms=10.0, release_ms=100.0,
                         detection="rms", rms_window_ms=10.0)
    errs = []
    for off in offsets:
        level = min(threshold_db + off, -1.0)                  # RMS level of the sine
        x = _sine(np.sqrt(2) * 10 ** (level / 20))
        got = _steady_gain_db(x, comp(x, SR))[0]
        errs.append(got - dyn.static_gain_db(level, threshold_db, ratio, knee_db))
    print(f"rms static curve T={threshold_db} R={ratio} W={knee_db}: errors {np.round(errs, 4)} dB")
    assert np.max(np.abs(errs)) <= 0.1


def test_peak_branching_bias_shrinks_with_release_over_attack():
    """The documented bias of the branching peak detector on a steady sine:
    gain above the static curve, shrinking as release/attack grows."""
    x = _sine(0.5, seconds=3.0)
    want = dyn.static_gain_db(20 * np.log10(0.5), -20.0, 4.0, 0.0)
    bias = []
    for release in (100.0, 1000.0, 4000.0):
        comp = nm.Compressor(threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=1.0, release_ms=release)
        bias.append(_steady_gain_db(x, comp(x, SR))[0] - want)
    print(f"peak detector bias at release/attack 100, 1000, 4000: {np.round(bias, 3)} dB")
    assert bias[0] > bias[1] > bias[2] > 0
    assert bias[0] < 0.35 and bias[2] < 0.05


# ------------------------------------------------------------- time constants
def _crossing_s(trace, target, start, rising=True):
    seg = trace[start:]
    idx = np.argmax(seg >= target) if rising else np.argmax(seg <= target)
    return (idx + 1)  # samples from the step to the crossing (first sample after the step counts as 1)


@pytest.mark.parametrize("sample_rate", [44100.0, 96000.0])
@pytest.mark.parametrize("attack_ms,release_ms", [(5.0, 50.0), (20.0, 300.0), (1.0, 1000.0)])
def test_attack_and_release_times_match_definition(sample_rate, attack_ms, release_ms):
    """Level steps on a constant-magnitude signal (DC): the gain reduction
    covers 63.2 % of its step in attack_ms, and recovers 63.2 % in release_ms."""
    n1, n2 = int(0.2 * sample_rate), int(2.5 * release_ms / 1000 * sample_rate) + int(0.2 * sample_rate)
    x = np.concatenate([np.full(n1, 1e-3), np.full(n2, 0.1), np.full(n2, 1e-3)])[np.newaxis]
    comp = nm.Compressor(threshold_db=-30.0, ratio=4.0, knee_db=0.0, attack_ms=attack_ms, release_ms=release_ms)
    y = comp(x, sample_rate)
    gr = comp.last_gain_reduction_db[0].astype(np.float64)
    full = 0.75 * 10.0                                   # 10 dB over threshold at 4:1
    assert gr[n1 + n2 - 1] == pytest.approx(full, abs=1e-4)
    att = _crossing_s(gr, (1 - np.exp(-1)) * full, n1) / sample_rate * 1000
    rel = _crossing_s(gr, np.exp(-1) * full, n1 + n2, rising=False) / sample_rate * 1000
    print(f"fs={sample_rate:g}: attack {att:.3f} ms (set {attack_ms}), release {rel:.3f} ms (set {release_ms})")
    one = 1000.0 / sample_rate
    assert abs(att - attack_ms) <= 0.01 * attack_ms + one
    assert abs(rel - release_ms) <= 0.01 * release_ms + one
    # the applied gain is the trace (no makeup here)
    applied = 20 * np.log10(np.asarray(y, dtype=np.float64)[0] / x[0])
    np.testing.assert_allclose(applied, -gr, atol=1e-4)


def test_rms_window_is_the_mean_square_time_constant():
    """A DC step of 1: the mean square covers 63.2 % of its step in rms_window_ms."""
    for window_ms in (5.0, 50.0):
        c = dyn.smoothing_coefficient(window_ms, SR)
        det = np.ones((1, 1, int(0.5 * SR)))
        lev, scale, _ = dyn.detector_levels(det, "rms", np.array([c]), np.zeros((1, 1)), True)
        ms = 10 ** lev[0, 0]
        n = np.argmax(ms >= 1 - np.exp(-1)) + 1
        assert abs(n / SR * 1000 - window_ms) <= 1000 / SR
        assert scale == 10.0


# ------------------------------------------------------------ detection modes
def test_rms_reads_3db_below_peak_on_a_sine_and_equal_on_a_square():
    kw = dict(threshold_db=-30.0, ratio=4.0, knee_db=0.0, attack_ms=10.0, release_ms=100.0, rms_window_ms=20.0)
    peak = nm.Compressor(detection="peak", **{**kw, "attack_ms": 0.5, "release_ms": 2000.0})
    rms = nm.Compressor(detection="rms", **kw)
    sine = _sine(0.25)
    g_peak = _steady_gain_db(sine, peak(sine, SR))[0]
    g_rms = _steady_gain_db(sine, rms(sine, SR))[0]
    # the RMS detector sees the sine 3.01 dB lower: 0.75 * 3.01 dB less reduction at 4:1
    assert g_rms - g_peak == pytest.approx(0.75 * 20 * np.log10(np.sqrt(2)), abs=0.1)
    square = 0.25 * np.sign(_sine(1.0)) + 0.0
    square[square == 0] = 0.25
    g_peak_sq = _steady_gain_db(square, peak(square, SR))[0]
    g_rms_sq = _steady_gain_db(square, rms(square, SR))[0]
    want = dyn.static_gain_db(20 * np.log10(0.25), -30.0, 4.0, 0.0)
    assert g_peak_sq == pytest.approx(want, abs=0.02) and g_rms_sq == pytest.approx(want, abs=0.02)


# -------------------------------------------------------------- stereo link
def test_stereo_link():
    loud, quiet = 10 ** (-6 / 20), 10 ** (-30 / 20)
    x = np.vstack([_sine(loud), _sine(quiet)])
    kw = dict(threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=0.5, release_ms=4000.0)
    g_loud = dyn.static_gain_db(-6.0, -20.0, 4.0, 0.0)
    y1 = nm.Compressor(stereo_link=1.0, **kw)(x, SR)
    got = _steady_gain_db(x, y1)
    assert got[0] == pytest.approx(g_loud, abs=0.1) and got[1] == pytest.approx(g_loud, abs=0.1)
    assert np.max(np.abs(y1[0] / loud - y1[1] / quiet)) < 1e-5     # identical gains: image unchanged
    y0 = nm.Compressor(stereo_link=0.0, **kw)(x, SR)
    got = _steady_gain_db(x, y0)
    assert got[0] == pytest.approx(g_loud, abs=0.1)
    np.testing.assert_array_equal(y0[1], x[1].astype(np.float32))   # below threshold: untouched
    yh = nm.Compressor(stereo_link=0.5, **kw)(x, SR)
    # quiet channel's level: -30 + 0.5 (-6 + 30) = -18 dB -> 2 dB over threshold
    assert _steady_gain_db(x, yh)[1] == pytest.approx(dyn.static_gain_db(-18.0, -20.0, 4.0, 0.0), abs=0.1)


# ------------------------------------------------------- sidechain and mix
def test_external_sidechain_and_sidechain_hpf():
    x = _sine(10 ** (-30 / 20), f=1000.0)
    key = _sine(0.5, f=1000.0)
    kw = dict(threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=0.5, release_ms=4000.0)
    comp = nm.Compressor(**kw)
    np.testing.assert_array_equal(comp(x, SR), x.astype(np.float32))          # quiet: no reduction
    assert _steady_gain_db(x, comp(x, SR, sidechain=key))[0] == pytest.approx(
        dyn.static_gain_db(20 * np.log10(0.5), -20.0, 4.0, 0.0), abs=0.1)
    # a 40 Hz key, 3 octaves under a 320 Hz sidechain high-pass (12 dB/oct): ~-36 dB -> below threshold
    low_key = _sine(0.5, f=40.0)
    assert comp(x, SR, sidechain=low_key) is not None and comp.last_gain_reduction_db[0, -1000:].min() > 5.0
    comp.sidechain_hpf_hz = 320.0
    comp(x, SR, sidechain=low_key)
    assert comp.last_gain_reduction_db.max() < 0.01


def test_mix_is_parallel_compression(rng):
    x = rng.standard_normal((2, 20000)) * 0.3
    comp = nm.Compressor(threshold_db=-30.0, ratio=6.0, mix=0.4, makeup_db=0.0)
    y = comp(x, SR).astype(np.float64)
    g = 10 ** (-comp.last_gain_reduction_db.astype(np.float64) / 20)
    np.testing.assert_allclose(y, x * (0.6 + 0.4 * g), atol=2e-6)
    assert np.max(comp.last_gain_reduction_db) > 3.0


# ----------------------------------------------------------- automation
def test_threshold_and_makeup_automation_are_sample_accurate():
    n = int(0.4 * SR)
    x = np.full((1, n), 10 ** (-10 / 20))                      # DC at -10 dBFS
    comp = nm.Compressor(ratio=4.0, knee_db=0.0, attack_ms=0.01, release_ms=1.0)
    thr = np.where(np.arange(n) < n // 2, -30.0, -20.0)
    comp.set_automation("threshold_db", thr)
    mk = np.linspace(0.0, 6.0, n)
    comp.set_automation("makeup_db", mk)
    y = comp(x, SR).astype(np.float64)
    gr = comp.last_gain_reduction_db[0].astype(np.float64)
    assert gr[n // 2 - 1] == pytest.approx(15.0, abs=1e-3) and gr[-1] == pytest.approx(7.5, abs=1e-3)
    # makeup applied per sample on top of the reduction
    np.testing.assert_allclose(20 * np.log10(y[0] / x[0]), mk - gr, atol=2e-5)


# ------------------------------------------------------- traces and kernels
def test_gain_reduction_trace_streams(rng):
    x = rng.standard_normal((2, 12000)) * 0.4
    comp = nm.Compressor(threshold_db=-25.0, stereo_link=0.3)
    comp(x, SR)
    ref = comp.last_gain_reduction_db.copy()
    assert ref.shape == x.shape and ref.dtype == np.float32 and ref.max() > 3 and ref.min() >= 0
    comp.reset()
    parts, a = [], 0
    while a < x.shape[1]:
        b = min(x.shape[1], a + int(rng.integers(1, 2500)))
        comp(x[:, a:b], SR, reset=False)
        parts.append(comp.last_gain_reduction_db)
        a = b
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), ref)


def test_dynamics_gain_chunked_state_and_py_func(rng):
    det = rng.standard_normal((2, 2, 5000)) * 0.3
    kw = dict(threshold_db=[-20.0, -30.0], ratio=[4.0, 8.0], knee_db=6.0, attack_ms=2.0, release_ms=50.0,
              detection="rms", rms_window_ms=5.0, stereo_link=0.4)
    ref, _ = dyn.dynamics_gain_db(det, SR, **kw)
    state = dyn.gain_state(2, 2)
    keep = [s.copy() for s in state]
    g1, st = dyn.dynamics_gain_db(det[..., :1777], SR, state=state, **kw)
    assert all(np.array_equal(a, b) for a, b in zip(state, keep)), "caller's state was mutated"
    g2, _ = dyn.dynamics_gain_db(det[..., 1777:], SR, state=st, position=1777, **kw)
    np.testing.assert_allclose(np.concatenate([g1, g2], axis=-1), ref, atol=1e-12)
    assert ref.min() < -3.0
    # the python body of the gain kernel agrees with the compiled one
    lev, scale, _ = dyn.detector_levels(det[..., :300], "peak", np.ones(1), np.zeros((2, 2)), True)
    args = (lev, scale, np.ones(1), np.array([[-20.0], [-30.0]]), np.full((2, 1), 6.0), np.full((2, 1), 1 / 12),
            np.full((2, 1), 0.75),
            np.full((2, 1), np.inf), np.full((2, 1), 0.99), np.full((2, 1), 0.9999), np.zeros((2, 1)))
    outs = []
    for fn in (dyn._gain_kernel, dyn._gain_kernel.py_func):
        g = np.empty(lev.shape)
        fn(*args, np.zeros((2, 2)), g, g, 0, np.zeros(2), np.zeros((2, 1)), dyn.WRITE_GAIN)
        outs.append(g)
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-12)


def test_level_kernels_py_func(rng):
    det = rng.standard_normal((2, 2, 500))
    for linked in (True, False):
        r = 1 if linked else 2
        a, b = np.empty((2, r, 500)), np.empty((2, r, 500))
        dyn._peak_level_kernel(det, dyn.LEVEL_FLOOR, a)
        dyn._peak_level_kernel.py_func(det, dyn.LEVEL_FLOOR, b)
        np.testing.assert_array_equal(a, b)
        want = np.abs(det).max(axis=1, keepdims=True) if linked else np.abs(det)
        np.testing.assert_array_equal(a, np.maximum(want, dyn.LEVEL_FLOOR))
    ms_a, ms_b = np.zeros(4), np.zeros(4)
    oa, ob = np.empty((4, 500)), np.empty((4, 500))
    x = det.reshape(4, 500)
    dyn._mean_square_kernel(x, np.array([0.99]), ms_a, oa)
    dyn._mean_square_kernel.py_func(x, np.array([0.99]), ms_b, ob)
    np.testing.assert_allclose(oa, ob, atol=1e-15)
    import scipy.signal as ss
    np.testing.assert_allclose(oa, ss.lfilter([0.01], [1, -0.99], x ** 2, axis=1), atol=1e-12)

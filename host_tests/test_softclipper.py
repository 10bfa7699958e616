"""SoftClipper physics (issue 3): sample-peak ceiling, transparency below the
knee, DC-free symmetric curve, the static curve family, aliasing, and
automation aligned with the audio it acts on."""
from __future__ import annotations

import numpy as np
import pytest

import neuromaster as nm
from neuromaster.dsp import saturation as sat
from neuromaster.dsp.oversampling import oversampler_design
from cases_analog_a import aliasing_dbc
from registry import default_signal

SR = 44100


def _py(kernel):
    """The plain-Python body of a numba kernel (itself under NUMBA_DISABLE_JIT=1)."""
    return getattr(kernel, "py_func", kernel)


def _db(x):
    return 20 * np.log10(np.maximum(np.abs(x), 1e-300))


def _periodic_true_peak(seg, up=16):
    """Exact band-limited peak of one period of a periodic signal (FFT zero padding)."""
    n = seg.size
    X = np.fft.rfft(seg)
    Y = np.zeros(n * up // 2 + 1, complex)
    Y[:X.size] = X
    return np.abs(np.fft.irfft(Y, n * up) * up).max()


def _torture_signals(rng, n=6000):
    t = np.arange(n) / SR
    sigs = {f"sine {f} Hz": np.sin(2 * np.pi * f * t + 0.3) for f in (50, 997, 7000, 15000, 21000)}
    sigs["square 1 kHz"] = np.sign(np.sin(2 * np.pi * 1000 * t + 0.1))
    sigs["noise +12 dB"] = 4.0 * rng.standard_normal(n)
    imp = np.zeros(n)
    imp[::500] = 3.0
    imp[250::500] = -3.0
    sigs["impulses"] = imp
    sigs["music-like x4"] = 4.0 * default_signal(SR, n, 1, 3)[0]
    return sigs


@pytest.mark.parametrize("factor", [1, 4, 8])
@pytest.mark.parametrize("kw", [dict(), dict(drive_db=24.0), dict(knee_db=0.0, ceiling_db=-6.0), dict(knee_db=24.0, drive_db=12.0)])
def test_sample_peak_never_above_ceiling(factor, kw, rng):
    proc = nm.SoftClipper(oversampling=factor, **kw)
    c = 10 ** (proc.ceiling_db / 20)
    for name, x in _torture_signals(rng).items():
        y = proc(x, SR)
        assert np.max(np.abs(y)) <= c, f"{name}: peak {np.max(np.abs(y)):.9f} > ceiling {c:.9f}"
        # streaming in odd chunks: the same guarantee
        proc.reset()
        ys = np.concatenate([proc(x[a:a + 777], SR, reset=False) for a in range(0, x.size, 777)])
        assert np.max(np.abs(ys)) <= c


def test_true_peak_overshoot_is_small_and_printed():
    """Sample peaks obey the ceiling; true peaks (exact band-limited reconstruction
    of periodic sines) may pass it. Printed, and bounded by the measured +0.5 dB."""
    n = SR
    t = np.arange(2 * n + 8192) / SR
    worst = -np.inf
    for drive in (0.0, 12.0, 24.0):
        row = []
        for f in (997, 5000, 10000, 15000, 19000):
            proc = nm.SoftClipper(drive_db=drive)
            y = proc(np.sin(2 * np.pi * f * t + 0.3), SR).astype(np.float64)[n:2 * n]
            c = 10 ** (proc.ceiling_db / 20)
            tp = _db(_periodic_true_peak(y) / c)
            worst = max(worst, tp)
            row.append(f"{f} Hz {_db(np.abs(y).max() / c):+.2f}/{tp:+.2f}")
        print(f"drive {drive:4.1f} dB, sample/true peak re ceiling (dB): " + ", ".join(row))
    print(f"worst true-peak overshoot {worst:+.2f} dB")
    assert worst <= 0.5


@pytest.mark.parametrize("factor", [1, 2, 8, 16])
def test_bit_transparent_below_the_knee(factor, rng):
    proc = nm.SoftClipper(oversampling=factor, ceiling_db=-1.0, knee_db=6.0)
    t = 10 ** (-7.0 / 20)  # knee starts at -7 dBFS
    x = default_signal(SR, 8000, 2, 4)
    # 3 dB below the knee: "well below" leaves room for inter-sample peaks,
    # which the oversampled curve sees (true peak, not sample peak, counts)
    x *= 10 ** (-3 / 20) * t / np.abs(x).max()
    y = proc(x, SR)
    np.testing.assert_array_equal(y, x.astype(np.float32))
    # streaming: the input delayed by exactly the latency
    proc.reset()
    ys = np.concatenate([proc(x[:, a:a + 1000], SR, reset=False) for a in range(0, 8000, 1000)], axis=1)
    L = proc.reported_latency_samples
    np.testing.assert_array_equal(ys[:, L:], x[:, :-L].astype(np.float32))
    assert np.all(ys[:, :L] == 0)


def test_dc_free_for_symmetric_input():
    """An odd curve on a symmetric signal: no DC even when driven hard."""
    n = SR
    t = np.arange(2 * n + 8192) / SR
    for kw in (dict(), dict(drive_db=18.0, knee_db=0.0)):
        y = nm.SoftClipper(**kw)(np.sin(2 * np.pi * 441 * t), SR).astype(np.float64)[n:2 * n]
        dc = abs(y.mean())
        print(f"{kw}: DC {_db(dc):.1f} dBFS")
        assert dc <= 1e-7


def _curve_reference(u, t):
    """The curve written independently: linear, then a tanh knee to 1."""
    a = np.abs(u)
    if t >= 1.0:
        y = np.minimum(a, 1.0)
    else:
        y = np.where(a <= t, a, t + (1 - t) * np.tanh((a - t) / (1 - t)))
    return np.sign(u) * y


@pytest.mark.parametrize("knee_db", [0.0, 3.0, 6.0, 24.0])
def test_static_curve_at_1x(knee_db):
    """At 1x the stage is the curve itself: compare with an independent formula."""
    c = 10 ** (-3.0 / 20)
    x = np.linspace(-4.0, 4.0, 4001)
    proc = nm.SoftClipper(oversampling=1, ceiling_db=-3.0, drive_db=0.0, knee_db=knee_db)
    ref = c * _curve_reference(x / c, 10 ** (-knee_db / 20))
    # the peak guard acts only where a sample would pass the ceiling: never for this curve
    y = proc(x, SR).astype(np.float64)
    assert np.max(np.abs(y - ref)) < 1e-6
    assert np.max(np.abs(ref)) <= c


def test_curve_family_shape():
    u = np.linspace(0, 8, 8001)
    soft = _curve_reference(u, 10 ** (-24 / 20))
    assert np.max(np.abs(soft - np.tanh(u))) < 0.07  # 24 dB knee: tanh-like
    hard = _curve_reference(u, 1.0)
    np.testing.assert_array_equal(hard, np.minimum(u, 1.0))
    # the kernel: continuous, slope 1 into the knee, monotonic, odd
    for t in (0.25, 0.5, 0.9):
        r = sat.softclip_residual(np.concatenate([u, -u])[None, :], 1.0, 1.0, t)[0]
        f = np.concatenate([u, -u]) + r
        np.testing.assert_allclose(f[:u.size], _curve_reference(u, t), atol=1e-15)
        np.testing.assert_allclose(f[u.size:], -f[:u.size], atol=0)
        assert np.all(np.diff(f[:u.size]) >= 0)
        k = np.searchsorted(u, t)
        assert abs((f[k + 1] - f[k]) / (u[k + 1] - u[k]) - 1.0) < 1e-2


def test_aliasing_table_and_default_8x_bar():
    """Full-scale 7 kHz sine at 44.1 kHz: strongest non-harmonic component re the
    fundamental at every factor (default settings and driven +12 dB)."""
    rows = {}
    for label, kw in (("default", {}), ("+12 dB drive", {"drive_db": 12.0})):
        rows[label] = [aliasing_dbc(nm.SoftClipper(oversampling=f, **kw), settle_s=0.5) for f in (1, 2, 4, 8, 16)]
        print(f"SoftClipper {label:>13}: " + "  ".join(f"{f}x {w:7.1f}" for f, (w, _) in zip((1, 2, 4, 8, 16), rows[label])))
    worst = [w for w, _ in rows["default"]]
    assert worst[3] <= -100.0  # bar: -80 dBc at the default 8x; measured -116
    assert worst[0] > worst[2] > worst[3] > worst[4]  # oversampling is doing the work
    assert rows["+12 dB drive"][3][0] <= -70.0  # measured -77


def test_mix_zero_is_exact_delay(rng):
    x = 3.0 * rng.standard_normal((2, 5000))
    y = nm.SoftClipper(mix=0.0, drive_db=12.0)(x, SR)
    np.testing.assert_array_equal(y, x.astype(np.float32))


def test_latency_reported():
    for f in (1, 2, 4, 8, 16):
        for sr in (44100, 96000):
            proc = nm.SoftClipper(oversampling=f)
            proc.prepare(sr, 1)
            assert proc.reported_latency_samples == oversampler_design(f).latency_samples + round(sr / 1000)


def test_automation_is_aligned_with_the_audio():
    """A drive step at input sample k changes the output around k (never more than
    the downsampling filter's half-length before it; without the alignment it
    would start a whole latency, 81 samples, early); a mix step exactly at k."""
    n, k = 4000, 2000
    t = np.arange(n) / SR
    x = 0.9 * np.sin(2 * np.pi * 300 * t)
    base = nm.SoftClipper()
    y0 = base(x, SR).astype(np.float64)
    d = oversampler_design(8)
    half = -(-(d.latency_samples * 8 - d.upsample_delay) // 8)  # downsampler delay, base samples
    stepped = nm.SoftClipper()
    stepped.set_automation("drive_db", np.where(np.arange(n) < k, 0.0, 3.0))
    ys = stepped(x, SR).astype(np.float64)
    assert np.abs(ys).max() < 0.999 * 10 ** (-1 / 20)  # the output peak guard (lookahead) stays idle
    diff = np.abs(ys - y0)
    first = int(np.argmax(diff > 0))
    assert k - half - 1 <= first <= k, f"drive step at {k} first changes the output at {first}"
    assert diff[k:k + 50].max() > 0.01
    mixed = nm.SoftClipper(drive_db=6.0)
    ref = mixed(x, SR).astype(np.float64)
    mixed.set_automation("mix", np.where(np.arange(n) < k, 1.0, 0.0))
    diff = np.abs(mixed(x, SR).astype(np.float64) - ref)
    assert int(np.argmax(diff > 0)) == k


def test_oversampling_parameter_values():
    with pytest.raises(nm.ParameterError, match="oversampling must be one of 1, 2, 4, 8, 16"):
        nm.SoftClipper(oversampling=3)
    p = nm.SoftClipper()
    assert p.oversampling == 8 and p.get_normalized("oversampling") == 0.75
    p.set_normalized("oversampling", 0.25)
    assert p.oversampling == 2
    with pytest.raises(nm.ParameterError, match="cannot be automated"):
        p.set_automation("oversampling", [1, 2])


# ------------------------------------------------------------------ kernels
def test_kernels_match_py_func(rng):
    v = rng.standard_normal((2, 50)) * 2
    g = np.array([1.5])
    c = 0.5 + rng.random(50)
    t = np.array([0.4])
    r1, r2 = np.empty_like(v), np.empty_like(v)
    sat._softclip_residual_kernel(v, g, c, t, r1)
    _py(sat._softclip_residual_kernel)(v, g, c, t, r2)
    np.testing.assert_allclose(r1, r2, rtol=0, atol=1e-15)
    st = sat.peak_guard_state(2, 9)
    y1, y2 = np.empty_like(v), np.empty_like(v)
    s1, s2 = st.copy(), st.copy()
    sat._peak_guard_kernel(v, c, 8, s1, y1)
    _py(sat._peak_guard_kernel)(v, c, 8, s2, y2)
    np.testing.assert_allclose(y1, y2, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(s1, s2)


def test_peak_guard_properties(rng):
    L = 45
    w = rng.standard_normal((2, 5000)) * np.r_[np.full(2500, 0.3), np.full(2500, 2.0)]
    c = 0.8 + 0.2 * np.sin(np.arange(5000) / 300.0)
    y, _ = sat.peak_guard(w, c, sat.peak_guard_state(2, L))
    D = L - 1
    assert np.all(np.abs(y[:, D:]) <= c[:-D] + 0.0)  # the ceiling, sample by sample
    gain = y[:, D:] / np.where(w[:, :-D] == 0, 1, w[:, :-D])
    assert np.all(gain <= 1.0 + 1e-15) and np.all(gain > 0)
    # far from any overshoot: the input, delayed, untouched
    quiet = np.abs(w[:, :2000]).max() < 0.8 * c[:2000].min()
    if quiet:
        np.testing.assert_array_equal(y[:, D:1900], w[:, :1900 - D])
    # chunk invariance (exact)
    st = sat.peak_guard_state(2, L)
    parts = []
    for a in range(0, 5000, 333):
        p, st = sat.peak_guard(w[:, a:a + 333], c[a:a + 333], st)
        parts.append(p)
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), y)

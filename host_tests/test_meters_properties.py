"""Meter properties: streaming = one-shot, kernels, true-peak filters, balance, edge cases, bad input.

Run with ``-s`` to see the measured figures.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.signal

from neuromaster.analysis import (CORRELATION_BANDS_HZ, LoudnessMeter, Meter, analyze, plot_analysis, to_json)
from neuromaster.dsp import kweighting as kw
from neuromaster.dsp import loudness as L
from neuromaster.dsp import polyphase as pp
from neuromaster.dsp import spectrum as sp
from neuromaster.dsp import truepeak as tp
from neuromaster.errors import AudioTypeError, ParameterError


def music(seconds=6.3, sample_rate=44100, seed=5, genre="pop"):
    from neuromaster.demo import make_mix
    return make_mix(genre=genre, duration_s=seconds, sample_rate=sample_rate, seed=seed)


def assert_same_result(a: dict, b: dict, tol=1e-9):
    assert a.keys() == b.keys()
    for k, v in a.items():
        w = b[k]
        if isinstance(v, np.ndarray):
            assert v.shape == w.shape, k
            np.testing.assert_allclose(np.nan_to_num(v, nan=0.0, neginf=-1e3), np.nan_to_num(w, nan=0.0, neginf=-1e3),
                                       rtol=0, atol=tol, err_msg=k)
        elif isinstance(v, dict):
            assert v.keys() == w.keys(), k
            for q in v:
                assert (v[q] is None) == (w[q] is None) and (v[q] is None or abs(v[q] - w[q]) <= tol), (k, q)
        elif isinstance(v, list):
            assert len(v) == len(w), k
            for p, q in zip(v, w):
                assert (p is None) == (q is None) and (p is None or abs(p - q) <= tol), k
        elif isinstance(v, float):
            assert w is not None and abs(v - w) <= tol, (k, v, w)
        else:
            assert v == w, k


# ------------------------------------------------------------ streaming
@pytest.mark.parametrize("mode", ["4x", "16x"])
def test_streaming_equals_one_shot_random_chunks(mode, rng):
    x = music()
    ref = analyze(x, 44100, true_peak=mode)
    for layout in ("first", "last"):
        m = Meter(44100, 2, true_peak=mode)
        i = 0
        while i < x.shape[1]:
            n = int(rng.integers(1, 9000)) if rng.random() < 0.85 else int(rng.integers(1, 4))
            chunk = x[:, i:i + n]
            m.process(chunk.astype(np.float64) if layout == "first" else chunk.T.copy())
            i += n
        assert m.frames == x.shape[1]
        assert_same_result(ref, m.result())


@pytest.mark.parametrize("block", [1, 7, 64, 65, 441, 8192, 8193])
def test_streaming_fixed_block_sizes(block):
    x = music(seconds=3.4 if block > 1 else 0.9)
    ref = analyze(x, 44100)
    m = Meter(44100, 2)
    for i in range(0, x.shape[1], block):
        m.process(x[:, i:i + block])
    assert_same_result(ref, m.result())


def test_result_does_not_consume_the_meter():
    x = music(seconds=4.0)
    m = Meter(44100, 2).process(x[:, :70000])
    first = m.result()
    assert_same_result(first, m.result())
    m.process(x[:, 70000:])
    assert_same_result(analyze(x, 44100), m.result())
    m.reset()
    assert m.frames == 0 and m.result()["integrated_lufs"] is None
    assert LoudnessMeter is Meter


def test_float32_input_and_layouts_agree():
    x = music(seconds=2.0)
    a = analyze(x, 44100)
    b = analyze(x.T.copy(), 44100)
    assert_same_result(a, b, tol=0.0)
    c = analyze(x.astype(np.float32), 44100)
    assert c["integrated_lufs"] == pytest.approx(a["integrated_lufs"], abs=1e-4)
    mono = analyze(x[0], 44100)
    assert mono["channels"] == 1 and mono["integrated_lufs"] is not None


# -------------------------------------------------------------- kernels
def test_ticks_kernel_matches_scipy_and_py_func(rng):
    sr = 48000
    x = rng.standard_normal((2, 5000)) * 0.3
    sos = kw.kweighting_sos(sr)
    ticks, st = L.kweighted_ticks(x, sos, 480, L.ticks_state(2))
    y = scipy.signal.sosfilt(sos, x, axis=1)
    ref = (y[:, :4800] ** 2).reshape(2, 10, 480).sum(axis=2)
    np.testing.assert_allclose(ticks[:2], ref, rtol=1e-10)
    np.testing.assert_allclose(ticks[2], (y[0, :4800] * y[1, :4800]).reshape(10, 480).sum(axis=1), rtol=1e-9,
                               atol=1e-12)
    assert st["fill"] == 200
    np.testing.assert_allclose(st["stats"][:, 1], (x ** 2).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(st["stats"][:, 2], np.abs(x).max(axis=1), rtol=0)
    # the compiled kernel equals its Python body on a small slice
    s0 = L.ticks_state(2)
    args = [s0["z"].copy(), s0["acc"].copy(), np.empty((3, 2)), s0["stats"].copy(), s0["cross"].copy()]
    args_py = [a.copy() for a in args]
    r1 = L._ticks_kernel(x[:, :1000], sos, args[0], 480, 0, args[1], args[2], args[3], args[4])
    r2 = L._ticks_kernel.py_func(x[:, :1000], sos, args_py[0], 480, 0, args_py[1], args_py[2], args_py[3], args_py[4])
    assert r1 == r2
    for a, b in zip(args, args_py):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-300)


def test_state_is_never_mutated(rng):
    x = rng.standard_normal((2, 3000))
    st = L.ticks_state(2)
    snapshot = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
    L.kweighted_ticks(x, kw.kweighting_sos(44100), 441, st)
    for k, v in snapshot.items():
        assert np.array_equal(st[k], v)
    taps = tp.interpolator("4x")
    h = pp.polyphase_state(2, taps.shape[1]) + 0.25
    h0 = h.copy()
    pp.polyphase_interpolate(x, taps, h)
    pp.polyphase_peak(x, taps, h, segment_length=100, position=0)
    assert np.array_equal(h, h0)


@pytest.mark.parametrize("mode", ["4x", "16x"])
def test_polyphase_interpolate_matches_upfirdn_and_chunks(mode, rng):
    taps = tp.interpolator(mode)
    P, T = taps.shape
    x = rng.standard_normal((2, 3001))
    y, _ = pp.polyphase_interpolate(x, taps, pp.polyphase_state(2, T))
    ref = np.stack([scipy.signal.upfirdn(tp.prototype(taps), xc, up=P)[:x.shape[1] * P] for xc in x])
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)
    # chunked == one shot, bit for bit
    state, parts, i = pp.polyphase_state(2, T), [], 0
    while i < x.shape[1]:
        n = int(rng.integers(1, 700))
        part, state = pp.polyphase_interpolate(x[:, i:i + n], taps, state)
        parts.append(part)
        i += n
    assert np.array_equal(np.concatenate(parts, axis=1), y)
    # the peak kernel equals max |interpolate| per segment
    peaks, _ = pp.polyphase_peak(x, taps, pp.polyphase_state(2, T), segment_length=441, position=0)
    seg = np.abs(y).reshape(2, -1, P).max(axis=2)
    ref_peaks = np.stack([[seg[c, s:s + 441].max() for s in range(0, x.shape[1], 441)] for c in range(2)])
    assert np.array_equal(peaks, ref_peaks)
    # py_func of the block kernel equals the compiled one
    ext = rng.standard_normal(600)
    a1, a2 = np.empty(500), np.empty(500)
    pp._phase_block(ext, T + 10, 500, taps, P - 1, a1)
    pp._phase_block.py_func(ext, T + 10, 500, taps, P - 1, a2)
    assert np.array_equal(a1, a2)


def test_compiled_kernels_equal_their_python_bodies(rng):
    """Every remaining numba kernel against its ``py_func`` on a small slice (kernel bodies stay
    honest Python and coverable)."""
    x = rng.standard_normal((2, 700))
    for mode in ("4x", "16x"):
        taps = tp.interpolator(mode)
        H = taps.shape[1] - 1
        h1 = rng.standard_normal((2, H))
        h2 = h1.copy()
        p1, p2 = np.zeros((2, 3)), np.zeros((2, 3))
        pp._peak_kernel(x, taps, h1, 300, 50, True, p1)
        pp._peak_kernel.py_func(x, taps, h2, 300, 50, True, p2)
        assert np.array_equal(p1, p2) and np.array_equal(h1, h2)
        y1, y2 = np.empty((2, 700 * taps.shape[0])), np.empty((2, 700 * taps.shape[0]))
        g1, g2 = np.zeros((2, H)), np.zeros((2, H))
        pp._interpolate_kernel(x, taps, g1, y1)
        pp._interpolate_kernel.py_func(x, taps, g2, y2)
        assert np.array_equal(y1, y2) and np.array_equal(g1, g2)
    sos = kw.kweighting_sos(44100)
    for fn, extra in ((L._kweight_run, None), (L._kweight_pair_run, np.zeros(1))):
        outs = []
        for f in (fn, fn.py_func):
            z, stats = np.full((2, 2, 2), 0.01), np.zeros((2, 3))
            if extra is None:
                r = f(x, 1, 5, 600, sos, z, stats)
            else:
                cr = extra.copy()
                r = f(x, 5, 600, sos, z, stats, cr)
                stats = np.concatenate([stats.ravel(), cr])
            outs.append((np.atleast_1d(np.asarray(r, dtype=float)), z, stats))
        for a, b in zip(*outs):
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-300)
    taps = tp.interpolator("4x")
    ext = rng.standard_normal(300)
    m1, m2 = np.abs(ext[11:211]).copy(), np.abs(ext[11:211]).copy()
    pp._peak_block_4x12(ext, 11, 200, taps, m1)
    pp._peak_block_4x12.py_func(ext, 11, 200, taps, m2)
    assert np.array_equal(m1, m2)
    win = sp._window(64)
    f1, f2 = np.empty((2, 5, 64)), np.empty((2, 5, 64))
    sp._frames_kernel(x, 3, 32, win, f1)
    sp._frames_kernel.py_func(x, 3, 32, win, f2)
    assert np.array_equal(f1, f2)
    X = np.fft.rfft(f1, axis=-1)
    a1, a2, c1, c2 = np.zeros((2, 33)), np.zeros((2, 33)), np.zeros(33), np.zeros(33)
    sp._power_kernel(X, a1, c1)
    sp._power_kernel.py_func(X, a2, c2)
    np.testing.assert_allclose(a1, a2, rtol=1e-15)
    np.testing.assert_allclose(c1, c2, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(a1[:, 1:-1], 2 * (np.abs(X[:, :, 1:-1]) ** 2).sum(axis=1), rtol=1e-12)


def test_polyphase_peak_absolute_segments():
    taps = tp.interpolator("4x")
    x = np.zeros((1, 100))
    x[0, 57] = 1.0
    peaks, _ = pp.polyphase_peak(x, taps, pp.polyphase_state(1, 12), segment_length=10, position=5)
    # segments are absolute: position 5 + sample 57 = 62 -> segment 6; first segment index is 0 (5 // 10)
    assert peaks.shape == (1, 11)
    assert np.argmax(peaks[0]) == 6
    with pytest.raises(ValueError, match="state shape"):
        pp.polyphase_peak(x, taps, np.zeros((2, 11)), segment_length=10, position=0)


def test_window_sums_py_func_and_exact_silence():
    e = np.concatenate([np.full(50, 1e6), np.zeros(50)])
    s = L.window_sums(e, 40)
    assert s[-1] == 0.0                    # no cumulative-sum rounding residue after loud material
    out1, out2 = np.empty(10), np.empty(10)
    L._window_sums(e, 40, 5, out1)
    L._window_sums.py_func(e, 40, 5, out2)
    assert np.array_equal(out1, out2)


def test_tick_layout():
    assert L.tick_layout(44100) == (441, 10)
    assert L.tick_layout(48000) == (480, 10)
    assert L.tick_layout(96000) == (960, 10)
    assert L.tick_layout(192000) == (1920, 10)
    assert L.tick_layout(22050) == (147, 15)       # 6.67 ms: 2205 has no divisor in (147, 220.5]
    for sr in (8000, 22050, 32000, 37800, 44100, 88200, 176400):
        tick, per = L.tick_layout(sr)
        assert tick * per == round(0.1 * sr) and tick <= 0.01 * sr


# ------------------------------------------------------------ true peak
def test_high_precision_interpolator_response():
    for mode in ("16x", "32x"):
        taps = tp.interpolator(mode)
        f, mag = tp.interpolator_spectrum(taps)
        pb = 20 * np.log10(mag[f <= 0.45])
        sb = 20 * np.log10(mag[f >= 0.55])
        assert (f <= 0.45).sum() > 1000
        # the direct evaluation agrees with the FFT grid
        np.testing.assert_allclose(tp.interpolator_response(taps, f[:50:7]), mag[:50:7], rtol=1e-9)
        print(f"\n  {mode}: {taps.size} taps, pass band 0-0.45 fs {pb.min():+.4f}..{pb.max():+.4f} dB, "
              f"stop band >= 0.55 fs max {sb.max():.1f} dB", end="")
        assert np.abs(pb).max() < 0.001 and sb.max() < -80.0
        # the phase holding the centre tap is a unit impulse: the interpolant passes through the samples
        assert np.array_equal(taps[-1], np.eye(1, taps.shape[1], taps.shape[1] // 2 - 1)[0])
    annex = tp.interpolator("4x")
    pb = 20 * np.log10(tp.interpolator_response(annex, np.linspace(0, 0.45, 500)))
    print(f"\n  4x (BS.1770-4 Annex 2): pass band 0-0.45 fs {pb.min():+.3f}..{pb.max():+.3f} dB", end="")
    assert np.array_equal(annex[3], annex[0][::-1]) and np.array_equal(annex[2], annex[1][::-1])


@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_true_peak_of_sines_against_the_analytic_peak(sample_rate):
    """Sines at fs/m whose crests fall 0.5 + 1/32 + 1/128 sample after a sample instant (off the
    4x, 16x and 32x grids; near the worst case for sample peak): 16x within 0.04 dB of the
    analytic peak up to 0.45 fs (grid bound 0.034 dB), 32x within 0.012 dB; BS.1770's 4x within
    +0.25 / -0.8 dB (its pass band droops towards 0.45 fs and its ripple over-reads some tones
    by up to 0.21 dB)."""
    worst = {"4x": [0.0, 0.0], "16x": [0.0, 0.0], "32x": [0.0, 0.0]}
    n = sample_rate // 4
    fade = np.sin(np.linspace(0, np.pi / 2, n // 5)) ** 2
    for m in (2.22, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 20.0, 50.0):
        x = 0.5 * np.cos(2 * np.pi * (np.arange(n) - (0.5 + 1 / 32 + 1 / 128)) / m)
        x[:fade.size] *= fade
        x[-fade.size:] *= fade[::-1]
        for mode in worst:
            err = 20 * math.log10(tp.true_peak(x[None], mode)[0] / 0.5)
            worst[mode] = [min(worst[mode][0], err), max(worst[mode][1], err)]
    print(f"\n  {sample_rate}: peak error range " + ", ".join(f"{m} {lo:+.3f}..{hi:+.3f} dB" for m, (lo, hi) in
                                                          worst.items()), end="")
    assert -0.04 <= worst["16x"][0] and worst["16x"][1] <= 0.002
    assert -0.012 <= worst["32x"][0] and worst["32x"][1] <= 0.002
    assert -0.8 <= worst["4x"][0] and worst["4x"][1] <= 0.25


def test_true_peak_is_never_below_sample_peak_and_flushes_the_tail(rng):
    x = np.zeros((1, 1000))
    x[0, -1] = 0.9                        # an impulse on the very last sample
    for mode in ("4x", "16x"):
        r = analyze(x, 48000, true_peak=mode)
        assert r["true_peak_dbtp"] >= r["sample_peak_dbfs"]
    y = np.zeros((1, 1000))
    y[0, -2], y[0, -1] = 0.9, -0.9        # its interpolated overshoot lies after the last sample
    r = analyze(y, 48000, true_peak="16x")
    assert r["true_peak_dbtp"] > r["sample_peak_dbfs"] + 0.5


def test_true_peak_series_covers_the_signal():
    sr = 48000
    x = np.zeros((2, sr + 123))
    x[1, 30000] = 0.5
    r = analyze(x, sr)
    t, s = r["true_peak_time_s"], r["true_peak_series_dbtp"]
    assert t.size == math.ceil(x.shape[1] / 480) and t[-1] == pytest.approx(x.shape[1] / sr)
    k = int(np.argmax(s))
    assert t[k] - 0.01 < 30000 / sr <= t[k] + 1e-9 or t[k] - 0.01 < (30000 + 6) / sr <= t[k]
    assert s[k] == pytest.approx(r["true_peak_dbtp"], abs=1e-12)


# ---------------------------------------------------- balance, levels, spectrum
def test_correlation_and_mono_loss(rng):
    sr = 48000
    a = scipy.signal.lfilter(*scipy.signal.butter(2, [200, 4000], "bandpass", fs=sr), rng.standard_normal(sr * 4))
    b = scipy.signal.lfilter(*scipy.signal.butter(2, [200, 4000], "bandpass", fs=sr), rng.standard_normal(sr * 4))
    same = analyze(np.stack([a, a]), sr)
    inverted = analyze(np.stack([a, -a]), sr)
    unrelated = analyze(np.stack([a, b]), sr)
    print(f"\n  correlation same/inverted/unrelated = {same['correlation']:+.3f} / {inverted['correlation']:+.3f} / "
          f"{unrelated['correlation']:+.3f}; mono loss {same['mono_loss_db']:.3f} / {inverted['mono_loss_db']} / "
          f"{unrelated['mono_loss_db']:.3f} dB", end="")
    assert same["correlation"] == pytest.approx(1.0, abs=1e-12) and same["mono_loss_db"] == pytest.approx(0, abs=1e-9)
    assert inverted["correlation"] == pytest.approx(-1.0, abs=1e-12) and inverted["mono_loss_db"] == math.inf
    assert abs(unrelated["correlation"]) < 0.05
    assert unrelated["mono_loss_db"] == pytest.approx(10 * math.log10(2), abs=0.2)
    assert to_json(inverted)["mono_loss_db"] is None


def test_band_correlation_separates_bands(rng):
    """Low band polarity-inverted, high band in phase: the bands say so, the overall value is between."""
    sr = 44100
    lo = scipy.signal.sosfilt(scipy.signal.butter(8, 100, "lowpass", fs=sr, output="sos"), rng.standard_normal(sr * 5))
    hi = scipy.signal.sosfilt(scipy.signal.butter(8, 3000, "highpass", fs=sr, output="sos"),
                              rng.standard_normal(sr * 5))
    lo, hi = 0.1 * lo / lo.std(), 0.1 * hi / hi.std()      # equal power: the overall value is ~0
    r = analyze(np.stack([lo + hi, -lo + hi]), sr)
    bands = r["correlation_bands"]
    print("\n  bands: " + ", ".join(f"{k}: {v:+.2f}" for k, v in bands.items()), end="")
    assert list(bands) == [f"{a:g}-{b:g}" for a, b in CORRELATION_BANDS_HZ]
    assert bands["20-120"] < -0.95 and bands["2000-8000"] > 0.95 and bands["8000-20000"] > 0.95
    assert abs(r["correlation"]) < 0.1


def test_levels_crest_dc_and_spectrum():
    sr = 48000
    t = np.arange(sr * 3) / sr
    x = 0.5 * np.sin(2 * np.pi * 1000 * t) + 0.01
    r = analyze(np.stack([x, x - 0.02]), sr)
    assert r["dc_offset"] == pytest.approx([0.01, -0.01], abs=1e-6)
    assert r["sample_peak_dbfs"] == pytest.approx(20 * math.log10(0.51), abs=1e-3)
    # a pure sine: crest 3.01 dB, RMS -3.01 dB below its peak
    y = 0.5 * np.sin(2 * np.pi * 1000 * t)
    s = analyze(y, sr)
    assert s["crest_factor_db"] == pytest.approx(10 * math.log10(2), abs=1e-3)
    assert s["rms_dbfs"] == pytest.approx(20 * math.log10(0.5) - 10 * math.log10(2), abs=1e-3)
    # its 1/3-octave spectrum: -3.01 dB + 20 log10(0.5) in the 1 kHz band, far below elsewhere
    k = int(np.argmin(np.abs(s["spectrum_hz"] - 1000)))
    print(f"\n  1 kHz sine at -6.02 dBFS: 1 kHz band {s['spectrum_db'][k]:.3f} dB; 250 Hz band "
          f"{s['spectrum_db'][k - 6]:.1f} dB", end="")
    assert s["spectrum_db"][k] == pytest.approx(20 * math.log10(0.5) - 10 * math.log10(2), abs=0.01)
    assert s["spectrum_db"][k - 6] < s["spectrum_db"][k] - 80
    assert s["spectrum_hz"][0] == pytest.approx(19.95, abs=0.01) and s["spectrum_hz"][-1] == pytest.approx(19952.6,
                                                                                                            abs=0.1)


def test_band_sums_integrate_exact_bandwidths():
    """A flat PSD summed over 1/3-octave bands grows by exactly 10^0.1 per band (1 dB), down to the
    20 Hz band that spans under two bins: bins count with their fractional overlap."""
    sr, nfft = 48000, sp.spectrum_nfft(48000)
    c, lo, hi = sp.third_octave_bands(sr)
    flat = np.ones(nfft // 2 + 1)
    bands = sp.band_sums(flat, sr, nfft, lo, hi)
    np.testing.assert_allclose(bands, (hi - lo) / (sr / nfft), rtol=1e-12)
    np.testing.assert_allclose(np.diff(10 * np.log10(bands)), 1.0, atol=1e-9)


def test_white_noise_spectrum_slope_and_level(rng):
    """White noise: the band levels rise 1 dB per band (regression over 100 Hz - 16 kHz), and the
    bands' sum is the noise power times the fraction of the spectrum they cover."""
    sr = 48000
    r = analyze(rng.standard_normal((2, sr * 20)) * 0.1, sr, true_peak="off")
    d, f = r["spectrum_db"], r["spectrum_hz"]
    sel = (f > 90) & (f < 17000)
    slope = np.polyfit(np.arange(sel.sum()), d[sel], 1)[0]
    c, lo, hi = sp.third_octave_bands(sr)
    total = 10 * np.log10(np.sum(10 ** (d / 10)))
    expected = 10 * np.log10(0.01 * (hi[-1] - lo[0]) / (sr / 2))
    print(f"\n  white noise: {slope:.4f} dB per band (1 expected); band total {total:.3f} dB "
          f"(expected {expected:.3f})", end="")
    assert slope == pytest.approx(1.0, abs=0.02)
    assert total == pytest.approx(expected, abs=0.05)


def test_welch_chunking_and_partial_frame(rng):
    x = rng.standard_normal((2, 50000))
    one = sp.welch_finish(sp.welch_update(x, sp.welch_state(2, 1024)))
    st, i = sp.welch_state(2, 1024), 0
    while i < x.shape[1]:
        n = int(rng.integers(1, 2500))
        st = sp.welch_update(x[:, i:i + n], st)
        i += n
    two = sp.welch_finish(st)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1]) and one[2] == two[2]
    # Parseval: mean-square over bins equals the weighted mean square of the signal
    ms = one[0].sum(axis=1) / (1024 * one[2])
    np.testing.assert_allclose(ms, (x ** 2).mean(axis=1), rtol=0.02)


# ---------------------------------------------------------- silence / short
def test_silence_and_short_input():
    sr = 44100
    sil = analyze(np.zeros((2, sr * 4)), sr)
    for k in ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs", "loudness_range_lu", "true_peak_dbtp",
              "sample_peak_dbfs", "crest_factor_db", "plr_db", "psr_db", "correlation", "mono_loss_db"):
        assert sil[k] is None, k
    assert np.all(sil["momentary_lufs"][39:] == -np.inf) and np.all(np.isnan(sil["momentary_lufs"][:39]))
    short = analyze(np.full((2, int(0.3 * sr)), 0.1), sr)          # shorter than one 400 ms block
    assert short["integrated_lufs"] is None and short["momentary_max_lufs"] is None
    assert short["sample_peak_dbfs"] == pytest.approx(-20.0) and short["true_peak_dbtp"] is not None
    mid = analyze(0.1 * np.sin(np.arange(2 * sr) * 0.1), sr)          # 2 s: blocks yes, 3 s window no
    assert mid["integrated_lufs"] is not None and mid["short_term_max_lufs"] is None
    assert mid["loudness_range_lu"] is None and mid["psr_db"] is None and mid["plr_db"] is not None
    one = analyze(np.array([0.5]), sr)                                 # a single sample
    assert one["frames"] == 1 and one["integrated_lufs"] is None and one["sample_peak_dbfs"] == pytest.approx(-6.0206)
    doc = json.dumps(to_json(sil), allow_nan=False)                    # JSON-safe: null, never -Infinity
    assert '"integrated_lufs": null' in doc


def test_result_without_series_has_the_same_scalars():
    x = music(seconds=4.0)
    full = analyze(x, 44100)
    lean = analyze(x, 44100, series=False)
    from neuromaster.analysis import SERIES_KEYS
    assert set(full) - set(lean) == set(SERIES_KEYS)
    assert_same_result({k: v for k, v in full.items() if k not in SERIES_KEYS}, lean, tol=0.0)


def test_to_json_drops_series_unless_asked():
    r = analyze(music(seconds=1.0), 44100)
    j = to_json(r)
    assert "momentary_lufs" not in j and isinstance(j["spectrum_db"], list)
    js = to_json(r, include_series=True)
    assert len(js["momentary_lufs"]) == r["momentary_lufs"].size and js["momentary_lufs"][0] is None
    json.dumps(js, allow_nan=False)
    with pytest.raises(ParameterError):
        to_json([1, 2])


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad,exc,match", [
    (np.array([[0.1, np.nan, 0.2] * 10] * 2), ParameterError, "NaN"),
    (np.array([0.1, np.inf, 0.2] * 10), ParameterError, "Inf"),
    (np.zeros((2, 0)), ParameterError, "empty"),
    (np.zeros(0), ParameterError, "empty"),
    (np.zeros((2, 100), dtype=np.int16), AudioTypeError, "int16"),
    (np.zeros((2, 2, 100)), ParameterError, "dimensions"),
    (np.zeros((3, 3)), ParameterError, "square"),
    ("not audio", AudioTypeError, "numpy array"),
    (np.zeros((7, 1000)), ParameterError, "channel_weights"),
])
def test_bad_audio_raises_clear_errors(bad, exc, match):
    with pytest.raises(exc, match=match):
        analyze(bad, 44100)


def test_bad_arguments():
    x = np.zeros((2, 1000))
    with pytest.raises(ParameterError, match="sample_rate"):
        analyze(x, 1000)
    with pytest.raises(ParameterError, match="sample_rate"):
        analyze(x, float("nan"))
    with pytest.raises(ParameterError, match="true_peak"):
        analyze(x, 44100, true_peak="8x")
    with pytest.raises(ParameterError, match="channel_weights"):
        analyze(x, 44100, channel_weights=[1.0])
    with pytest.raises(ParameterError, match="channel_weights"):
        analyze(x, 44100, channel_weights=[1.0, -1.0])
    r = analyze(np.ones((7, 1000)) * 0.1, 44100, channel_weights=[1] * 7)
    assert r["channels"] == 7


def test_meter_chunk_errors_name_the_stream_position():
    m = Meter(48000, 2)
    m.process(np.zeros((2, 1000)))
    bad = np.zeros((2, 10))
    bad[1, 3] = np.nan
    with pytest.raises(ParameterError, match="sample 1003"):
        m.process(bad)
    with pytest.raises(ParameterError, match="2 channels"):
        m.process(np.zeros((3, 10)))
    with pytest.raises(ParameterError, match="1-D"):
        m.process(np.zeros(10))
    fresh = Meter(48000, 2)
    with pytest.raises(ParameterError, match="ambiguous"):
        fresh.process(np.zeros((2, 2)))
    fresh.process(np.zeros((100, 2)))          # (n, channels) layout learnt
    fresh.process(np.ones((2, 2)))             # read as (n, channels): 2 frames
    assert fresh.frames == 102
    m.process(np.zeros((2, 0)))                # empty chunks are fine while streaming
    assert m.frames == 1000


# ------------------------------------------------------------------ plots
def test_plot_analysis_overlays_two_results(tmp_path):
    import sys
    had_pyplot = "matplotlib.pyplot" in sys.modules
    a = analyze(music(seconds=4.0), 44100)
    b = analyze(0.5 * music(seconds=4.0, seed=9), 44100)
    out = plot_analysis([a, b], tmp_path / "cmp.png", labels=["before", "after"])
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    plot_analysis(analyze(np.zeros((2, 44100)), 44100), tmp_path / "silence.png")   # all -inf: still draws
    assert (tmp_path / "silence.png").stat().st_size > 0
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot     # Agg canvas only, never pyplot
    with pytest.raises(ParameterError, match="labels"):
        plot_analysis([a, b], tmp_path / "x.png", labels=["one"])

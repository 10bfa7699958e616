"""TapeSaturator (issue 4 items 4 and 6): measured head bump and HF loss per
speed against the analytic playback response, level-dependent saturation,
bias, wow/flutter pitch modulation, hiss level and spectrum, off-by-default
nulls, aliasing, and the tape kernels against their ``py_func``.
Figures print with ``pytest -s``."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import hilbert, welch

import neuromaster as nm
from cases_analog_a import aliasing_dbc, harmonic_spectrum
from neuromaster.dsp import tape as dt

SR = 44100


def thd_db(proc, amplitude: float, frequency_hz: int) -> tuple[float, float]:
    spec = harmonic_spectrum(proc, amplitude, frequency_hz, SR, settle_s=0.3)
    fund = spec[frequency_hz]
    k = np.arange(2, (SR // 2) // frequency_hz + 1) * frequency_hz
    return float(10 * np.log10(max(np.sum(spec[k] ** 2), 1e-300) / fund ** 2)), float(20 * np.log10(fund / amplitude))


# ------------------------------------------------------------ playback response
#: Integer test frequencies (1 Hz bins over a 1 s window), 20 Hz - 20 kHz.
TONES = np.unique(np.round(np.geomspace(20, 20000, 48)).astype(int))


def _multitone_response(proc, level_db: float = -52.0) -> np.ndarray:
    """Gain in dB at ``TONES`` from one render of a multi-tone at ``level_db``
    per tone (peak about -24 dBFS: the tape core is linear to < 0.001 dB)."""
    rng = np.random.default_rng(11)
    ph = rng.uniform(0, 2 * np.pi, TONES.size)
    a = 10 ** (level_db / 20)
    t = np.arange(int(1.5 * SR)) / SR
    x = a * np.sum(np.sin(2 * np.pi * TONES[:, None] * t[None, :] + ph[:, None]), axis=0)
    y = proc(x, SR).astype(np.float64)
    X = np.fft.rfft(x[SR // 4:SR // 4 + SR])
    Y = np.fft.rfft(y[SR // 4:SR // 4 + SR])
    return 20 * np.log10(np.abs(Y[TONES]) / np.abs(X[TONES]))


@pytest.mark.parametrize("speed", dt.SPEEDS_IPS)
def test_small_signal_response_is_the_playback_response(speed):
    measured = _multitone_response(nm.TapeSaturator(speed_ips=speed))
    analytic = dt.playback_response_db(speed, TONES, SR)
    err = np.max(np.abs(measured - analytic))
    f_fine = np.arange(10.0, 400.0, 0.25)
    resp = dt.playback_response_db(speed, f_fine, SR)
    bump_hz, bump_db = f_fine[np.argmax(resp)], resp.max()
    i_bump = int(np.argmin(np.abs(TONES - dt.head_bump_hz(speed))))
    at = {f: measured[int(np.argmin(np.abs(TONES - f)))] for f in (1000, 10000, 15000, 20000)}
    print(f"\n{speed} ips: head bump {bump_hz:.1f} Hz {bump_db:+.2f} dB (analytic; measured {measured[i_bump]:+.2f} dB at "
          f"{TONES[i_bump]} Hz); HF: " + ", ".join(f"{f // 1000} kHz {g:+.2f} dB" for f, g in at.items())
          + f"; max |measured - analytic| over {TONES.size} tones: {err:.4f} dB")
    assert abs(bump_hz - dt.head_bump_hz(speed)) < 0.05 * dt.head_bump_hz(speed)
    assert err < 0.02


def test_head_bump_and_hf_loss_follow_speed():
    f = np.array([dt.head_bump_hz(s) for s in dt.SPEEDS_IPS])
    assert np.allclose(f, [30.0, 60.0, 120.0])
    hf = [dt.playback_response_db(s, 15000.0, SR) for s in dt.SPEEDS_IPS]
    assert hf[0] < hf[1] < hf[2] < 0.0  # slower tape loses more treble


def test_matched_lowpass_tracks_its_analogue_prototype():
    """The HF-loss section against its analogue prototype 1 / (1 + j f / fc):
    exact at DC, at Nyquist and at min(fc, fs/4); the largest deviation over
    20 Hz - 20 kHz is printed (a first-order digital section cannot follow a
    first-order analogue one all the way to Nyquist)."""
    from neuromaster.dsp.biquad import sos_response
    for sr in (44100, 48000, 96000):
        f = np.geomspace(20.0, 20000.0, 400)
        for fc in (12000.0, 18000.0, 25000.0):
            fm = min(fc, sr / 4)
            ff = np.concatenate([f, [fm, sr / 2]])
            dig = 20 * np.log10(np.abs(sos_response(dt.matched_lowpass(fc, sr), ff, sr)))
            ana = -10 * np.log10(1 + (ff / fc) ** 2)
            dev = dig - ana
            worst = int(np.argmax(np.abs(dev[:-2])))
            print(f"\n{sr} Hz, fc {fc / 1000:.0f} kHz: digital - analogue at most {dev[worst]:+.3f} dB "
                  f"(at {ff[worst] / 1000:.1f} kHz) over 20 Hz - 20 kHz")
            assert np.all(np.abs(dev[-2:]) < 1e-9)
            assert np.max(np.abs(dev[:-2])) < 0.6


# ------------------------------------------------------------ saturation
def test_saturation_is_level_dependent():
    levels = (-40, -24, -12, -6, 0, 6)
    rows = [(lv, *thd_db(nm.TapeSaturator(), 10 ** (lv / 20), 1000)) for lv in levels]
    pb = float(dt.playback_response_db("15", 1000.0, SR))
    print("\ntape, 1 kHz, drive 0 dB: level -> THD dB / gain re playback response dB")
    for lv, t, g in rows:
        print(f"  {lv:+4d} dBFS: {t:7.1f} / {g - pb:+.3f}")
    thd = np.array([r[1] for r in rows])
    comp = np.array([r[2] - pb for r in rows])
    assert np.all(np.diff(thd[1:]) > 0)  # from -24 dBFS up: THD rises with level
    assert np.all(np.diff(comp[1:]) < 0)  # and the gain compresses
    assert abs(comp[0]) < 0.01  # small-signal gain 0 dB
    assert -33.0 < thd[levels.index(0)] < -27.0  # about 3 % at full scale


def test_thd_rises_with_drive():
    drives = (-12.0, -6.0, 0.0, 6.0, 12.0)
    thd = [thd_db(nm.TapeSaturator(drive_db=d), 0.5, 1000)[0] for d in drives]
    print("\ntape, 1 kHz at -6 dBFS: THD by drive " + ", ".join(f"{d:+.0f} dB: {t:.1f}" for d, t in zip(drives, thd)))
    assert np.all(np.diff(thd) > 0)


def test_bias_controls_low_level_hysteresis():
    """Lower bias leaves more of the J-A loop: crossover distortion and a gain
    loss at low levels; at correct bias the low-level response is clean."""
    rows = []
    for b in (1.0, 0.5, 0.0):
        t40, g40 = thd_db(nm.TapeSaturator(bias=b), 0.01, 1000)
        rows.append((b, t40, g40 - float(dt.playback_response_db("15", 1000.0, SR))))
    print("\ntape, 1 kHz at -40 dBFS: bias -> THD / gain re playback: "
          + ", ".join(f"{b:g}: {t:.1f} dB / {g:+.3f} dB" for b, t, g in rows))
    assert rows[0][1] < -80 and abs(rows[0][2]) < 0.01
    assert rows[0][1] < rows[1][1] < rows[2][1]
    assert rows[2][2] < -1.0


# ------------------------------------------------------------ wow / flutter
def test_wow_flutter_pitch_modulation_depth():
    """Instantaneous frequency of a 3 kHz sine through the stage at depth 1
    against f0 (1 + p(t)), p the analytic pitch deviation at the stage's
    stream position (output sample k is stream sample k + latency)."""
    f0 = 3000.0
    n = 6 * SR
    x = 0.25 * np.sin(2 * np.pi * f0 * np.arange(n) / SR)
    proc = nm.TapeSaturator(wow_flutter=1.0, speed_ips="30")
    y = proc(x, SR).astype(np.float64)
    lat = proc.reported_latency_samples
    phase = np.unwrap(np.angle(hilbert(y)))
    inst = np.diff(phase) * SR / (2 * np.pi)  # Hz, at k + 1/2
    k = np.arange(n - 1) + 0.5
    expected = f0 * (1.0 + dt.pitch_deviation((k + lat) / SR))
    core = slice(SR // 2, n - SR // 2)
    box = np.ones(441) / 441  # 10 ms: removes the ripple of the tone's harmonics, keeps the 11.3 Hz flutter
    dev_meas = np.convolve((inst - f0) / f0, box, mode="same")[core]
    dev_exp = np.convolve((expected - f0) / f0, box, mode="same")[core]
    gain = float(np.sum(dev_meas * dev_exp) / np.sum(dev_exp ** 2))
    resid = float(np.sqrt(np.mean((dev_meas - dev_exp) ** 2)) / np.sqrt(np.mean(dev_exp ** 2)))
    print(f"\nwow/flutter depth 1 at {f0:.0f} Hz: peak pitch deviation measured {100 * np.max(np.abs(dev_meas)):.4f} %, "
          f"intended {100 * np.max(np.abs(dev_exp)):.4f} % (10 ms average); measured / intended {gain:.4f}, "
          f"rms residual {100 * resid:.2f} % of the rms deviation")
    assert abs(gain - 1.0) < 0.01
    assert resid < 0.03


def test_wow_flutter_off_is_a_pure_delay(rng):
    x = rng.standard_normal((2, 3000))
    st = dt.wow_flutter_state(2, SR)
    y, _ = dt.wow_flutter(x, 0.0, 123, SR, st)
    y2, _ = dt.wow_flutter(x, np.zeros(3000), 123, SR, st)  # through the interpolation kernel
    D = dt.wow_flutter_delay_samples(SR)
    np.testing.assert_array_equal(y[:, D:], x[:, :-D])
    np.testing.assert_array_equal(y2, y)


def test_fractional_delay_kernel_equals_py_func(rng):
    x = rng.standard_normal((2, 500))
    D = dt.wow_flutter_delay_samples(SR)
    delay = D + 20.0 * np.sin(np.arange(500) / 40.0)
    tab = dt.fractional_delay_table()
    outs = []
    for fn in (dt._fd_kernel, dt._fd_kernel.py_func):
        st = dt.wow_flutter_state(2, SR)
        y = np.empty_like(x)
        fn(x, delay, tab, st, y)
        outs.append(y)
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-12)


# ------------------------------------------------------------ hiss
def test_hiss_level_and_spectrum():
    n = 4 * SR
    proc = nm.TapeSaturator(hiss=True, hiss_db=-50.0)
    y = proc(np.zeros((2, n)), SR).astype(np.float64)
    rms_db = 10 * np.log10(np.mean(y[:, SR // 2:] ** 2, axis=1))
    f, pxx = welch(y[0, SR // 2:], SR, nperseg=4096)
    shape = 10 * np.log10(pxx) - dt.playback_response_db("15", np.maximum(f, 1.0), SR)  # PSD / |H|^2, dB
    # flat after removing the playback response: compare band averages
    bands = [(100, 400), (1000, 3000), (6000, 10000), (14000, 18000)]
    lv = [10 * np.log10(np.mean(10 ** (shape[(f >= a) & (f < b)] / 10))) for a, b in bands]
    corr = np.corrcoef(y[0, SR // 2:], y[1, SR // 2:])[0, 1]
    print(f"\nhiss at -50 dBFS: measured RMS {rms_db[0]:.2f} / {rms_db[1]:.2f} dBFS; PSD minus playback response "
          f"in bands {bands}: " + ", ".join(f"{v:.2f}" for v in lv) + f" dB/Hz; L/R correlation {corr:+.3f}")
    assert np.all(np.abs(rms_db + 50.0) < 0.1)
    assert max(lv) - min(lv) < 0.5  # white on tape, shaped only by the playback response
    assert abs(corr) < 0.02  # independent tracks


def test_hiss_is_seeded_and_chunk_invariant(rng):
    x = 0.1 * rng.standard_normal((2, 9000))
    make = lambda: nm.TapeSaturator(hiss=True, hiss_db=-40.0, wow_flutter=0.7)  # noqa: E731
    ref = make()(x, SR, buffer_size=9000).astype(np.float64)
    np.testing.assert_array_equal(make()(x, SR).astype(np.float64), ref)
    for bs in (1, 64, 8193):
        assert np.max(np.abs(make()(x, SR, buffer_size=bs) - ref)) <= 1e-6
    p = make()
    lat = p.reported_latency_samples
    outs, a = [], 0
    while a < x.shape[1]:
        b = min(x.shape[1], a + int(rng.integers(1, 2500)))
        outs.append(p(x[:, a:b], SR, reset=False))
        a = b
    s = np.concatenate(outs, axis=1).astype(np.float64)
    assert np.max(np.abs(s[:, lat:] - ref[:, :-lat])) <= 1e-6


def test_gaussian_noise_is_standard_and_addressed_by_position():
    a = dt.gaussian_noise(2, 200000, 0, seed=5)
    assert abs(a.mean()) < 0.01 and abs(a.std() - 1) < 0.01
    b = dt.gaussian_noise(2, 1000, 5000, seed=5)
    np.testing.assert_array_equal(a[:, 5000:6000], b)
    assert not np.array_equal(dt.gaussian_noise(1, 100, 0, seed=6), a[:1, :100])
    c = np.empty((2, 300))
    dt._gauss_kernel.py_func(5, 77, c)
    np.testing.assert_array_equal(c, a[:, 77:377])


# ------------------------------------------------------------ nulls, latency, aliasing
def test_off_by_default_and_mix_zero_nulls(rng):
    x = 0.5 * rng.standard_normal((2, 6000))
    base = nm.TapeSaturator()(x, SR)
    assert not nm.TapeSaturator().hiss and nm.TapeSaturator().wow_flutter == 0.0
    np.testing.assert_array_equal(nm.TapeSaturator(hiss_db=-31.0)(x, SR), base)  # hiss off: level irrelevant
    np.testing.assert_array_equal(nm.TapeSaturator(mix=0.0, drive_db=12.0, hiss=True, wow_flutter=1.0)(x, SR),
                                  x.astype(np.float32))


def test_latency_is_oversampler_plus_wow_centre():
    from neuromaster.dsp.oversampling import oversampler_design
    for sr in (22050, 44100, 192000):
        for f in (1, 8):
            p = nm.TapeSaturator(oversampling=f)
            assert p.latency_for(sr) == oversampler_design(f).latency_samples + dt.wow_flutter_delay_samples(sr)


def test_aliasing_table():
    rows = [(f, *aliasing_dbc(nm.TapeSaturator(oversampling=f))) for f in (1, 2, 4, 8, 16)]
    print("\nTapeSaturator, full-scale 7 kHz sine, default settings: worst / total non-harmonic, dBc")
    for f, worst, total in rows:
        print(f"  {f:2d}x: {worst:7.1f} / {total:7.1f}")
    assert rows[3][1] <= -80.0

"""DynamicEQ: transparent below threshold, gain above it per ratio/range,
external sidechain (kick ducking the 808's fundamental)."""
import numpy as np
import pytest
import scipy.signal as ss

import neuromaster as nm
from neuromaster.dsp.biquad import rbj, sos_response

SR = 44100.0


def _sine(amp, f, seconds=1.5, channels=2):
    t = np.arange(int(seconds * SR)) / SR
    return np.tile(amp * np.sin(2 * np.pi * f * t), (channels, 1))


def _all_bands(**kw):
    d = dict(band2_enabled=True, band2_type="bell", band2_frequency_hz=1000.0,
             band3_enabled=True, band3_type="low_shelf", band3_frequency_hz=150.0, band3_range_db=6.0,
             band4_enabled=True, band4_type="high_shelf", band4_frequency_hz=6000.0)
    d.update(kw)
    return nm.DynamicEQ(**d)


@pytest.mark.parametrize("detection,link", [("peak", 1.0), ("rms", 0.0), ("peak", 0.5)])
def test_exactly_transparent_below_threshold(rng, detection, link):
    x = rng.standard_normal((2, 30000)) * 10 ** (-40 / 20)    # -40 dB RMS noise, every band detector below -24 dB
    x[1] *= 0.5
    deq = _all_bands(detection=detection, stereo_link=link)
    y = deq(x.astype(np.float32), SR)
    np.testing.assert_array_equal(y, x.astype(np.float32))      # bit for bit
    deq.prepare(SR, 2, 8192)
    y64 = deq._run(x, 8192, None)                                # the float64 internals
    assert np.max(np.abs(y64 - x)) <= 1e-12
    assert np.all(deq.last_gain_db == 0)
    # the same signal 30 dB louder crosses the thresholds and is changed
    assert np.max(np.abs(deq(x * 31.6, SR) - (x * 31.6).astype(np.float32))) > 1e-3


def _expected_db(kind, f_eq, q, gain_db, f):
    eq = {"bell": "peak", "low_shelf": "low_shelf", "high_shelf": "high_shelf"}[kind]
    return 20 * np.log10(np.abs(sos_response(rbj(eq, f_eq, gain_db, q, SR), [f], SR)))[0]


@pytest.mark.parametrize("kind,f_eq,f_sig", [("bell", 1000.0, 1000.0), ("low_shelf", 500.0, 50.0),
                                              ("high_shelf", 1000.0, 12000.0)])
@pytest.mark.parametrize("level_db,range_db", [(-10.0, -24.0), (-10.0, -6.0), (-16.0, 12.0), (-26.0, -12.0)])
def test_gain_above_threshold_matches_ratio_and_range(kind, f_eq, f_sig, level_db, range_db):
    thr, ratio, q = -24.0, 4.0, 0.9
    deq = nm.DynamicEQ(band1_type=kind, band1_frequency_hz=f_eq, band1_q=q, band1_threshold_db=thr,
                       band1_ratio=ratio, band1_range_db=range_db, band1_attack_ms=0.2, band1_release_ms=5000.0)
    x = _sine(10 ** (level_db / 20), f_sig)
    y = np.asarray(deq(x, SR), dtype=np.float64)
    n = int(0.5 * SR)
    got = 20 * np.log10(np.std(y[0, -n:]) / np.std(x[0, -n:]))
    # detector: band-pass at f0 (gain 1 there) / Butterworth LP or HP far inside its pass band
    det = {"bell": "bandpass", "low_shelf": "lowpass", "high_shelf": "highpass"}[kind]
    det_q = q if kind == "bell" else 1 / np.sqrt(2)
    lev = level_db + 20 * np.log10(np.abs(sos_response(rbj(det, f_eq, 0.0, det_q, SR), [f_sig], SR)))[0]
    change = min((1 - 1 / ratio) * max(lev - thr, 0.0), abs(range_db)) * np.sign(range_db)
    want = _expected_db(kind, f_eq, q, change, f_sig)
    print(f"{kind} {level_db} dB, range {range_db}: gain {got:.3f} dB, expected {want:.3f} dB (EQ gain {change:.2f})")
    assert got == pytest.approx(want, abs=0.1)
    if lev < thr:
        np.testing.assert_array_equal(y, x.astype(np.float32))


def test_external_sidechain_required_and_streaming(rng):
    deq = nm.DynamicEQ(band1_detector="external", band1_threshold_db=-30.0, band1_frequency_hz=60.0)
    x = rng.standard_normal((2, 9000)) * 0.1
    key = _sine(0.5, 60.0, seconds=9000 / SR, channels=1)
    with pytest.raises(nm.ParameterError, match="band1_detector"):
        deq(x, SR)
    ref = deq(x, SR, sidechain=key)
    assert np.max(np.abs(ref - x.astype(np.float32))) > 1e-3
    np.testing.assert_array_equal(deq(x, SR, sidechain=np.vstack([key, key])), ref)   # mono == identical stereo
    deq.reset()
    outs, a = [], 0
    while a < 9000:
        b = min(9000, a + int(rng.integers(1, 2000)))
        outs.append(deq(x[:, a:b], SR, reset=False, sidechain=key[:, a:b]))
        a = b
    np.testing.assert_allclose(np.concatenate(outs, axis=1), ref, atol=1e-6)
    # the internal detector does not hear the key: quiet input passes untouched
    deq.band1_detector = "internal"
    np.testing.assert_array_equal(deq(x * 0.01, SR, sidechain=key), (x * 0.01).astype(np.float32))


def test_frequency_automation_path_equals_static(rng):
    x = rng.standard_normal((2, 6000)) * 0.3
    deq = nm.DynamicEQ(band1_threshold_db=-40.0, band1_frequency_hz=300.0, band1_q=2.0)
    ref = deq(x, SR)
    deq.set_automation("band1_frequency_hz", np.full(10, 300.0))
    deq.set_automation("band1_q", np.full(10, 2.0))
    np.testing.assert_allclose(deq(x, SR), ref, atol=1e-7)
    deq.set_automation("band1_frequency_hz", np.geomspace(100.0, 2000.0, 6000))
    assert np.max(np.abs(deq(x, SR) - ref)) > 1e-3


def test_kick_ducks_the_808_fundamental():
    """demo trap stems: a bell on the 808's fundamental keyed by the kick cuts the
    bass there while the kick sounds and leaves it alone between kicks."""
    from neuromaster.demo import make_stems
    stems = make_stems("trap", duration_s=8.0, sample_rate=int(SR), seed=0, names=("kick", "bass"))
    bass, kick = stems["bass"], stems["kick"].mean(axis=0)
    spec = np.abs(np.fft.rfft(bass.mean(axis=0)))
    f = np.fft.rfftfreq(bass.shape[1], 1 / SR)
    band = (f > 25) & (f < 150)
    f0 = f[band][np.argmax(spec[band])]                            # the 808's fundamental (~47 Hz)
    thr = -24.0
    deq = nm.DynamicEQ(band1_frequency_hz=f0, band1_q=1.0, band1_threshold_db=thr, band1_ratio=20.0,
                       band1_range_db=-9.0, band1_attack_ms=2.0, band1_release_ms=60.0, band1_detector="external")
    y = np.asarray(deq(bass, SR, sidechain=kick), dtype=np.float64)
    fr = int(0.01 * SR)
    nf = bass.shape[1] // fr

    def frames(s):
        return np.sqrt(np.mean(s[:nf * fr].reshape(nf, fr) ** 2, axis=1))

    analysis = ss.butter(4, [f0 / 1.5, f0 * 1.5], btype="bandpass", fs=SR, output="sos")
    xb = frames(ss.sosfiltfilt(analysis, bass.mean(axis=0)))
    yb = frames(ss.sosfiltfilt(analysis, y.mean(axis=0)))
    gain = 20 * np.log10(yb / np.maximum(xb, 1e-12))
    # the kick's level as the band's detector sees it (peak level of a sine in dB)
    key = 20 * np.log10(np.sqrt(2) * frames(ss.sosfilt(rbj("bandpass", f0, 0.0, 1.0, SR), kick)) + 1e-12)
    present = 20 * np.log10(xb + 1e-12) > -45
    during = present & (key > thr + 6)
    recent = np.array([key[max(0, i - 30):i + 1].max() for i in range(nf)])
    between = present & (recent < thr - 3)                        # no kick above threshold for 300 ms
    print(f"808 at {f0:.1f} Hz: {during.sum()} frames during kicks, median gain {np.median(gain[during]):.2f} dB; "
          f"{between.sum()} frames between, max |gain| {np.max(np.abs(gain[between])):.3f} dB")
    assert during.sum() > 100 and between.sum() > 20
    assert np.median(gain[during]) < -4.0
    assert np.max(np.abs(gain[between])) < 0.5

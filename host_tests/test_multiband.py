"""MultibandCompressor: band isolation, solo/bypass, M/S, sidechain high-pass,
gain-reduction trace (issue 3, item 3)."""
import numpy as np
import pytest

import neuromaster as nm
from neuromaster.dsp import dynamics as dyn

SR = 44100.0
# band 2 spans 100 Hz - 4 kHz; a 632 Hz sine (geometric centre) is in band 1 and 3
# only at -64 dB (LR4 skirts 2.6 octaves away)
XO = dict(crossover1_hz=100.0, crossover2_hz=4000.0, crossover3_hz=12000.0)
QUIET = dict(**{f"band{k}_threshold_db": 0.0 for k in range(1, 7)})


def _sine(amp, f, seconds=1.0, channels=2):
    t = np.arange(int(seconds * SR)) / SR
    return np.tile(amp * np.sin(2 * np.pi * f * t), (channels, 1))


def _gain_db(x, y, f, tail_s=0.25):
    n = int(tail_s * SR)
    y = np.asarray(y, dtype=np.float64)
    return 20 * np.log10(np.sqrt(np.mean(y[..., -n:] ** 2, axis=-1)) / np.sqrt(np.mean(x[..., -n:] ** 2, axis=-1)))


def _band2_comp(**extra):
    kw = dict(XO, **QUIET)
    kw.update(band2_threshold_db=-30.0, band2_ratio=4.0, band2_knee_db=0.0, band2_attack_ms=0.1,
              band2_release_ms=4000.0)
    kw.update(extra)
    return nm.MultibandCompressor(**kw)


def test_band_isolation():
    """A sine in band 2 is compressed by band 2's settings only."""
    x = _sine(10 ** (-10 / 20), 632.0)
    mbc = _band2_comp()
    g = _gain_db(x, mbc(x, SR), 632.0)
    want = dyn.static_gain_db(-10.0, -30.0, 4.0, 0.0)          # -15 dB
    print(f"band 2 sine: gain {g[0]:.3f} dB, static curve {want:.3f} dB")
    assert np.max(np.abs(g - want)) <= 0.1
    gr = mbc.last_gain_reduction_db
    assert gr.shape[0] == 4 and gr[1, -100:].min() > 14.5
    assert gr[[0, 2, 3]].max() == 0.0                             # the other bands never acted
    # aggressive settings on the other bands (they see the steady sine at ~-74 dBFS) change nothing
    # once the onset transient (which does reach them) has passed
    others = _band2_comp(band1_threshold_db=-60.0, band1_ratio=20.0, band3_threshold_db=-60.0, band3_ratio=20.0,
                         band4_threshold_db=-60.0, band4_ratio=20.0, band1_release_ms=20.0, band3_release_ms=20.0,
                         band4_release_ms=20.0)
    tail = slice(-int(0.5 * SR), None)
    np.testing.assert_allclose(others(x, SR)[:, tail], mbc(x, SR)[:, tail], atol=1e-6)
    assert others.last_gain_reduction_db[[0, 2, 3], -int(0.5 * SR) // 16:].max() == 0.0
    # band 2's settings move it: a higher ratio compresses more
    more = _band2_comp(band2_ratio=10.0)
    assert _gain_db(x, more(x, SR), 632.0)[0] == pytest.approx(dyn.static_gain_db(-10.0, -30.0, 10.0, 0.0), abs=0.1)


def test_makeup_and_bypass():
    x = _sine(10 ** (-10 / 20), 632.0)
    mk = _band2_comp(band2_makeup_db=5.0)
    assert _gain_db(x, mk(x, SR), 632.0)[0] == pytest.approx(-15.0 + 5.0, abs=0.1)
    by = _band2_comp(band2_bypass=True, band2_makeup_db=5.0)
    y = by(x, SR)
    assert abs(_gain_db(x, y, 632.0)[0]) < 0.01                  # bypassed: unity, no makeup
    assert by.last_gain_reduction_db.max() == 0.0


def test_solo_semantics():
    """Any soloed band -> only soloed bands are heard (commercial units)."""
    low, mid, high = _sine(0.2, 20.0), _sine(0.2, 632.0), _sine(0.2, 16000.0)
    x = low + mid + high
    base = dict(XO, **{f"band{k}_ratio": 1.0 for k in range(1, 5)})

    def level_db(y, f):
        y = np.asarray(y, dtype=np.float64)[0, -8192:]
        spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
        k = int(round(f * y.size / SR))
        return 20 * np.log10(spec[k - 2:k + 3].max() + 1e-30)

    ref = nm.MultibandCompressor(**base)(x, SR)
    solo2 = nm.MultibandCompressor(**base, band2_solo=True)(x, SR)
    assert level_db(solo2, 632.0) == pytest.approx(level_db(ref, 632.0), abs=0.1)
    assert level_db(solo2, 20.0) < level_db(ref, 20.0) - 40
    assert level_db(solo2, 16000.0) < level_db(ref, 16000.0) - 40
    solo24 = nm.MultibandCompressor(**base, band2_solo=True, band4_solo=True)(x, SR)
    # 16 kHz is mostly band 4 (band 3's LR4 skirt holds the rest, in phase)
    assert level_db(solo24, 16000.0) == pytest.approx(level_db(ref, 16000.0), abs=3.0)
    assert level_db(solo24, 632.0) == pytest.approx(level_db(ref, 632.0), abs=0.1)
    assert level_db(solo24, 20.0) < level_db(ref, 20.0) - 40
    # soloed bands still compress; un-soloed bands keep being detected
    m = nm.MultibandCompressor(**dict(base, band1_ratio=4.0, band1_threshold_db=-30.0), band2_solo=True)
    m(x, SR)
    assert m.last_gain_reduction_db[0].max() > 1.0


def test_mid_side_mode():
    """Loud mid, quiet side: with channel_mode="mid_side" and no link only M is compressed."""
    m_sig, s_sig = _sine(10 ** (-6 / 20), 632.0, channels=1)[0], _sine(10 ** (-40 / 20), 632.0, channels=1)[0]
    x = np.vstack([m_sig + s_sig, m_sig - s_sig])
    mbc = _band2_comp(channel_mode="mid_side", stereo_link=0.0)
    y = np.asarray(mbc(x, SR), dtype=np.float64)
    mo, so = 0.5 * (y[0] + y[1]), 0.5 * (y[0] - y[1])
    n = int(0.25 * SR)
    g_m = 20 * np.log10(np.std(mo[-n:]) / np.std(m_sig[-n:]))
    g_s = 20 * np.log10(np.std(so[-n:]) / np.std(s_sig[-n:]))
    assert g_m == pytest.approx(dyn.static_gain_db(-6.0, -30.0, 4.0, 0.0), abs=0.1)
    assert abs(g_s) < 0.05                                          # side below threshold: untouched
    # in stereo mode both channels are loud and both are compressed
    ys = np.asarray(_band2_comp(stereo_link=0.0)(x, SR), dtype=np.float64)
    assert np.all(_gain_db(x, ys, 632.0) < -10)


def test_sidechain_hpf_on_lowest_band():
    x = _sine(10 ** (-6 / 20), 40.0)
    kw = dict(XO, **QUIET)
    kw.update(band1_threshold_db=-30.0, band1_ratio=4.0, band1_knee_db=0.0)
    plain = nm.MultibandCompressor(**kw)
    plain(x, SR)
    hpf = nm.MultibandCompressor(**kw, sidechain_hpf_hz=320.0)  # 3 octaves above 40 Hz: ~-36 dB in the detector
    hpf(x, SR)
    assert plain.last_gain_reduction_db[0, -100:].min() > 15.0
    assert hpf.last_gain_reduction_db[0, -100:].max() < 0.5


def test_gain_reduction_trace_is_per_hop_and_streams(rng):
    x = rng.standard_normal((2, 9001)) * 0.3
    mbc = nm.MultibandCompressor(**{f"band{k}_threshold_db": -35.0 for k in range(1, 5)}, stereo_link=0.5)
    y = mbc(x, SR)
    tr = mbc.last_gain_reduction_db
    assert tr.shape == (4, 9001 // 16) and tr.dtype == np.float32 and tr.min() >= 0 and tr.max() > 3
    mbc.reset()
    parts, outs, a = [], [], 0
    while a < x.shape[1]:
        b = min(x.shape[1], a + int(rng.integers(1, 1500)))
        outs.append(mbc(x[:, a:b], SR, reset=False))
        parts.append(mbc.last_gain_reduction_db)
        a = b
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), tr)
    np.testing.assert_array_equal(np.concatenate(outs, axis=1), y)


def test_per_band_automation_and_band_counts():
    x = _sine(10 ** (-10 / 20), 632.0, seconds=0.6)
    n = x.shape[1]
    mbc = _band2_comp(band2_attack_ms=0.05, band2_release_ms=1.0)
    mbc.set_automation("band2_threshold_db", np.where(np.arange(n) < n // 2, -30.0, -20.0))
    mbc(x, SR)
    gr = mbc.last_gain_reduction_db[1]
    half = n // 2 // 16
    assert gr[half - 200:half - 10].max() == pytest.approx(15.0, abs=0.3)
    assert gr[-200:].max() == pytest.approx(7.5, abs=0.3)
    for k in (2, 3, 5, 6):
        m = nm.MultibandCompressor(num_bands=k)
        y = m(x, SR)
        assert y.shape == x.shape and m.last_gain_reduction_db.shape[0] == k

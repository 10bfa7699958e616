"""Hitting the delivery targets (issue 5 items 3 and 5): the closed loop on generated mixes.

Every target is checked on the delivered audio with meters the loop does not
use: integrated loudness by pyloudnorm (BS.1770-4, independent code) within
0.3 LU and by our meter within the target's 0.2 LU, true peak by the 16x
Kaiser reference of ``truepeak_reference.py`` at or below the ceiling.
Mixes are 6 s long so the whole file stays quick.
"""
from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

import neuromaster as nm
from neuromaster import demo
from neuromaster.analysis import analyze
from neuromaster.loudness_target import STATUS_REACHED, STATUS_UNREACHABLE, master
from neuromaster.presets import custom_target, list_presets, load_preset
from truepeak_reference import true_peak_db

SECONDS = 6.0
TARGETS = tuple(list_presets()["targets"])
#: (genre, sample rate) of the mixes every target is checked on.
MIXES = (("pop", 44100), ("jazz", 48000), ("edm", 48000), ("classical", 44100))
_CACHE: dict = {}


def _mix(genre, sr, **kw):
    key = (genre, sr, repr(sorted(kw.items())))
    if key not in _CACHE:
        _CACHE[key] = demo.make_mix(genre, SECONDS, sr, seed=7, **kw)
    return _CACHE[key]


def _independent_lufs(y, sr):
    return pyloudnorm.Meter(sr, filter_class="DeMan").integrated_loudness(np.asarray(y, dtype=np.float64).T)


def _check_delivery(res, sr, tolerance=0.3):
    t = res.target
    y = res.audio
    lufs = _independent_lufs(y, sr)
    ours = analyze(y, sr, true_peak="off")["integrated_lufs"]
    tp = true_peak_db(y)
    print(f"{t.name:12s} {sr} Hz: pyloudnorm {lufs:7.2f} LUFS, ours {ours:7.2f} (target {t.integrated_lufs:g}); "
          f"true peak {tp:6.2f} dBTP ref / {res.true_peak_dbtp:6.2f} loop (ceiling {t.true_peak_dbtp:g}); "
          f"{len(res.iterations)} render(s)")
    assert abs(lufs - t.integrated_lufs) <= tolerance
    assert abs(ours - t.integrated_lufs) <= t.tolerance_lu
    assert tp <= t.true_peak_dbtp
    assert res.true_peak_dbtp <= t.true_peak_dbtp


@pytest.mark.parametrize("genre,sr", MIXES, ids=[f"{g}-{sr}" for g, sr in MIXES])
def test_every_target_is_hit_with_the_default_preset(genre, sr):
    x = _mix(genre, sr)
    for name in TARGETS:
        res = master(x, sr, target=name, analyze_input=False)
        assert res.status == STATUS_REACHED, res.message
        assert res.audio.shape == x.shape and res.audio.dtype == np.float32
        _check_delivery(res, sr)
        assert len(res.iterations) <= 3


@pytest.mark.parametrize("genre", list_presets()["genres"])
def test_genre_presets_reach_their_default_target(genre):
    sr = 44100
    x = _mix(genre, sr)
    p = load_preset(genre)
    res = master(x, sr, preset=genre, analyze_input=False)
    assert res.target.name == p.resolved_target().name
    assert res.status == STATUS_REACHED, res.message
    _check_delivery(res, sr)
    lim = res.gain_reduction["limiter"]
    assert lim["max_db"] <= p.limits.max_limiter_gain_reduction_db + 0.05
    assert res.chain.get_parameter("limiter.input_gain_db") <= p.limits.max_limiter_input_gain_db


def test_unreachable_target_stops_within_the_damage_limits_and_says_how_close():
    """-6 LUFS on a dynamic jazz mix with the jazz profile's limits (3 dB peak limiter reduction)."""
    sr = 48000
    x = _mix("jazz", sr)
    res = master(x, sr, preset="jazz", target=custom_target(-6.0, -1.0), analyze_input=False)
    print(res.message)
    assert res.status == STATUS_UNREACHABLE
    assert "not reachable" in res.message and "peak limiter gain reduction limit (3 dB)" in res.message
    assert res.integrated_lufs < -6.0 - 0.2
    assert f"{res.integrated_lufs:.2f} LUFS" in res.message
    assert res.gain_reduction["limiter"]["max_db"] <= 3.0 + 1e-6
    assert true_peak_db(res.audio) <= -1.0
    assert len(res.iterations) <= 4
    # the delivered render is the loudest one within the limits
    feasible = [it for it in res.iterations if it.feasible]
    assert res.integrated_lufs == pytest.approx(max(it.integrated_lufs for it in feasible), abs=0.01)


def test_the_gain_range_bounds_the_loop():
    sr = 44100
    x = _mix("pop", sr) * 10 ** (-30 / 20)      # a very quiet mix: needs ~ +40 dB for -8 LUFS
    res = master(x, sr, target="club", analyze_input=False)
    assert res.status == STATUS_UNREACHABLE and "largest input gain allowed (+24 dB)" in res.message
    assert res.chain.get_parameter("limiter.input_gain_db") == 24.0
    assert true_peak_db(res.audio) <= -0.3


def test_dc_is_removed():
    """A -26 dBFS DC offset through the master.

    Direct: the output's mean over the last second is below -80 dBFS (measured 4.4e-5, -87 dBFS,
    61 dB under the input's DC; that is the music's own 1 s mean, not DC: the same chain on the
    offset-free mix gives 4.8e-5). Null: the same chain settings on the mix with and without its
    DC (dither seeded alike) differ over the last second by a mean 205 dB under the input's DC and
    at most one 24-bit LSB (measured 2^-23): the DC blocker leaves nothing of the offset.
    """
    sr = 44100
    x = _mix("pop", sr, faults={"dc_offset": 0.05})
    assert np.all(np.abs(x.mean(axis=1)) > 0.04)
    res = master(x, sr, target="spotify", analyze_input=True)
    dc_in = np.abs(res.before["dc_offset"])
    y = res.audio.astype(np.float64)
    last = slice(y.shape[1] - sr, None)
    dc_out = np.abs(y[:, last].mean(axis=1))
    dc = x.mean(axis=1, keepdims=True)
    with_dc = res.chain.copy()(x, sr).astype(np.float64)
    without = res.chain.copy()(x - dc, sr).astype(np.float64)
    residual = (with_dc - without)[:, last]
    residual_db = 20 * np.log10(np.maximum(np.abs(residual.mean(axis=1)), 1e-300) / np.abs(dc[:, 0]))
    print(f"DC offset: in {dc_in}, output mean over the last second {dc_out} "
          f"({20 * np.log10(dc_out.max()):.1f} dBFS); null residual mean {residual_db.max():.1f} dB re the input's "
          f"DC, max |residual| {np.abs(residual).max():.3g}")
    assert np.all(dc_out < 1e-4)                        # -80 dBFS
    assert np.all(20 * np.log10(dc_out / dc_in) < -50.0)
    assert np.all(residual_db < -120.0)
    assert np.abs(residual).max() <= 4 * 2.0 ** -23     # 4 LSB of the 24-bit output
    _check_delivery(res, sr)


def test_after_limiter_stages_keep_the_ceiling_in_the_loop():
    """Parallel drive (guard limiter) and 16-bit psychoacoustic dither after the limiter."""
    sr = 48000
    x = _mix("rock", sr)
    chain = nm.MasteringChain.from_preset("default")
    for k, v in {"parallel_drive.bypass": False, "parallel_drive.drive_db": 18.0, "parallel_drive.mix": 0.7,
                 "dither.bit_depth": 16, "dither.noise_shaping": "psychoacoustic"}.items():
        chain.set_parameter(k, v)
    res = master(x, sr, chain=chain, target="spotify_loud", analyze_input=False)
    assert res.status == STATUS_REACHED, res.message
    _check_delivery(res, sr)
    assert "guard_limiter" in res.gain_reduction
    y = res.audio.astype(np.float64)
    assert np.array_equal(np.round(y * 2 ** 15), y * 2 ** 15)


def test_cache_in_a_temporary_file_and_the_worker_thread_change_nothing():
    sr = 44100
    x = _mix("pop", sr)[:, :3 * sr]
    a = master(x, sr, target="spotify", analyze_input=False)
    b = master(x, sr, target="spotify", analyze_input=False, cache_memory_bytes=0)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.integrated_lufs == b.integrated_lufs
    c = master(x, sr, target="spotify", analyze_input=False, threads=False)
    np.testing.assert_array_equal(a.audio, c.audio)
    assert c.report()["after"] == a.report()["after"]


def test_mono_input_and_iteration_bound():
    sr = 44100
    x = _mix("acoustic", sr)[0]
    res = master(x, sr, target="apple_music", max_iterations=2, analyze_input=False)
    assert res.audio.shape == x.shape
    assert len(res.iterations) <= 2
    assert res.status == STATUS_REACHED, res.message
    _check_delivery(res, sr)


def test_report_content():
    sr = 44100
    x = _mix("pop", sr)
    res = master(x, sr, preset="pop", target="spotify")
    rep = res.report()
    import json
    json.dumps(rep, allow_nan=False)
    assert rep["target"]["name"] == "spotify" and rep["target"]["within_tolerance"] and rep["target"]["true_peak_ok"]
    assert rep["before"]["integrated_lufs"] < rep["after"]["integrated_lufs"]
    assert rep["parameters"]["parameters"]["limiter.input_gain_db"] == res.iterations[-1].gain_db
    gr = rep["gain_reduction"]
    assert {"limiter", "multiband", "dynamic_eq"} <= set(gr)
    assert set(gr["multiband"]["bands"]) == {"band1", "band2", "band3"}
    assert rep["iterations"] and all("integrated_lufs" in it for it in rep["iterations"])
    assert len(res.limiter_gr_series_db) == pytest.approx(SECONDS * 100, abs=2)


def test_bad_arguments():
    x = _mix("pop", 44100)
    with pytest.raises(nm.ParameterError, match="tolerance_lu"):
        master(x, 44100, tolerance_lu=0.0)
    with pytest.raises(nm.ParameterError, match="engage the limiter"):
        master(x, 44100, chain=nm.MasteringChain({"limiter.bypass": True}))
    with pytest.raises(nm.PresetError, match="unknown target"):
        master(x, 44100, target="radio")
    with pytest.raises(nm.ParameterError, match="channel"):
        master(np.zeros((3, 44100)), 44100)


def test_input_without_integrated_loudness_is_refused():
    """Shorter than one 400 ms gating block, or silent: a message, not a TypeError from the loop."""
    with pytest.raises(nm.ParameterError, match=r"0\.300 s long: .* at least 0\.4 s"):
        master(_mix("pop", 44100)[:, :13230], 44100)
    with pytest.raises(nm.ParameterError, match="no integrated loudness .* silent"):
        master(np.zeros((2, 88200)), 44100)


def test_the_callers_chain_is_not_changed():
    """master() works on a copy: the limiter's input gain and ceiling (and master_file's dither)
    are set on it, returned in ``result.chain``, and the caller's chain keeps its settings."""
    sr = 44100
    chain = nm.MasteringChain.from_preset("pop")
    chain.set_parameter("limiter.input_gain_db", 1.5)
    before = chain.to_dict()
    res = master(_mix("pop", sr)[:, :3 * sr], sr, chain=chain, target="apple_music", analyze_input=False)
    assert chain.to_dict() == before
    assert res.chain is not chain
    assert res.chain.get_parameter("limiter.ceiling_db") == -1.0            # apple_music's ceiling
    assert res.chain.get_parameter("limiter.input_gain_db") == res.iterations[-1].gain_db != 1.5
    # the result's chain reproduces the delivered audio
    again = res.chain.copy()(_mix("pop", sr)[:, :3 * sr], sr)
    assert np.max(np.abs(again - res.audio)) <= 2 ** -23


def test_tightening_below_the_lowest_ceiling_raises_instead_of_clamping(monkeypatch):
    """A measured overshoot near a -20 dBTP ceiling cannot be absorbed (the limiter aims at
    -20 dBTP at the lowest, minus the dither headroom): the loop says so instead of delivering a
    master whose dither headroom was silently dropped."""
    from neuromaster import loudness_target
    monkeypatch.setattr(loudness_target._TruePeak16, "dbtp", lambda self: -19.9 + 0.3)
    sr = 44100
    with pytest.raises(nm.ParameterError, match=r"over the -19\.9 dBTP ceiling.*below the lowest ceiling the "
                                                r"chain can deliver \(-19\.99.*dither headroom"):
        master(_mix("pop", sr)[:, :3 * sr], sr, target=custom_target(-40.0, -19.9), analyze_input=False)


def test_a_measured_overshoot_tightens_the_ceiling(monkeypatch):
    """The loop trusts the measurement, not the limiter: a (simulated) 16x reading 0.3 dB over the
    ceiling on the first render lowers the ceiling by that much and renders again."""
    from neuromaster import loudness_target
    real = loudness_target._TruePeak16.dbtp
    calls = []

    def first_reads_high(self):
        v = real(self)
        calls.append(v)
        return -1.0 + 0.3 if len(calls) == 1 else v

    monkeypatch.setattr(loudness_target._TruePeak16, "dbtp", first_reads_high)
    sr = 44100
    res = master(_mix("pop", sr), sr, target="spotify", analyze_input=False)
    assert res.status == STATUS_REACHED, res.message
    assert any("tightened to -1.310 dBTP" in n for n in res.notes), res.notes
    assert res.chain.get_parameter("limiter.ceiling_db") == pytest.approx(-1.31)
    assert len(res.iterations) == 2 and res.iterations[1].ceiling_db == pytest.approx(-1.31)
    assert true_peak_db(res.audio) <= -1.3

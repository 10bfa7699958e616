"""MasteringChain (issue 5 item 1): the generated parameter table, the NEURO-MASTER order,
forwarding to the stages, latency, presets round trip, the ceiling after the limiter
(guard limiter and dither headroom), and use inside Chain and Graph.

The generic contract properties (chunking, streaming, reset, shapes, every parameter
changes the output, ...) run over ``cases_mastering.py`` in ``test_contract.py``.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import neuromaster as nm
from neuromaster import demo
from neuromaster.dsp.truepeak import interpolator
from neuromaster.mastering import (CHAIN_DEFAULTS, DEFAULT_ENGAGED, DITHER_ERROR_LSB, INTERPOLATION_GAIN_BOUND, STAGE_NAMES, STAGES,
                                   dither_headroom_db)
from truepeak_reference import reference_filter, true_peak_db

SR = 44100
ORDER = ("DCBlocker", "MidSide", "Gain", "TransformerSaturator", "TubeSaturator", "TapeSaturator", "DynamicEQ",
         "MultibandCompressor", "ParametricEQ", "StereoWidth", "SoftClipper", "TruePeakLimiter", "ParallelDrive",
         "Dither")


def _all_engaged(**extra):
    d = {f"{s}.bypass": False for s in STAGE_NAMES}
    d.update(extra)
    return nm.MasteringChain(d)


def _quiet_music(seconds=1.5, sr=SR, level_db=-12.0, genre="pop"):
    x = demo.make_mix(genre, seconds, sr, seed=1)
    return x * 10 ** (level_db / 20) / np.max(np.abs(x))


# ------------------------------------------------------------ the table
def test_stage_order_and_names():
    assert tuple(cls.__name__ for _, cls in STAGES) == ORDER
    assert STAGE_NAMES == ("dc_blocker", "mid_side", "gain", "transformer", "tube", "tape", "dynamic_eq",
                           "multiband", "eq", "width", "clipper", "limiter", "parallel_drive", "dither")


def test_parameter_table_is_generated_from_the_stage_tables():
    """Every stage parameter appears as stage.param with its range, scale, kind and doc; one bypass each."""
    table = nm.MasteringChain.PARAMETERS
    by_name = {p.name: p for p in table}
    expected = 0
    for stage, cls in STAGES:
        assert by_name[f"{stage}.bypass"].kind == "bool"
        assert f"{stage}.bypass" in nm.MasteringChain.STRUCTURAL
        for p in cls.PARAMETERS:
            q = by_name[f"{stage}.{p.name}"]
            assert type(q) is type(p)
            for field in dataclasses.fields(p):
                if field.name not in ("name", "default"):
                    assert getattr(q, field.name) == getattr(p, field.name), (q.name, field.name)
            assert q.default == (CHAIN_DEFAULTS[q.name] if q.name in CHAIN_DEFAULTS else p.default)
            if p.name in cls.STRUCTURAL:
                assert q.name in nm.MasteringChain.STRUCTURAL
        expected += len(cls.PARAMETERS) + 1
    assert len(table) == expected
    print(f"MasteringChain: {len(table)} flat parameters over {len(STAGES)} stages")


def test_neutral_defaults():
    chain = nm.MasteringChain()
    assert chain.engaged_stages == [s for s in STAGE_NAMES if s in DEFAULT_ENGAGED]
    assert chain.engaged_stages == ["dc_blocker", "gain", "limiter", "dither"]
    assert chain.get_parameter("limiter.ceiling_db") == -1.0
    assert chain.get_parameter("dither.bit_depth") == 24
    assert not chain.guard_engaged
    # below the ceiling the default chain is the 5 Hz DC blocker plus 24-bit TPDF dither
    x = _quiet_music()
    y = chain(x, SR).astype(np.float64)
    ref = nm.DCBlocker()(x, SR).astype(np.float64)
    err_lsb = np.max(np.abs(y - ref)) * 2 ** 23
    print(f"default chain vs DC blocker alone: max difference {err_lsb:.2f} LSB (24 bit)")
    assert err_lsb <= DITHER_ERROR_LSB + 0.01
    assert np.array_equal(np.round(y * 2 ** 23), y * 2 ** 23), "output not on the 24-bit grid"


def test_processing_follows_the_order():
    chain = _all_engaged()
    chain.prepare(SR, 2, 4096)
    seen = []
    chain.stream_section(_quiet_music(0.1), monitor=lambda name, st, a, b: seen.append((name, type(st).__name__)))
    assert [n for n, _ in seen] == list(STAGE_NAMES[:13]) + ["guard_limiter", "dither"]
    assert [t for n, t in seen if n != "guard_limiter"] == list(ORDER)


# ------------------------------------------------------- forwarding
def test_flat_names_forward_to_the_stage_which_smooths():
    chain = nm.MasteringChain({"eq.bypass": False, "eq.band3_enabled": True})
    chain.set_parameter("eq.band3_gain_db", 4.5)
    assert chain.stage("eq").band3_gain_db == 4.5 and chain.get_parameter("eq.band3_gain_db") == 4.5
    x = _quiet_music(0.5)
    chain(x[:, :4000], SR, reset=False)
    chain.set_parameter("eq.band3_gain_db", -4.5)
    assert "band3_gain_db" in chain.stage("eq")._ramps, "the stage should ramp the change (smoothing)"
    assert not chain._ramps
    # normalised access uses the stage's own mapping (oversampling 4/8/16 -> 0/0.5/1)
    chain.set_normalized("limiter.oversampling", 1.0)
    assert chain.get_parameter("limiter.oversampling") == 16 and chain.stage("limiter").oversampling == 16
    assert chain.get_normalized("limiter.oversampling") == 1.0


def test_automation_on_a_flat_name_equals_the_stage_automated():
    x = _quiet_music(1.0)
    curve = [(0.0, -12.0), (0.5, 3.0), (1.0, -6.0)]
    chain = nm.MasteringChain({"limiter.bypass": True, "dither.bypass": True, "dc_blocker.bypass": True})
    chain.set_automation("gain.gain_db", curve)
    g = nm.Gain()
    g.set_automation("gain_db", curve)
    np.testing.assert_allclose(chain(x, SR), g(x, SR), atol=1e-7)
    assert chain.automated_parameters == ["gain.gain_db"]
    chain.clear_automation()
    assert not chain.stage("gain").automated_parameters


def test_errors_name_the_flat_parameter():
    chain = nm.MasteringChain()
    with pytest.raises(nm.ParameterError, match=r"limiter\.ceiling_db must be \[-20, 0\] dB; got 3"):
        chain.set_parameter("limiter.ceiling_db", 3)
    with pytest.raises(nm.ParameterError, match=r"limiter\.oversampling.*one of 4, 8, 16; got 5"):
        chain.set_parameter("limiter.oversampling", 5)
    with pytest.raises(nm.ParameterError, match="stage 'limiter' has: bypass, ceiling_db"):
        chain.set_parameter("limiter.ceiling", -1)
    with pytest.raises(nm.ParameterError, match="stage one of dc_blocker"):
        chain.set_parameter("limitr.ceiling_db", -1)
    with pytest.raises(nm.ParameterError, match="no stage 'nope'"):
        chain.stage("nope")


def test_bypass_is_structural_and_changes_the_latency():
    chain = nm.MasteringChain()
    base = chain.latency_for(SR)
    assert base == chain.stage("limiter").latency_for(SR)
    chain(_quiet_music(0.2), SR)
    chain.set_parameter("width.bypass", False)
    assert chain._needs_prepare
    assert chain.latency_for(SR) == base + chain.stage("width").latency_for(SR)
    chain.set_parameter("parallel_drive.bypass", False)
    lat = chain.latency_for(SR)
    assert lat == (base + chain.stage("width").latency_for(SR) + chain.stage("parallel_drive").latency_for(SR)
                   + chain.guard_limiter.latency_for(SR))
    assert chain.reported_latency_samples == lat


def test_latency_is_compensated_in_one_shot_calls():
    """Width (linear phase, 5766 samples), transformer-free colour-less chain: the output is the input."""
    x = _quiet_music(0.6, level_db=-20.0)
    chain = nm.MasteringChain({"width.bypass": False, "dither.bypass": True, "dc_blocker.bypass": True,
                               "eq.bypass": False, "parallel_drive.bypass": False, "parallel_drive.drive_db": 0.0})
    assert chain.reported_latency_samples > 6000
    y = chain(x, SR).astype(np.float64)
    err = np.max(np.abs(y - x))
    print(f"transparent settings, latency {chain.reported_latency_samples}: max abs error {err:.2e}")
    assert err < 1e-6


def test_mono_input_is_a_centred_source():
    x = _quiet_music(0.5)[0]
    chain = _all_engaged(**{"mid_side.mid_gain_db": -2.0, "width.mono_below_hz": 120.0, "dither.bypass": True})
    y = chain(x, SR)
    assert y.shape == x.shape and y.dtype == np.float32
    stereo = chain(np.stack([x, x]), SR)
    np.testing.assert_allclose(y, stereo[0], atol=1e-6)
    np.testing.assert_allclose(stereo[0], stereo[1], atol=1e-6)


# ------------------------------------------------------------ presets
def test_to_dict_and_from_dict_round_trip_exactly():
    chain = _all_engaged(**{"limiter.ceiling_db": -2.0, "dither.bit_depth": 16, "dither.noise_shaping": "simple",
                            "multiband.num_bands": 5, "eq.band4_enabled": True, "eq.band4_gain_db": 2.5})
    chain.set_automation("gain.gain_db", [(0.0, -3.0), (0.2, 0.0)])
    chain.set_automation("limiter.ceiling_db", [(0.0, -2.0), (0.2, -1.0)])
    d = json.loads(json.dumps(chain.to_dict()))
    assert d["derived"]["guard_limiter"]["engaged"] is True
    assert d["derived"]["limiter_aim_db"] == pytest.approx(-2.0 - d["derived"]["dither_headroom_db"])
    clone = nm.Processor.from_dict(d)
    assert type(clone) is nm.MasteringChain and clone.to_dict() == chain.to_dict()
    x = _quiet_music(0.3)
    np.testing.assert_array_equal(clone(x, SR), chain(x, SR))


def test_to_preset_from_preset_round_trip_exactly(tmp_path):
    chain = _all_engaged(**{"tube.drive_db": 3.0, "width.width_high": 1.3, "limiter.release_ms": 250.0,
                            "tape.speed_ips": "30", "dither.bypass": True})
    preset = chain.to_preset("round-trip", "a test preset")
    path = tmp_path / "rt.json"
    path.write_text(json.dumps(preset, indent=2))
    clone = nm.MasteringChain.from_preset(str(path))
    assert clone.to_preset("round-trip", "a test preset") == preset
    assert clone.to_dict() == chain.to_dict()
    assert nm.MasteringChain.from_preset(preset).to_dict() == chain.to_dict()


def test_from_preset_by_name():
    chain = nm.MasteringChain.from_preset("jazz")
    assert chain.is_engaged("tube") and chain.get_parameter("limiter.release_ms") == 300.0
    assert nm.MasteringChain.from_preset("default").get_parameter("limiter.auto_release") is True


# ------------------------------------------------- ceiling after the limiter
def test_interpolation_gain_bound_covers_the_meters_and_the_reference():
    """The dither headroom assumes no true-peak interpolator phase has an L1 norm above the bound."""
    norms = {m: float(np.abs(interpolator(m)).sum(axis=1).max()) for m in ("4x", "16x", "32x")}
    h = reference_filter() * 16
    norms["reference 16x"] = max(float(np.abs(h[p::16]).sum()) for p in range(16))
    print("L1 norm of the worst phase:", {k: round(v, 4) for k, v in norms.items()})
    assert max(norms.values()) <= INTERPOLATION_GAIN_BOUND


def test_dither_headroom_formula():
    # flat TPDF at 16 bits: INTERPOLATION_GAIN_BOUND * 1.5 LSB at -1 dBTP
    c = 10 ** (-1 / 20)
    e = INTERPOLATION_GAIN_BOUND * 1.5 / 2 ** 15
    assert dither_headroom_db(-1.0, 16, "none") == pytest.approx(20 * np.log10(c / (c - e)))
    shaped = dither_headroom_db(-1.0, 16, "psychoacoustic")
    print(f"dither headroom at -1 dBTP: 16-bit flat {dither_headroom_db(-1.0, 16, 'none'):.4f} dB, "
          f"16-bit psychoacoustic {shaped:.4f} dB, 24-bit flat {dither_headroom_db(-1.0, 24, 'none'):.6f} dB")
    assert 0.02 < shaped < 0.05
    chain = nm.MasteringChain({"dither.bit_depth": 16, "dither.noise_shaping": "psychoacoustic"})
    assert chain.limiter_aim_db == pytest.approx(-1.0 - shaped)
    assert chain.stage("limiter").ceiling_db == pytest.approx(chain.limiter_aim_db)
    chain.set_parameter("dither.bypass", True)
    assert chain.stage("limiter").ceiling_db == -1.0


@pytest.mark.parametrize("shaping", ["none", "psychoacoustic"])
def test_driven_chain_with_16_bit_dither_stays_under_the_ceiling(shaping):
    x = demo.make_mix("edm", 3.0, SR, seed=2) * 10 ** (9 / 20)
    chain = nm.MasteringChain({"limiter.input_gain_db": 6.0, "limiter.ceiling_db": -1.0, "dither.bit_depth": 16,
                               "dither.noise_shaping": shaping})
    y = chain(x, SR).astype(np.float64)
    tp = true_peak_db(y)
    print(f"16-bit {shaping}: true peak {tp:.4f} dBTP (reference 16x), ceiling -1")
    assert tp <= -1.0
    assert np.array_equal(np.round(y * 2 ** 15), y * 2 ** 15)


def test_guard_limiter_keeps_the_ceiling_after_parallel_drive():
    x = demo.make_mix("rock", 3.0, SR, seed=3) * 10 ** (6 / 20)
    settings = {"limiter.input_gain_db": 8.0, "parallel_drive.bypass": False, "parallel_drive.drive_db": 24.0,
                "parallel_drive.mix": 1.0, "parallel_drive.highpass_hz": 200.0, "dither.bypass": True}
    chain = nm.MasteringChain(settings)
    assert chain.guard_engaged and chain.to_dict()["derived"]["guard_limiter"]["engaged"]
    y = chain(x, SR)
    tp = true_peak_db(y)
    # the same two stages without the guard, for comparison
    lim = nm.TruePeakLimiter(input_gain_db=8.0, ceiling_db=-1.0)
    pd = nm.ParallelDrive(drive_db=24.0, mix=1.0, highpass_hz=200.0)
    unguarded = true_peak_db(nm.Chain([nm.DCBlocker(), lim, pd])(x, SR))
    print(f"parallel drive after the limiter: {unguarded:+.3f} dBTP without the guard, {tp:+.3f} dBTP with it")
    assert tp <= -1.0
    assert unguarded > -1.0, "the drive did not push the peak over: this test does not exercise the guard"


def test_ceiling_automation_reaches_the_guard_delayed():
    chain = nm.MasteringChain({"parallel_drive.bypass": False, "dither.bypass": True})
    chain.set_automation("limiter.ceiling_db", [(0.0, -6.0), (0.5, -1.0)])
    x = demo.make_mix("pop", 1.0, SR, seed=4) * 2.0
    y = chain(x, SR).astype(np.float64)
    # the guard sits behind every engaged stage up to parallel drive: its curve is read that much later
    behind = chain.section_latency(SR, None, "parallel_drive") + chain.stage("parallel_drive").latency_for(SR)
    assert chain.guard_limiter._automation_offset == behind > 0
    g = chain.guard_limiter.get_automation("ceiling_db")
    assert g is not None and g.times_s[0] == 0.0
    t = np.arange(y.shape[1]) / SR
    ceiling = np.interp(t, [0.0, 0.5], [-6.0, -1.0])
    over = 20 * np.log10(np.max(np.abs(y), axis=0) + 1e-12) - ceiling
    assert over.max() <= 0.01, f"a sample {over.max():.3f} dB over the automated ceiling"


# ------------------------------------------------------------- containers
def test_mastering_chain_inside_chain_and_graph(rng):
    x = _quiet_music(0.8, level_db=-3.0)
    settings = {"eq.bypass": False, "eq.band2_enabled": True, "eq.band2_gain_db": 3.0, "tube.bypass": False,
                "dither.bypass": True}
    direct = nm.MasteringChain(settings)(nm.Gain(gain_db=2.0)(x, SR), SR).astype(np.float64)
    outer = nm.Chain([nm.Gain(gain_db=2.0), nm.MasteringChain(settings)])
    np.testing.assert_allclose(outer(x, SR), direct, atol=1e-6)
    assert outer.reported_latency_samples == nm.MasteringChain(settings).reported_latency_samples
    g = nm.Graph(SR)
    g.add_input("mix", x)
    g.add("trim", nm.Gain(gain_db=2.0), inputs=["mix"])
    g.add("master", nm.MasteringChain(settings), inputs=["trim"])
    g.set_parameter("master", "limiter.input_gain_db", 0.0)
    np.testing.assert_allclose(g.render(), direct, atol=1e-6)


def test_dithered_default_chain_is_chunk_invariant():
    """Through the dither the output is on the 16-bit grid; any chunking gives the same samples."""
    x = demo.make_mix("pop", 1.0, SR, seed=5) * 2.0
    chain = nm.MasteringChain({"dither.bit_depth": 16, "dither.noise_shaping": "psychoacoustic"})
    ref = chain(x, SR, buffer_size=x.shape[1])
    for bs in (64, 1000, 8193):
        np.testing.assert_array_equal(chain(x, SR, buffer_size=bs), ref, err_msg=f"buffer_size={bs}")
    lat = chain.reported_latency_samples
    chain.reset()
    rng = np.random.default_rng(3)
    outs, a = [], 0
    while a < x.shape[1]:
        b = min(x.shape[1], a + int(rng.integers(1, 5000)))
        outs.append(chain(x[:, a:b], SR, reset=False))
        a = b
    y = np.concatenate(outs, axis=1)
    np.testing.assert_array_equal(y[:, lat:], ref[:, :x.shape[1] - lat])


def test_automated_ceiling_gets_the_headroom_of_each_value():
    chain = nm.MasteringChain({"dither.bit_depth": 16, "dither.noise_shaping": "psychoacoustic"})
    chain.set_automation("limiter.ceiling_db", np.linspace(-1.0, -12.0, 100))
    forwarded = chain.stage("limiter").get_automation("ceiling_db").values
    expected = np.linspace(-1.0, -12.0, 100) - dither_headroom_db(np.linspace(-1.0, -12.0, 100), 16, "psychoacoustic")
    np.testing.assert_allclose(forwarded, expected, rtol=0, atol=1e-12)
    assert forwarded[0] - forwarded[-1] > 11.0 + 0.05     # deeper ceilings need more headroom (dB)

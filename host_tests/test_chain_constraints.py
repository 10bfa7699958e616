"""Settings a stage or chain cannot honour are refused with a message, never silently changed
(audit items 8, 9, 10, 11, 15): the limiter's lowest aim under the dither headroom, crossover
order, the dynamic EQ's external detector inside MasteringChain, read-back of built-in pedalboard
plugin properties, and master_file leaving the caller's chain alone."""
from __future__ import annotations

import dawdreamer  # noqa: F401  (before numba)
import numpy as np
import pedalboard
import pytest
import soundfile as sf

import neuromaster as nm
from neuromaster.mastering import dither_headroom_db
from neuromaster.thirdparty import ParameterReadbackError, set_pedalboard_parameter

SR = 44100


def _noise(rng, n=4410, channels=2, level=0.1):
    return level * rng.standard_normal((channels, n))


# ------------------------------------------------------------ item 8: no hidden clamp of the aim
@pytest.mark.parametrize("bits,shaping", [(24, "none"), (16, "none"), (16, "psychoacoustic")])
def test_a_ceiling_too_low_for_the_dither_headroom_raises(rng, bits, shaping):
    chain = nm.MasteringChain({"dither.bit_depth": bits, "dither.noise_shaping": shaping})
    lowest = chain.lowest_ceiling_db
    head = dither_headroom_db(lowest, bits, shaping)
    assert lowest - head == pytest.approx(-20.0, abs=1e-9)          # exactly the limiter's minimum aim
    print(f"\n  lowest ceiling with {bits}-bit TPDF ({shaping}): {lowest:.5f} dBTP", end="")
    x = _noise(rng)
    chain.set_parameter("limiter.ceiling_db", -20.0)                 # accepted when set (one at a time) ...
    assert chain.limiter_aim_db < -20.0                              # ... and reported as it is, not clamped
    with pytest.raises(nm.ParameterError, match=r"limiter\.ceiling_db -20 dBTP leaves no room for the dither: "
                                                r"with \d+-bit TPDF dither .* below its -20 dBTP minimum\. "
                                                r"Use a ceiling of at least -19\.\d{4} dBTP"):
        chain(x, SR)
    chain.set_parameter("limiter.ceiling_db", lowest)                # the lowest one works
    assert np.isfinite(chain(x, SR)).all()
    chain.set_parameter("limiter.ceiling_db", -20.0)
    chain.set_parameter("dither.bypass", True)                       # or no dither: no headroom needed
    assert np.isfinite(chain(x, SR)).all()
    assert chain.limiter_aim_db == -20.0


def test_an_automated_ceiling_below_the_lowest_raises(rng):
    chain = nm.MasteringChain({"dither.bit_depth": 16})
    n = 4410
    chain.set_automation("limiter.ceiling_db", np.linspace(-19.0, -20.0, n))
    with pytest.raises(nm.ParameterError, match=r"\(automation, value \d+ of the curve\)"):
        chain(_noise(rng, n), SR)
    chain.set_automation("limiter.ceiling_db", np.linspace(-19.0, chain.lowest_ceiling_db, n))
    assert np.isfinite(chain(_noise(rng, n), SR)).all()


# ------------------------------------------------------------ item 9: crossovers in order
def test_crossovers_out_of_order_raise_at_process_time(rng):
    mbc = nm.MultibandCompressor(num_bands=4)
    mbc.crossover1_hz = 2000.0        # set one at a time: no error yet (1000 Hz is still crossover 2)
    x = _noise(rng)
    with pytest.raises(nm.ParameterError, match=r"strictly ascending.*crossover1_hz \(2000 Hz\) is not below "
                                                r"crossover2_hz \(1000 Hz\): crossover1_hz=2000, crossover2_hz=1000, "
                                                r"crossover3_hz=6000 Hz"):
        mbc(x, SR)
    mbc.crossover2_hz = 4000.0        # fixed by the next setting
    assert np.isfinite(mbc(x, SR)).all()
    mbc.crossover3_hz = 4000.0        # equal is not ascending either
    with pytest.raises(nm.ParameterError, match="crossover2_hz .4000 Hz. is not below crossover3_hz"):
        mbc(x, SR)
    # the unused crossovers (beyond num_bands - 1) do not matter
    assert np.isfinite(nm.MultibandCompressor(num_bands=2, crossover2_hz=30.0)(x, SR)).all()


def test_crossing_crossover_automation_raises_and_names_the_sample(rng):
    n = 8000
    mbc = nm.MultibandCompressor(num_bands=3)
    mbc.set_automation("crossover1_hz", np.geomspace(100.0, 3000.0, n))    # passes crossover2 (1000 Hz)
    with pytest.raises(nm.ParameterError, match=r"crossover1_hz \(10\d\d(\.\d+)? Hz\) is not below crossover2_hz "
                                                r"\(1000 Hz\) at sample \d+ \(automation"):
        mbc(_noise(rng, n), SR)
    mbc.set_automation("crossover1_hz", np.geomspace(100.0, 900.0, n))
    assert np.isfinite(mbc(_noise(rng, n), SR)).all()


def test_results_do_not_depend_on_the_order_the_crossovers_were_set_in(rng):
    x = _noise(rng)
    a = nm.MultibandCompressor(num_bands=3, crossover1_hz=3000.0, crossover2_hz=8000.0)
    b = nm.MultibandCompressor(num_bands=3)
    b.crossover2_hz = 8000.0
    b.crossover1_hz = 3000.0
    np.testing.assert_array_equal(a(x, SR), b(x, SR))


# ------------------------------------------------------------ item 10: no external detector in the chain
@pytest.mark.parametrize("k", [1, 4])
def test_mastering_chain_refuses_the_external_detector_when_set(k):
    name = f"dynamic_eq.band{k}_detector"
    chain = nm.MasteringChain()
    with pytest.raises(nm.ParameterError, match=rf"{name}: 'external' needs a sidechain signal, and a "
                                                rf"MasteringChain takes no sidechain input"):
        chain.set_parameter(name, "external")
    assert chain.get_parameter(name) == "internal"
    with pytest.raises(nm.ParameterError, match="takes no sidechain"):
        chain.set_normalized(name, 1.0)
    with pytest.raises(nm.ParameterError, match="takes no sidechain"):
        nm.MasteringChain({name: "external"})
    with pytest.raises(nm.PresetError, match=rf"stages\.dynamic_eq\.band{k}_detector: .*takes no sidechain"):
        nm.MasteringChain.from_preset({"kind": "chain", "name": "x",
                                       "stages": {"dynamic_eq": {f"band{k}_detector": "external"}}})
    d = chain.to_dict()
    d["parameters"][name] = "external"
    with pytest.raises(nm.ParameterError, match="takes no sidechain"):
        nm.MasteringChain.from_dict(d)
    # the stage on its own still takes it (it can be given a sidechain)
    assert nm.DynamicEQ(**{f"band{k}_detector": "external"}).get_parameter(f"band{k}_detector") == "external"


# ------------------------------------------------------------ item 11: built-in plugin read-back
def test_builtin_pedalboard_properties_are_read_back():
    comp = pedalboard.Compressor()
    set_pedalboard_parameter(comp, "threshold_db", -12.3)      # float32 storage: reads back within 1e-6
    assert comp.threshold_db == pytest.approx(-12.3, rel=1e-6)
    lad = pedalboard.LadderFilter()
    set_pedalboard_parameter(lad, "mode", pedalboard.LadderFilter.Mode.HPF12)
    assert lad.mode == pedalboard.LadderFilter.Mode.HPF12
    with pytest.raises(nm.ParameterError, match=r"Reverb\.room_size: .*between 0\.0 and 1\.0"):
        set_pedalboard_parameter(pedalboard.Reverb(), "room_size", 1.5)
    with pytest.raises(nm.ParameterError, match="finite"):
        set_pedalboard_parameter(pedalboard.Gain(), "gain_db", float("nan"))
    with pytest.raises(nm.ParameterError, match=r"has no parameter 'process'; parameters: attack_ms, ratio"):
        set_pedalboard_parameter(comp, "process", 1.0)


def test_a_builtin_that_stores_something_else_fails_the_read_back():
    class Snapping(pedalboard.Gain):
        """A built-in whose stored value differs from the one written (snaps to whole dB)."""

        @property
        def gain_db(self):
            return float(round(pedalboard.Gain.gain_db.fget(self)))

        @gain_db.setter
        def gain_db(self, v):
            pedalboard.Gain.gain_db.fset(self, v)

    g = Snapping()
    set_pedalboard_parameter(g, "gain_db", 3.0)
    with pytest.raises(ParameterReadbackError, match=r"gain_db: set to 2\.4, reads back 2\.0"):
        set_pedalboard_parameter(g, "gain_db", 2.4)


# ------------------------------------------------------------ item 15: master_file keeps the caller's chain
def test_master_file_leaves_the_callers_chain_unchanged(tmp_path):
    from neuromaster import demo
    from neuromaster.loudness_target import master_file
    src = tmp_path / "in.wav"
    demo.write_demo(src, "jazz", 3.0, SR, seed=2)
    chain = nm.MasteringChain.from_preset("jazz")
    before = chain.to_dict()
    res = master_file(src, tmp_path / "out.wav", chain=chain, target="youtube", bit_depth="32f")
    assert chain.to_dict() == before
    used = res.chain.to_dict()["parameters"]
    assert used["dither.bypass"] is True and before["parameters"]["dither.bypass"] is False
    assert used["limiter.input_gain_db"] == res.iterations[-1].gain_db
    assert sf.info(str(tmp_path / "out.wav")).subtype == "FLOAT"

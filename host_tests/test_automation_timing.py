"""A curve acts on the same instant of the music wherever its stage sits.

Inside Chain and MasteringChain a stage's input is late by the latency of the
stages before it; the containers delay its curves by that much, so a step at
sample k changes the output at sample k of the (latency-compensated) render.
"""
import numpy as np
import pytest

import neuromaster as nm
from test_processor import _LatencyFixture

SR = 44100
N = 40000
STEP = 20000


def _step_curve(lo, hi):
    return np.concatenate([np.full(STEP, lo), np.full(N - STEP, hi)])


def _step_index(y):
    """First sample where the level of a constant input has changed."""
    d = np.abs(np.diff(y[0]))
    return int(np.argmax(d > 1e-3)) + 1


@pytest.mark.parametrize("upstream", [
    [_LatencyFixture(delay_samples=333)],
    [nm.SoftClipper(ceiling_db=0.0, drive_db=0.0)],   # oversampled: latency of its filters + guard
    [_LatencyFixture(delay_samples=100), nm.StereoWidth(width_high=1.0)],  # linear-phase bands: long latency
])
def test_step_in_a_chain_lands_on_the_song_timeline(upstream):
    x = np.full((2, N), 0.1)
    gain = nm.Gain()
    gain.set_automation("gain_db", _step_curve(0.0, -12.0))
    chain = nm.Chain(upstream + [gain])
    assert chain.reported_latency_samples > 0
    y = chain(x, SR)
    assert _step_index(y) == STEP
    # alone, the same curve gives the same instant
    alone = nm.Gain()
    alone.set_automation("gain_db", _step_curve(0.0, -12.0))
    assert _step_index(alone(x, SR)) == STEP
    # and breakpoints behave like the per-sample curve
    gain.set_automation("gain_db", [(0.0, 0.0), ((STEP - 1) / SR, 0.0), (STEP / SR, -12.0)])
    assert _step_index(chain(x, SR)) == STEP


def test_step_in_a_mastering_chain_behind_latent_stages():
    x = np.full((2, N), 0.05)
    chain = nm.MasteringChain({"width.bypass": False, "clipper.bypass": False, "dither.bypass": True, "dc_blocker.bypass": True,
                               "clipper.ceiling_db": 0.0, "limiter.ceiling_db": 0.0})
    assert chain.section_latency(SR, None, "limiter") > 1000
    chain.set_automation("limiter.input_gain_db", _step_curve(0.0, -12.0))
    y = chain(x, SR)
    assert _step_index(y) == STEP


def test_mix_realigns_when_a_branch_changes_latency():
    rng = np.random.default_rng(3)
    x = 0.1 * rng.standard_normal((2, 6000))
    clip = nm.SoftClipper(ceiling_db=0.0, drive_db=0.0)
    mix = nm.Mix([clip, nm.Gain(gain_db=-6.0)])
    y1 = mix(x, SR)
    clip.oversampling = 1  # a structural change: new latency
    y2 = mix(x, SR)
    ref = nm.SoftClipper(ceiling_db=0.0, drive_db=0.0, oversampling=1)(x, SR) + 10 ** (-6 / 20) * x
    assert np.max(np.abs(y2 - ref)) < 1e-6
    assert np.max(np.abs(y1 - ref)) < 1e-3  # the clipper is transparent at this level either way


def test_a_value_replaces_a_curve():
    g = nm.Gain()
    g.set_automation("gain_db", np.full(10, -6.0))
    g.gain_db = -20.0
    assert g.get_automation("gain_db") is None
    y = g(np.ones((1, 100)), SR)
    np.testing.assert_allclose(20 * np.log10(y), -20.0, atol=1e-5)
    chain = nm.MasteringChain()
    chain.set_automation("gain.gain_db", [(0.0, -6.0), (1.0, 0.0)])
    chain.set_parameter("gain.gain_db", -3.0)
    assert chain.get_automation("gain.gain_db") is None and chain.stage("gain").get_automation("gain_db") is None


def test_structural_change_mid_stream_asks_for_a_reset():
    clip = nm.SoftClipper()
    x = np.zeros((2, 1000))
    clip(x, SR, reset=False)
    clip.oversampling = 2
    with pytest.raises(nm.ParameterError, match="oversampling changed mid-stream.*reset=True"):
        clip(x, SR, reset=False)
    with pytest.raises(nm.ParameterError, match="mid-stream"):
        clip(x, SR, reset=False)  # still refused until a reset
    clip(x, SR)  # reset=True starts anew
    clip(x, SR, reset=False)

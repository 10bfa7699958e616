"""The Processor base itself: parameter tables, smoothing, automation, latency."""
from __future__ import annotations

import math

import numpy as np
import pytest

import neuromaster as nm
from neuromaster.params import Param, boolean, choice
from neuromaster.processor import Processor


class _LatencyFixture(Processor):
    """Delays by ``delay_samples`` and scales by ``gain_db``: a known latency."""

    PARAMETERS = (
        Param("delay_samples", 0, 4096, 100, kind="int", doc="latency in samples"),
        Param("gain_db", -24.0, 24.0, 0.0, unit="dB", doc="gain"),
    )
    STRUCTURAL = frozenset({"delay_samples"})

    def _prepare(self):
        self._buf = np.zeros((self.num_channels, self.delay_samples))

    def _reset_state(self):
        self._buf[:] = 0.0

    def latency_for(self, sample_rate):
        return self.delay_samples

    def _process_block(self, x, sidechain):
        d = self.delay_samples
        full = np.concatenate([self._buf, x], axis=1)
        y = full[:, : x.shape[1]].copy()
        self._buf = full[:, x.shape[1]:][:, -d:] if d else self._buf
        return y * 10 ** (np.asarray(self._control("gain_db", x.shape[1])) / 20)


def test_latency_is_compensated_one_shot_and_reported_streaming(rng):
    x = rng.standard_normal((2, 5000))
    p = _LatencyFixture(delay_samples=123)
    assert p.reported_latency_samples == 123
    np.testing.assert_allclose(p(x, 48000), x, atol=1e-6)
    s = p(x, 48000, reset=False)
    np.testing.assert_allclose(s[:, 123:], x[:, :-123], atol=1e-6)
    assert np.all(s[:, :123] == 0)
    # a structural change re-prepares (new latency) on the next call
    p.delay_samples = 7
    assert p.reported_latency_samples == 7
    np.testing.assert_allclose(p(x, 48000), x, atol=1e-6)


def test_param_scales_round_trip():
    lin = Param("a_db", -12.0, 12.0, 0.0)
    log = Param("f_hz", 20.0, 20000.0, 1000.0, scale="log")
    skew = Param("t_ms", 0.1, 1000.0, 10.0, scale="skew", centre=50.0)
    assert lin.to_normalized(0.0) == 0.5
    assert log.to_normalized(math.sqrt(20 * 20000)) == pytest.approx(0.5)
    assert log.from_normalized(1 / 3) == pytest.approx(200.0)
    assert skew.to_normalized(50.0) == pytest.approx(0.5)
    for p in (lin, log, skew):
        for x in np.linspace(0, 1, 11):
            assert p.to_normalized(p.from_normalized(x)) == pytest.approx(x, abs=1e-12)
    c = choice("mode", ("a", "b", "c"), "a")
    assert c.to_normalized("c") == 1.0 and c.from_normalized(0.5) == "b"
    b = boolean("on", True)
    assert b.from_normalized(0.2) is False
    assert not c.automatable and not b.automatable
    with pytest.raises(nm.ParameterError, match=r"f_hz must be \[20, 20000\] Hz; got 5"):
        Param("f_hz", 20.0, 20000.0, 1000.0, scale="log", unit="Hz").validate(5)


def test_error_message_quotes_name_value_and_range():
    g = nm.Gain()
    with pytest.raises(nm.ParameterError) as e:
        g.gain_db = 99
    assert "gain_db" in str(e.value) and "99" in str(e.value) and "[-96, 48] dB" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_parameter_change_between_streaming_calls_is_a_ramp():
    sr = 48000
    g = nm.Gain(gain_db=0.0)
    x = np.ones((1, 4800))
    g(x[:, :100], sr, reset=False)
    g.gain_db = -20.0
    y = g(x, sr, reset=False)[0]
    ramp = int(round(nm.Gain.SMOOTHING_MS * 1e-3 * sr))
    db = 20 * np.log10(y)
    assert db[0] > -1.0, "jumped instead of ramping"
    assert np.all(np.diff(db[:ramp]) < 0), "ramp not monotonic"
    np.testing.assert_allclose(db[ramp:], -20.0, atol=1e-9)
    # the largest sample-to-sample step is within 3x the mean step of the ramp (a dB-linear
    # ramp is steepest at its start: 1 - 10**(-1/960) = 2.6x the mean); a jump would be 0.9
    assert np.max(np.abs(np.diff(y))) < 3 * 0.9 / ramp
    # reset=True snaps to the new value (no ramp in a fresh render)
    np.testing.assert_allclose(20 * np.log10(g(x, sr)[0]), -20.0, atol=1e-5)


def test_automation_per_sample_and_breakpoints():
    sr = 44100
    x = np.ones((2, 1000))
    g = nm.Gain()
    curve = np.linspace(-12, 0, 600)
    g.gain_db = curve  # assignment of an array means a curve
    assert g.get_automation("gain_db").kind == "samples"
    y = g(x, sr, buffer_size=37)
    expect = np.concatenate([curve, np.zeros(400)])  # last value held
    np.testing.assert_allclose(20 * np.log10(y[0]), expect, atol=1e-5)
    g.set_automation("gain_db", [(0.0, -6.0), (500 / sr, 0.0)])
    y = g(x, sr)
    t = np.arange(1000) / sr
    np.testing.assert_allclose(20 * np.log10(y[1]), np.interp(t, [0, 500 / sr], [-6, 0]), atol=1e-5)
    g.clear_automation()
    assert g.automated_parameters == []
    # normalised curves map through the scale (DawDreamer's plugin convention)
    g.set_automation("gain_db", np.full(10, 0.5), normalized=True)
    np.testing.assert_allclose(20 * np.log10(g(x, sr)[0]), -24.0, atol=1e-5)
    with pytest.raises(nm.ParameterError, match="range"):
        g.set_automation("gain_db", np.full(10, 60.0))
    with pytest.raises(nm.ParameterError, match="NaN"):
        g.set_automation("gain_db", np.array([0.0, np.nan]))
    with pytest.raises(nm.ParameterError, match="non-decreasing"):
        g.set_automation("gain_db", [(1.0, 0.0), (0.5, 0.0)])


def test_automation_of_discrete_parameter_is_refused():
    p = _LatencyFixture()
    with pytest.raises(nm.ParameterError, match="cannot be automated"):
        p.set_automation("delay_samples", np.zeros(10))


def test_from_dict_errors_name_the_problem():
    with pytest.raises(nm.ParameterError, match="unknown processor type 'Nope'"):
        Processor.from_dict({"type": "Nope"})
    with pytest.raises(nm.ParameterError, match="no parameter 'gain'"):
        Processor.from_dict({"type": "Gain", "parameters": {"gain": 1}})
    with pytest.raises(nm.ParameterError, match="gain_db must be"):
        Processor.from_dict({"type": "Gain", "parameters": {"gain_db": 1000}})
    g = Processor.from_dict({"type": "Gain", "parameters": {"gain_db": -3},
                             "automation": {"gain_db": {"breakpoints": [[0, -3], [1, 0]]}}})
    assert g.get_automation("gain_db").kind == "breakpoints"
    assert Processor.from_dict(g.to_dict()).to_dict() == g.to_dict()


def test_caller_array_is_never_aliased(rng):
    x = rng.standard_normal((2, 100)).astype(np.float32)
    keep = x.copy()
    y = nm.Gain(gain_db=0.0)(x, 44100)
    assert not np.shares_memory(x, y)
    np.testing.assert_array_equal(x, keep)

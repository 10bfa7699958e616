"""Chain and Mix: equal to one-by-one processing, latency compensated."""
import numpy as np
import pedalboard
import pytest

import neuromaster as nm
from conftest import require_file
from neuromaster.processor import Processor
from test_processor import _LatencyFixture

SR = 44100


class _Inverter(Processor):
    """Polarity inversion (gain -1), no latency: what a ``gains_db`` entry cannot express."""

    PARAMETERS = ()

    def _process_block(self, x, sidechain):
        return -x


def _music(rng, n=30000):
    t = np.arange(n) / SR
    x = np.stack([np.sin(2 * np.pi * 110 * t) * 0.4 + 0.2 * rng.standard_normal(n),
                  np.sin(2 * np.pi * 170 * t) * 0.3 + 0.2 * rng.standard_normal(n)])
    return x * np.linspace(0.2, 1.0, n)


def test_chain_equals_calling_elements_one_by_one(rng):
    x = _music(rng)
    items = [nm.Gain(gain_db=4.0), pedalboard.Compressor(threshold_db=-18, ratio=3),
             pedalboard.HighpassFilter(cutoff_frequency_hz=80), _LatencyFixture(delay_samples=77, gain_db=-2.0),
             pedalboard.Gain(gain_db=1.5)]
    y = nm.Chain(items)(x, SR)
    ref = x.astype(np.float32)
    for p in items:
        p.reset()
        ref = p(ref, SR)
    np.testing.assert_allclose(y, ref, atol=2e-6)  # pedalboard runs in float32


def test_chain_latency_sums_and_is_compensated(rng):
    zam = pedalboard.load_plugin(require_file("/usr/lib/vst3/ZaMaximX2.vst3", "zam-plugins"))
    zam.threshold_db = 0.0  # transparent for a small impulse; latency 480 at 44.1 kHz
    chain = nm.Chain([_LatencyFixture(delay_samples=100), zam, _LatencyFixture(delay_samples=11)])
    lat_zam = zam.reported_latency_samples
    assert lat_zam > 0
    expected = 100 + lat_zam + nm.native.ADAPTER_LATENCY + 11
    assert chain.reported_latency_samples == expected
    x = np.zeros((2, 20000))
    x[:, 5000] = 0.25
    y = chain(x, SR)
    assert np.argmax(np.abs(y[0])) == 5000, "one-shot output not aligned with input"
    chain.reset()
    s = chain(x, SR, reset=False)
    assert np.argmax(np.abs(s[0])) == 5000 + expected


def test_mix_aligns_branches_before_summing(rng):
    x = _music(rng, 12000)
    a, b = _LatencyFixture(delay_samples=300, gain_db=-6.0), nm.Gain(gain_db=-3.0)
    mix = nm.Mix([a, [b, pedalboard.Gain(gain_db=0.0)]], gains_db=[0.0, -2.0])
    assert mix.reported_latency_samples == 300
    y = mix(x, SR)
    ref = a.copy()(x, SR) + 10 ** (-2 / 20) * b.copy()(x, SR)
    np.testing.assert_allclose(y, ref, atol=2e-6)
    # two equal branches sum to twice the input when aligned
    twice = nm.Mix([_LatencyFixture(delay_samples=300), nm.Chain([nm.Gain(gain_db=0.0)])], gains_db=[0.0, 0.0])
    assert np.max(np.abs(twice(x, SR) - 2 * x)) < 1e-6


@pytest.mark.parametrize("delay", [1, 300])
def test_an_inverted_branch_nulls_its_delayed_twin(rng, delay):
    """A branch identical to its neighbour but polarity-inverted (and without its latency) nulls
    exactly only if Mix aligns the branches; one sample of misalignment leaves the full signal's
    difference (checked on the misaligned sum itself, so the test can fail)."""
    x = _music(rng, 12000)
    mix = nm.Mix([_LatencyFixture(delay_samples=delay), _Inverter()], gains_db=[0.0, 0.0])
    assert mix.reported_latency_samples == delay
    assert np.max(np.abs(mix(x, SR))) < 1e-6                      # one-shot: nulls
    mix.reset()
    parts = [mix(x[:, a:a + 1000], SR, reset=False) for a in range(0, x.shape[1], 1000)]
    assert np.max(np.abs(np.concatenate(parts, axis=1))) < 1e-6    # streaming: nulls too
    # nested: the inverted path with a latency of its own still lines up
    nested = nm.Mix([_LatencyFixture(delay_samples=delay + 40),
                     nm.Chain([_Inverter(), _LatencyFixture(delay_samples=40)])])
    assert np.max(np.abs(nested(x, SR))) < 1e-6
    # what a misaligned Mix would give: far from a null
    misaligned = x[:, :-1] - x[:, 1:]
    assert np.max(np.abs(misaligned)) > 0.1


def test_chain_list_interface_and_nesting(rng):
    c = nm.Chain([nm.Gain(gain_db=-1.0)])
    c.append([nm.Gain(gain_db=-2.0), pedalboard.Gain(gain_db=-3.0)])
    c.insert(0, nm.Gain(gain_db=6.0))
    assert len(c) == 3 and isinstance(c[2], nm.Chain)
    x = _music(rng, 5000)
    np.testing.assert_allclose(c(x, SR), x, atol=2e-6)
    del c[0]
    np.testing.assert_allclose(c(x, SR), x * 10 ** (-6 / 20), atol=2e-6)
    with pytest.raises(nm.ParameterError, match="holds neuromaster processors"):
        c.append("reverb")


def test_preset_errors_name_the_element():
    with pytest.raises(nm.ParameterError, match="Chain element 1: .*no parameter 'gain'"):
        nm.Processor.from_dict({"type": "Chain", "plugins": [{"type": "Gain"}, {"type": "Gain", "parameters": {"gain": 1}}]})
    with pytest.raises(nm.ParameterError, match="Chain element 0: unknown native plugin type"):
        nm.Processor.from_dict({"type": "Chain", "plugins": [{"type": "pedalboard.Nope"}]})
    with pytest.raises(nm.ParameterError, match="Mix: 2 branches but 1 gains_db"):
        nm.Mix([nm.Gain(), nm.Gain()], gains_db=[0.0])


def test_chain_with_vst3_round_trips_through_json(rng):
    import json
    path = require_file("/usr/lib/vst3/ZamCompX2.vst3", "zam-plugins")
    zam = pedalboard.load_plugin(path)  # loaded by pedalboard directly: found again by name
    zam.threshold_db = -30.0
    chain = nm.Chain([nm.Gain(gain_db=6.0), zam])
    d = json.loads(json.dumps(chain.to_dict()))
    assert d["plugins"][1]["path"] == path
    clone = nm.Processor.from_dict(d)
    x = _music(rng, 8000)
    np.testing.assert_array_equal(clone(x, SR), chain(x, SR))

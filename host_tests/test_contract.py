"""The processor contract, parametrised over every registered stage.

DESIGN.md "The processor contract" and issue 3 item 4: chunk invariance,
streaming, reset, shapes, dtypes, bad input, every parameter matters,
multichannel independence, presets, normalised access, automation.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import neuromaster as nm
from neuromaster.processor import Processor
from registry import all_cases

CASES = all_cases()
N = 9000  # > 8193 so that buffer sizes 8192 and 8193 both split the signal
BUFFER_SIZES = (1, 7, 64, 65, 8192, 8193, N)


def _ids(cases):
    return [c.name for c in cases]


def _sig(case, channels, n=N, seed=0):
    return case.signal(case.sample_rate, n, channels, seed)


def _stereo_or_first(case):
    return 2 if 2 in case.channels else case.channels[0]


def test_every_exported_stage_has_a_case():
    exported = {
        name for name, obj in vars(nm).items()
        if inspect.isclass(obj) and issubclass(obj, Processor) and obj is not Processor
    }
    covered = {type(c.factory()).__name__ for c in CASES}
    assert exported, "no stages exported"
    assert exported <= covered, f"stages without a registry case: {sorted(exported - covered)}"


# --------------------------------------------------------------- chunking
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_buffer_size_invariance(case):
    ch = _stereo_or_first(case)
    x = _sig(case, ch)
    ref = case.factory()(x, case.sample_rate, buffer_size=N)
    assert ref.shape == x.shape and ref.dtype == np.float32
    assert np.max(np.abs(ref)) > 1e-3, "reference output is silent: the case does not exercise the stage"
    proc = case.factory()
    for bs in BUFFER_SIZES[:-1]:
        y = proc(x, case.sample_rate, buffer_size=bs)
        err = np.max(np.abs(y.astype(np.float64) - ref))
        assert err <= case.chunk_atol, f"buffer_size={bs}: max abs diff {err:.3g}"


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_streaming_equals_one_shot_after_latency(case):
    ch = _stereo_or_first(case)
    x = _sig(case, ch, seed=1)
    proc = case.factory()
    ref = proc(x, case.sample_rate).astype(np.float64)
    lat = proc.reported_latency_samples
    assert lat >= 0
    rng = np.random.default_rng(7)
    proc.reset()
    outs, a = [], 0
    while a < N:
        b = min(N, a + int(rng.integers(1, 3000)))
        outs.append(proc(x[:, a:b], case.sample_rate, reset=False))
        a = b
    y = np.concatenate(outs, axis=1).astype(np.float64)
    err = np.max(np.abs(y[:, lat:] - ref[:, : N - lat]))
    assert err <= case.chunk_atol, f"streaming vs one-shot (latency {lat}): max abs diff {err:.3g}"


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_reset_semantics(case):
    ch = _stereo_or_first(case)
    x = _sig(case, ch, n=4000, seed=2)
    proc = case.factory()
    a = proc(x, case.sample_rate)
    b = proc(x, case.sample_rate)  # reset=True clears what the first call left
    np.testing.assert_array_equal(a, b)
    proc(x[:, :1234], case.sample_rate, reset=False)
    proc.reset()
    c = proc(x, case.sample_rate, reset=False)
    fresh = case.factory()
    d = fresh(x, case.sample_rate, reset=False)
    np.testing.assert_array_equal(c, d)


# --------------------------------------------------------------- shapes
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_layouts_and_dtypes(case):
    ch = _stereo_or_first(case)
    x = _sig(case, ch, n=3000, seed=3)
    proc = case.factory()
    y = proc(x, case.sample_rate)
    yt = proc(np.ascontiguousarray(x.T), case.sample_rate)
    assert yt.shape == x.T.shape and yt.dtype == np.float32
    np.testing.assert_array_equal(yt.T, y)
    y32 = proc(x.astype(np.float32), case.sample_rate)
    assert y32.dtype == np.float32
    # the only difference is the float32 rounding of the input
    assert np.max(np.abs(y32.astype(np.float64) - y)) < 1e-4
    if 1 in case.channels:
        m = proc(x[0], case.sample_rate)
        assert m.shape == (3000,) and m.dtype == np.float32
        np.testing.assert_array_equal(m, proc(x[:1], case.sample_rate)[0])
    one = proc(x[:, :1], case.sample_rate)
    assert one.shape == (ch, 1) and np.isfinite(one).all()


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_bad_audio_raises(case):
    ch = _stereo_or_first(case)
    proc = case.factory()
    sr = case.sample_rate
    with pytest.raises(nm.ParameterError, match="empty"):
        proc(np.zeros((ch, 0)), sr)
    with pytest.raises(nm.ParameterError, match="square"):
        proc(np.zeros((2, 2)), sr)
    bad = _sig(case, ch, n=500)
    bad[0, 100] = np.nan
    with pytest.raises(nm.ParameterError, match="NaN"):
        proc(bad, sr)
    bad[0, 100] = np.inf
    with pytest.raises(nm.ParameterError, match="Inf"):
        proc(bad, sr)
    with pytest.raises(nm.AudioTypeError, match="int16"):
        proc(np.zeros((ch, 500), dtype=np.int16), sr)
    with pytest.raises(nm.AudioTypeError):
        proc("not audio", sr)
    with pytest.raises(nm.ParameterError, match="sample_rate"):
        proc(np.zeros((ch, 500)), 8000)
    with pytest.raises(nm.ParameterError, match="buffer_size"):
        proc(np.zeros((ch, 500)), sr, buffer_size=0)
    unsupported = [c for c in (1, 2, 3, 9) if c not in case.channels and c not in type(proc).SUPPORTED_CHANNELS]
    for c in unsupported[:1]:
        with pytest.raises(nm.ParameterError, match="channel"):
            proc(np.zeros((c, 500)), sr)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_sample_rate_extremes(case):
    ch = _stereo_or_first(case)
    proc = case.factory()
    for sr in (22050.0, 192000.0):
        x = case.signal(sr, 4000, ch, 4)
        y = proc(x, sr)
        assert y.shape == x.shape and np.isfinite(y).all()
    # after reset() a stream may start at any rate; mid-stream a new rate needs reset=True
    proc.reset()
    proc(case.signal(48000.0, 1000, ch, 4), 48000.0, reset=False)
    with pytest.raises(nm.ParameterError, match="reset=True"):
        proc(case.signal(44100.0, 1000, ch, 4), 44100.0, reset=False)


# ----------------------------------------------------------- parameters
def _other_value(p, current):
    if p.kind == "bool":
        return not current
    if p.kind == "choice":
        return next(c for c in p.choices if c != current)
    if p.kind == "int":
        return p.maximum if current != p.maximum else p.minimum
    x = p.to_normalized(current)
    return p.from_normalized(0.85 if x < 0.5 else 0.15)


def _param_pairs():
    pairs = []
    for case in CASES:
        for name in case.factory().parameters:
            pairs.append(pytest.param(case, name, id=f"{case.name}-{name}"))
    return pairs


@pytest.mark.parametrize("case,name", _param_pairs())
def test_every_parameter_changes_the_output(case, name):
    if name in case.exempt:
        reason = case.exempt[name]
        assert isinstance(reason, str) and len(reason) > 10, "an exemption needs a reason"
        pytest.skip(f"exempt: {reason}")
    ch = _stereo_or_first(case)
    x = _sig(case, ch, n=6000, seed=5)
    proc = case.factory()
    for k, v in case.context.get(name, {}).items():
        proc.set_parameter(k, v)
    y0 = proc(x, case.sample_rate).astype(np.float64)
    p = proc.parameters[name]
    new = case.changes.get(name, _other_value(p, proc.get_parameter(name)))
    proc.set_parameter(name, new)
    y1 = proc(x, case.sample_rate).astype(np.float64)
    diff = np.max(np.abs(y1 - y0))
    assert diff > 1e-5, f"{name}: {proc.get_parameter(name)!r} vs before gives max diff {diff:.3g} (ignored?)"


@pytest.mark.parametrize("case,name", _param_pairs())
def test_bad_parameter_values_raise(case, name):
    proc = case.factory()
    p = proc.parameters[name]
    bad = {"choice": ["no-such-choice", 3], "bool": ["yes", 2]}.get(
        p.kind, [p.maximum + abs(p.maximum - p.minimum) + 1.0, p.minimum - abs(p.maximum - p.minimum) - 1.0, float("nan"), "1"])
    for v in bad:
        with pytest.raises(nm.ParameterError, match=name):
            proc.set_parameter(name, v)
    with pytest.raises(nm.ParameterError, match=name):
        type(proc)(**{name: bad[0]})
    with pytest.raises(nm.ParameterError, match="no parameter"):
        proc.set_parameter(name + "_typo", p.default)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_normalized_round_trip(case):
    proc = case.factory()
    for name, p in proc.parameters.items():
        v = proc.get_parameter(name)
        x = proc.get_normalized(name)
        assert 0.0 <= x <= 1.0
        proc.set_normalized(name, x)
        got = proc.get_parameter(name)
        if p.kind == "float":
            assert got == pytest.approx(v, rel=1e-9, abs=1e-9)
        else:
            assert got == v


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_preset_round_trip(case):
    import json
    ch = _stereo_or_first(case)
    x = _sig(case, ch, n=4000, seed=6)
    proc = case.factory()
    d = json.loads(json.dumps(proc.to_dict()))
    clone = Processor.from_dict(d)
    assert type(clone) is type(proc) and clone.to_dict() == proc.to_dict()
    np.testing.assert_array_equal(clone(x, case.sample_rate), proc(x, case.sample_rate))
    assert repr(proc).startswith(f"<neuromaster.{type(proc).__name__}")


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_constant_automation_equals_static(case):
    """The automation path (per-sample control) agrees with the static path."""
    ch = _stereo_or_first(case)
    x = _sig(case, ch, n=5000, seed=8)
    proc = case.factory()
    ref = proc(x, case.sample_rate).astype(np.float64)
    names = [n for n, p in proc.parameters.items() if p.automatable]
    for name in names:
        v = float(proc.get_parameter(name))
        proc.set_automation(name, np.full(64, v))
    y = proc(x, case.sample_rate).astype(np.float64)
    err = np.max(np.abs(y - ref)) if names else 0.0
    assert err <= 1e-6, f"constant automation of {names} differs from static by {err:.3g}"


@pytest.mark.parametrize("case", [c for c in CASES if not c.linked and max(c.channels) >= 2], ids=lambda c: c.name)
def test_multichannel_equals_per_channel(case):
    ch = max(c for c in case.channels)
    x = _sig(case, ch, n=5000, seed=9)
    proc = case.factory()
    y = proc(x, case.sample_rate)
    for c in range(ch):
        yc = case.factory()(x[c:c + 1], case.sample_rate)
        np.testing.assert_allclose(y[c], yc[0], atol=1e-7)
    assert np.max(np.abs(y[0] - y[1])) > 1e-3, "channels came out identical: test signal not exercising channels"

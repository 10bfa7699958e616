"""MidSide: exact round trip, null, gains per sample, modes."""
import numpy as np
import pytest

import neuromaster as nm
from neuromaster.dsp import mid_side as ms


def test_encode_decode_are_exact_inverses(rng):
    x = rng.standard_normal((2, 10000))
    np.testing.assert_allclose(ms.decode(ms.encode(x)), x, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ms.encode(ms.decode(x)), x, rtol=0, atol=1e-15)
    # float32 audio: bit-exact
    x32 = x.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(ms.decode(ms.encode(x32)), x32)
    # the documented scaling
    m, s = ms.encode(np.array([[0.8, 0.5], [0.2, 0.5]]))
    np.testing.assert_array_equal(m, [0.5, 0.5])
    np.testing.assert_allclose(s, [0.3, 0.0], rtol=0, atol=1e-16)


def test_process_with_0_db_is_a_null(rng):
    x = rng.standard_normal((2, 20000)).astype(np.float32) * 0.5
    y = nm.MidSide()(x, 44100)
    assert np.max(np.abs(y.astype(np.float64) - x)) <= 1e-12
    # float64 input: the only difference is the float32 output rounding
    x64 = 0.5 * rng.standard_normal((2, 20000))
    y64 = nm.MidSide()(x64, 44100)
    np.testing.assert_array_equal(y64, x64.astype(np.float32))


def test_encode_then_decode_stages_round_trip(rng):
    x = (0.5 * rng.standard_normal((2, 20000))).astype(np.float32)
    enc = nm.MidSide(mode="encode")(x, 48000)
    m, s = (x[0].astype(np.float64) + x[1]) / 2, (x[0].astype(np.float64) - x[1]) / 2
    np.testing.assert_array_equal(enc[0], m.astype(np.float32))
    np.testing.assert_array_equal(enc[1], s.astype(np.float32))
    back = nm.MidSide(mode="decode")(enc, 48000)
    # exact up to the float32 rounding of the encoded signal (one ulp of each)
    assert np.max(np.abs(back.astype(np.float64) - x)) <= 2 * np.finfo(np.float32).eps * np.max(np.abs(x))


def test_gains(rng):
    x = 0.3 * rng.standard_normal((2, 5000))
    m, s = ms.encode(x)
    y = nm.MidSide(mid_gain_db=6.0, side_gain_db=-96.0)(x, 44100).astype(np.float64)
    gm, gs = 10 ** (6 / 20), 10 ** (-96 / 20)
    np.testing.assert_allclose(y, np.vstack([gm * m + gs * s, gm * m - gs * s]), atol=1e-7)
    # side down 96 dB: left and right agree to -96 dB of the side
    assert np.max(np.abs(y[0] - y[1])) < 2 * gs * np.max(np.abs(s)) + 1e-7
    enc = nm.MidSide(mode="encode", mid_gain_db=-3.0, side_gain_db=2.0)(x, 44100).astype(np.float64)
    np.testing.assert_allclose(enc, np.vstack([10 ** (-3 / 20) * m, 10 ** (2 / 20) * s]), atol=1e-7)
    dec = nm.MidSide(mode="decode", side_gain_db=2.0)(x, 44100).astype(np.float64)
    np.testing.assert_allclose(dec, np.vstack([x[0] + 10 ** (2 / 20) * x[1], x[0] - 10 ** (2 / 20) * x[1]]), atol=1e-7)


def test_gains_are_automatable_per_sample(rng):
    n = 3000
    x = 0.3 * rng.standard_normal((2, n))
    curve = np.linspace(-20.0, 10.0, n)
    proc = nm.MidSide(mid_gain_db=-2.0)
    proc.set_automation("side_gain_db", curve)
    m, s = ms.encode(x)
    expect = ms.decode(np.vstack([10 ** (-2 / 20) * m, 10 ** (curve / 20) * s]))
    for bs in (1, 7, n):
        np.testing.assert_allclose(proc(x, 48000, buffer_size=bs), expect, atol=1e-7, rtol=0)


def test_stereo_only():
    with pytest.raises(nm.ParameterError, match="MidSide needs 2 channel"):
        nm.MidSide()(np.zeros(100), 44100)
    with pytest.raises(nm.ParameterError, match="mode"):
        nm.MidSide(mode="sides")

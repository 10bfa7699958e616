"""dsp.biquad: RBJ designs against closed forms, kernels against scipy."""
import numpy as np
import pytest
import scipy.signal as ss

from neuromaster.dsp import biquad as bq


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000, 96000, 192000])
@pytest.mark.parametrize("kind", ["peak", "low_shelf", "high_shelf"])
def test_gain_at_design_frequency(kind, sample_rate):
    f0, g = 1000.0, 7.5
    sos = bq.rbj(kind, f0, g, 0.9, sample_rate)
    h = np.abs(bq.sos_response(sos, [1e-3, f0, sample_rate / 2 * 0.999999], sample_rate))
    db = 20 * np.log10(h)
    if kind == "peak":
        assert db[1] == pytest.approx(g, abs=1e-9)
        assert abs(db[0]) < 1e-6
    elif kind == "low_shelf":
        assert db[0] == pytest.approx(g, abs=1e-6)
        assert db[1] == pytest.approx(g / 2, abs=1e-9)  # shelf midpoint at f0
    else:
        assert db[2] == pytest.approx(g, abs=1e-4)
        assert db[1] == pytest.approx(g / 2, abs=1e-9)


def test_butterworth_qs():
    np.testing.assert_allclose(bq.butterworth_qs(2), [1 / np.sqrt(2)])
    np.testing.assert_allclose(bq.butterworth_qs(4), [0.5411961, 1.3065630], rtol=1e-6)
    sos = np.vstack([bq.rbj("lowpass", 1000.0, 0, q, 48000) for q in bq.butterworth_qs(8)])
    # Butterworth: -3.0103 dB at the corner, maximally flat
    db = 20 * np.log10(np.abs(bq.sos_response(sos, [10.0, 1000.0], 48000)))
    assert db[0] == pytest.approx(0, abs=1e-6) and db[1] == pytest.approx(-3.0103, abs=1e-3)


def test_kernel_matches_scipy_and_chunks(rng):
    sos = np.vstack([bq.rbj("peak", 200.0, 6.0, 1.0, 44100), bq.rbj("highpass", 30.0, 0, 0.7, 44100)])
    x = rng.standard_normal((2, 5000))
    y, z = bq.sos_filter(x, sos, bq.sos_state(2, 2))
    ref = ss.sosfilt(sos, x, axis=1)
    np.testing.assert_allclose(y, ref, atol=1e-12)
    z0 = bq.sos_state(2, 2)
    y1, z1 = bq.sos_filter(x[:, :1234], sos, z0)
    assert np.all(z0 == 0), "caller's state was mutated"
    y2, _ = bq.sos_filter(x[:, 1234:], sos, z1)
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=1), y, atol=1e-12)
    # the python body of the kernel agrees with the compiled one
    yp = np.empty_like(x[:, :300])
    bq._sos_kernel.py_func(x[:, :300], sos, np.zeros((2, 2, 2)), yp)
    np.testing.assert_allclose(yp, y[:, :300], atol=1e-12)


def test_block_kernel_with_constant_blocks_equals_static(rng):
    sos = bq.rbj("peak", 500.0, -4.0, 2.0, 48000)
    x = rng.standard_normal((1, 1000))
    y, _ = bq.sos_filter(x, sos, bq.sos_state(1, 1))
    pos, interval = 5, 16
    nb = (pos + 1000 - 1) // interval - pos // interval + 1
    yb, _ = bq.sos_filter_blocks(x, np.broadcast_to(sos, (nb, 1, 6)), bq.sos_state(1, 1), pos, interval)
    np.testing.assert_array_equal(y, yb)

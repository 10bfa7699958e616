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
    bq._cascade_kernel.py_func(x[:, :300], yp, sos, np.zeros((2, 2, 4)))
    np.testing.assert_allclose(yp, y[:, :300], atol=1e-12)


def test_block_kernel_with_constant_blocks_equals_static(rng):
    sos = bq.rbj("peak", 500.0, -4.0, 2.0, 48000)
    x = rng.standard_normal((1, 1000))
    y, _ = bq.sos_filter(x, sos, bq.sos_state(1, 1))
    pos, interval = 5, 16
    nb = (pos + 1000 - 1) // interval - pos // interval + 1
    yb, _ = bq.sos_filter_blocks(x, np.broadcast_to(sos, (nb, 1, 6)), bq.sos_state(1, 1), pos, interval)
    np.testing.assert_array_equal(y, yb)


def test_per_block_design_kernel_matches_rbj(rng):
    """The kernels' per-control-block RBJ design (the dynamic EQ's gain) equals the numpy design."""
    sr = 48000.0
    f, q = 700.0, 1.3
    w0 = 2 * np.pi * f / sr
    cw, al = np.array([np.cos(w0)]), np.array([np.sin(w0) / (2 * q)])
    gains = np.concatenate([[0.0], rng.uniform(-24, 24, 20)])
    for code, kind in ((bq.PEAK, "peak"), (bq.LOW_SHELF, "low_shelf"), (bq.HIGH_SHELF, "high_shelf")):
        for fn in (bq._rbj_rows_kernel, bq._rbj_rows_kernel.py_func):
            out = np.empty((gains.size, 6))
            fn(code, cw, al, gains, out)
            np.testing.assert_allclose(out, bq.rbj(kind, f, gains, q, sr), atol=1e-13)
            # 0 dB: numerator == denominator exactly (the identity section)
            assert np.array_equal(out[0, :3], out[0, 3:])


def test_blocks_kernel_matches_scipy(rng):
    sr = 44100.0
    sos = bq.rbj("bandpass", 300.0, 0.0, 2.0, sr)

    def blocks(position, n):
        return np.ascontiguousarray(np.broadcast_to(sos, (bq.control_blocks(position, n, 16), 1, 6)))

    x = rng.standard_normal((2, 3000))
    y = np.empty_like(x)
    z = np.zeros((2, 1, 4))
    bq._cascade_blocks_kernel(x, y, blocks(0, 3000), z, 0, 16)
    np.testing.assert_allclose(y, ss.sosfilt(sos, x, axis=1), atol=1e-12)
    # chunked with carried state, and the python body
    y1, y2 = np.empty((2, 1000)), np.empty((2, 2000))
    z = np.zeros((2, 1, 4))
    bq._cascade_blocks_kernel.py_func(np.ascontiguousarray(x[:, :1000]), y1, blocks(0, 1000), z, 0, 16)
    bq._cascade_blocks_kernel(np.ascontiguousarray(x[:, 1000:]), y2, blocks(1000, 2000), z, 1000, 16)
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=1), y, atol=1e-12)


# ------------------------------------------------------ independent reference
# The RBJ cookbook defines every design as an analogue prototype H(s) (s normalised so that the
# design frequency is 1 rad/s) taken to z by the bilinear transform pre-warped at f0. The
# reference below builds exactly that from the prototypes written out here and scipy's own
# lp2lp + bilinear (not from neuromaster's design code), so a design error shows up as a
# disagreement over the whole frequency axis, not only at DC, f0 and Nyquist.
PROTOTYPE_KINDS = ("peak", "low_shelf", "high_shelf", "lowpass", "highpass", "bandpass", "notch", "allpass")


def analog_prototype(kind: str, gain_db: float, q: float):
    """RBJ cookbook analogue prototype ``(b, a)`` in s (highest power first), design frequency 1 rad/s."""
    A = 10.0 ** (gain_db / 40.0)
    if kind == "peak":          # H(s) = (s^2 + s (A/Q) + 1) / (s^2 + s / (A Q) + 1)
        return [1.0, A / q, 1.0], [1.0, 1.0 / (A * q), 1.0]
    if kind == "low_shelf":     # H(s) = A (s^2 + (sqrt(A)/Q) s + A) / (A s^2 + (sqrt(A)/Q) s + 1)
        return [A, A * np.sqrt(A) / q, A * A], [A, np.sqrt(A) / q, 1.0]
    if kind == "high_shelf":    # H(s) = A (A s^2 + (sqrt(A)/Q) s + 1) / (s^2 + (sqrt(A)/Q) s + A)
        return [A * A, A * np.sqrt(A) / q, A], [1.0, np.sqrt(A) / q, A]
    den = [1.0, 1.0 / q, 1.0]
    num = {"lowpass": [0.0, 0.0, 1.0], "highpass": [1.0, 0.0, 0.0],
           "bandpass": [0.0, 1.0 / q, 0.0],           # constant 0 dB peak gain
           "notch": [1.0, 0.0, 1.0], "allpass": [1.0, -1.0 / q, 1.0]}[kind]
    return num, den


def butterworth_prototype(order: int, q: float, highpass: bool):
    """Analogue Butterworth of ``order`` at 1 rad/s from scipy's poles (``ss.butter(analog=True)``),
    with the highest-Q pole pair's Q multiplied by ``q * sqrt(2)`` (neuromaster's documented
    resonance control; ``q = 1/sqrt(2)`` leaves the Butterworth as it is)."""
    _, poles, _ = ss.butter(order, 1.0, analog=True, output="zpk")
    upper = sorted((p for p in poles if p.imag > 0), key=lambda p: -p.imag)   # highest Q first
    den = np.array([1.0])
    for i, p in enumerate(upper):
        qk = 1.0 / (2.0 * -p.real)                 # |p| = 1: Q = 1 / (2 cos theta)
        if i == 0:
            qk *= q * np.sqrt(2.0)
        den = np.polymul(den, [1.0, 1.0 / qk, 1.0])
    num = np.zeros(order + 1)
    if highpass:                                   # s -> 1/s: s^N / D(s), the same poles on |s| = 1
        num[0] = 1.0
    else:
        num[-1] = 1.0
    return num, den


def prewarped_bilinear(b, a, f0_hz: float, sample_rate: float):
    """Digital ``(bz, az)`` of the prototype scaled to the analogue frequency that the bilinear
    transform maps exactly onto ``f0_hz`` (2 fs tan(pi f0 / fs))."""
    wa = 2.0 * sample_rate * np.tan(np.pi * f0_hz / sample_rate)
    b = np.trim_zeros(np.asarray(b, dtype=float), "f")     # leading zeros: scipy warns, the value is the same
    bz, az = ss.bilinear(*ss.lp2lp(b, np.asarray(a, dtype=float), wa), fs=sample_rate)
    return bz / az[0], az / az[0]


def reference_response(b, a, f0_hz, frequency_hz, sample_rate):
    """Complex response of the pre-warped bilinear image of the prototype ``(b, a)``, computed in
    zero-pole form (scipy lp2lp_zpk, bilinear_zpk, freqz_zpk) so that high orders keep their deep
    stop bands (a direct-form 8th-order polynomial near z = 1 would not)."""
    wa = 2.0 * sample_rate * np.tan(np.pi * f0_hz / sample_rate)
    z, p, k = ss.tf2zpk(np.trim_zeros(np.asarray(b, dtype=float), "f"), np.asarray(a, dtype=float))
    z, p, k = ss.bilinear_zpk(*ss.lp2lp_zpk(z, p, k, wa), fs=sample_rate)
    _, h = ss.freqz_zpk(z, p, k, worN=np.asarray(frequency_hz, dtype=float), fs=sample_rate)
    return h


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000, 96000, 192000])
@pytest.mark.parametrize("kind", PROTOTYPE_KINDS)
def test_rbj_designs_are_the_prewarped_bilinear_image_of_the_cookbook_prototypes(kind, sample_rate):
    freqs = np.geomspace(1.0, 0.499 * sample_rate, 400)
    worst = 0.0
    for f0, g, q in ((40.0, 9.0, 0.4), (1000.0, -6.0, 1 / np.sqrt(2)), (0.3 * sample_rate, 12.0, 4.0)):
        sos = bq.rbj(kind, f0, g, q, sample_rate)
        bz, az = prewarped_bilinear(*analog_prototype(kind, g, q), f0, sample_rate)
        np.testing.assert_allclose(sos[:3], bz, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sos[3:], az, rtol=1e-9, atol=1e-12)
        ours = bq.sos_response(sos, freqs, sample_rate)
        ref = reference_response(*analog_prototype(kind, g, q), f0, freqs, sample_rate)
        # complex agreement relative to the larger of the two (so a notch's zero is covered too)
        err = np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-3)
        worst = max(worst, float(err.max()))
        assert err.max() < 1e-7, f"{kind} f0={f0} g={g} q={q:.3f} at {sample_rate}: {err.max():.2e}"
    print(f"\n  rbj {kind} @ {sample_rate}: worst relative deviation from the prototype's image {worst:.1e}", end="")


@pytest.mark.parametrize("order", [2, 4, 8])
def test_butterworth_sections_equal_scipys_analogue_butterworth_image(order):
    sample_rate, f0 = 48000.0, 2500.0
    freqs = np.geomspace(10.0, 0.49 * sample_rate, 300)
    for hp in (False, True):
        sos = np.vstack([bq.rbj("highpass" if hp else "lowpass", f0, 0, q, sample_rate)
                         for q in bq.butterworth_qs(order)])
        ref = reference_response(*butterworth_prototype(order, 1 / np.sqrt(2), hp), f0, freqs, sample_rate)
        ours = bq.sos_response(sos, freqs, sample_rate)
        assert np.max(np.abs(ours - ref)) < 1e-9

"""TubeSaturator physics (issue 4 item 3): Koren triode, load line, level
compensation, DC removal, the bias -> even/odd balance, aliasing."""
from __future__ import annotations

import numpy as np
import pytest

import neuromaster as nm
from neuromaster.dsp import saturation as sat
from cases_analog_a import aliasing_dbc, harmonics_dbc

SR = 44100


def _py(kernel):
    """The plain-Python body of a numba kernel (itself under NUMBA_DISABLE_JIT=1)."""
    return getattr(kernel, "py_func", kernel)
AX7 = sat.KOREN_TUBES["12AX7"]


# ------------------------------------------------------------ the model
def test_koren_12ax7_published_operating_point():
    """Koren's 12AX7 set at Ep = 221 V, Eg = -1.61 V gives 1.07 mA (the worked
    example published with his parameters); the SPICE form (E1^Ex + |E1|^Ex)/Kg1."""
    ip = sat.koren_plate_current(-1.61, 221.0, *AX7)
    assert ip == pytest.approx(1.07e-3, rel=0.01)
    # cut-off: far below -Ep/mu no current; monotonic in both voltages
    assert sat.koren_plate_current(-10.0, 250.0, *AX7) < 1e-9
    vp = np.linspace(1, 400, 200)
    assert np.all(np.diff(sat.koren_plate_current(-1.5, vp, *AX7)) > 0)
    vg = np.linspace(-4, 0, 200)
    assert np.all(np.diff(sat.koren_plate_current(vg, 250.0, *AX7)) > 0)


def test_numba_koren_matches_numpy_koren(rng):
    """The kernel's plate current (and its partial derivatives, by finite
    differences) against the separately written numpy version."""
    vg = rng.uniform(-8, 2, 300)
    vp = rng.uniform(0.5, 400, 300)
    h = 1e-6
    for g, p in zip(vg, vp):
        ip, dvp, dvg = sat._koren(g, p, *AX7)
        assert ip == pytest.approx(float(sat.koren_plate_current(g, p, *AX7)), rel=1e-12, abs=1e-18)
        fd_p = (sat.koren_plate_current(g, p + h, *AX7) - sat.koren_plate_current(g, p - h, *AX7)) / (2 * h)
        fd_g = (sat.koren_plate_current(g + h, p, *AX7) - sat.koren_plate_current(g - h, p, *AX7)) / (2 * h)
        assert dvp == pytest.approx(float(fd_p), rel=1e-5, abs=1e-12)
        assert dvg == pytest.approx(float(fd_g), rel=1e-5, abs=1e-12)


def test_load_line_solution_and_derivative():
    vg = np.linspace(-6.0, 1.0, 141)
    ep, dep = sat.triode_plate_voltage(vg, 250.0, 100e3, *AX7)
    ip = sat.koren_plate_current(vg, ep, *AX7)
    assert np.max(np.abs(ep + 100e3 * ip - 250.0)) < 1e-9  # on the load line, volts
    h = 1e-5
    fd = (sat.triode_plate_voltage(vg + h, 250.0, 100e3, *AX7)[0] - sat.triode_plate_voltage(vg - h, 250.0, 100e3, *AX7)[0]) / (2 * h)
    assert np.max(np.abs(fd - dep)) < 1e-5
    assert np.all(dep < 0)  # inverting stage


@pytest.mark.parametrize("tube", sorted(sat.KOREN_TUBES))
def test_table_matches_newton(tube, rng):
    """The Hermite table against the exact Newton solve: documented error."""
    params = sat.KOREN_TUBES[tube]
    tab = sat.triode_table(250.0, 100e3, *params)
    vg = np.concatenate([rng.uniform(*sat.TABLE_VG_RANGE, 3000), rng.uniform(-5, 1, 3000)])
    exact, dexact = sat.triode_plate_voltage(vg, 250.0, 100e3, *params)
    got = np.array([sat._table_eval(v, tab.vg_lo, tab.inv_step, tab.ep, tab.slope, *tab.params) for v in vg])
    val = np.array([sat._table_value(v, tab.vg_lo, tab.inv_step, tab.coef, *tab.params) for v in vg])
    err, derr = np.max(np.abs(got[:, 0] - exact)), np.max(np.abs(got[:, 1] - dexact))
    verr = np.max(np.abs(val - exact))
    print(f"{tube}: table error {err:.2e} V (Horner path {verr:.2e} V), slope error {derr:.2e} V/V")
    assert err < 1e-8 and verr < 1e-8 and derr < 1e-5
    # outside the table: the Newton fallback is exact
    for v in (-150.0, 60.0):
        e = sat._table_eval(v, tab.vg_lo, tab.inv_step, tab.ep, tab.slope, *tab.params)
        assert e[0] == pytest.approx(sat.triode_plate_voltage(v, 250.0, 100e3, *params)[0], abs=1e-9)
        assert sat._table_value(v, tab.vg_lo, tab.inv_step, tab.coef, *tab.params) == e[0]


# ------------------------------------------------------------ the stage
@pytest.mark.parametrize("kw", [dict(), dict(bias_v=-3.0), dict(bias_v=-0.3, drive_db=12.0), dict(plate_voltage_v=150.0)])
def test_small_signal_gain_is_0_db(kw):
    (h2, h3), gain_db = harmonics_dbc(nm.TubeSaturator(**kw), 1e-3, settle_s=0.3)
    print(f"{kw}: small-signal gain {gain_db:+.5f} dB (H2 {h2:.1f} dBc)")
    assert abs(gain_db) < 0.001


def test_from_tube_sets_koren_parameters():
    for name, (mu, ex, kg1, kp, kvb) in sat.KOREN_TUBES.items():
        p = nm.TubeSaturator.from_tube(name, drive_db=3.0)
        assert (p.mu, p.ex, p.kg1, p.kp, p.kvb, p.drive_db) == (mu, ex, kg1, kp, kvb, 3.0)
        (_, _), gain_db = harmonics_dbc(p, 1e-3, settle_s=0.3)
        assert abs(gain_db) < 0.001
    with pytest.raises(nm.ParameterError, match="unknown tube"):
        nm.TubeSaturator.from_tube("6L6")


def test_dc_removed():
    """At -3 V the curve rectifies hard (0.4 FS of DC before the blocker)."""
    n = SR
    t = np.arange(2 * n + 8192) / SR
    for kw in (dict(bias_v=-3.0), dict()):
        y = nm.TubeSaturator(**kw)(np.sin(2 * np.pi * 1000 * t), SR).astype(np.float64)[n:2 * n]
        dc = abs(y.mean())
        print(f"{kw}: DC after 1 s {20 * np.log10(max(dc, 1e-300)):.1f} dBFS")
        assert dc < 1e-6


BIASES = np.round(np.arange(-3.0, -0.29, 0.1), 1)


def _bias_table(drive_db=0.0):
    rows = []
    for b in BIASES:
        (h2, h3), g = harmonics_dbc(nm.TubeSaturator(bias_v=float(b), drive_db=drive_db), 1.0, settle_s=0.3)
        rows.append((float(b), h2, h3, g))
    return rows


def test_bias_moves_the_even_odd_balance():
    """H2 and H3 (dBc) of a full-scale 1 kHz sine (1 V peak at the grid), 12AX7,
    B+ 250 V, 100 kOhm. Measured: H2 falls monotonically as the bias goes from
    -3.0 V towards 0 V; H2 dominates down to about -0.35 V (so -2.0 V is
    even-dominant as the spec expects, but -0.5 V is even-dominant too, not
    odd-dominant); H3 takes over only near 0 V."""
    rows = _bias_table()
    print("bias_v   H2 dBc   H3 dBc   H1 dB")
    for b, h2, h3, g in rows:
        print(f"{b:6.1f}  {h2:7.1f}  {h3:7.1f}  {g:+6.2f}")
    h2 = np.array([r[1] for r in rows])
    h3 = np.array([r[2] for r in rows])
    assert np.all(np.diff(h2) < 0), "H2 must fall as the bias moves towards 0 V"
    at = {r[0]: (r[1], r[2]) for r in rows}
    assert at[-2.0][0] > at[-2.0][1] + 15  # even-dominant
    assert at[-0.5][0] > at[-0.5][1]  # still even-dominant (the spec expected odd)
    assert at[-0.3][1] > at[-0.3][0]  # odd-dominant only this close to 0 V
    assert h2[0] - h3[0] > 15 and h2[-1] - h3[-1] < 0  # the balance crosses over


def test_aliasing_table_and_default_8x_bar():
    rows = {}
    for label, kw in (("default", {}), ("+12 dB drive", {"drive_db": 12.0})):
        rows[label] = [aliasing_dbc(nm.TubeSaturator(oversampling=f, **kw)) for f in (1, 2, 4, 8, 16)]
        print(f"TubeSaturator {label:>13}: " + "  ".join(f"{f}x {w:7.1f}" for f, (w, _) in zip((1, 2, 4, 8, 16), rows[label])))
    assert rows["default"][3][0] <= -100.0  # bar: -80 dBc at the default 8x
    assert rows["+12 dB drive"][3][0] <= -80.0
    assert rows["+12 dB drive"][0][0] > rows["+12 dB drive"][3][0] + 20


def test_mix_zero_is_exact_delay(rng):
    x = rng.standard_normal((2, 3000))
    np.testing.assert_array_equal(nm.TubeSaturator(mix=0.0, drive_db=12.0)(x, SR), x.astype(np.float32))


def test_kernel_matches_py_func(rng):
    tab = sat.triode_table(250.0, 100e3, *AX7)
    v = rng.standard_normal((2, 40)) * 3
    bias = -1.5 + 0.1 * rng.standard_normal(40)
    g = np.array([2.0])
    r1, r2 = np.empty_like(v), np.empty_like(v)
    sat._triode_residual_kernel(v, bias, g, tab.vg_lo, tab.inv_step, tab.ep, tab.slope, tab.coef, *tab.params, r1)
    _py(sat._triode_residual_kernel)(v, bias, g, tab.vg_lo, tab.inv_step, tab.ep, tab.slope, tab.coef, *tab.params, r2)
    np.testing.assert_allclose(r1, r2, rtol=0, atol=1e-12)

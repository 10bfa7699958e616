"""``TubeSaturator``: a common-cathode triode stage (Koren 1996 model).

The circuit: the grid is driven by the input scaled by ``drive_db``
(0 dB = 1 V peak at the grid for a full-scale input) around the bias point
``bias_v``; the plate is fed from ``plate_voltage_v`` (B+) through a
``LOAD_OHM`` resistor; the plate voltage is the load-line solution of
Koren's plate-current equation (:mod:`neuromaster.dsp.saturation`). The
output is the AC plate voltage, inverted back to the input's polarity and
divided by the stage's small-signal gain at the bias point (so the
small-signal gain is 0 dB at any bias, drive or tube), with the DC that the
asymmetric curve produces removed by a 2nd-order 5 Hz high-pass on the
distortion residual. It runs at ``oversampling`` times the rate (default 8x).

Bias and the even/odd balance (measured, ``docs/tube.md``): with the 12AX7
defaults the second harmonic dominates from -3.0 V up to about -0.35 V and
falls steadily as the bias moves towards 0 V; only within a few tenths of a
volt of 0 V does the third take over (H3 > H2 at -0.3 V). The NEURO-MASTER
spec's "-0.5 V is odd-dominant" is not what Koren's model gives.

Grid current (grid driven positive) is not modelled.
"""
from __future__ import annotations

import numpy as np

from neuromaster.dsp.biquad import rbj, sos_filter, sos_state
from neuromaster.dsp.saturation import KOREN_TUBES, _triode_residual_kernel, triode_table

from ..errors import ParameterError
from ..params import Param
from ._oversampled import OversampledProcessor, as_ctrl, oversampling_param


class TubeSaturator(OversampledProcessor):
    """Koren triode saturation, level-compensated, DC-free, oversampled.

    Parameters
    ----------
    drive_db : float
        Grid drive in dB re 1 V peak per full-scale input, -24 to +24 (default 0).
    bias_v : float
        Grid bias in V, -4 to 0 (default -1.5).
    plate_voltage_v : float
        Supply (B+) feeding the plate through the 100 kOhm load, 100-400 V (default 250).
    mu, ex, kg1, kp, kvb : float
        Koren's triode parameters (defaults: his 12AX7 set; see :data:`TUBES`
        and :meth:`from_tube`). Not automatable: a change rebuilds the
        load-line table.
    mix : float
        Share of the saturated signal, 0-1 (default 1).
    oversampling : int
        1, 2, 4, 8 or 16 (default 8).
    """

    #: Plate load resistor in ohms.
    LOAD_OHM = 100e3
    #: Corner of the DC-removing high-pass on the distortion residual, Hz.
    DC_BLOCK_HZ = 5.0
    #: Koren's published parameter sets (mu, ex, kg1, kp, kvb).
    TUBES = KOREN_TUBES

    PARAMETERS = (
        Param("drive_db", -24.0, 24.0, 0.0, unit="dB", doc="grid drive in dB re 1 V peak for a full-scale input"),
        Param("bias_v", -4.0, 0.0, -1.5, unit="V", doc="grid bias voltage in V"),
        Param("plate_voltage_v", 100.0, 400.0, 250.0, unit="V", automatable=False,
              doc="supply (B+) feeding the plate through the 100 kOhm load, in V"),
        Param("mu", 5.0, 200.0, 100.0, automatable=False, doc="Koren mu: amplification factor"),
        Param("ex", 1.0, 2.0, 1.4, automatable=False, doc="Koren Ex: plate-current exponent"),
        Param("kg1", 100.0, 5000.0, 1060.0, scale="log", automatable=False, doc="Koren Kg1: current scale (higher = less current)"),
        Param("kp", 10.0, 2000.0, 600.0, scale="log", automatable=False, doc="Koren Kp: knee sharpness near cut-off"),
        Param("kvb", 10.0, 10000.0, 300.0, scale="log", automatable=False, doc="Koren Kvb: knee at low plate voltage, V^2"),
        Param("mix", 0.0, 1.0, 1.0, doc="share of the saturated signal in the output, 0-1"),
        oversampling_param(8),
    )
    OS_CONTROLS = ("drive_db", "bias_v")
    OUT_CONTROLS = ("mix",)

    @classmethod
    def from_tube(cls, name: str, **parameters) -> "TubeSaturator":
        """A stage with one of Koren's published tubes ("12AX7", "12AT7", "12AU7")."""
        if name not in cls.TUBES:
            raise ParameterError(f"unknown tube {name!r}; one of {sorted(cls.TUBES)}")
        mu, ex, kg1, kp, kvb = cls.TUBES[name]
        return cls(mu=mu, ex=ex, kg1=kg1, kp=kp, kvb=kvb, **parameters)

    def _update(self):
        self._table = triode_table(float(self.plate_voltage_v), self.LOAD_OHM, float(self.mu), float(self.ex),
                                   float(self.kg1), float(self.kp), float(self.kvb))
        if self.sample_rate is not None:
            self._dc_sos = rbj("highpass", self.DC_BLOCK_HZ, 0.0, 1.0 / np.sqrt(2.0), self.sample_rate).reshape(1, 6)

    def _reset_stage(self):
        self._dc_state = sos_state(self.num_channels, 1)

    def _residual(self, v, n):
        bias = as_ctrl(self._os_control("bias_v", n))
        gain = as_ctrl(10.0 ** (np.asarray(self._os_control("drive_db", n)) / 20.0))
        t = self._table
        r = np.empty_like(v)
        _triode_residual_kernel(v, bias, gain, t.vg_lo, t.inv_step, t.ep, t.slope, t.coef, *t.params, r)
        return r

    def _post(self, d, n):
        y, self._dc_state = sos_filter(d, self._dc_sos, self._dc_state)
        return y

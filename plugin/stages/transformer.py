"""``TransformerSaturator``: a Jiles-Atherton transformer core, voltage driven.

The circuit (see :mod:`neuromaster.dsp.hysteresis`, "Transformer core"):
the input (times ``drive_db``) is the primary voltage, fed from a source
resistance through a 1 Hz coupling capacitor; the core flux is the time
integral of the voltage across the winding (Faraday), the magnetising
current is the J-A field ``H`` of that flux, and the output is the winding
voltage, i.e. the input minus the drop of the magnetising current across the
source resistance. In the linear region that drop is a 2 Hz high-pass (the
magnetising inductance); when the flux nears saturation the current rises
steeply and the output loses its peaks. Because flux is the integral of
voltage, a 30 Hz tone carries 33 times the flux of a 1 kHz tone at the same
level: low frequencies saturate first, by the structure of the circuit, not
by a filter. The output is the flux's time derivative, so it carries no DC.

The stage runs the core at ``oversampling`` times the rate in the residual
form of :class:`~neuromaster.stages._oversampled.OversampledProcessor`: only
``-r H`` (the drop) passes the oversampling filters; the rest of the output
is the latency-aligned input itself, so ``mix = 0`` is an exact null and the
small-signal gain is 0 dB by construction (measured in
``host_tests/test_transformer.py``).

Controls and the physical parameters they set
---------------------------------------------
``drive_db``       flux level: at 0 dB a full-scale 30 Hz sine reaches a peak
                   flux of 0.6 ``mu0 Ms`` (``FLUX_AT_30HZ``); the output is
                   divided by the drive again (level compensation).
``saturation``     ``rho = Ms / a``, 30 to 30000 on a log scale: how abruptly
                   the core saturates (a soft, gapped core to a hard
                   high-permeability alloy). The source resistance follows
                   so that the small-signal corner stays at ``LF_CORNER_HZ``.
``hysteresis``     J-A ``k / a``, 0.002 to 0.2 (log): the loop width (coercivity).
``core_loss``      J-A ``1 - c``, 0.1 to 0.9: the irreversible (lossy) share of
                   the magnetisation; more loss = fatter loop, lower initial
                   permeability. (The mean-field coupling ``alpha`` is 0: see
                   ``ALPHA``.)
``mix``, ``output_gain_db``  dry/wet (latency aligned) and a trim on the wet path.
"""
from __future__ import annotations

import math

import numpy as np

from neuromaster.dsp.biquad import first_order
from neuromaster.dsp.delay import delay, delay_state
from neuromaster.dsp.hysteresis import _coupling_kernel, _transformer_kernel, transformer_state

from ..params import Param
from ._oversampled import OversampledProcessor, as_ctrl, oversampling_param


def _rho(saturation):
    return 30.0 * 1000.0 ** np.asarray(saturation, dtype=np.float64)


def _k(hysteresis):
    return 0.002 * 100.0 ** np.asarray(hysteresis, dtype=np.float64)


def _c(core_loss):
    return 0.9 - 0.8 * np.asarray(core_loss, dtype=np.float64)


class TransformerSaturator(OversampledProcessor):
    """Jiles-Atherton transformer saturation: low frequencies saturate first.

    The core is one serial recursion per channel; the channels of a block run
    in parallel threads unless ``channel_threads`` is set to False (the output
    is the same either way; see :class:`OversampledProcessor`).

    Parameters
    ----------
    drive_db : float
        Flux drive in dB, -24 to +24 (default 0; 0 dB: a full-scale 30 Hz sine
        peaks at 0.6 of the saturation flux). Level-compensated.
    saturation : float
        0-1 (default 0.5): core hardness, ``Ms / a`` from 30 to 30000 (log).
    hysteresis : float
        0-1 (default 0.3): loop width, J-A ``k / a`` from 0.002 to 0.2 (log).
    core_loss : float
        0-1 (default 0.5): irreversible share ``1 - c`` from 0.1 to 0.9.
    mix : float
        Share of the transformer's output, 0-1 (default 1).
    output_gain_db : float
        Trim on the transformer's output in dB, -24 to +24 (default 0).
    oversampling : int
        1, 2, 4, 8 or 16 (default 8).
    """

    #: Peak flux (in units of mu0 Ms) of a full-scale 30 Hz sine at drive 0 dB.
    FLUX_AT_30HZ = 0.6
    #: Small-signal low-frequency corner of the magnetising inductance, Hz
    #: (at the core's initial permeability; lower at higher levels).
    LF_CORNER_HZ = 2.0
    #: Corner of the input coupling capacitor (first-order high-pass), Hz.
    COUPLING_HZ = 1.0
    #: J-A mean-field coupling (``alpha Ms / a``). 0: with audio-core loop
    #: widths (k/a <= 0.2) the mean-field term adds little but the runaway of
    #: the J-A slope's denominator (see neuromaster.dsp.hysteresis).
    ALPHA = 0.0

    PARAMETERS = (
        Param("drive_db", -24.0, 24.0, 0.0, unit="dB",
              doc="flux drive in dB (0 dB: full-scale 30 Hz peaks at 0.6 of saturation); level-compensated"),
        Param("saturation", 0.0, 1.0, 0.5, doc="core hardness 0-1: Ms/a from 30 (soft) to 30000 (hard), log"),
        Param("hysteresis", 0.0, 1.0, 0.3, doc="loop width 0-1: J-A k/a from 0.002 to 0.2, log"),
        Param("core_loss", 0.0, 1.0, 0.5, doc="irreversible share 0-1: J-A 1-c from 0.1 to 0.9"),
        Param("mix", 0.0, 1.0, 1.0, doc="share of the transformer's output, 0-1"),
        Param("output_gain_db", -24.0, 24.0, 0.0, unit="dB", doc="trim on the transformer's output in dB"),
        oversampling_param(8),
    )
    OS_CONTROLS = ("saturation", "hysteresis", "core_loss")
    OUT_CONTROLS = ("mix", "drive_db", "output_gain_db")

    # ------------------------------------------------------------ physics
    @classmethod
    def flux_rate(cls) -> float:
        """``w_s`` in 1/s: flux per unit voltage-second (``FLUX_AT_30HZ`` at 30 Hz, full scale)."""
        return cls.FLUX_AT_30HZ * 2.0 * math.pi * 30.0

    @classmethod
    def source_resistance(cls, rho, c):
        """Normalised source resistance putting the small-signal corner at
        ``LF_CORNER_HZ`` for the initial permeability ``1/rho + c/3``."""
        return 2.0 * math.pi * cls.LF_CORNER_HZ * (1.0 / np.asarray(rho) + np.asarray(c) / 3.0) / cls.flux_rate()

    def core_parameters(self) -> dict:
        """The physical parameters of the current (static) settings, as taken by
        :func:`neuromaster.dsp.hysteresis.transformer_core` (before ``drive``)."""
        rho = float(_rho(self.saturation))
        c = float(_c(self.core_loss))
        return {"flux_rate": self.flux_rate(), "source_r": float(self.source_resistance(rho, c)), "rho": rho,
                "k": float(_k(self.hysteresis)), "c": c, "alpha": self.ALPHA,
                "drive": 10.0 ** (self.drive_db / 20.0)}

    # ---------------------------------------------------------- lifecycle
    def _prepare_stage(self):
        b0, b1, _b2, _a0, a1, _a2 = first_order("highpass", self.COUPLING_HZ, self.sample_rate)
        self._hp_coef = (float(b0), float(b1), float(a1))

    def _reset_stage(self):
        C = self.num_channels
        self._core_state = transformer_state(C)
        self._hp_state = np.zeros(C)
        self._hp_line = delay_state(C, self._design.latency_samples)
        self._hp_diff = None

    # --------------------------------------------------------- processing
    def _drive_input(self, x):
        # the coupling capacitor (1 Hz first-order high-pass) and the drive, in one pass
        g = as_ctrl(10.0 ** (np.asarray(self._control("drive_db", x.shape[1])) / 20.0))
        xg = np.empty_like(x)
        self._hp_diff = np.empty_like(x)
        _coupling_kernel(x, *self._hp_coef, g, self._hp_state, xg, self._hp_diff)
        return xg

    def _residual(self, v, n):
        sat = self._os_control("saturation", n)
        hys = self._os_control("hysteresis", n)
        loss = self._os_control("core_loss", n)
        rho = _rho(sat)
        c = _c(loss)
        out = np.empty_like(v)
        if v.shape[1]:
            beta = 0.5 * self.flux_rate() / (self.sample_rate * self._design.factor)
            ctrl = (as_ctrl(self.source_resistance(rho, c)), as_ctrl(1.0 / rho), as_ctrl(1.0 / _k(hys)), as_ctrl(c),
                    as_ctrl(self.ALPHA))
            dummy = np.empty((1, 1))
            state = self._core_state

            def kernel(lo, hi):  # one serial J-A recursion per channel: channels may run in parallel
                _transformer_kernel(v[lo:hi], beta, *ctrl, state[lo:hi], out[lo:hi], False, dummy, dummy)

            self._run_channels(kernel, v.shape[1])
        return out

    def _post(self, d, n):
        g = 10.0 ** (np.asarray(self._out_control("drive_db", n)) / 20.0)
        hp, self._hp_line = delay(self._hp_diff, self._hp_line)
        return d / g + hp

    def _combine(self, dry, d, n):
        mix = np.asarray(self._out_control("mix", n))
        og = 10.0 ** (np.asarray(self._out_control("output_gain_db", n)) / 20.0)
        return (1.0 - mix) * dry + (mix * og) * (dry + d)

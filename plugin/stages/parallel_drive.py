"""``ParallelDrive``: a saturated parallel path blended under the dry signal.

The wet path takes the input band-limited by a high-pass (``highpass_hz``,
keeps the low end clean) and a low-pass (``tone_hz``), drives it into the
curve ``f(v) = v/g + (1 - 1/g) tanh(g v)/g`` (``g = 10**(drive_db/20)``;
:func:`neuromaster.dsp.saturation.tanh_drive_residual`) at ``oversampling``
times the rate, and replaces the band-limited part by its saturated version::

    wet = x - bp(x) + f(bp(x))            # = x + residual
    y   = (1 - mix) x + mix wet           # = x + mix residual

with the dry ``x`` delayed by exactly the oversampler latency. The curve
has unity small-signal gain at every drive and is the identity at
``drive_db = 0``, so ``mix = 0`` *and* ``drive_db = 0`` are exact nulls: the
output equals the latency-aligned input bit for bit. Driven, loud passages
are squashed towards a slope of 1/g (threshold near 1/g) with odd harmonics
added; quiet passages pass at unity gain.
"""
from __future__ import annotations

import numpy as np

from neuromaster.dsp.biquad import control_blocks, design_frequency, rbj, sos_filter, sos_filter_blocks, sos_state
from neuromaster.dsp.saturation import tanh_drive_residual

from ..params import Param
from ..processor import CONTROL_INTERVAL
from ._oversampled import OversampledProcessor, oversampling_param

_Q = 1.0 / np.sqrt(2.0)  # Butterworth sections


class ParallelDrive(OversampledProcessor):
    """Parallel saturation with a band-limited, oversampled wet path.

    Parameters
    ----------
    drive_db : float
        Drive into the saturator, 0-36 dB (default 12); 0 dB is an exact bypass.
    highpass_hz : float
        12 dB/oct high-pass in front of the saturator, 20-2000 Hz (default 100).
    tone_hz : float
        12 dB/oct low-pass in front of the saturator, 1-20 kHz (default 12 kHz;
        designed at no more than 0.49 x the sample rate:
        :func:`~neuromaster.dsp.biquad.design_frequency`).
    mix : float
        Blend, 0 (dry) to 1 (wet), default 0.5.
    oversampling : int
        1, 2, 4, 8 or 16 (default 8).
    """

    PARAMETERS = (
        Param("drive_db", 0.0, 36.0, 12.0, unit="dB", doc="drive into the saturator in dB (0 = exact bypass)"),
        Param("highpass_hz", 20.0, 2000.0, 100.0, unit="Hz", scale="log",
              doc="high-pass corner in front of the saturator, Hz (keeps the low end clean)"),
        Param("tone_hz", 1000.0, 20000.0, 12000.0, unit="Hz", scale="log",
              doc="low-pass corner in front of the saturator, Hz (at most 0.49 x sample rate)"),
        Param("mix", 0.0, 1.0, 0.5, doc="blend of the saturated path, 0 (dry) to 1 (wet)"),
        oversampling_param(8),
    )
    OS_CONTROLS = ("drive_db",)
    OUT_CONTROLS = ("mix",)

    def _design_filters(self, hp, lp):
        """(…, 2, 6) cascade: Butterworth high-pass then low-pass (RBJ cookbook)."""
        lp = design_frequency(lp, self.sample_rate)
        return np.stack([rbj("highpass", hp, 0.0, _Q, self.sample_rate), rbj("lowpass", lp, 0.0, _Q, self.sample_rate)],
                        axis=-2)

    def _update(self):
        if self.sample_rate is not None:
            self._sos = self._design_filters(float(self.highpass_hz), float(self.tone_hz))

    def _reset_stage(self):
        self._bp_state = sos_state(self.num_channels, 2)

    def _drive_input(self, x):
        if self._is_static("highpass_hz") and self._is_static("tone_hz"):
            v, self._bp_state = sos_filter(x, self._sos, self._bp_state)
            return v
        n = x.shape[1]
        hp = self._control_blocks("highpass_hz", n)
        lp = self._control_blocks("tone_hz", n)
        blocks = control_blocks(self._position, n, CONTROL_INTERVAL)
        hp = np.broadcast_to(np.asarray(hp, dtype=np.float64), (blocks,))
        lp = np.broadcast_to(np.asarray(lp, dtype=np.float64), (blocks,))
        sos = self._design_filters(hp, lp)
        v, self._bp_state = sos_filter_blocks(x, sos, self._bp_state, self._position, CONTROL_INTERVAL)
        return v

    def _residual(self, v, n):
        return tanh_drive_residual(v, 10.0 ** (np.asarray(self._os_control("drive_db", n)) / 20.0))

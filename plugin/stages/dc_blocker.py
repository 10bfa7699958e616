"""``DCBlocker``: a 2nd-order Butterworth high-pass at a few Hz."""
from __future__ import annotations

import numpy as np

from ..dsp import biquad
from ..params import Param
from ..processor import CONTROL_INTERVAL, Processor

_BUTTERWORTH_Q = 1.0 / np.sqrt(2.0)


class DCBlocker(Processor):
    """Remove DC offset and subsonic drift.

    A 2nd-order Butterworth high-pass (RBJ cookbook HPF, Q = 1/sqrt(2), run
    in direct form I by :func:`neuromaster.dsp.biquad.sos_filter`) at
    ``cutoff_frequency_hz``: zero gain at DC, so a constant offset decays to
    nothing (time constant ``sqrt(2) / (2 pi fc)``: 45 ms at 5 Hz); 12 dB/oct
    below the corner, -3.01 dB at it, and ``-10 log10(1 + (fc/f)**4)`` dB
    above it: -0.017 dB at 20 Hz for the default 5 Hz (-0.26 dB at 20 Hz
    for a 10 Hz corner).

    Parameters
    ----------
    cutoff_frequency_hz : float
        Corner frequency in Hz, 1 to 10 (log scale), default 5. Automatable
        (coefficients refreshed every 16 samples).
    """

    PARAMETERS = (
        Param("cutoff_frequency_hz", 1.0, 10.0, 5.0, unit="Hz", scale="log",
              doc="high-pass corner in Hz (-3.01 dB there, 12 dB/oct below)"),
    )
    SUPPORTED_CHANNELS = tuple(range(1, 9))

    def _prepare(self):
        self._z = biquad.sos_state(self.num_channels, 1)
        self._scratch = np.empty((self.num_channels, 0))

    def _reset_state(self):
        self._z[:] = 0.0

    def _design(self, frequency_hz):
        return biquad.rbj("highpass", frequency_hz, 0.0, _BUTTERWORTH_Q, self.sample_rate)

    def _update(self):
        self._sos = self._design(self._values["cutoff_frequency_hz"]).reshape(1, 6)

    def _process_block(self, x, sidechain):
        if self._is_static("cutoff_frequency_hz"):
            # fast path: the kernel on our own state, into a scratch buffer that
            # Processor._run copies into the output at once
            n = x.shape[1]
            if self._scratch.shape[1] < n:
                self._scratch = np.empty((self.num_channels, n))
            y = self._scratch[:, :n]
            biquad._cascade_kernel(x, y, self._sos, self._z)
            return y
        f = np.asarray(self._control_blocks("cutoff_frequency_hz", x.shape[1]), dtype=np.float64)
        y, self._z = biquad.sos_filter_blocks(x, self._design(f)[:, None, :], self._z, self._position, CONTROL_INTERVAL)
        return y

"""``Gain``: a level change in dB, smoothed and automatable per sample."""
from __future__ import annotations

import numpy as np

from ..params import Param
from ..processor import Processor


class Gain(Processor):
    """Multiply the signal by ``10**(gain_db/20)``.

    Parameters
    ----------
    gain_db : float
        Level change in dB, -96 to +48 (default 0). Automatable per sample.
    """

    PARAMETERS = (
        Param("gain_db", -96.0, 48.0, 0.0, unit="dB", doc="level change in dB"),
    )
    SUPPORTED_CHANNELS = tuple(range(1, 9))

    def _process_block(self, x, sidechain):
        g = self._control("gain_db", x.shape[1])
        return x * (10.0 ** (np.asarray(g) / 20.0))

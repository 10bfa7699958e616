"""``MidSide``: mid/side encoding, decoding, and mid/side gains."""
from __future__ import annotations

import numpy as np

from ..dsp import mid_side as ms
from ..params import Param, choice
from ..processor import Processor

MODES = ("encode", "decode", "process")


class MidSide(Processor):
    """Mid/side matrix with a gain on each of mid and side.

    Scaling: ``M = (L + R) / 2``, ``S = (L - R) / 2`` and back ``L = M + S``,
    ``R = M - S``. Encode and decode are exact inverses (up to one rounding
    of each sum), a centred (mono) source has ``M = L = R`` and ``S = 0``, and
    a one-sided source splits equally (``M = S = L / 2``).

    Parameters
    ----------
    mode : {"encode", "decode", "process"}
        ``encode``: input L/R, output M/S (channel 0 = mid, 1 = side), gains
        applied to M and S. ``decode``: input M/S, gains applied to M and S,
        output L/R. ``process`` (default): encode, apply the gains, decode;
        with both gains at 0 dB it is transparent.
    mid_gain_db, side_gain_db : float
        -96 to +24 dB, default 0. Automatable per sample.

    Stereo only: ``SUPPORTED_CHANNELS = (2,)``.
    """

    PARAMETERS = (
        choice("mode", MODES, "process", doc="encode L/R->M/S, decode M/S->L/R, or process (encode, gains, decode)"),
        Param("mid_gain_db", -96.0, 24.0, 0.0, unit="dB", doc="gain on the mid signal (L+R)/2 in dB"),
        Param("side_gain_db", -96.0, 24.0, 0.0, unit="dB", doc="gain on the side signal (L-R)/2 in dB"),
    )
    SUPPORTED_CHANNELS = (2,)

    def _process_block(self, x, sidechain):
        n = x.shape[1]
        gm = 10.0 ** (np.asarray(self._control("mid_gain_db", n), dtype=np.float64) / 20.0)
        gs = 10.0 ** (np.asarray(self._control("side_gain_db", n), dtype=np.float64) / 20.0)
        mode = self._values["mode"]
        y = x.copy() if mode == "decode" else ms.encode(x)
        y[0] *= gm
        y[1] *= gs
        return y if mode == "encode" else ms.decode(y)

"""``Dither``: TPDF dither and noise shaping onto a 16/20/24-bit grid."""
from __future__ import annotations

from ..dsp import dither as ditherdsp
from ..params import Param, choice
from ..processor import Processor


class Dither(Processor):
    """Requantise to ``bit_depth`` bits with TPDF dither and optional noise shaping.

    The output lies exactly on the grid ``k / 2**(bit_depth-1)`` with
    ``-2**(bit_depth-1) <= k <= 2**(bit_depth-1) - 1`` (values beyond full
    scale are clipped to it), and stays exactly on it after the float32
    output conversion. The dither is TPDF at +-1 LSB (the sum of two
    independent uniform +-0.5 LSB variables), so the total error (dither plus
    rounding) is white, of mean 0 and variance LSB**2/4 whatever the signal;
    noise shaping then filters that error by ``NTF(z) = 1 - sum h_k z^-k``
    (see :mod:`neuromaster.dsp.dither` for the filters and their sources).

    The noise for sample ``n`` of channel ``c`` depends only on ``seed``,
    ``c`` and ``n`` (counted from the last reset), so output does not depend on
    block sizes and a seed reproduces it exactly. Channels get independent
    noise.

    Parameters
    ----------
    bit_depth : {16, 20, 24}
        Target word length, default 16.
    noise_shaping : {"none", "simple", "psychoacoustic"}
        ``none``: flat TPDF (default). ``simple``: first-order error feedback
        (NTF = 1 - z^-1). ``psychoacoustic``: Wannamaker's F-weighted error
        feedback (JAES 1992), 9 coefficients from 44.1 kHz up, 3 below.
    seed : int
        0 to 2**31 - 1, default 0.
    """

    PARAMETERS = (
        Param("bit_depth", 16, 24, 16, kind="int", values=(16, 20, 24), unit="bit",
              doc="target word length in bits"),
        choice("noise_shaping", ditherdsp.SHAPINGS, "none",
               doc="error-feedback noise shaping: none (flat TPDF), simple (1st order) or psychoacoustic (F-weighted)"),
        Param("seed", 0, 2 ** 31 - 1, 0, kind="int", doc="seed of the dither noise"),
    )
    SUPPORTED_CHANNELS = tuple(range(1, 9))

    def _prepare(self):
        self._h = None
        self._err = None

    def _reset_state(self):
        if self._err is not None:
            self._err[:] = 0.0

    def _update(self):
        h = ditherdsp.shaping_filter(self._values["noise_shaping"], self.sample_rate)
        if self._err is None or self._h is None or h.shape != self._h.shape:
            # the error history only means something for the filter it was taken with
            self._err = ditherdsp.dither_state(self.num_channels, h.shape[0])
        self._h = h

    def _process_block(self, x, sidechain):
        y, self._err = ditherdsp.dither(x, self._values["bit_depth"], self._h, self._err,
                                        self._values["seed"], self._position)
        return y

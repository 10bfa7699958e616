"""``SoftClipper``: an oversampled soft clipper with a ceiling, a knee and a
drive, and a lookahead guard that keeps output samples under the ceiling.

It runs its curve through :class:`~neuromaster.stages._oversampled.OversampledProcessor`
(the base of every oversampled nonlinear stage; residual form, control alignment).
"""
from __future__ import annotations

import numpy as np

from neuromaster.dsp.delay import delay, delay_state
from neuromaster.dsp.saturation import _softclip_residual_kernel, knee_threshold, peak_guard, peak_guard_state

from ..params import Param
from ._oversampled import OversampledProcessor, as_ctrl, oversampling_param


class SoftClipper(OversampledProcessor):
    """Oversampled soft clipper with a ceiling, a knee and a drive.

    The curve (on the ceiling ``c``, driven input ``u = g x / c``) is linear
    up to ``t = 10**(-knee_db/20)`` and then bends along a tanh towards the
    ceiling (:func:`neuromaster.dsp.saturation.softclip_residual`):
    ``knee_db = 0`` is a hard clip, 24 dB is close to a plain tanh. The curve
    is odd, so symmetric signals stay DC-free. Well below the knee (true
    peak below it) the output is the input delayed by the latency, bit for
    bit (mix 1).

    After downsampling, a band-limited clipped waveform can overshoot the
    curve's bound (the harmonics above 20 kHz that were holding the peaks
    down are gone: a full-scale 7 kHz sine driven +12 dB comes out with a
    fundamental 0.5 dB above the ceiling). A hard clip at the output rate
    would fold that overshoot back as aliasing (-26 dBc in that case, at any
    oversampling factor). Instead a lookahead guard
    (:func:`neuromaster.dsp.saturation.peak_guard`, window ``GUARD_MS``)
    rides the gain down smoothly wherever a sample would pass the ceiling:
    with ``mix = 1`` no output *sample* exceeds the ceiling, and the guard
    adds ``round(GUARD_MS * sample_rate / 1000)`` samples of latency. True
    (inter-sample) peaks can still exceed it: measured up to +0.45 dB over the
    ceiling on full-scale sines driven by up to 24 dB (997 Hz, 24 dB drive:
    a nearly square wave; ``host_tests/test_softclipper.py`` prints the
    table). Put a ``TruePeakLimiter`` after it for a true-peak ceiling.

    Default oversampling is 8x: a full-scale 7 kHz sine aliases (strongest
    component) at -89 dBc at 4x and -116 dBc at 8x with the default
    settings, and at -49 dBc (4x) against -77 dBc (8x) driven +12 dB
    (``python bench/analog.py --aliasing``, ``test_softclipper.py``), for
    roughly 1.2-1.5x the CPU time of 4x.

    Parameters
    ----------
    ceiling_db : float
        Output ceiling in dBFS, -24 to 0 (default -1).
    drive_db : float
        Gain into the clipper in dB, 0 to 24 (default 0).
    knee_db : float
        Depth of the knee below the ceiling in dB, 0 (hard) to 24 (tanh-like);
        default 6.
    mix : float
        Clipped share of the output, 0-1 (default 1).
    oversampling : int
        1, 2, 4, 8 or 16 (default 8).
    """

    PARAMETERS = (
        Param("ceiling_db", -24.0, 0.0, -1.0, unit="dB", doc="output ceiling in dBFS (sample peak, mix 1)"),
        Param("drive_db", 0.0, 24.0, 0.0, unit="dB", doc="gain into the clipper in dB"),
        Param("knee_db", 0.0, 24.0, 6.0, unit="dB",
              doc="where the curve starts bending, in dB below the ceiling (0 = hard clip, 24 = tanh-like)"),
        Param("mix", 0.0, 1.0, 1.0, doc="share of the clipped signal in the output, 0-1"),
        oversampling_param(8),
    )
    OS_CONTROLS = ("ceiling_db", "drive_db", "knee_db")
    OUT_CONTROLS = ("mix", "ceiling_db")

    def _residual(self, v, n):
        ceiling = as_ctrl(10.0 ** (np.asarray(self._os_control("ceiling_db", n)) / 20.0))
        gain = as_ctrl(10.0 ** (np.asarray(self._os_control("drive_db", n)) / 20.0))
        t = as_ctrl(knee_threshold(self._os_control("knee_db", n)))
        r = np.empty_like(v)
        _softclip_residual_kernel(v, gain, ceiling, t, r)
        return r

    #: Window of the output peak guard, in ms (latency added: this many ms, rounded to samples).
    GUARD_MS = 1.0

    def _extra_latency(self, sample_rate: float) -> int:
        return int(round(self.GUARD_MS * 1e-3 * sample_rate))

    def _out_delay(self, name: str) -> int:
        if name == "ceiling_db":  # used by the guard, at the oversampler's output
            return self._design.latency_samples
        return super()._out_delay(name)

    def _prepare_stage(self):
        self._guard_window = self._extra_latency(self.sample_rate) + 1

    def _reset_stage(self):
        C = self.num_channels
        self._guard_state = peak_guard_state(C, self._guard_window)
        self._guard_dry_state = delay_state(C, self._guard_window - 1)

    def _combine(self, dry, d, n):
        c = _floor_float32(10.0 ** (np.asarray(self._out_control("ceiling_db", n)) / 20.0))
        wet, self._guard_state = peak_guard(dry + d, c, self._guard_state)
        dry, self._guard_dry_state = delay(dry, self._guard_dry_state)
        mix = np.asarray(self._out_control("mix", n))
        return (1.0 - mix) * dry + mix * wet


def _floor_float32(c):
    """The largest float32 values <= ``c`` (the output is float32: a ceiling
    rounded up on conversion would let a sample through by one ulp)."""
    c32 = np.asarray(c, dtype=np.float32)
    up = c32.astype(np.float64) > c
    c32 = np.where(up, np.nextafter(c32, np.float32(0.0)), c32)
    return c32.astype(np.float64)

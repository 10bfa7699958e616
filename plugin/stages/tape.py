"""``TapeSaturator``: Jiles-Atherton tape magnetisation, playback response per
speed, optional wow/flutter and hiss.

Signal path::

    x -> drive -> [oversampled: record field h = H_SCALE * u, tape magnetisation
    m(h) by the J-A core (neuromaster.dsp.hysteresis, field driven), level
    compensated] -> + hiss -> playback response (head bump, dip, HF loss;
    neuromaster.dsp.tape) -> wow/flutter delay -> mix with the aligned dry.

Recording. The record head's field follows the record current, so the field
is the (driven) input itself, and the magnetisation it leaves on the tape is
what is played back (taken as ``m(h)`` at the gap; playback head and
playback equalisation together as an ideal reproducer of ``m``). Real recorders add a strong ultrasonic bias to the record
current; its purpose and effect is that the recorded magnetisation follows
the *anhysteretic* curve (linear at low levels, saturating at high levels)
instead of the raw hysteresis loop with its crossover distortion. Simulating
the bias itself would need a 100 kHz+ carrier at every oversampling factor;
instead the ``bias`` control sets the J-A parameters: at ``bias = 1``
(correct bias, the default) a reversible fraction ``c = 0.9`` and a pinning
``k = 1e-5`` (in units of ``a``), far below the recorded fields, so what
remains of the loop is a tiny level-dependent lag and a low-level distortion
residue (measured in ``host_tests/test_tape.py``); lowering ``bias`` widens
the loop (``k`` up to 1e-2, ``c`` down to 0.5 at ``bias = 0``): the
crossover distortion and low-level gain loss of under-biased tape. The
output is ``m / (H_SCALE / 3)`` (``L'(0) = 1/3``): 0 dB small-signal gain,
compressing towards saturation (about 3 % THD for a full-scale sine at
drive 0 dB: ``H_SCALE = 1.5``).

Playback response and wow/flutter/hiss: see :mod:`neuromaster.dsp.tape`
(design choices stated there). Wow and flutter are a modulated delay around
a fixed centre, so the stage's latency includes that centre delay whether or
not the modulation is on; with ``wow_flutter = 0`` the delay is exact.
"""
from __future__ import annotations

import numpy as np

from neuromaster.dsp.biquad import sos_filter, sos_state
from neuromaster.dsp.delay import delay, delay_state
from neuromaster.dsp.hysteresis import _field_kernel, ja_state
from neuromaster.dsp.tape import (
    SPEEDS_IPS, gaussian_noise, playback_sos, wow_flutter, wow_flutter_delay_samples, wow_flutter_state,
)

from ..params import Param, boolean, choice
from ._oversampled import OversampledProcessor, as_ctrl, oversampling_param


class TapeSaturator(OversampledProcessor):
    """Tape saturation with a hysteresis core, head bump and HF loss per speed,
    optional wow/flutter and hiss.

    The core is one serial recursion per channel; the channels of a block run
    in parallel threads unless ``channel_threads`` is set to False (the output
    is the same either way; see :class:`OversampledProcessor`).

    Parameters
    ----------
    drive_db : float
        Record level in dB, -24 to +24 (default 0; a full-scale sine at 0 dB
        gives about 3 % THD). Level-compensated.
    speed_ips : {"7.5", "15", "30"}
        Tape speed in inches per second (default "15"): head bump at
        30 / 60 / 120 Hz, HF loss corner 12 / 18 / 25 kHz.
    bias : float
        0-1 (default 1 = correct bias: the anhysteretic curve); lower values
        leave more of the hysteresis loop (J-A k = 1e-5 * 1000**(1 - bias),
        c = 0.5 + 0.4 bias).
    wow_flutter : float
        Depth 0-1 (default 0 = off); 1 is 0.23 % peak pitch deviation.
    hiss : bool
        Add tape hiss (default False).
    hiss_db : float
        Hiss RMS level in dBFS after the playback response, -96 to -30 (default -66).
    mix : float
        Share of the tape signal, 0-1 (default 1).
    oversampling : int
        1, 2, 4, 8 or 16 (default 8).
    """

    #: Record field per unit of driven input (normalised by the J-A ``a``).
    H_SCALE = 1.5
    #: J-A pinning k/a of correctly biased tape (bias = 1) ...
    K_TAPE = 1e-5
    #: ... and its reversible fraction.
    C_TAPE = 0.9
    #: J-A mean-field coupling alpha Ms / a (0, as in TransformerSaturator).
    ALPHA = 0.0
    #: Seed of the hiss generator (channel c uses stream (seed, c)).
    HISS_SEED = 1952

    PARAMETERS = (
        Param("drive_db", -24.0, 24.0, 0.0, unit="dB",
              doc="record level in dB (0 dB: full-scale sine at about 3 % THD); level-compensated"),
        choice("speed_ips", SPEEDS_IPS, "15", unit="ips",
               doc="tape speed in inches per second: sets head bump and HF loss"),
        Param("bias", 0.0, 1.0, 1.0, doc="record bias 0-1 (1 = correct: anhysteretic; lower = more hysteresis)"),
        Param("wow_flutter", 0.0, 1.0, 0.0, doc="wow and flutter depth 0-1 (0 = off; 1 = 0.23 % peak pitch deviation)"),
        boolean("hiss", False, doc="add tape hiss"),
        Param("hiss_db", -96.0, -30.0, -66.0, unit="dB", doc="hiss RMS level in dBFS (after the playback response)"),
        Param("mix", 0.0, 1.0, 1.0, doc="share of the tape signal in the output, 0-1"),
        oversampling_param(8),
    )
    OS_CONTROLS = ("bias",)
    OUT_CONTROLS = ("mix", "drive_db", "hiss_db", "wow_flutter")

    @classmethod
    def ja_parameters(cls, bias):
        """J-A ``(k, c)`` of the tape for a ``bias`` value (float or array)."""
        b = np.asarray(bias, dtype=np.float64)
        return cls.K_TAPE * 1000.0 ** (1.0 - b), cls.C_TAPE - 0.4 * (1.0 - b)

    # ---------------------------------------------------------- latency
    def _extra_latency(self, sample_rate: float) -> int:
        return wow_flutter_delay_samples(sample_rate)

    def _out_delay(self, name: str) -> int:
        if name == "mix":
            return super()._out_delay(name)
        return self._design.latency_samples  # used before the wow/flutter delay

    # ---------------------------------------------------------- lifecycle
    def _prepare_stage(self):
        self._wow_delay = wow_flutter_delay_samples(self.sample_rate)

    def _update(self):
        if self.sample_rate is None:
            return
        sos = playback_sos(self.speed_ips, self.sample_rate)
        self._pb_sos = sos
        # power gain of the playback response for white noise (hiss normalisation)
        imp = np.zeros((1, 1 << 16))
        imp[0, 0] = 1.0
        h, _ = sos_filter(imp, sos, sos_state(1, sos.shape[0]))
        self._pb_power = float(np.sum(h * h))

    def _reset_stage(self):
        C = self.num_channels
        self._core_state = ja_state(C)
        self._pb_state = sos_state(C, 3)
        self._wow_state = wow_flutter_state(C, self.sample_rate)
        self._dry2_state = delay_state(C, self._wow_delay)

    # --------------------------------------------------------- processing
    def _drive_input(self, x):
        g = 10.0 ** (np.asarray(self._control("drive_db", x.shape[1])) / 20.0)
        return x * g

    def _residual(self, v, n):
        k, c = self.ja_parameters(self._os_control("bias", n))
        out = np.empty_like(v)
        if v.shape[1]:
            ctrl = (as_ctrl(self.H_SCALE), as_ctrl(3.0 / self.H_SCALE), as_ctrl(1.0 / k), as_ctrl(c),
                    as_ctrl(self.ALPHA))
            state = self._core_state

            def kernel(lo, hi):  # one serial J-A recursion per channel: channels may run in parallel
                _field_kernel(v[lo:hi], *ctrl, state[lo:hi], out[lo:hi], True)

            self._run_channels(kernel, v.shape[1])
        return out

    def _post(self, d, n):
        g = 10.0 ** (np.asarray(self._out_control("drive_db", n)) / 20.0)
        return d / g

    def _combine(self, dry, d, n):
        C = dry.shape[0]
        # the tape signal, aligned with dry (the oversampler's latency)
        t = dry + d
        level = self._out_control("hiss_db", n)  # keep the control line moving either way
        # hiss and modulation are addressed by the stream position (samples since reset)
        if self.hiss:
            sigma = 10.0 ** (np.asarray(level) / 20.0) / np.sqrt(self._pb_power)
            t = t + sigma * gaussian_noise(C, n, self._position, self.HISS_SEED)
        t, self._pb_state = sos_filter(t, self._pb_sos, self._pb_state)
        depth = self._out_control("wow_flutter", n)
        wet, self._wow_state = wow_flutter(t, depth, self._position, self.sample_rate, self._wow_state)
        dry2, self._dry2_state = delay(dry, self._dry2_state)
        mix = np.asarray(self._out_control("mix", n))
        return (1.0 - mix) * dry2 + mix * wet

"""``TruePeakLimiter``: lookahead brick-wall limiter on the reconstructed (true) peak.

The DSP and the reasoning behind the ceiling guarantee live in
:mod:`neuromaster.dsp.limiter`; this module maps parameters onto it.
"""
from __future__ import annotations

import math

import numpy as np

from neuromaster.dsp import limiter as lim

from ..params import Param, boolean, choice
from ..processor import Processor

_LN10_20 = math.log(10.0) / 20.0


class TruePeakLimiter(Processor):
    """Lookahead limiter whose output true peak never exceeds ``ceiling_db``.

    Signal flow: ``input_gain_db`` drive, a 4x/8x/16x true-peak detector
    (half-band interpolation with a sinusoid fit between grid points), a
    running minimum of the needed gain over the lookahead, a release (log
    domain, optionally program dependent) and an attack ramp of
    ``lookahead_ms`` (one or two matched moving averages) that reaches the
    target gain before the peak and holds it flat across it. Below the
    ceiling the gain is exactly 1.0 and the stage is a pure delay.

    Parameters
    ----------
    ceiling_db : float
        Output true-peak ceiling in dBTP, -20 to 0 (default -1). The detector
        aims :func:`neuromaster.dsp.limiter.true_peak_margin_db` below it
        (0.04 dB at 44.1 kHz with the defaults; 0.02-0.19 dB, see there), so the output true peak measured by an
        independent 16x reconstruction stays at or below the ceiling.
        Automatable.
    input_gain_db : float
        Drive before limiting in dB, -24 to +24 (default 0). Automatable.
    release_ms : float
        Release time constant in ms, 1 to 1000 (default 100): after a peak
        the gain reduction, in dB, decays as ``exp(-t / release)``.
        Automatable.
    auto_release : bool
        Program-dependent release (default False): a fast path with
        ``release_ms / 4`` recovers from short transients, while a slow path
        (a one-pole average of the fast path's reduction, ``4 * release_ms``)
        holds the reduction that sustained limiting builds up and lets it go
        slowly; the applied reduction is the larger of the two. Isolated
        peaks release 4x faster than the manual setting, dense passages up
        to 4x slower (less pumping and distortion).
    lookahead_ms : float
        Attack ramp in ms, 1 to 10 (default 2): the gain starts falling this
        long before a peak's hold region. Not automatable (it sets the
        latency).
    attack_shape : {"s_curve", "linear"}
        The ramp's shape: two matched moving averages (continuous slope,
        default) or one (linear in dB).
    stereo_link : float
        0 to 1 (default 1): 0 limits each channel on its own, 1 applies the
        deepest reduction to every channel; in between the reductions (dB)
        are interpolated. Automatable.
    oversampling : int
        Resolution of the true-peak detector, 4, 8 or 16 times the sample
        rate (default 8). The detector always builds a 4x grid; at 8x and
        16x it interpolates the finer points only around grid maxima, so
        the cost hardly changes. Structural.

    Latency
    -------
    ``reported_latency_samples`` = ``W - 1 + HOLD_SAMPLES + D`` with ``W =
    round(lookahead_ms * sample_rate / 1000)``, ``HOLD_SAMPLES = 8`` and the
    detector delay ``D = 70`` samples at any rate (its first stage needs 64
    input samples of context each side): 165 samples (3.7 ms) at 44.1 kHz
    with the defaults. The lookahead is therefore the attack ramp, not the
    whole latency: the detector's context is added to it (as plugin
    limiters add their oversampling filters' delay). One-shot calls
    compensate the latency.

    Gain-reduction trace
    --------------------
    After every call, :attr:`gain_reduction_db` holds the reduction (dB,
    >= 0) applied to each returned sample, shape ``(channels, samples)``
    aligned with the returned audio (one-shot: with the input; streaming:
    with the delayed output), identical under any chunking.
    """

    PARAMETERS = (
        Param("ceiling_db", -20.0, 0.0, -1.0, unit="dB", doc="output true-peak ceiling in dBTP"),
        Param("input_gain_db", -24.0, 24.0, 0.0, unit="dB", doc="drive into the limiter in dB"),
        Param("release_ms", 1.0, 1000.0, 100.0, unit="ms", scale="log",
              doc="release time constant of the gain reduction (dB domain)"),
        boolean("auto_release", False, doc="program-dependent release: fast for transients, slow when sustained"),
        Param("lookahead_ms", 1.0, 10.0, 2.0, unit="ms", automatable=False,
              doc="attack ramp before each peak (sets the latency)"),
        choice("attack_shape", lim.ATTACK_SHAPES[::-1], "s_curve",
               doc="gain ramp: s_curve (two moving averages) or linear (one)"),
        Param("stereo_link", 0.0, 1.0, 1.0, doc="0 = channels independent, 1 = all take the deepest reduction"),
        Param("oversampling", 4, 16, 8, kind="int", values=lim.OVERSAMPLING_FACTORS,
              doc="true-peak detection resolution: 4, 8 or 16 times the rate"),
    )
    STRUCTURAL = frozenset({"lookahead_ms", "attack_shape", "oversampling"})
    SUPPORTED_CHANNELS = tuple(range(1, 9))

    def __init__(self, **parameters):
        self._design = None
        self._state = None
        super().__init__(**parameters)

    # ------------------------------------------------------------- lifecycle
    def _design_for(self, sample_rate: float) -> lim.LimiterDesign:
        return lim.limiter_design(sample_rate, self.lookahead_ms, self.oversampling, self.attack_shape)

    def latency_for(self, sample_rate: float) -> int:
        """``W - 1 + HOLD_SAMPLES + detector delay`` samples (see the class docstring)."""
        return self._design_for(sample_rate).latency_samples

    def _prepare(self) -> None:
        self._design = self._design_for(self.sample_rate)
        self._state = lim.limiter_state(self._design, self.num_channels)

    def _reset_state(self) -> None:
        self._state = lim.limiter_state(self._design, self.num_channels)

    # ------------------------------------------------------------ processing
    def _process_block(self, x, sidechain):
        n = x.shape[1]
        sr = self.sample_rate
        drive = self._control("input_gain_db", n)
        u = x * (10.0 ** (np.asarray(drive) / 20.0))
        release = np.asarray(self._control("release_ms", n), dtype=np.float64)
        fast = release * lim.AUTO_RELEASE_FAST if self.auto_release else release
        tau_fast = fast * 1e-3 * sr
        margin = lim.true_peak_margin_db(self._design.box1 + self._design.box2 - 1, self.oversampling)
        ceiling = np.asarray(self._control("ceiling_db", n), dtype=np.float64)
        slow = np.exp(-1.0 / (release * lim.AUTO_RELEASE_SLOW * 1e-3 * sr)) if self.auto_release else None
        y, gr, self._state = lim.limiter_process(
            u, self._design, self._state,
            log_ceiling=(ceiling - margin) * _LN10_20,
            stereo_link=self._control("stereo_link", n),
            release_coef=np.exp(-1.0 / tau_fast),
            slow_coef=slow)
        self._trace("gain_reduction_db", gr)
        return y

    @property
    def gain_reduction_db(self) -> np.ndarray | None:
        """Gain reduction (dB, >= 0) applied to each sample returned by the last call.

        ``traces["gain_reduction_db"]``: shape ``(channels, samples)``,
        float32, aligned with the returned audio (one-shot: with the input;
        streaming: with the delayed output); the same under any
        ``buffer_size`` or chunking. None before the first call.
        """
        return self.traces.get("gain_reduction_db")

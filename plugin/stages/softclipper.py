"""``SoftClipper`` and the base of every oversampled nonlinear stage.

:class:`OversampledProcessor` runs a memoryless curve at ``oversampling``
times the sample rate (:mod:`neuromaster.dsp.oversampling`) in the residual
form of :mod:`neuromaster.dsp.saturation`::

    v   = upsample(drive_input(x))            # oversampled, delayed by design.upsample_delay
    r   = f(v) - v                            # the curve's residual (exactly 0 where f is linear)
    d   = post(downsample(r))                 # base rate, delayed by design.latency_samples
    y   = combine(delay(x), d)                # default: delay(x) + mix * d

so the linear part of the signal is the exact, latency-aligned input and
only what the curve adds passes through the oversampling filters. Control
values are aligned with the audio they act on: a parameter read at the
oversampled rate is held over ``factor`` samples and delayed by
``design.upsample_delay``; one read at the output is delayed by the
latency. Automating ``drive_db`` at sample n therefore changes the
processing of input sample n, in one-shot and in streaming calls alike.
"""
from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from neuromaster.dsp.delay import delay, delay_state
from neuromaster.dsp.oversampling import FACTORS, downsample, oversampler_design, oversampler_state, upsample
from neuromaster.dsp.saturation import _softclip_residual_kernel, knee_threshold, peak_guard, peak_guard_state

from ..automation import is_curve_value
from ..errors import ParameterError
from ..params import Param
from ..processor import Processor


def oversampling_param(default: int = 8) -> Param:
    """The ``oversampling`` parameter: 1, 2, 4, 8 or 16 (structural, not automatable)."""
    return Param("oversampling", 1, 16, int(default), kind="int",
                 doc="oversampling factor for the nonlinearity: 1, 2, 4, 8 or 16 (changes the latency)")


class _ControlLine:
    """Delay line for a control signal, cheap while the control is constant.

    ``push(v, n)`` takes a float (constant over the next ``n`` samples) or a
    per-sample array and returns the value ``delay`` samples earlier (a float
    while the whole line holds one value). Before the first push the line is
    taken to hold the first value pushed (a curve is held before its start).
    """

    def __init__(self, delay_samples: int):
        self.delay = int(delay_samples)
        self.reset()

    def reset(self) -> None:
        self._const = None
        self._buf = None

    def push(self, v, n: int):
        D = self.delay
        if D == 0:
            return v
        is_arr = isinstance(v, np.ndarray)
        if self._buf is None:
            if not is_arr and (self._const is None or self._const == v):
                self._const = v
                return v
            fill = self._const if self._const is not None else (v[0] if is_arr else v)
            self._buf = np.full(D, float(fill))
        arr = v if is_arr else np.full(n, float(v))
        full = np.concatenate([self._buf, arr])
        out = full[:n]
        self._buf = full[n:]
        if not is_arr and np.all(self._buf == v):
            self._const = v
            self._buf = None
        return out


class OversampledProcessor(Processor):
    """Base of the oversampled nonlinear stages (see the module docstring).

    Subclasses list the parameters their curve reads in ``OS_CONTROLS`` and
    those read at the output in ``OUT_CONTROLS``, include
    :func:`oversampling_param` in ``PARAMETERS``, and implement
    :meth:`_residual`; :meth:`_drive_input`, :meth:`_post`, :meth:`_combine`,
    :meth:`_extra_latency` and :meth:`_out_delay` are optional hooks. A
    nonlinearity with memory (hysteresis) keeps its state in attributes
    allocated in :meth:`_prepare_stage` (``self._design.factor`` and
    ``self.sample_rate`` give the oversampled rate) and cleared in
    :meth:`_reset_stage`; :meth:`_residual` then advances it block by block.
    """

    OS_CONTROLS: ClassVar[tuple[str, ...]] = ()
    OUT_CONTROLS: ClassVar[tuple[str, ...]] = ("mix",)
    STRUCTURAL = frozenset({"oversampling"})
    SUPPORTED_CHANNELS = tuple(range(1, 9))

    # ------------------------------------------------------------ parameters
    def set_parameter(self, name: str, value) -> None:
        if name == "oversampling" and not is_curve_value(value):
            v = self._param(name).validate(value, type(self).__name__)
            if v not in FACTORS:
                raise ParameterError(
                    f"{type(self).__name__}.oversampling must be one of {', '.join(map(str, FACTORS))}; got {value!r}")
        super().set_parameter(name, value)

    def get_normalized(self, name: str) -> float:
        """As :meth:`Processor.get_normalized`; ``oversampling`` maps log2(factor)/4 onto 0-1."""
        if name == "oversampling":
            return math.log2(self.oversampling) / 4.0
        return super().get_normalized(name)

    def set_normalized(self, name: str, x: float) -> None:
        """As :meth:`Processor.set_normalized`; ``oversampling`` takes 2**round(4x)."""
        if name == "oversampling":
            x = float(x)
            if not math.isfinite(x) or not 0.0 <= x <= 1.0:
                raise ParameterError(f"normalised value for oversampling must be in [0, 1]; got {x!r}")
            self.set_parameter(name, 2 ** int(round(4 * x)))
            return
        super().set_normalized(name, x)

    def latency_for(self, sample_rate: float) -> int:
        """Oversampler round trip (0 at 1x; 73-81 samples otherwise, at any rate)
        plus :meth:`_extra_latency`."""
        return oversampler_design(self.oversampling).latency_samples + self._extra_latency(sample_rate)

    def _extra_latency(self, sample_rate: float) -> int:
        """Delay a stage adds after the oversampler, in samples (override)."""
        return 0

    def _out_delay(self, name: str) -> int:
        """Alignment delay of an ``OUT_CONTROLS`` parameter: the total latency
        by default (override for values used before the extra stage)."""
        return self.latency_for(self.sample_rate)

    # ------------------------------------------------------------- lifecycle
    def _prepare(self) -> None:
        d = oversampler_design(self.oversampling)
        self._design = d
        self._os_lines = {n: _ControlLine(d.upsample_delay) for n in self.OS_CONTROLS}
        self._out_lines = {n: _ControlLine(self._out_delay(n)) for n in self.OUT_CONTROLS}
        self._prepare_stage()

    def _prepare_stage(self) -> None:
        """Allocate stage-specific state (override)."""

    def _reset_state(self) -> None:
        C = self.num_channels
        self._os_state = oversampler_state(self._design, C)
        self._dry_state = delay_state(C, self._design.latency_samples)
        for line in (*self._os_lines.values(), *self._out_lines.values()):
            line.reset()
        self._reset_stage()

    def _reset_stage(self) -> None:
        """Clear stage-specific state (override)."""

    # -------------------------------------------------------------- controls
    def _os_control(self, name: str, n: int):
        """Parameter over the oversampled block of ``n`` base samples: a float,
        or an array of ``n * factor`` values aligned with the upsampled audio."""
        v = self._control(name, n)
        F = self._design.factor
        if isinstance(v, np.ndarray) and F > 1:
            v = np.repeat(v, F)
        return self._os_lines[name].push(v, n * F)

    def _out_control(self, name: str, n: int):
        """Parameter over the next ``n`` output samples, aligned with the output."""
        return self._out_lines[name].push(self._control(name, n), n)

    # ------------------------------------------------------------ processing
    def _process_block(self, x, sidechain):
        n = x.shape[1]
        v, self._os_state = upsample(self._drive_input(x), self._design, self._os_state)
        r = self._residual(v, n)
        d, self._os_state = downsample(r, self._design, self._os_state)
        d = self._post(d, n)
        dry, self._dry_state = delay(x, self._dry_state)
        return self._combine(dry, d, n)

    def _drive_input(self, x: np.ndarray) -> np.ndarray:
        """Signal fed to the curve, at the base rate (override; default ``x``)."""
        return x

    def _residual(self, v: np.ndarray, n: int) -> np.ndarray:
        """``f(v) - v`` on the oversampled block ``v`` (C, n * factor) (override)."""
        raise NotImplementedError

    def _post(self, d: np.ndarray, n: int) -> np.ndarray:
        """Filter the downsampled residual (override; default: none)."""
        return d

    def _combine(self, dry: np.ndarray, d: np.ndarray, n: int) -> np.ndarray:
        """Output from the delayed input and the residual (default ``dry + mix d``)."""
        mix = self._out_control("mix", n)
        return dry + np.asarray(mix) * d


def _as_ctrl(v) -> np.ndarray:
    return np.ascontiguousarray(np.atleast_1d(np.asarray(v, dtype=np.float64)))


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
        ceiling = _as_ctrl(10.0 ** (np.asarray(self._os_control("ceiling_db", n)) / 20.0))
        gain = _as_ctrl(10.0 ** (np.asarray(self._os_control("drive_db", n)) / 20.0))
        t = _as_ctrl(knee_threshold(self._os_control("knee_db", n)))
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

"""``MasteringChain``: the fourteen stages in the NEURO-MASTER order, as one processor.

Stages and their names (the prefix of every flat parameter name)::

    dc_blocker -> mid_side -> gain -> transformer -> tube -> tape -> dynamic_eq ->
    multiband -> eq -> width -> clipper -> limiter -> parallel_drive -> dither

The class-level parameter table is generated from the stage classes' own
tables when this module is imported: ``<stage>.<param>`` with the stage's
range, scale, unit and doc line (e.g. ``limiter.ceiling_db``), plus a
``<stage>.bypass`` bool per stage. Nothing is copied by hand, so a stage
that gains, renames or re-ranges a parameter changes the chain's table with
it.

Ceiling after the limiter
-------------------------
Two stages run after the limiter and can move the true peak: ``parallel_drive``
(its band-passed, saturated wet path adds to the dry signal with another phase)
and ``dither`` (requantisation noise). The chain keeps the delivered ceiling
``limiter.ceiling_db`` as follows (see :class:`MasteringChain`):

1. *Dither headroom.* The dither changes every sample by at most
   ``1.5 (1 + sum |h_k|)`` LSB (TPDF +-1 LSB plus rounding, |e| < 1.5 LSB,
   fed back through the noise-shaping filter ``h``), and a true-peak
   reconstruction with interpolation filters whose phases have an L1 norm of
   at most :data:`INTERPOLATION_GAIN_BOUND` turns a per-sample change of
   ``e`` into at most ``INTERPOLATION_GAIN_BOUND * e`` between samples. The
   limiter therefore aims :attr:`MasteringChain.dither_headroom_db` below the
   ceiling (0.0016 dB for flat 16-bit TPDF at -1 dBTP, 0.035 dB with the
   9-tap psychoacoustic shaping; 24-bit: < 1e-5 dB).
2. *Guard limiter.* When ``parallel_drive`` is engaged, an internal
   :class:`~neuromaster.TruePeakLimiter` (not a user stage; shown under
   ``"derived"`` in :meth:`MasteringChain.to_dict`) runs right after it at the
   same aim, with the main limiter's release, lookahead, attack shape, link
   and oversampling. It is a pure delay wherever the drive did not push the
   peak over the aim; its latency is part of the chain's.
3. *Measured, not assumed.* The closed loop in
   :mod:`neuromaster.loudness_target` measures the final output's true peak
   with the 16x meter and tightens the aim if it ever finds an overshoot.
"""
from __future__ import annotations

import dataclasses
import math
import types
from typing import ClassVar

import numpy as np

from .automation import Curve, is_curve_value
from .dsp import dither as ditherdsp
from .errors import ParameterError
from .params import Param, boolean
from .processor import Processor
from .stages.dc_blocker import DCBlocker
from .stages.dither import Dither
from .stages.dynamic_eq import DynamicEQ
from .stages.eq import ParametricEQ
from .stages.gain import Gain
from .stages.limiter import TruePeakLimiter
from .stages.mid_side import MidSide
from .stages.multiband import MultibandCompressor
from .stages.parallel_drive import ParallelDrive
from .stages.softclipper import SoftClipper
from .stages.tape import TapeSaturator
from .stages.transformer import TransformerSaturator
from .stages.tube import TubeSaturator
from .stages.width import StereoWidth

#: The NEURO-MASTER order: (stage name, stage class).
STAGES: tuple[tuple[str, type], ...] = (
    ("dc_blocker", DCBlocker),
    ("mid_side", MidSide),
    ("gain", Gain),
    ("transformer", TransformerSaturator),
    ("tube", TubeSaturator),
    ("tape", TapeSaturator),
    ("dynamic_eq", DynamicEQ),
    ("multiband", MultibandCompressor),
    ("eq", ParametricEQ),
    ("width", StereoWidth),
    ("clipper", SoftClipper),
    ("limiter", TruePeakLimiter),
    ("parallel_drive", ParallelDrive),
    ("dither", Dither),
)
STAGE_NAMES = tuple(name for name, _ in STAGES)

#: Stages engaged in a new chain (the neutral default); the colour stages start bypassed.
DEFAULT_ENGAGED = frozenset({"dc_blocker", "gain", "limiter", "dither"})

#: Chain defaults that differ from the stage's own default (24-bit delivery).
CHAIN_DEFAULTS = {"dither.bit_depth": 24}

#: Upper bound of the L1 norm of any phase of the true-peak interpolators the
#: chain's ceiling is measured with: our 16x/32x meters (+-32 samples) 2.836,
#: the +-64-sample 16x Kaiser reference of ``host_tests/truepeak_reference.py``
#: 3.235 (``test_mastering.py`` checks both). The norm grows like
#: ``(2 / pi) ln(length)`` for a sinc, so 3.5 holds up to +-150 samples.
INTERPOLATION_GAIN_BOUND = 3.5

#: Largest requantisation error of TPDF dither before noise shaping, in LSB
#: (+-1 LSB triangular dither plus +-0.5 LSB rounding).
DITHER_ERROR_LSB = 1.5

#: Rounding allowance (dB) when comparing the limiter's aim with its minimum (a ceiling at exactly
#: :attr:`MasteringChain.lowest_ceiling_db` must not fail on the last bit).
AIM_SLACK_DB = 1e-9

#: Limiter parameters the guard limiter copies (static values).
GUARD_MIRRORS = ("release_ms", "auto_release", "lookahead_ms", "attack_shape", "stereo_link", "oversampling")


def _flat_parameters() -> tuple[tuple[Param, ...], frozenset]:
    params, structural = [], set()
    for stage, cls in STAGES:
        params.append(boolean(f"{stage}.bypass", stage not in DEFAULT_ENGAGED,
                              doc=f"bypass the {cls.__name__} stage (structural: changes the latency)"))
        structural.add(f"{stage}.bypass")
        for p in cls.PARAMETERS:
            flat = f"{stage}.{p.name}"
            params.append(dataclasses.replace(p, name=flat, default=CHAIN_DEFAULTS.get(flat, p.default)))
            if p.name in cls.STRUCTURAL:
                structural.add(flat)
    return tuple(params), frozenset(structural)


_PARAMETERS, _STRUCTURAL = _flat_parameters()


def split_name(name: str) -> tuple[str, str]:
    """``"limiter.ceiling_db"`` -> ``("limiter", "ceiling_db")`` (no validation)."""
    stage, _, param = name.partition(".")
    return stage, param


def dither_headroom_db(ceiling_db, bit_depth: int, noise_shaping: str):
    """How far below ``ceiling_db`` (dBTP, scalar or array) the limiter aims so that dither cannot cross it, in dB.

    The worst-case true-peak change the dither can make is
    ``INTERPOLATION_GAIN_BOUND * DITHER_ERROR_LSB * (1 + sum |h|) / 2**(bit_depth - 1)``
    (``h``: the noise-shaping feedback filter, the longer one of its rate
    variants); the headroom is ``20 log10(c / (c - that))`` with ``c`` the
    linear ceiling.
    """
    err = dither_true_peak_error(bit_depth, noise_shaping)
    c = 10.0 ** (np.asarray(ceiling_db, dtype=np.float64) / 20.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(err < 0.5 * c, 20.0 * np.log10(c / np.maximum(c - err, 1e-300)), np.inf)
    return float(h) if h.ndim == 0 else h


def dither_true_peak_error(bit_depth: int, noise_shaping: str) -> float:
    """Largest change (linear, full scale = 1) the dither can make to a true-peak reading."""
    taps = [ditherdsp.shaping_filter(noise_shaping, sr) for sr in (44100.0, 22050.0)]
    gain = 1.0 + max(float(np.sum(np.abs(h))) for h in taps)
    return INTERPOLATION_GAIN_BOUND * DITHER_ERROR_LSB * gain / 2.0 ** (int(bit_depth) - 1)


class MasteringChain(Processor):
    """The NEURO-MASTER chain: fourteen stages in one pedalboard-compatible processor.

    Parameters
    ----------
    parameters : mapping, optional
        Flat parameter values, e.g. ``{"limiter.ceiling_db": -2.0, "tube.bypass": False}``.
    **kwargs
        More flat values (``MasteringChain(**{"gain.gain_db": 3})``).

    Stages (flat-name prefix: class)
        ``dc_blocker``: DCBlocker, ``mid_side``: MidSide, ``gain``: Gain,
        ``transformer``: TransformerSaturator, ``tube``: TubeSaturator,
        ``tape``: TapeSaturator, ``dynamic_eq``: DynamicEQ, ``multiband``:
        MultibandCompressor, ``eq``: ParametricEQ, ``width``: StereoWidth,
        ``clipper``: SoftClipper, ``limiter``: TruePeakLimiter,
        ``parallel_drive``: ParallelDrive, ``dither``: Dither.

    Defaults (a neutral chain)
        DC blocker at 5 Hz, gain 0 dB, limiter at -1 dBTP (2 ms lookahead,
        100 ms release) and TPDF dither to 24 bits engaged; every colour and
        dynamics stage bypassed. With these settings a signal whose true peak
        stays below the ceiling comes out as itself high-passed at 5 Hz and
        dithered to 24 bits.

    Parameters of the stages are reached by flat name (``set_parameter``,
    automation, normalised 0-1 access, ``to_dict``): the chain forwards them
    to the stage, which validates, smooths (20 ms ramps between streaming
    calls) and automates them exactly as it does on its own. Set them through
    the chain (the stage objects in :attr:`stages` are there to read traces
    such as ``stages["limiter"].gain_reduction_db``). ``<stage>.bypass`` and
    the stages' structural parameters re-prepare the chain (state is
    cleared) because they change its latency.

    Mono input works too: the stereo-only stages (``mid_side``, ``width``)
    process it as a centred source (L = R) and return one channel.

    Ceiling
        ``limiter.ceiling_db`` is the delivered true-peak ceiling of the whole
        chain, including what runs after the limiter. The limiter (and the
        guard limiter behind ``parallel_drive`` when that is engaged) aims
        :attr:`dither_headroom_db` below it: the dither's worst-case
        true-peak contribution at its bit depth and noise shaping (see the
        module docstring for the bound). The aim cannot go below the
        limiter's -20 dBTP minimum: a ceiling so low that the headroom would
        push the aim under it (:attr:`lowest_ceiling_db`, e.g. -19.9999 dBTP
        with 24-bit dither, -19.984 dBTP with 16-bit TPDF) raises a
        ``ParameterError`` when audio is processed, never a silent clamp
        (parameters are set one at a time, so the combination is checked
        then). ``to_dict()["derived"]`` shows the aim, the headroom and the
        guard limiter.

    Latency
        The sum of the engaged stages' latencies (and the guard limiter's when
        engaged), in ``reported_latency_samples``; one-shot calls compensate
        it. A sidechain input is not accepted, so a DynamicEQ band cannot use
        the external detector: ``dynamic_eq.bandK_detector = "external"``
        raises a ``ParameterError`` when it is set (directly, from 0-1, in a
        preset or a ``from_dict``).
    """

    PARAMETERS: ClassVar[tuple[Param, ...]] = _PARAMETERS
    STRUCTURAL = _STRUCTURAL
    SUPPORTED_CHANNELS = (1, 2)
    STAGES = STAGES
    STAGE_NAMES = STAGE_NAMES

    def __init__(self, parameters=None, /, **kwargs):
        self._stages = {name: cls() for name, cls in STAGES}
        self._guard = TruePeakLimiter()
        self._run_list: list = []
        self._ceiling_problem: str | None = None
        super().__init__()
        for name, value in CHAIN_DEFAULTS.items():
            stage, pname = split_name(name)
            self._stages[stage].set_parameter(pname, value)
        self._sync_ceiling()
        self._sync_guard_static()
        merged = dict(parameters or {})
        merged.update(kwargs)
        for name, value in merged.items():
            self.set_parameter(name, value)

    # ------------------------------------------------------------- stages
    @property
    def stages(self) -> types.MappingProxyType:
        """Stage name -> stage object, in chain order (read traces here; set parameters on the chain)."""
        return types.MappingProxyType(self._stages)

    def stage(self, name: str) -> Processor:
        """The stage object called ``name`` (one of :data:`STAGE_NAMES`)."""
        if name not in self._stages:
            raise ParameterError(f"MasteringChain has no stage {name!r}; stages: {', '.join(STAGE_NAMES)}")
        return self._stages[name]

    @property
    def guard_limiter(self) -> TruePeakLimiter:
        """The internal limiter after ``parallel_drive`` (runs only when that stage is engaged)."""
        return self._guard

    def is_engaged(self, stage: str) -> bool:
        """Whether ``stage`` is processed (not bypassed)."""
        self.stage(stage)
        return not self._values[f"{stage}.bypass"]

    @property
    def engaged_stages(self) -> list[str]:
        """Names of the engaged stages, in processing order."""
        return [s for s in STAGE_NAMES if not self._values[f"{s}.bypass"]]

    @property
    def guard_engaged(self) -> bool:
        """Whether the guard limiter runs (``parallel_drive`` engaged)."""
        return not self._values["parallel_drive.bypass"]

    # ------------------------------------------------------------ ceiling
    @property
    def dither_headroom_db(self) -> float:
        """dB the limiter(s) aim below ``limiter.ceiling_db`` for the dither (0 when it is bypassed)."""
        if self._values["dither.bypass"]:
            return 0.0
        return dither_headroom_db(self._values["limiter.ceiling_db"], self._values["dither.bit_depth"],
                                  self._values["dither.noise_shaping"])

    @property
    def limiter_aim_db(self) -> float:
        """The ceiling the limiter stage aims at, dBTP (static value): ``limiter.ceiling_db`` minus
        :attr:`dither_headroom_db`. Below the limiter's -20 dBTP minimum the chain cannot process
        (see :attr:`lowest_ceiling_db`)."""
        return self._aim(self._values["limiter.ceiling_db"])

    @property
    def lowest_ceiling_db(self) -> float:
        """The lowest ``limiter.ceiling_db`` (dBTP) whose aim stays at or above the limiter's minimum
        with the current dither settings (the minimum itself when the dither is bypassed)."""
        lo = TruePeakLimiter._param_map["ceiling_db"].minimum
        v = self._values
        if v["dither.bypass"]:
            return float(lo)
        err = dither_true_peak_error(v["dither.bit_depth"], v["dither.noise_shaping"])
        return float(20.0 * np.log10(10.0 ** (lo / 20.0) + err))

    def _aim(self, ceiling_db):
        """Ceiling(s) minus the dither headroom at each value (not clamped: see :meth:`_sync_ceiling`)."""
        v = self._values
        if isinstance(ceiling_db, np.ndarray):
            if v["dither.bypass"]:
                return np.array(ceiling_db, dtype=np.float64)
            head = dither_headroom_db(ceiling_db, v["dither.bit_depth"], v["dither.noise_shaping"])
            return ceiling_db - head
        head = 0.0 if v["dither.bypass"] else dither_headroom_db(ceiling_db, v["dither.bit_depth"],
                                                                 v["dither.noise_shaping"])
        return float(ceiling_db) - head

    def _aim_problem(self, ceiling_db, aim) -> str | None:
        """Why ``aim`` (for ``ceiling_db``; scalars or arrays) cannot be given to the limiter, or None."""
        lo = TruePeakLimiter._param_map["ceiling_db"].minimum
        c, a = np.atleast_1d(np.asarray(ceiling_db, dtype=np.float64)), np.atleast_1d(np.asarray(aim))
        bad = np.flatnonzero(~(a >= lo - AIM_SLACK_DB))
        if bad.size == 0:
            return None
        i = int(bad[0])
        v = self._values
        where = "" if c.size == 1 else f" (automation, value {i} of the curve)"
        shaping = v["dither.noise_shaping"]
        shaping = "no noise shaping" if shaping == "none" else f"{shaping} noise shaping"
        lowest = math.ceil(self.lowest_ceiling_db * 1e4) / 1e4      # rounded up: the value shown works
        return (f"MasteringChain: limiter.ceiling_db {c[i]:.6g} dBTP{where} leaves no room for the dither: with "
                f"{v['dither.bit_depth']}-bit TPDF dither ({shaping}) the limiter must aim {c[i] - a[i]:.4g} dB "
                f"lower, at {a[i]:.6g} dBTP, below its {lo:g} dBTP minimum. Use a ceiling of at least "
                f"{lowest:.4f} dBTP, or bypass the dither (dither.bypass=True)")

    def _sync_ceiling(self) -> None:
        """Give the limiter (and guard) the aim for the current ceiling, dither and automation.

        An aim below the limiter's minimum is recorded (the stages keep the
        minimum meanwhile) and raised by :meth:`stream_section`: parameters
        are set one at a time, so only processing can judge the combination.
        """
        lo = TruePeakLimiter._param_map["ceiling_db"].minimum
        ceiling = self._values["limiter.ceiling_db"]
        aim = self.limiter_aim_db
        problem = self._aim_problem(ceiling, aim)
        self._stages["limiter"].set_parameter("ceiling_db", max(aim, lo))
        self._guard.set_parameter("ceiling_db", max(aim, lo))
        curve = self._automation.get("limiter.ceiling_db")
        if curve is not None:
            problem = self._aim_problem(curve.values, self._aim(curve.values)) or problem
            self._stages["limiter"].set_automation("ceiling_db", self._aim_curve(curve))
            self._forward_guard_curve()
        else:
            self._stages["limiter"].clear_automation("ceiling_db")
            self._guard.clear_automation("ceiling_db")
        self._ceiling_problem = problem

    def _aim_curve(self, curve: Curve):
        """Curve data for the limiter and guard: the ceiling curve mapped to the aim (held at the
        limiter's minimum where it would go below; :meth:`stream_section` then raises)."""
        values = np.maximum(self._aim(curve.values), TruePeakLimiter._param_map["ceiling_db"].minimum)
        if curve.kind == "samples":
            return values
        return np.column_stack([curve.times_s, values])

    def _forward_guard_curve(self) -> None:
        curve = self._automation.get("limiter.ceiling_db")
        if curve is None:
            return
        self._guard.set_automation("ceiling_db", self._aim_curve(curve))

    def _sync_guard_static(self) -> None:
        lim = self._stages["limiter"]
        for name in GUARD_MIRRORS:
            self._guard.set_parameter(name, lim.get_parameter(name))
        self._guard.set_parameter("input_gain_db", 0.0)

    # --------------------------------------------------------- parameters
    def _param(self, name: str) -> Param:
        try:
            return self._param_map[name]
        except (KeyError, TypeError):
            pass
        stage, pname = split_name(str(name))
        if stage in self._stages:
            known = ", ".join(["bypass"] + [p.name for p in type(self._stages[stage]).PARAMETERS])
            raise ParameterError(f"MasteringChain has no parameter {name!r}; stage {stage!r} has: {known}") from None
        raise ParameterError(f"MasteringChain has no parameter {name!r}: names are '<stage>.<parameter>' with "
                             f"stage one of {', '.join(STAGE_NAMES)}") from None

    def _check_chain_value(self, name: str, value) -> None:
        """Values a stage accepts on its own but the chain cannot honour."""
        stage, pname = split_name(name)
        if stage == "dynamic_eq" and pname.endswith("_detector") and value == "external":
            raise ParameterError(
                f"{type(self).__name__}.{name}: 'external' needs a sidechain signal, and a MasteringChain takes "
                f"no sidechain input (its dynamic EQ can only detect from its own input); use 'internal', or "
                f"run a DynamicEQ of its own with process(..., sidechain=...)")

    def set_parameter(self, name: str, value) -> None:
        """Set a flat parameter (``"limiter.ceiling_db"``) to a value or a curve."""
        p = self._param(name)
        if is_curve_value(value):
            self.set_automation(name, value)
            return
        v = p.validate(value, type(self).__name__)
        self._check_chain_value(p.name, v)
        stage, pname = split_name(name)
        if pname == "bypass":
            if v != self._values[name]:
                self._values[name] = v
                if self._prepared:
                    self._needs_prepare = True
                if stage == "dither":
                    self._sync_ceiling()
            return
        if name == "limiter.ceiling_db":
            self._values[name] = v
            self._automation.pop(name, None)   # a value replaces a curve
            self._sync_ceiling()
            return
        try:
            self._stages[stage].set_parameter(pname, v)
        except ParameterError as e:
            raise ParameterError(f"{type(self).__name__}.{name}: {e}") from None
        self._automation.pop(name, None)       # the stage dropped its curve too
        self._after_child_change(name)

    def _after_child_change(self, name: str) -> None:
        """Mirror a stage's new value and keep the derived state (aim, guard) in step."""
        stage, pname = split_name(name)
        self._values[name] = self._stages[stage].get_parameter(pname)
        if stage == "dither":
            self._sync_ceiling()
        if stage == "limiter" and pname in GUARD_MIRRORS:
            self._sync_guard_static()
        if name in self.STRUCTURAL and self._prepared:
            self._needs_prepare = True

    def get_parameter(self, name: str):
        """Static value of a flat parameter."""
        return self._values[self._param(name).name]

    def set_automation(self, name: str, data, normalized: bool = False) -> None:
        """Drive a flat parameter with a curve (forwarded to its stage; see :meth:`Processor.set_automation`)."""
        p = self._param(name)
        stage, pname = split_name(name)
        curve = Curve(p, data, normalized=normalized)   # validates against the flat parameter
        if name == "limiter.ceiling_db":
            self._automation[name] = curve
            self._sync_ceiling()
            return
        child = self._stages[stage]
        payload = curve.values if curve.kind == "samples" else np.column_stack([curve.times_s, curve.values])
        try:
            child.set_automation(pname, payload)
        except ParameterError as e:
            raise ParameterError(f"{type(self).__name__}.{name}: {e}") from None
        self._automation[name] = curve

    def get_automation(self, name: str) -> Curve | None:
        """The curve driving a flat parameter, or None."""
        return self._automation.get(self._param(name).name)

    def clear_automation(self, name: str | None = None) -> None:
        """Remove one curve (or all); the stage ramps to the static value."""
        names = list(self._automation) if name is None else [self._param(name).name]
        for n in names:
            if n not in self._automation:
                continue
            del self._automation[n]
            stage, pname = split_name(n)
            if n == "limiter.ceiling_db":
                self._sync_ceiling()
            else:
                self._stages[stage].clear_automation(pname)

    def get_normalized(self, name: str) -> float:
        """Static value on 0-1 by the parameter's scale (the stage's mapping, e.g. oversampling factors)."""
        self._param(name)
        stage, pname = split_name(name)
        if pname == "bypass":
            return 1.0 if self._values[name] else 0.0
        if name == "limiter.ceiling_db":
            return self._param_map[name].to_normalized(self._values[name])
        return self._stages[stage].get_normalized(pname)

    def set_normalized(self, name: str, x: float) -> None:
        """Set a flat parameter from 0-1 (the stage's own mapping, e.g. oversampling factors)."""
        p = self._param(name)
        stage, pname = split_name(name)
        if pname == "bypass" or name == "limiter.ceiling_db":
            self.set_parameter(name, p.from_normalized(x))
            return
        if p.kind == "choice":
            try:
                v = p.from_normalized(x)
            except (TypeError, ValueError):
                v = None          # an invalid x: the stage's own check below names it
            if v is not None:
                self._check_chain_value(p.name, v)
        try:
            self._stages[stage].set_normalized(pname, x)
        except ParameterError as e:
            raise ParameterError(f"{type(self).__name__}.{name}: {e}") from None
        self._after_child_change(name)

    # ------------------------------------------------------------ lifecycle
    def latency_for(self, sample_rate: float) -> int:
        """Sum of the engaged stages' latencies (plus the guard limiter's), in samples."""
        return self.section_latency(sample_rate)

    def section_latency(self, sample_rate: float, start: str | None = None, stop: str | None = None) -> int:
        """Latency of the engaged stages from ``start`` up to (not including) ``stop``."""
        total = 0
        for name in self._section(start, stop):
            total += int(self._stages[name].latency_for(sample_rate))
            if name == "parallel_drive":
                total += int(self._guard.latency_for(sample_rate))
        return total

    def _section(self, start: str | None, stop: str | None) -> list[str]:
        for s in (start, stop):
            if s is not None:
                self.stage(s)   # raises for an unknown name
        a = 0 if start is None else STAGE_NAMES.index(start)
        b = len(STAGE_NAMES) if stop is None else STAGE_NAMES.index(stop)
        return [s for s in STAGE_NAMES[a:b] if not self._values[f"{s}.bypass"]]

    def _stage_channels(self, name: str) -> int:
        st = self._stages[name]
        if self._channels == 1 and 1 not in st.SUPPORTED_CHANNELS:
            return 2
        return self._channels

    def _prepare(self) -> None:
        sr, block = self._sample_rate, self._max_block
        self._run_list = []
        for name in self._section(None, None):
            ch = self._stage_channels(name)
            self._stages[name].prepare(sr, ch, block)
            self._run_list.append((name, self._stages[name], ch != self._channels))
        if self.guard_engaged:
            self._guard.prepare(sr, self._channels, block)
            self._forward_guard_curve()

    def _reset_state(self) -> None:
        for _, st, _ in self._run_list:
            st.reset()
        if self.guard_engaged:
            self._guard.reset()

    def reset_section(self, start: str | None = None, stop: str | None = None) -> None:
        """Reset the engaged stages from ``start`` up to ``stop`` (the chain must be prepared)."""
        for name in self._section(start, stop):
            self._stages[name].reset()
            if name == "parallel_drive":
                self._guard.reset()

    def _process_block(self, x, sidechain):
        return self.stream_section(x)

    def stream_section(self, x: np.ndarray, start: str | None = None, stop: str | None = None,
                       monitor=None) -> np.ndarray:
        """Stream a ``(channels, n)`` float64 block through the engaged stages in ``[start, stop)``.

        State carries over between calls (the stages' ``_stream_block``); the
        output is delayed by :meth:`section_latency`. The chain must be
        prepared (``prepare(sample_rate, channels)``) for the block's rate and
        channel count. ``monitor(name, stage, x_in, y_out)`` is called after
        every stage (the guard limiter is reported as ``"guard_limiter"``).
        Used by the closed loop to render the stages before the limiter once.
        """
        sr = self._sample_rate
        if not self._prepared or self._needs_prepare:
            raise ParameterError("MasteringChain.stream_section needs a prepared chain: call prepare() first")
        if self._ceiling_problem is not None:
            raise ParameterError(self._ceiling_problem)
        names = self._section(start, stop)
        y = x
        # curves act on the song's timeline: each stage's input is late by the
        # latency of the section before it (x is aligned with the chain's input)
        offset = self._automation_offset
        for name, st, mono_as_stereo in self._run_list:
            if name not in names:
                continue
            st._automation_offset = offset
            offset += int(st.latency_for(sr))
            if mono_as_stereo:
                out = st._stream_block(np.concatenate([y, y], axis=0), sr)[:1]
            else:
                out = st._stream_block(y, sr)
            if monitor is not None:
                monitor(name, st, y, out)
            y = out
            if name == "parallel_drive":
                self._guard._automation_offset = offset
                offset += int(self._guard.latency_for(sr))
                out = self._guard._stream_block(y, sr)
                if monitor is not None:
                    monitor("guard_limiter", self._guard, y, out)
                y = out
        return y

    # -------------------------------------------------------------- presets
    def to_dict(self) -> dict:
        """Every flat parameter, any automation, and the derived ceiling state (informational)."""
        d = {"type": type(self).__name__, "parameters": dict(self._values)}
        if self._automation:
            d["automation"] = {k: c.to_dict() for k, c in self._automation.items()}
        d["derived"] = self.derived_state()
        return d

    def derived_state(self) -> dict:
        """What the chain computes from its parameters: the limiter aim and the guard limiter."""
        return {
            "dither_headroom_db": self.dither_headroom_db,
            "limiter_aim_db": self.limiter_aim_db,
            "guard_limiter": {"engaged": self.guard_engaged, "ceiling_db": self.limiter_aim_db,
                              **{k: self._guard.get_parameter(k) for k in GUARD_MIRRORS}},
        }

    @classmethod
    def _from_dict(cls, d: dict) -> "MasteringChain":
        unknown = set(d) - {"type", "parameters", "automation", "derived"}
        if unknown:
            raise ParameterError(f"unknown keys in MasteringChain description: {sorted(unknown)}")
        params = d.get("parameters", {})
        if not isinstance(params, dict):
            raise ParameterError("MasteringChain: 'parameters' must be an object")
        chain = cls()
        for k, v in params.items():
            chain.set_parameter(k, v)
        for k, c in (d.get("automation") or {}).items():
            curve = Curve.from_dict(chain._param(k), c)
            data = curve.values if curve.kind == "samples" else np.column_stack([curve.times_s, curve.values])
            chain.set_automation(k, data)
        return chain

    def to_preset(self, name: str | None = None, description: str | None = None) -> dict:
        """A JSON-safe chain preset: every stage's bypass and parameters (and automation).

        ``MasteringChain.from_preset(chain.to_preset())`` rebuilds the chain
        exactly (``to_preset()`` of the copy is equal).
        """
        stages = {}
        for stage, cls in STAGES:
            entry = {"bypass": self._values[f"{stage}.bypass"]}
            for p in cls.PARAMETERS:
                entry[p.name] = self._values[f"{stage}.{p.name}"]
            stages[stage] = entry
        preset = {"kind": "chain", "name": name or "custom"}
        if description:
            preset["description"] = description
        preset["stages"] = stages
        if self._automation:
            preset["automation"] = {k: c.to_dict() for k, c in self._automation.items()}
        return preset

    @classmethod
    def from_preset(cls, preset) -> "MasteringChain":
        """Build a chain from a preset: a name (``"default"``, ``"jazz"``), a JSON path, a dict or a
        :class:`neuromaster.presets.Preset`. Stage settings are applied; a genre preset's damage
        limits and target stay on the :class:`~neuromaster.presets.Preset` (``load_preset``)."""
        from .preset_store import Preset, load_preset, preset_from_dict
        if isinstance(preset, Preset):
            p = preset
        elif isinstance(preset, dict):
            p = preset_from_dict(preset, "<dict>")
        else:
            p = load_preset(preset)
        return p.build_chain(cls)

    def __repr__(self) -> str:
        engaged = ", ".join(self.engaged_stages) or "nothing engaged"
        return f"<neuromaster.MasteringChain [{engaged}] at {hex(id(self))}>"


__all__ = ["MasteringChain", "STAGES", "STAGE_NAMES", "DEFAULT_ENGAGED", "dither_headroom_db", "dither_true_peak_error",
           "INTERPOLATION_GAIN_BOUND", "split_name"]

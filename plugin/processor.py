"""The ``Processor`` base: pedalboard's ``Plugin`` contract for Python stages.

A stage subclasses :class:`Processor`, declares its parameter table
``PARAMETERS`` and implements four hooks:

``_prepare()``
    allocate state for ``self.sample_rate`` and ``self.num_channels``
    (the only place that allocates; the base then calls ``_update()`` and
    ``reset()``, JUCE's order).
``_update()``
    derive coefficients from the static parameter values (called after
    ``_prepare`` and after every parameter change, never per sample).
``_reset_state()``
    clear delay lines and envelopes; parameters stay.
``_process_block(x, sidechain) -> y``
    process one ``(channels, n)`` float64 block, advancing the state. Time-
    varying parameter values for the block come from ``self._control(name, n)``
    (a float when constant over the block, else a per-sample float64 array).

and, when the stage delays its output, ``latency_for(sample_rate) -> int``.

Everything else (layouts, dtypes, validation, chunking, latency compensation,
smoothing, automation, presets, normalised 0-1 access) lives here, once.

Calling convention (pedalboard's)::

    y = proc(x, sample_rate, buffer_size=8192, reset=True)

* ``reset=True``: state is cleared first, the stage's latency is compensated
  (the output is time-aligned with the input and has its length).
* ``reset=False``: state carries over from the previous call; the output is
  delayed by ``reported_latency_samples``. Concatenating the outputs of any
  chunking equals the one-shot output delayed by the latency.

Parameter changes between streaming calls ramp over ``SMOOTHING_MS`` in the
parameter's normalised domain (so a log-scaled frequency glides
geometrically). Automation curves (see :mod:`neuromaster.automation`) are
rendered per sample from the position since the last reset; stages that
design coefficients from them refresh those at least every
:data:`CONTROL_INTERVAL` samples.
"""
from __future__ import annotations

import json
from typing import ClassVar

import numpy as np

from .audio import canonical, canonical_view, check_buffer_size, check_sample_rate
from .automation import Curve, is_curve_value
from .errors import ParameterError
from .params import Param

#: Coefficient refresh interval for automated parameters, in samples (<= 32).
CONTROL_INTERVAL = 16

#: Sample rate used for ``reported_latency_samples`` before the first call.
DEFAULT_SAMPLE_RATE = 44100.0


class _ParamProperty:
    """Attribute access for one parameter: ``proc.gain_db`` / ``proc.gain_db = -6``."""

    def __init__(self, param: Param):
        self.param = param
        self.__doc__ = f"{param.doc} ({param.range_text}; default {param.default!r})"

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return obj._values[self.param.name]

    def __set__(self, obj, value):
        obj.set_parameter(self.param.name, value)


class _Traces(dict):
    """Traces of one call, joined from their blocks on first access."""

    def __init__(self, acc: dict, latency: int, n_samples: int):
        super().__init__()
        self._parts = {name: (blocks, hop) for name, (blocks, hop) in acc.items()}
        self._latency, self._n = latency, n_samples

    def _assemble(self, name):
        blocks, hop = self._parts.pop(name)
        t = np.concatenate(blocks, axis=1) if blocks else np.zeros((1, 0), np.float32)
        start = self._latency // hop  # one-shot: drop the latency, like the audio
        dict.__setitem__(self, name, np.ascontiguousarray(t[:, start:start + -(-self._n // hop)], dtype=np.float32))

    def __getitem__(self, name):
        if name in self._parts:
            self._assemble(name)
        return dict.__getitem__(self, name)

    def get(self, name, default=None):
        return self[name] if name in self else default

    def __contains__(self, name):
        return name in self._parts or dict.__contains__(self, name)

    def keys(self):
        return list(self._parts) + list(dict.keys(self))

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._parts) + dict.__len__(self)

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        return [self[k] for k in self.keys()]


class Processor:
    """Base class of every neuromaster stage (see the module docstring)."""

    #: The parameter table (one per processor class).
    PARAMETERS: ClassVar[tuple[Param, ...]] = ()
    #: Channel counts the stage accepts.
    SUPPORTED_CHANNELS: ClassVar[tuple[int, ...]] = (1, 2)
    #: Whether ``process(..., sidechain=...)`` is accepted.
    ACCEPTS_SIDECHAIN: ClassVar[bool] = False
    #: Parameters whose change re-prepares the stage (reallocates state).
    STRUCTURAL: ClassVar[frozenset] = frozenset()
    #: Ramp time for parameter changes between streaming calls.
    SMOOTHING_MS: ClassVar[float] = 20.0

    is_effect = True
    is_instrument = False

    _registry: ClassVar[dict[str, type]] = {}
    _param_map: ClassVar[dict[str, Param]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        names = [p.name for p in cls.PARAMETERS]
        if len(set(names)) != len(names):
            raise TypeError(f"{cls.__name__}: duplicate parameter names in PARAMETERS")
        cls._param_map = {p.name: p for p in cls.PARAMETERS}
        for p in cls.PARAMETERS:
            if not isinstance(cls.__dict__.get(p.name), property):
                setattr(cls, p.name, _ParamProperty(p))
        Processor._registry[cls.__name__] = cls

    # ------------------------------------------------------------ lifecycle
    def __init__(self, **parameters):
        self._values = {p.name: p.default for p in self.PARAMETERS}
        self._automation: dict[str, Curve] = {}
        self._ramps: dict[str, list] = {}
        self._sample_rate: float | None = None
        self._channels: int | None = None
        self._max_block = 0
        self._position = 0
        self._prepared = False
        self._needs_prepare = False
        self._structural_change = None
        # Delay (samples) between the render's timeline and this stage's input
        # stream: containers set it so that a curve means the same instant of
        # the song wherever the stage sits (see _control).
        self._automation_offset = 0
        for name, value in parameters.items():
            self.set_parameter(name, value)

    @property
    def sample_rate(self) -> float | None:
        """Sample rate in Hz the stage is prepared for (None before the first call)."""
        return self._sample_rate

    @property
    def num_channels(self) -> int | None:
        """Channel count the stage is prepared for (None before the first call)."""
        return self._channels

    def prepare(self, sample_rate: float, num_channels: int, max_block: int = 8192) -> None:
        """Allocate state for a sample rate and channel count, then reset."""
        self._sample_rate = check_sample_rate(sample_rate)
        self._check_channels(int(num_channels))
        self._channels = int(num_channels)
        self._max_block = check_buffer_size(max_block)
        self._prepare()
        self._prepared = True
        self._needs_prepare = False
        self._structural_change = None
        self._update()
        self.reset()

    def reset(self) -> None:
        """Clear delay lines, envelopes and ramps; keep every parameter."""
        self._position = 0
        self._ramps.clear()
        if self._prepared:
            self._reset_state()

    # hooks -------------------------------------------------------------
    def _prepare(self) -> None:
        """Allocate state (override)."""

    def _update(self) -> None:
        """Derive coefficients from static parameter values (override)."""

    def _reset_state(self) -> None:
        """Clear state arrays (override)."""

    def _process_block(self, x: np.ndarray, sidechain: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def latency_for(self, sample_rate: float) -> int:
        """Latency in samples at ``sample_rate`` with the current settings (override)."""
        return 0

    @property
    def reported_latency_samples(self) -> int:
        """Output delay in samples in streaming mode (pedalboard's name)."""
        sr = self._sample_rate if self._sample_rate is not None else DEFAULT_SAMPLE_RATE
        return int(self.latency_for(sr))

    # ---------------------------------------------------------- processing
    def process(self, input_array, sample_rate, buffer_size: int = 8192, reset: bool = True, sidechain=None):
        """Process audio (pedalboard's signature).

        Parameters
        ----------
        input_array : ndarray, float32 or float64
            1-D mono, or 2-D ``(channels, samples)`` / ``(samples, channels)``.
        sample_rate : float
            In Hz, 22050-192000.
        buffer_size : int
            Internal block size; the output does not depend on it.
        reset : bool
            Clear state first and compensate latency (one-shot), or carry state
            over from the previous call (streaming; output delayed by
            ``reported_latency_samples``).
        sidechain : ndarray, optional
            Detector input for stages with ``ACCEPTS_SIDECHAIN``; same length as
            ``input_array``, mono or with the input's channel count.

        Returns
        -------
        ndarray, float32, in the layout of ``input_array``.
        """
        x, layout = canonical_view(input_array, channels_hint=self.SUPPORTED_CHANNELS)
        sr = check_sample_rate(sample_rate)
        bs = check_buffer_size(buffer_size)
        if not isinstance(reset, (bool, np.bool_)):
            raise ParameterError(f"reset must be True or False; got {reset!r}")
        channels, n_total = x.shape
        self._check_channels(channels)
        sc = self._check_sidechain(sidechain, x)
        self._ensure_prepared(sr, channels, bs, bool(reset))
        if reset:
            self.reset()
        # One-shot: output sample j is the processed sample j + latency, so
        # blocks are written shifted back by the latency and a flush of
        # `latency` zeros completes the tail (blocks of the flush follow the
        # same buffer_size, so the result does not depend on it).
        lat = self.reported_latency_samples if reset else 0
        out, view = layout.empty(channels, n_total)
        self._trace_acc = {}
        zeros = None
        for a in range(0, n_total + lat, bs):
            b = min(a + bs, n_total + lat)
            if a < n_total:
                e = min(b, n_total)
                xb = np.array(x[:, a:e], dtype=np.float64, order="C", copy=True)
                scb = None if sc is None else sc[:, a:e]
                if e < b:  # block straddles the end of the input: pad with the flush
                    xb = np.concatenate([xb, np.zeros((channels, b - e))], axis=1)
                    scb = None if sc is None else np.concatenate([scb, np.zeros((sc.shape[0], b - e))], axis=1)
            else:
                if zeros is None or zeros.shape[1] != b - a:
                    zeros = np.zeros((channels, b - a))
                xb = zeros
                scb = None if sc is None else np.zeros((sc.shape[0], b - a))
            yb = self._process_block(xb, scb)
            self._advance(b - a)
            lo = max(a - lat, 0)
            hi = min(b - lat, n_total)
            if hi > lo:
                view[:, lo:hi] = yb[:, lo - (a - lat):hi - (a - lat)]
        self._finish_traces(lat, n_total)
        return out

    # --------------------------------------------------------------- traces
    def _trace(self, name: str, values: np.ndarray, hop: int = 1, copy: bool = True) -> None:
        """Record one block of a diagnostic trace (e.g. gain reduction in dB).

        ``values`` has shape ``(rows, k)``: one column per sample of the block
        (``hop=1``) or one per completed hop of ``hop`` samples. The base
        joins the blocks of a call when :attr:`traces` is first read. Pass
        ``copy=False`` only for an array the stage will not reuse.
        """
        acc = self.__dict__.setdefault("_trace_acc", {})
        blocks, _ = acc.setdefault(name, ([], int(hop)))
        blocks.append(np.array(values, dtype=np.float32, ndmin=2, copy=True) if copy else values)

    def _finish_traces(self, latency: int, n_samples: int) -> None:
        self.traces = _Traces(self.__dict__.get("_trace_acc", {}), latency, n_samples)
        self._trace_acc = {}

    @property
    def traces(self) -> dict:
        """Diagnostic traces of the last call, name -> ``(rows, k)`` float32.

        Per-sample traces are aligned with that call's output (a one-shot
        call drops the latency from them as from the audio); hop traces hold
        one value per hop of samples from the start of the call. Which traces
        a stage records is in its docstring (e.g. ``gain_reduction_db``).
        """
        return self.__dict__.get("_traces", {})

    @traces.setter
    def traces(self, value: dict) -> None:
        self.__dict__["_traces"] = value

    __call__ = process

    def _run(self, x: np.ndarray, buffer_size: int, sc: np.ndarray | None) -> np.ndarray:
        n_total = x.shape[1]
        out = np.empty_like(x)
        for a in range(0, n_total, buffer_size):
            b = min(a + buffer_size, n_total)
            out[:, a:b] = self._process_block(x[:, a:b], None if sc is None else sc[:, a:b])
            self._advance(b - a)
        return out

    def _stream_block(self, x: np.ndarray, sample_rate: float) -> np.ndarray:
        """Process one validated canonical block with state carried over.

        For containers (``Chain``, ``Mix``): no re-validation, no latency
        compensation, no chunking beyond the block given.
        """
        self._ensure_prepared(sample_rate, x.shape[0], x.shape[1], False)
        self._trace_acc = {}
        y = self._run(x, max(1, x.shape[1]), None)
        self._finish_traces(0, x.shape[1])
        return y

    def _ensure_prepared(self, sr: float, channels: int, block: int, reset: bool) -> None:
        same = self._prepared and sr == self._sample_rate and channels == self._channels
        if same and not self._needs_prepare:
            if block > self._max_block:
                self._max_block = block
            return
        if self._prepared and not reset and self._needs_prepare and self._position > 0 and self._structural_change:
            name = self._structural_change
            raise ParameterError(
                f"{type(self).__name__}.{name} changed mid-stream: it reallocates the stage (and may change its "
                "latency), so the stream cannot continue exactly. Call with reset=True (or reset()) to start anew."
            )
        if self._prepared and not reset and not self._needs_prepare and self._position > 0:
            raise ParameterError(
                f"{type(self).__name__} is streaming at {self._sample_rate:g} Hz with {self._channels} channel(s); "
                f"got {sr:g} Hz with {channels} channel(s). Call with reset=True to start a new stream."
            )
        self.prepare(sr, channels, max(block, self._max_block))

    def _check_channels(self, channels: int) -> None:
        if channels not in self.SUPPORTED_CHANNELS:
            sc = sorted(self.SUPPORTED_CHANNELS)
            contiguous = len(sc) > 2 and sc == list(range(sc[0], sc[-1] + 1))
            allowed = f"{sc[0]} to {sc[-1]}" if contiguous else " or ".join(str(c) for c in sc)
            raise ParameterError(f"{type(self).__name__} needs {allowed} channel(s); got {channels}")

    def _check_sidechain(self, sidechain, x: np.ndarray):
        if sidechain is None:
            return None
        if not self.ACCEPTS_SIDECHAIN:
            raise ParameterError(f"{type(self).__name__} takes no sidechain input")
        sc, _ = canonical(sidechain, "sidechain")
        if sc.shape[1] != x.shape[1]:
            raise ParameterError(f"sidechain must have as many samples as input_array ({x.shape[1]}); got {sc.shape[1]}")
        if sc.shape[0] not in (1, x.shape[0]):
            raise ParameterError(f"sidechain must be mono or have {x.shape[0]} channels; got {sc.shape[0]}")
        return sc

    # ------------------------------------------------- control (smoothing)
    def _control(self, name: str, n: int):
        """Value of a parameter over the next ``n`` samples.

        Returns a float when the value is constant over the block, else a
        per-sample float64 array (automation curve or smoothing ramp).
        """
        curve = self._automation.get(name)
        if curve is not None:
            return curve.render(self._position - self._automation_offset, n, self._sample_rate)
        ramp = self._ramps.get(name)
        if ramp is None:
            return self._values[name]
        start, target, elapsed, total = ramp
        frac = np.minimum(np.arange(elapsed + 1, elapsed + n + 1, dtype=np.float64) / total, 1.0)
        return self._param_map[name].from_normalized_array(start + (target - start) * frac)

    def _control_blocks(self, name: str, n: int, interval: int = CONTROL_INTERVAL):
        """Values at the control-block starts covering the next ``n`` samples.

        Control blocks sit at absolute positions ``k * interval`` since the
        last reset, so coefficient refreshes do not depend on how the audio
        was chunked. Returns a float when the parameter is static, else an
        array of ``B = (pos + n - 1) // interval - pos // interval + 1`` values,
        value ``k`` taken at sample ``(pos // interval + k) * interval``.
        """
        curve = self._automation.get(name)
        ramp = self._ramps.get(name)
        if curve is None and ramp is None:
            return self._values[name]
        pos = self._position
        first = pos // interval
        idx = (first + np.arange((pos + n - 1) // interval - first + 1)) * interval
        if curve is not None:
            return curve.at(idx - self._automation_offset, self._sample_rate)
        start, target, elapsed, total = ramp
        j = idx - pos + elapsed  # samples since the ramp started (negative: before it)
        frac = np.clip((j + 1) / total, 0.0, 1.0)
        return self._param_map[name].from_normalized_array(start + (target - start) * frac)

    def _control_array(self, name: str, n: int) -> np.ndarray:
        """Like :meth:`_control`, always as a per-sample float64 array."""
        v = self._control(name, n)
        if isinstance(v, np.ndarray):
            return v
        return np.full(n, float(v))

    def _is_static(self, name: str) -> bool:
        """Whether the parameter is constant (no automation, no ramp running)."""
        return name not in self._automation and name not in self._ramps

    def _advance(self, n: int) -> None:
        self._position += n
        if self._ramps:
            for name in list(self._ramps):
                r = self._ramps[name]
                r[2] += n
                if r[2] >= r[3]:
                    del self._ramps[name]

    def _current_normalized(self, name: str) -> float:
        p = self._param_map[name]
        curve = self._automation.get(name)
        if curve is not None and self._sample_rate is not None:
            at = self._position - 1 - self._automation_offset
            return float(p.to_normalized_array(np.array([curve.value_at(at, self._sample_rate)]))[0])
        ramp = self._ramps.get(name)
        if ramp is not None:
            start, target, elapsed, total = ramp
            return start + (target - start) * min(elapsed / total, 1.0)
        return float(p.to_normalized_array(np.array([float(self._values[name])]))[0])

    def _start_ramp(self, name: str, from_norm: float) -> None:
        p = self._param_map[name]
        to_norm = float(p.to_normalized_array(np.array([float(self._values[name])]))[0])
        total = max(1, int(round(self.SMOOTHING_MS * 1e-3 * self._sample_rate)))
        if from_norm != to_norm:
            self._ramps[name] = [from_norm, to_norm, 0, total]
        else:
            self._ramps.pop(name, None)

    # ----------------------------------------------------------- parameters
    @property
    def parameters(self) -> dict[str, Param]:
        """The parameter table: name -> :class:`Param` (ordered)."""
        return dict(self._param_map)

    def _param(self, name: str) -> Param:
        try:
            return self._param_map[name]
        except KeyError:
            known = ", ".join(self._param_map) or "none"
            raise ParameterError(f"{type(self).__name__} has no parameter {name!r}; parameters: {known}") from None

    def get_parameter(self, name: str):
        """Static value of a parameter."""
        return self._values[self._param(name).name]

    def set_parameter(self, name: str, value) -> None:
        """Set a parameter to a value, or to a curve (array / breakpoints)."""
        p = self._param(name)
        if is_curve_value(value):
            self.set_automation(name, value)
            return
        v = p.validate(value, type(self).__name__)
        old = self._values[name]
        automated = name in self._automation
        if v == old and type(v) is type(old) and not automated:
            return
        from_norm = self._current_normalized(name) if (self._prepared and p.automatable) else None
        self._values[name] = v
        # A value replaces a curve (the stage ramps from where the curve was).
        self._automation.pop(name, None)
        if not self._prepared:
            return
        if name in self.STRUCTURAL:
            self._needs_prepare = True
            self._structural_change = name
            return
        if p.automatable:
            self._start_ramp(name, from_norm)
        self._update()

    def set_automation(self, name: str, data, normalized: bool = False) -> None:
        """Drive a parameter with a curve (DawDreamer's ``set_automation``).

        ``data`` is a per-sample array (values from the last reset on, the
        last value held past its end) or ``(time_s, value)`` breakpoints
        (linear between points). Values are in the parameter's units, or 0-1
        with ``normalized=True``. Time runs on the render's timeline: inside
        a ``Chain`` or ``MasteringChain`` the curve is delayed by the latency
        of the stages before this one, so it acts on the same instant of the
        music as it would on the stage alone. Setting a single value later
        replaces the curve.
        """
        p = self._param(name)
        self._automation[name] = Curve(p, data, normalized=normalized)
        self._ramps.pop(name, None)

    def get_automation(self, name: str) -> Curve | None:
        """The curve driving a parameter, or None."""
        return self._automation.get(self._param(name).name)

    def clear_automation(self, name: str | None = None) -> None:
        """Remove one curve (or all); the static value takes over with a ramp."""
        names = list(self._automation) if name is None else [self._param(name).name]
        for n in names:
            if n in self._automation:
                from_norm = self._current_normalized(n) if self._prepared else None
                del self._automation[n]
                if self._prepared:
                    self._start_ramp(n, from_norm)

    @property
    def automated_parameters(self) -> list[str]:
        return list(self._automation)

    def get_normalized(self, name: str) -> float:
        """Static value mapped onto 0-1 by the parameter's scale."""
        p = self._param(name)
        return p.to_normalized(self._values[name])

    def set_normalized(self, name: str, x: float) -> None:
        """Set a parameter from a 0-1 value mapped by its scale."""
        p = self._param(name)
        self.set_parameter(name, p.from_normalized(x))

    # ------------------------------------------------------------- presets
    def to_dict(self) -> dict:
        """JSON-safe description: type, every parameter, and any automation."""
        d = {"type": type(self).__name__, "parameters": dict(self._values)}
        if self._automation:
            d["automation"] = {k: c.to_dict() for k, c in self._automation.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Processor":
        """Build a processor from :meth:`to_dict` output (the type picks the class)."""
        if not isinstance(d, dict):
            raise ParameterError(f"a processor description must be a dict; got {type(d).__name__}")
        tname = d.get("type", cls.__name__ if cls is not Processor else None)
        klass = Processor._registry.get(tname)
        if klass is None:
            raise ParameterError(f"unknown processor type {tname!r}; known: {sorted(Processor._registry)}")
        if cls is not Processor and not issubclass(klass, cls):
            raise ParameterError(f"description is of type {tname!r}, not {cls.__name__}")
        return klass._from_dict(d)

    @classmethod
    def _from_dict(cls, d: dict) -> "Processor":
        unknown = set(d) - {"type", "parameters", "automation"}
        if unknown:
            raise ParameterError(f"unknown keys in {cls.__name__} description: {sorted(unknown)}")
        params = d.get("parameters", {})
        if not isinstance(params, dict):
            raise ParameterError(f"{cls.__name__}: 'parameters' must be an object")
        proc = cls()
        for k, v in params.items():
            proc.set_parameter(k, v)
        for k, c in (d.get("automation") or {}).items():
            p = proc._param(k)
            proc._automation[k] = Curve.from_dict(p, c)
        return proc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def copy(self) -> "Processor":
        """A new, unprepared processor with the same parameters and automation."""
        return type(self).from_dict(self.to_dict())

    def __repr__(self) -> str:
        shown = [(k, v) for k, v in self._values.items()]
        if len(shown) > 8:
            shown = [(k, v) for k, v in shown if v != self._param_map[k].default]
        parts = []
        for k, v in shown:
            if k in self._automation:
                parts.append(f"{k}=<automated>")
            else:
                parts.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v!r}")
        body = (" " + " ".join(parts)) if parts else ""
        return f"<neuromaster.{type(self).__name__}{body} at {hex(id(self))}>"

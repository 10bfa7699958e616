"""Containers: ``Chain`` (serial) and ``Mix`` (parallel), latency compensated.

Both hold neuromaster processors and any ``pedalboard.Plugin`` (built-ins,
VST3s from ``pedalboard.load_plugin``, ``pedalboard.Pedalboard``) and follow
the processor contract themselves, so they nest and go anywhere a stage goes.

How latency is handled: each container streams its blocks through its
elements with state carried over (``reset=False`` for every element), so its
streaming output is delayed by the sum (``Chain``) or the maximum (``Mix``)
of the elements' latencies, which it reports. A one-shot call (``reset=True``)
then compensates the container's total latency exactly like any stage: the
output is aligned with the input. ``Mix`` delays each branch by the
difference to the slowest branch before summing, so branches add in phase.

Pedalboard cannot hold Python plugins (its issue #12); a ``Chain`` runs each
run of consecutive native plugins through one native ``pedalboard.Pedalboard``
(wrapped in a :class:`~neuromaster.native.NativeRun`, which adds a fixed
8-sample streaming latency so that pedalboard never sees an ambiguous
1- or 2-sample block; one-shot calls compensate it like any latency).
"""
from __future__ import annotations

import numpy as np

from .audio import db_to_gain
from .errors import ParameterError
from .native import NativeRun, is_native, native_from_dict, native_to_dict
from .processor import Processor
from .dsp.delay import delay, delay_state

try:
    import pedalboard as _pb
except ImportError:  # pragma: no cover
    _pb = None


def _coerce(item):
    if isinstance(item, (list, tuple)):
        return Chain(item)
    if isinstance(item, Processor) or is_native(item):
        return item
    raise ParameterError(
        f"a Chain or Mix holds neuromaster processors and pedalboard plugins; got {type(item).__name__}"
    )


def _runs(items) -> list:
    """Items with each run of consecutive native plugins in one NativeRun."""
    out, run = [], []
    for item in items:
        if is_native(item):
            run.append(item)
            continue
        if run:
            out.append(NativeRun(run))
            run = []
        out.append(item)
    if run:
        out.append(NativeRun(run))
    return out


def _latency(item, sample_rate: float) -> int:
    if isinstance(item, Processor):
        return int(item.latency_for(sample_rate))
    return item.latency()


def _stream(item, x: np.ndarray, sample_rate: float) -> np.ndarray:
    if isinstance(item, Processor):
        return item._stream_block(x, sample_rate)
    return item.stream(x, sample_rate)


def _item_to_dict(item) -> dict:
    return item.to_dict() if isinstance(item, Processor) else native_to_dict(item)


def _item_from_dict(d: dict):
    if not isinstance(d, dict):
        raise ParameterError(f"a chain element must be an object; got {type(d).__name__}")
    t = str(d.get("type", ""))
    if t == "vst3" or t.startswith("pedalboard."):
        return native_from_dict(d)
    return Processor.from_dict(d)


def _name(item) -> str:
    return type(item).__name__


class Chain(Processor):
    """Serial container of neuromaster processors and pedalboard plugins.

    Parameters
    ----------
    plugins : sequence
        Processors, pedalboard plugins, or nested lists (which become
        ``Chain``\\ s). Mutable like ``pedalboard.Pedalboard``: ``append``,
        ``insert``, ``remove``, indexing.
    """

    SUPPORTED_CHANNELS = tuple(range(1, 9))

    def __init__(self, plugins=()):
        super().__init__()
        self._plugins = [_coerce(p) for p in plugins]
        self._groups = None

    # list interface ---------------------------------------------------
    def _changed(self):
        self._groups = None
        if self._prepared:
            self._needs_prepare = True

    def __len__(self):
        return len(self._plugins)

    def __iter__(self):
        return iter(self._plugins)

    def __getitem__(self, i):
        return self._plugins[i]

    def __setitem__(self, i, item):
        self._plugins[i] = _coerce(item)
        self._changed()

    def __delitem__(self, i):
        del self._plugins[i]
        self._changed()

    def append(self, item):
        self._plugins.append(_coerce(item))
        self._changed()

    def insert(self, index: int, item):
        self._plugins.insert(index, _coerce(item))
        self._changed()

    def remove(self, item):
        self._plugins.remove(item)
        self._changed()

    # processing ---------------------------------------------------------
    def _elements(self):
        """Elements as processed: native runs merged into NativeRun objects."""
        if self._groups is None:
            self._groups = _runs(self._plugins)
        return self._groups

    def latency_for(self, sample_rate: float) -> int:
        return sum(_latency(item, sample_rate) for item in self._elements())

    def _reset_state(self):
        for item in self._elements():
            item.reset()

    def _process_block(self, x, sidechain):
        y = x
        offset = self._automation_offset
        for item in self._elements():
            if isinstance(item, Processor):
                item._automation_offset = offset  # its input is late by the latency before it
            y = _stream(item, y, self._sample_rate)
            offset += _latency(item, self._sample_rate)
        return y

    # presets ---------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"type": "Chain", "plugins": [_item_to_dict(p) for p in self._plugins]}

    @classmethod
    def _from_dict(cls, d: dict) -> "Chain":
        unknown = set(d) - {"type", "plugins"}
        if unknown:
            raise ParameterError(f"unknown keys in Chain description: {sorted(unknown)}")
        plugins = d.get("plugins", [])
        if not isinstance(plugins, list):
            raise ParameterError("Chain: 'plugins' must be a list")
        items = []
        for i, p in enumerate(plugins):
            try:
                items.append(_item_from_dict(p))
            except ParameterError as e:
                raise ParameterError(f"Chain element {i}: {e}") from None
        return cls(items)

    def __repr__(self):
        return f"<neuromaster.Chain [{', '.join(_name(p) for p in self._plugins)}] at {hex(id(self))}>"


class Mix(Processor):
    """Parallel container: every branch gets the input, outputs are summed.

    Parameters
    ----------
    branches : sequence
        Each a processor, a pedalboard plugin, or a list (a ``Chain``).
    gains_db : sequence of float, optional
        Per-branch gain in dB applied before summing (default 0 dB each),
        each in [-96, 24] dB.

    Branches are aligned before summing: each is delayed by the difference
    between the slowest branch's latency and its own.
    """

    SUPPORTED_CHANNELS = tuple(range(1, 9))

    def __init__(self, branches=(), gains_db=None):
        super().__init__()
        self._branches = [_coerce(b) for b in branches]
        if not self._branches:
            raise ParameterError("Mix needs at least one branch")
        gains = [0.0] * len(self._branches) if gains_db is None else list(gains_db)
        if len(gains) != len(self._branches):
            raise ParameterError(f"Mix: {len(self._branches)} branches but {len(gains)} gains_db")
        for i, g in enumerate(gains):
            if not isinstance(g, (int, float)) or not np.isfinite(g) or not -96.0 <= g <= 24.0:
                raise ParameterError(f"Mix gains_db[{i}] must be in [-96, 24] dB; got {g!r}")
        self._gains_db = [float(g) for g in gains]
        self._paths = [b if isinstance(b, Processor) else NativeRun([b]) for b in self._branches]

    @property
    def branches(self):
        return list(self._branches)

    @property
    def gains_db(self):
        return list(self._gains_db)

    def latency_for(self, sample_rate: float) -> int:
        return max(_latency(b, sample_rate) for b in self._paths)

    def _prepare(self):
        self._align_branches()

    def _align_branches(self):
        """Delay lines that bring every branch to the slowest one's latency."""
        self._lat = [_latency(b, self._sample_rate) for b in self._paths]
        top = max(self._lat)
        self._align = [delay_state(self._channels, top - l) for l in self._lat]

    def _reset_state(self):
        for b in self._paths:
            b.reset()
        for s in self._align:
            s[:] = 0.0

    def _process_block(self, x, sidechain):
        if [_latency(b, self._sample_rate) for b in self._paths] != self._lat:
            self._align_branches()  # a branch changed its latency (e.g. a structural parameter)
        out = np.zeros_like(x)
        for i, (b, g) in enumerate(zip(self._paths, self._gains_db)):
            if isinstance(b, Processor):
                b._automation_offset = self._automation_offset
            yb, self._align[i] = delay(_stream(b, x, self._sample_rate), self._align[i])
            out += yb * float(db_to_gain(g))
        return out

    def to_dict(self) -> dict:
        return {"type": "Mix", "branches": [_item_to_dict(b) for b in self._branches], "gains_db": list(self._gains_db)}

    @classmethod
    def _from_dict(cls, d: dict) -> "Mix":
        unknown = set(d) - {"type", "branches", "gains_db"}
        if unknown:
            raise ParameterError(f"unknown keys in Mix description: {sorted(unknown)}")
        branches = []
        for i, b in enumerate(d.get("branches", [])):
            try:
                branches.append(_item_from_dict(b))
            except ParameterError as e:
                raise ParameterError(f"Mix branch {i}: {e}") from None
        return cls(branches, d.get("gains_db"))

    def __repr__(self):
        return f"<neuromaster.Mix [{', '.join(_name(b) for b in self._branches)}] at {hex(id(self))}>"

"""``Graph``: our stages, third-party plugins, Faust and DawDreamer processors in one DAG.

DawDreamer's graph nodes are C++ processors: it has no Python node and does
not compensate plugin latency. pedalboard cannot hold Python plugins (its
issue #12) and has no automation (its issue #6). A :class:`Graph` holds all
of them and renders offline.

Mechanism: node by node, in topological order
---------------------------------------------
Each node is rendered on its own, once, over the whole duration: its input
is the sum of its incoming edges (each scaled by the edge's gain), and its
output is **aligned with the graph input** - the node's own latency is
compensated where the node is rendered:

* a neuromaster processor (any stage, ``Chain``, ``Mix``,
  ``MasteringChain``) is reset and run over the input followed by
  ``latency_for(sample_rate)`` zeros; the first that many output samples are
  dropped (exactly what its one-shot call does, but kept in float64);
* a DawDreamer-hosted plugin (:class:`~neuromaster.thirdparty.ThirdPartyPlugin`)
  is rendered in a fresh engine from a ``PlaybackProcessor`` holding the
  input plus ``latency`` zeros, where ``latency`` is the plugin's reported
  figure read once processing has started and checked against an impulse;
* a pedalboard plugin is run one-shot (pedalboard compensates the VST3's
  ``reported_latency_samples`` itself; checked with an impulse), or, when
  automated, streamed block by block with its parameters set at each block;
* Faust code and DawDreamer's own processors render in a fresh engine
  (no latency unless declared with ``latency_samples``).

Because every node's output is aligned with the input, all paths arrive
aligned at every sum and at the output: the render equals the latency-free
ideal, for any number of parallel branches with any latencies. And because
each node sees exactly the input it would see if called directly, a render
equals processing the same nodes directly with manual alignment - the host
tests show it to <= 1e-6 for graphs of ours, of third-party plugins (against
DawDreamer used directly) and mixed.

The cost of node-by-node rendering is memory (one ``(channels, samples)``
array per node output still needed downstream; freed as soon as its last
consumer has run, unless tapped) and one plugin load per third-party node
and render (which also guarantees each render starts from a clean plugin).

Automation
----------
Any parameter of any node takes a curve - a per-sample array or
``(time_s, value)`` breakpoints, time counted from the start of the render -
with DawDreamer's ``set_automation`` meaning: the value at each sample, the
last value held past the end. Ours apply it sample-accurately (coefficients
refreshed every ``CONTROL_INTERVAL`` = 16 samples). DawDreamer plugins, Faust
and DawDreamer processors take the curve's value at the first sample of each
engine block (``block_size``, default 512; measured in the host tests);
automated pedalboard plugins are streamed in blocks of ``block_size`` with
the value at each block's first sample. Set ``block_size=32`` on a
third-party node for a 32-sample control rate. Curves are in the parameter's
units - ours in theirs, third-party plugins in their display units (via a
:class:`~neuromaster.thirdparty.DisplayMap`) - or normalised 0-1 with
``normalized=True``.

Isolation
---------
``render(isolate=True)`` runs the whole render in a spawned worker process
(:mod:`neuromaster.workers`): a node that crashes the process or hangs past
``timeout_s`` (per node) raises :class:`~neuromaster.workers.NodeCrashedError`
or :class:`~neuromaster.workers.NodeTimeoutError` naming the node, and the
caller carries on.
"""
from __future__ import annotations

import math
import pathlib
import pickle
import re
from typing import Callable

try:  # DawDreamer's LLVM must load before numba's (DESIGN.md, "Host bridge")
    import dawdreamer as _daw
except ImportError:  # pragma: no cover
    _daw = None

import numpy as np

from .audio import canonical, check_sample_rate, db_to_gain
from .automation import Curve, is_curve_value
from .chain import Chain, Mix
from .errors import AudioFileError, NeuromasterError, ParameterError
from .native import is_native, native_from_dict, native_to_dict
from .params import Param
from .processor import Processor
from .thirdparty import (DEFAULT_BLOCK_SIZE, IMPULSE_LEVEL, IMPULSE_OFFSET, IMPULSE_WINDOW, LatencyCheck,
                         ThirdPartyPlugin, _adapt_channels, _check_block_size, load_pedalboard_plugin,
                         resolve_plugin, set_pedalboard_parameter)

#: Block size our processors are run with inside a graph (output does not depend
#: on it; the same as ``Processor.process``'s default).
PROCESSOR_BLOCK = 8192

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _check_gain_db(gain_db, where: str) -> float:
    if isinstance(gain_db, bool) or not isinstance(gain_db, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(gain_db)) or not -120.0 <= float(gain_db) <= 24.0:
        raise ParameterError(f"{where}: gain_db must be in [-120, 24] dB; got {gain_db!r}")
    return float(gain_db)


# ===================================================================== nodes
class Node:
    """Base of graph nodes. ``render(x, sample_rate, n)`` returns the node's
    output, ``(channels, n)`` float64, aligned with the graph input."""

    kind = "node"
    is_source = False

    def __init__(self, name: str):
        self.name = name

    def render(self, x: np.ndarray | None, sample_rate: float, n: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def latency(self, sample_rate: float) -> int:
        """Samples of latency this node compensates internally."""
        return 0

    def set_parameter(self, param: str, value, normalized: bool = False) -> None:
        raise ParameterError(f"node {self.name!r} ({self.kind}) has no parameters")

    def set_automation(self, param: str, data, normalized: bool = False) -> None:
        raise ParameterError(f"node {self.name!r} ({self.kind}) has no automatable parameters")

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


class SourceNode(Node):
    """Audio from an array or a file (shorter than the render: zero-padded)."""

    kind = "source"
    is_source = True

    def __init__(self, name: str, audio=None, path=None):
        super().__init__(name)
        if (audio is None) == (path is None):
            raise ParameterError(f"input {name!r}: give either audio (an array) or path (a file)")
        self.path = None if path is None else pathlib.Path(path)
        self._audio = None
        self._file_rate = None
        if audio is not None:
            self._audio, _ = canonical(audio, f"input {name!r}")

    def audio(self, sample_rate: float) -> np.ndarray:
        if self._audio is None:
            from .io import read_audio
            try:
                x, sr = read_audio(self.path)
            except AudioFileError as e:
                raise AudioFileError(f"input {self.name!r}: {e}") from None
            if float(sr) != float(sample_rate):
                raise ParameterError(f"input {self.name!r}: {self.path} is at {sr} Hz but the graph renders at "
                                     f"{sample_rate:g} Hz (resample it first)")
            self._audio = np.ascontiguousarray(x, dtype=np.float64)
        return self._audio

    def num_samples(self, sample_rate: float) -> int:
        return self.audio(sample_rate).shape[1]

    def render(self, x, sample_rate, n):
        a = self.audio(sample_rate)
        if a.shape[1] >= n:
            return a[:, :n]
        out = np.zeros((a.shape[0], n))
        out[:, :a.shape[1]] = a
        return out

    def describe(self):
        d = super().describe()
        d["path"] = None if self.path is None else str(self.path)
        if self._audio is not None:
            d["shape"] = list(self._audio.shape)
        return d


def _resolve_param(proc: Processor, name: str):
    """(processor, parameter name) for ``name``, looking into ``Chain``/``Mix``
    elements with ``"<index>.<param>"`` or ``"<TypeName>.<param>"``."""
    if name in proc._param_map:
        return proc, name
    if "." in name and isinstance(proc, (Chain, Mix)):
        head, rest = name.split(".", 1)
        items = list(proc) if isinstance(proc, Chain) else proc.branches
        if head.isdigit() and int(head) < len(items):
            item = items[int(head)]
        else:
            hits = [it for it in items if type(it).__name__.lower() == head.lower()]
            if len(hits) != 1:
                raise ParameterError(f"{type(proc).__name__} has no single element {head!r} "
                                     f"(elements: {', '.join(type(i).__name__ for i in items)})")
            item = hits[0]
        if not isinstance(item, Processor):
            raise ParameterError(f"element {head!r} is a pedalboard plugin; set its parameters on the plugin")
        return _resolve_param(item, rest)
    proc._param(name)  # raises with the list of parameters
    return proc, name  # pragma: no cover


class ProcessorNode(Node):
    """A neuromaster processor (any stage, ``Chain``, ``Mix``, ``MasteringChain``)."""

    kind = "neuromaster"

    def __init__(self, name: str, processor: Processor):
        super().__init__(name)
        if not isinstance(processor, Processor):
            raise ParameterError(f"node {name!r}: expected a neuromaster Processor; got {type(processor).__name__}")
        self.processor = processor

    def latency(self, sample_rate):
        return int(self.processor.latency_for(sample_rate))

    def render(self, x, sample_rate, n):
        proc = self.processor
        try:
            proc._check_channels(x.shape[0])
        except ParameterError as e:
            raise ParameterError(f"node {self.name!r}: {e}") from None
        proc._ensure_prepared(sample_rate, x.shape[0], PROCESSOR_BLOCK, True)
        proc.reset()
        lat = int(proc.latency_for(sample_rate))
        xin = x if lat == 0 else np.concatenate([x, np.zeros((x.shape[0], lat))], axis=1)
        y = proc._run(np.ascontiguousarray(xin, dtype=np.float64), PROCESSOR_BLOCK, None)
        return y[:, lat:lat + n]

    def set_parameter(self, param, value, normalized=False):
        proc, pname = _resolve_param(self.processor, param)
        if normalized and not is_curve_value(value):
            proc.set_normalized(pname, value)
        elif normalized:
            proc.set_automation(pname, value, normalized=True)
        else:
            proc.set_parameter(pname, value)

    def set_automation(self, param, data, normalized=False):
        proc, pname = _resolve_param(self.processor, param)
        proc.set_automation(pname, data, normalized=normalized)

    def describe(self):
        d = super().describe()
        d["processor"] = type(self.processor).__name__
        return d

    def __getstate__(self):
        try:
            blob = pickle.dumps(self.processor)
            return {"name": self.name, "pickle": blob}
        except Exception:  # e.g. a Chain holding pedalboard plugins
            return {"name": self.name, "dict": self.processor.to_dict()}

    def __setstate__(self, state):
        self.name = state["name"]
        self.processor = pickle.loads(state["pickle"]) if "pickle" in state else Processor.from_dict(state["dict"])


class PluginNode(Node):
    """A VST2/VST3 plugin hosted by DawDreamer (:class:`ThirdPartyPlugin`)."""

    kind = "plugin"

    def __init__(self, name: str, plugin: ThirdPartyPlugin):
        super().__init__(name)
        self.plugin = plugin

    def latency(self, sample_rate):
        return int(self.plugin.latency_for(sample_rate))

    def render(self, x, sample_rate, n):
        try:
            return self.plugin.process(x, sample_rate)
        except ParameterError as e:
            raise ParameterError(f"node {self.name!r}: {e}") from None
        except NeuromasterError:
            raise
        except Exception as e:  # DawDreamer raises RuntimeError
            raise NeuromasterError(f"node {self.name!r}: {self.plugin.path}: {e}") from None

    def set_parameter(self, param, value, normalized=False):
        self.plugin.set_parameter(param, value, normalized=normalized)

    def set_automation(self, param, data, normalized=False):
        self.plugin.set_automation(param, data, normalized=normalized)

    def describe(self):
        d = super().describe()
        lc = self.plugin.latency_check
        d.update(path=str(self.plugin.path), format=self.plugin.format, block_size=self.plugin.block_size,
                 latency=None if lc is None else lc.describe())
        return d


class PedalboardNode(Node):
    """A pedalboard plugin (VST3 from ``pedalboard.load_plugin``, or a built-in)."""

    kind = "pedalboard"

    def __init__(self, name: str, plugin, block_size: int = DEFAULT_BLOCK_SIZE):
        super().__init__(name)
        if not is_native(plugin):
            raise ParameterError(f"node {name!r}: expected a pedalboard plugin; got {type(plugin).__name__}")
        self.plugin = plugin
        self.block_size = _check_block_size(block_size)
        self._automation: dict[str, tuple] = {}
        self.latency_check: LatencyCheck | None = None
        #: Path of a VST3 (set by ``Graph.add_plugin``; needed to re-load it in a worker).
        self.path: str | None = None

    def _reported(self) -> int:
        return int(getattr(self.plugin, "reported_latency_samples", 0) or 0)

    def latency(self, sample_rate):
        return self._reported()

    def verify_latency(self, sample_rate: float) -> LatencyCheck:
        """Impulse through a one-shot call: pedalboard compensates the reported
        latency, so the output peak lands where the input impulse was when the
        report is right; ``measured`` = reported + residual offset."""
        sr = check_sample_rate(sample_rate)
        reported = self._reported()
        n = IMPULSE_OFFSET + reported + IMPULSE_WINDOW
        y = None
        for channels in (2, 1):
            x = np.zeros((channels, n), dtype=np.float32)
            x[:, IMPULSE_OFFSET] = IMPULSE_LEVEL
            self.plugin.reset()
            try:
                y = np.asarray(self.plugin(x, sr, buffer_size=self.block_size, reset=True))
                break
            except (ValueError, RuntimeError):
                continue
        self.plugin.reset()
        if y is None:
            raise ParameterError(f"node {self.name!r}: the plugin processes neither stereo nor mono audio")
        env = np.max(np.abs(np.atleast_2d(y)), axis=0)
        measured = reported + int(np.argmax(env)) - IMPULSE_OFFSET if env.max() > 1e-7 else None
        self.latency_check = LatencyCheck(reported=reported, measured=measured, sample_rate=sr, block_size=self.block_size)
        return self.latency_check

    def render(self, x, sample_rate, n):
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        if self.latency_check is None or self.latency_check.sample_rate != sample_rate:
            self.verify_latency(sample_rate)
        if not self._automation:
            self.plugin.reset()
            y = self.plugin(x32, sample_rate, buffer_size=self.block_size, reset=True)
            return np.asarray(y, dtype=np.float64)
        # automated: stream blocks with reset=False; pedalboard drops the
        # latency pre-roll of the first call after reset() and so returns the
        # stream aligned; feed `latency` zeros after the input to flush it.
        lat = self._reported()
        total = n + lat
        xp = np.zeros((x32.shape[0], total), dtype=np.float32)
        xp[:, :n] = x32
        curves = {k: self._curve(k, total, sample_rate) for k in self._automation}
        self.plugin.reset()
        outs = []
        bs = self.block_size
        for a in range(0, total, bs):
            for k, (vals, normalized) in curves.items():
                set_pedalboard_parameter(self.plugin, k, float(vals[a]), normalized=normalized)  # read back
            outs.append(np.asarray(self.plugin(xp[:, a:a + bs], sample_rate, buffer_size=bs, reset=False)))
        self.plugin.reset()
        y = np.concatenate(outs, axis=1).astype(np.float64)
        return y[:, :n]

    def _curve(self, key, n, sample_rate):
        curve, normalized = self._automation[key]
        return curve.render(0, n, sample_rate), normalized

    def set_parameter(self, param, value, normalized=False):
        if is_curve_value(value):
            self.set_automation(param, value, normalized=normalized)
            return
        self._automation.pop(param, None)
        set_pedalboard_parameter(self.plugin, param, value, normalized=normalized)

    def set_automation(self, param, data, normalized=False):
        params = getattr(self.plugin, "parameters", None)
        if normalized:
            if params is None or param not in params:
                raise ParameterError(f"node {self.name!r}: normalised automation needs a VST3 parameter; got {param!r}")
            p = Param(param, 0.0, 1.0, 0.0)
        elif params is not None and param in params:
            q = params[param]
            lo, hi = q.min_value, q.max_value
            if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)) or isinstance(lo, bool):
                raise ParameterError(f"node {self.name!r}: {param} is not numeric; automate it normalised")
            p = Param(param, float(lo), float(hi), float(lo), unit=q.label or "")
        else:
            if not hasattr(self.plugin, param):
                raise ParameterError(f"node {self.name!r}: {type(self.plugin).__name__} has no parameter {param!r}")
            p = Param(param, -1e12, 1e12, 0.0)
        self._automation[param] = (Curve(p, data), bool(normalized))

    def describe(self):
        d = super().describe()
        d.update(plugin=type(self.plugin).__name__, block_size=self.block_size,
                 latency=None if self.latency_check is None else self.latency_check.describe())
        return d

    def __getstate__(self):
        import pedalboard
        if isinstance(self.plugin, pedalboard.VST3Plugin):
            if self.path is None:
                raise NeuromasterError(f"node {self.name!r}: a VST3 added without Graph.add_plugin cannot be sent to a "
                                       "worker (its path is unknown); add it with add_plugin(..., backend='pedalboard')")
            plug = {"path": self.path, "preset_data": bytes(self.plugin.preset_data),
                    "raw": {k: float(p.raw_value) for k, p in self.plugin.parameters.items()}}
        else:
            plug = {"native": native_to_dict(self.plugin)}
        return {"name": self.name, "plugin": plug, "block_size": self.block_size, "path": self.path,
                "automation": self._automation, "latency_check": self.latency_check}

    def __setstate__(self, state):
        self.name = state["name"]
        plug = state["plugin"]
        if "native" in plug:
            self.plugin = native_from_dict(plug["native"])
        else:
            self.plugin = load_pedalboard_plugin(plug["path"])
            self.plugin.preset_data = plug["preset_data"]
            for k, v in plug["raw"].items():
                self.plugin.parameters[k].raw_value = v
        self.block_size = state["block_size"]
        self.path = state["path"]
        self._automation = state["automation"]
        self.latency_check = state["latency_check"]


class _EngineNode(Node):
    """Shared by Faust and DawDreamer-processor nodes: a fresh engine per render."""

    def __init__(self, name: str, block_size: int = DEFAULT_BLOCK_SIZE, latency_samples: int = 0):
        super().__init__(name)
        self.block_size = _check_block_size(block_size)
        if isinstance(latency_samples, bool) or not isinstance(latency_samples, (int, np.integer)) or latency_samples < 0:
            raise ParameterError(f"node {name!r}: latency_samples must be an integer >= 0; got {latency_samples!r}")
        self.latency_samples = int(latency_samples)
        self._automation: dict[str, Curve] = {}

    def latency(self, sample_rate):
        return self.latency_samples

    def _make(self, engine):  # pragma: no cover - abstract
        raise NotImplementedError

    def _automation_name(self, param: str) -> str:
        return param

    def render(self, x, sample_rate, n):
        if _daw is None:  # pragma: no cover
            raise NeuromasterError("DawDreamer is not installed")
        lat = self.latency_samples
        total = n + lat
        eng = _daw.RenderEngine(float(sample_rate), self.block_size)
        try:
            proc = self._make(eng)
            for pname, curve in self._automation.items():
                ok = proc.set_automation(self._automation_name(pname),
                                         np.ascontiguousarray(curve.render(0, total, sample_rate), dtype=np.float32))
                if ok is False:  # pragma: no cover
                    raise ParameterError(f"node {self.name!r}: DawDreamer refused automation for {pname!r}")
            cin = int(proc.get_num_input_channels())
            graph = []
            if cin > 0 and x is not None:
                xin = _adapt_channels(x, cin, f"node {self.name!r}")
                pad = np.zeros((cin, total), dtype=np.float32)
                pad[:, :n] = xin
                graph.append((eng.make_playback_processor("source", pad), []))
                graph.append((proc, ["source"]))
            else:
                graph.append((proc, []))
            eng.load_graph(graph)
            eng.render((total + 0.25) / float(sample_rate))
            y = np.asarray(eng.get_audio(), dtype=np.float64)
        except NeuromasterError:
            raise
        except Exception as e:
            raise NeuromasterError(f"node {self.name!r}: DawDreamer: {e}") from None
        return y[:, lat:lat + n]


class FaustNode(_EngineNode):
    """Faust code compiled and run by DawDreamer's ``FaustProcessor``.

    Parameters are addressed by their label (``"gain"``) or full address
    (``"/dawdreamer/gain"``), in the units of the Faust code.
    """

    kind = "faust"

    def __init__(self, name: str, code: str, parameters: dict | None = None, block_size: int = DEFAULT_BLOCK_SIZE,
                 latency_samples: int = 0):
        super().__init__(name, block_size, latency_samples)
        if not isinstance(code, str) or "process" not in code:
            raise ParameterError(f"node {name!r}: Faust code must be a string defining 'process'")
        self.code = code
        self._values: dict[str, float] = {}
        self._params = self._describe_params()
        for k, v in (parameters or {}).items():
            self.set_parameter(k, v)

    def _compile(self, engine):
        proc = engine.make_faust_processor("faust")
        try:
            proc.set_dsp_string(self.code)
            ok = proc.compile()
        except Exception as e:
            raise ParameterError(f"node {self.name!r}: Faust code does not compile: {' '.join(str(e).split())}") from None
        if not ok:
            raise ParameterError(f"node {self.name!r}: Faust code does not compile")
        return proc

    def _describe_params(self) -> dict:
        eng = _daw.RenderEngine(44100.0, self.block_size)
        proc = self._compile(eng)
        out = {}
        for d in proc.get_parameters_description():
            addr = d["name"]
            out[addr] = Param(addr.rsplit("/", 1)[-1], float(d["min"]), float(d["max"]),
                              float(min(max(d.get("value", d["min"]), d["min"]), d["max"])))
        return out

    def _address(self, param: str) -> str:
        if param in self._params:
            return param
        hits = [a for a in self._params if a.rsplit("/", 1)[-1] == param]
        if len(hits) == 1:
            return hits[0]
        labels = ", ".join(a.rsplit("/", 1)[-1] for a in self._params) or "none"
        raise ParameterError(f"node {self.name!r}: Faust code has no parameter {param!r}; parameters: {labels}")

    def set_parameter(self, param, value, normalized=False):
        if is_curve_value(value):
            self.set_automation(param, value, normalized=normalized)
            return
        addr = self._address(param)
        p = self._params[addr]
        v = p.from_normalized(value) if normalized else p.validate(value, f"node {self.name!r}")
        self._automation.pop(addr, None)
        self._values[addr] = float(v)

    def set_automation(self, param, data, normalized=False):
        addr = self._address(param)
        self._automation[addr] = Curve(self._params[addr], data, normalized=normalized)

    def _make(self, engine):
        proc = self._compile(engine)
        for addr, v in self._values.items():
            proc.set_parameter(addr, v)
        return proc

    def describe(self):
        d = super().describe()
        d["parameters"] = {a: p.describe() for a, p in self._params.items()}
        return d


#: DawDreamer's own processors: factory, parameters (Python attribute ->
#: automation name, None when not automatable).
DAWDREAMER_PROCESSORS = {
    "filter": ("make_filter_processor", {"mode": None, "frequency": "freq", "q": "q", "gain": "gain"}),
    "compressor": ("make_compressor_processor", {"threshold": "threshold", "ratio": "ratio", "attack": "attack",
                                                 "release": "release"}),
    "reverb": ("make_reverb_processor", {"room_size": "room_size", "damping": "damping", "wet_level": "wet_level",
                                         "dry_level": "dry_level", "width": "width"}),
    "panner": ("make_panner_processor", {"rule": None, "pan": "pan"}),
    "delay": ("make_delay_processor", {"delay": "delay", "wet": None}),
}


class DawDreamerNode(_EngineNode):
    """One of DawDreamer's own processors (:data:`DAWDREAMER_PROCESSORS`),
    parameters by their DawDreamer attribute names and units."""

    kind = "dawdreamer"

    def __init__(self, name: str, processor: str, parameters: dict | None = None,
                 block_size: int = DEFAULT_BLOCK_SIZE):
        super().__init__(name, block_size, 0)
        if processor not in DAWDREAMER_PROCESSORS:
            raise ParameterError(f"node {name!r}: DawDreamer processor must be one of "
                                 f"{', '.join(DAWDREAMER_PROCESSORS)}; got {processor!r}")
        self.processor = processor
        self._values: dict = {}
        for k, v in (parameters or {}).items():
            self.set_parameter(k, v)

    def _table(self):
        return DAWDREAMER_PROCESSORS[self.processor][1]

    def _check(self, param):
        if param not in self._table():
            raise ParameterError(f"node {self.name!r}: DawDreamer {self.processor} has no parameter {param!r}; "
                                 f"parameters: {', '.join(self._table())}")

    def set_parameter(self, param, value, normalized=False):
        self._check(param)
        if is_curve_value(value):
            self.set_automation(param, value, normalized=normalized)
            return
        if normalized:
            raise ParameterError(f"node {self.name!r}: DawDreamer processors take values in their own units")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ParameterError(f"node {self.name!r}: {param} must be a number or a string; got {value!r}")
        self._automation.pop(param, None)
        self._values[param] = value

    def set_automation(self, param, data, normalized=False):
        self._check(param)
        if self._table()[param] is None or normalized:
            raise ParameterError(f"node {self.name!r}: DawDreamer {self.processor}.{param} cannot be automated"
                                 + (" normalised" if normalized else ""))
        self._automation[param] = Curve(Param(param, -1e12, 1e12, 0.0), data)

    def _automation_name(self, param):
        return self._table()[param]

    def _make(self, engine):
        proc = getattr(engine, DAWDREAMER_PROCESSORS[self.processor][0])("proc")
        for k, v in self._values.items():
            try:
                setattr(proc, k, v)
            except Exception as e:
                raise ParameterError(f"node {self.name!r}: DawDreamer {self.processor}.{k} = {v!r}: {e}") from None
        return proc

    def describe(self):
        d = super().describe()
        d.update(processor=self.processor, parameters=dict(self._values))
        return d


# ===================================================================== graph
class Graph:
    """A DAG of audio sources and processing nodes, rendered offline.

    Parameters
    ----------
    sample_rate : float
        Render rate in Hz (22050-192000).
    block_size : int
        Default engine block size of third-party / Faust / DawDreamer nodes
        (samples, default 512); each node may override it.

    Examples
    --------
    >>> g = Graph(44100)                                                # doctest: +SKIP
    >>> g.add_input("mix", x)                                           # (2, n) array
    >>> g.add("eq", nm.Gain(gain_db=-1.0), inputs=["mix"])
    >>> g.add_plugin("comp", "lsp-plugins/compressor-stereo", inputs=["eq"], parameters={"al": -18.0})
    >>> g.add("drive", nm.Gain(gain_db=3.0), inputs=["mix"])
    >>> g.connect("drive", "comp", gain_db=-12.0)                      # parallel branch into the compressor
    >>> g.set_automation("eq", "gain_db", [(0.0, -6.0), (1.5, 0.0)])   # breakpoints (s, dB)
    >>> y = g.render()                                                  # (2, n) float64, aligned with x
    >>> taps = g.render_taps(["eq", "comp"])
    """

    def __init__(self, sample_rate: float = 44100.0, block_size: int = DEFAULT_BLOCK_SIZE):
        self.sample_rate = check_sample_rate(sample_rate)
        self.block_size = _check_block_size(block_size)
        self._nodes: dict[str, Node] = {}
        self._edges: list[tuple[str, str, float]] = []   # (src, dst, gain_db)
        self._output: str | None = None
        self.duration_s: float | None = None

    # ------------------------------------------------------------ building
    def _check_new_name(self, name):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ParameterError(f"a node name must match {_NAME.pattern} (letters, digits, _ and -); got {name!r}")
        if name in self._nodes:
            raise ParameterError(f"node {name!r} already exists")

    def _add(self, node: Node, inputs=(), gains_db=None) -> Node:
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or ())
        gains = [0.0] * len(inputs) if gains_db is None else list(gains_db)
        if len(gains) != len(inputs):
            raise ParameterError(f"node {node.name!r}: {len(inputs)} inputs but {len(gains)} gains_db")
        for src in inputs:
            self._need(src)
        self._nodes[node.name] = node
        try:
            for src, g in zip(inputs, gains):
                self.connect(src, node.name, g)
        except ParameterError:
            del self._nodes[node.name]
            self._edges = [e for e in self._edges if e[1] != node.name]
            raise
        return node

    def add_input(self, name: str, audio=None, *, path=None) -> SourceNode:
        """An audio source: a ``(channels, samples)`` / 1-D array, or a file."""
        self._check_new_name(name)
        if audio is not None and isinstance(audio, (str, pathlib.Path)):
            audio, path = None, audio
        return self._add(SourceNode(name, audio=audio, path=path))

    def add(self, name: str, node, inputs=(), gains_db=None, **options) -> Node:
        """Add a node: a neuromaster ``Processor`` (stage, ``Chain``, ``Mix``,
        ``MasteringChain``), a ``ThirdPartyPlugin``, a pedalboard plugin, an
        array (an input), or a ready :class:`Node`. ``inputs`` are node names;
        ``gains_db`` one gain per input (dB)."""
        self._check_new_name(name)
        if isinstance(node, Node):
            node.name = name
            obj = node
        elif isinstance(node, Processor):
            obj = ProcessorNode(name, node)
        elif isinstance(node, ThirdPartyPlugin):
            obj = PluginNode(name, node)
        elif is_native(node):
            obj = PedalboardNode(name, node, block_size=options.pop("block_size", self.block_size))
        elif isinstance(node, np.ndarray):
            if inputs:
                raise ParameterError(f"input {name!r} is audio; it takes no inputs")
            return self.add_input(name, node)
        else:
            raise ParameterError(f"node {name!r}: cannot put a {type(node).__name__} in a graph "
                                 "(use a neuromaster processor, a ThirdPartyPlugin, a pedalboard plugin or an array)")
        if options:
            raise ParameterError(f"node {name!r}: unknown options {sorted(options)}")
        return self._add(obj, inputs, gains_db)

    def add_plugin(self, name: str, plugin, inputs=(), gains_db=None, *, backend: str = "dawdreamer",
                   parameters: dict | None = None, block_size: int | None = None, format: str | None = None,
                   latency_samples=None, preset=None, paths=None) -> Node:
        """Load a third-party plugin by path or name and add it.

        ``backend="dawdreamer"`` (VST2 and VST3; parameters in display units,
        or ``{"normalized": x}``) or ``"pedalboard"`` (VST3; parameters by
        pedalboard's names in its units).
        """
        self._check_new_name(name)
        bs = self.block_size if block_size is None else _check_block_size(block_size)
        if backend == "dawdreamer":
            plug = ThirdPartyPlugin(plugin, sample_rate=self.sample_rate, block_size=bs, format=format,
                                    latency_samples=latency_samples, paths=paths, verify_latency=True)
            if preset is not None:
                plug.load_preset(preset)
            for k, v in (parameters or {}).items():
                try:
                    plug._set_from_spec(k, v)
                except ParameterError as e:
                    raise ParameterError(f"node {name!r}: {e}") from None
            node = PluginNode(name, plug)
        elif backend == "pedalboard":
            if format not in (None, "vst3"):
                raise ParameterError(f"node {name!r}: pedalboard hosts VST3 only; got format {format!r}")
            if latency_samples is not None or preset is not None:
                raise ParameterError(f"node {name!r}: latency_samples and preset are DawDreamer-backend options")
            plug = load_pedalboard_plugin(plugin, paths=paths)
            node = PedalboardNode(name, plug, block_size=bs)
            node.path = str(resolve_plugin(plugin, format="vst3", paths=paths))
            for k, v in (parameters or {}).items():
                if isinstance(v, dict) and set(v) == {"normalized"}:
                    node.set_parameter(k, v["normalized"], normalized=True)
                else:
                    node.set_parameter(k, v)
            node.verify_latency(self.sample_rate)
        else:
            raise ParameterError(f"node {name!r}: backend must be 'dawdreamer' or 'pedalboard'; got {backend!r}")
        return self._add(node, inputs, gains_db)

    def add_faust(self, name: str, code: str, inputs=(), gains_db=None, *, parameters=None,
                  block_size: int | None = None, latency_samples: int = 0) -> Node:
        """Faust code run by DawDreamer (parameters by label, in the code's units)."""
        self._check_new_name(name)
        bs = self.block_size if block_size is None else block_size
        return self._add(FaustNode(name, code, parameters, bs, latency_samples), inputs, gains_db)

    def add_dawdreamer(self, name: str, processor: str, inputs=(), gains_db=None, *, parameters=None,
                       block_size: int | None = None) -> Node:
        """One of DawDreamer's own processors: ``filter``, ``compressor``,
        ``reverb``, ``panner``, ``delay``."""
        self._check_new_name(name)
        bs = self.block_size if block_size is None else block_size
        return self._add(DawDreamerNode(name, processor, parameters, bs), inputs, gains_db)

    def _need(self, name) -> Node:
        node = self._nodes.get(name)
        if node is None:
            known = ", ".join(self._nodes) or "none"
            raise ParameterError(f"no node named {name!r} (nodes: {known})")
        return node

    def connect(self, src: str, dst: str, gain_db: float = 0.0) -> None:
        """Add an edge ``src -> dst`` scaled by ``gain_db`` (dB, -120 to +24)."""
        self._need(src)
        d = self._need(dst)
        g = _check_gain_db(gain_db, f"edge {src} -> {dst}")
        if d.is_source:
            raise ParameterError(f"node {dst!r} is an input; it takes no connections")
        if any(e[0] == src and e[1] == dst for e in self._edges):
            raise ParameterError(f"edge {src} -> {dst} already exists")
        if src == dst or self._reaches(dst, src):
            raise ParameterError(f"edge {src} -> {dst} would make a cycle")
        self._edges.append((src, dst, g))

    def disconnect(self, src: str, dst: str) -> None:
        before = len(self._edges)
        self._edges = [e for e in self._edges if not (e[0] == src and e[1] == dst)]
        if len(self._edges) == before:
            raise ParameterError(f"no edge {src} -> {dst}")

    def _reaches(self, a: str, b: str) -> bool:
        stack, seen = [a], set()
        while stack:
            u = stack.pop()
            if u == b:
                return True
            if u in seen:
                continue
            seen.add(u)
            stack += [e[1] for e in self._edges if e[0] == u]
        return False

    def set_output(self, name: str) -> None:
        self._need(name)
        self._output = name

    @property
    def output(self) -> str:
        """The output node (set, or the only node nothing consumes)."""
        if self._output is not None:
            return self._output
        sinks = [n for n in self._nodes if not any(e[0] == n for e in self._edges) and not self._nodes[n].is_source]
        if len(sinks) == 1:
            return sinks[0]
        if not sinks:
            raise ParameterError("the graph has no processing node to take the output from")
        raise ParameterError(f"the graph has several end nodes ({', '.join(sinks)}); call set_output(name)")

    def __getitem__(self, name: str) -> Node:
        return self._need(name)

    def __contains__(self, name) -> bool:
        return name in self._nodes

    @property
    def nodes(self) -> dict[str, Node]:
        return dict(self._nodes)

    @property
    def edges(self) -> list[tuple[str, str, float]]:
        """``(src, dst, gain_db)`` for every edge."""
        return list(self._edges)

    def inputs_of(self, name: str) -> list[tuple[str, float]]:
        return [(e[0], e[2]) for e in self._edges if e[1] == name]

    # ------------------------------------------------------- parameters
    def set_parameter(self, node: str, param: str, value, normalized: bool = False) -> None:
        """Set a node's parameter (its units, or 0-1 with ``normalized=True``)."""
        try:
            self._need(node).set_parameter(param, value, normalized=normalized)
        except ParameterError as e:
            raise ParameterError(_prefix(node, e)) from None

    def set_automation(self, node: str, param: str, data, normalized: bool = False) -> None:
        """Automate a node's parameter: per-sample array or ``(time_s, value)``
        breakpoints (see the module docstring for each host's resolution)."""
        try:
            self._need(node).set_automation(param, data, normalized=normalized)
        except ParameterError as e:
            raise ParameterError(_prefix(node, e)) from None

    def latencies(self) -> dict[str, int]:
        """Each node's compensated latency in samples at the graph's rate."""
        return {n: int(node.latency(self.sample_rate)) for n, node in self._nodes.items()}

    # ----------------------------------------------------------- render
    def _order(self, wanted) -> list[str]:
        """Topological order of the nodes the ``wanted`` nodes depend on."""
        needed, stack = set(), list(wanted)
        while stack:
            u = stack.pop()
            if u in needed:
                continue
            needed.add(u)
            stack += [e[0] for e in self._edges if e[1] == u]
        order, done = [], set()
        indeg = {u: sum(1 for e in self._edges if e[1] == u and e[0] in needed) for u in needed}
        ready = sorted(u for u in needed if indeg[u] == 0)
        while ready:
            u = ready.pop(0)
            order.append(u)
            done.add(u)
            for e in self._edges:
                if e[0] == u and e[1] in needed:
                    indeg[e[1]] -= 1
                    if indeg[e[1]] == 0:
                        ready.append(e[1])
                        ready.sort()
        if len(order) != len(needed):  # pragma: no cover - connect() refuses cycles
            raise ParameterError("the graph has a cycle")
        return order

    def num_samples(self, duration_s: float | None = None) -> int:
        """Render length in samples: ``duration_s`` (or the graph's), else the
        longest input."""
        d = self.duration_s if duration_s is None else duration_s
        if d is not None:
            if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d) or not 0 < d <= 86400:
                raise ParameterError(f"duration_s must be in (0, 86400] s; got {d!r}")
            n = int(round(float(d) * self.sample_rate))
            if n < 1:
                raise ParameterError(f"duration_s={d} gives no samples at {self.sample_rate:g} Hz")
            return n
        lengths = [node.num_samples(self.sample_rate) for node in self._nodes.values() if node.is_source]
        if not lengths:
            raise ParameterError("the graph has no input: add one, or give duration_s")
        return max(lengths)

    def render(self, duration_s: float | None = None, *, progress: Callable | None = None, isolate: bool = False,
               timeout_s: float | None = None) -> np.ndarray:
        """Render the output node: ``(channels, samples)`` float64, aligned
        with the inputs (every node's latency compensated).

        Parameters
        ----------
        duration_s : float, optional
            Length in seconds (default: the longest input). Inputs shorter
            than this are padded with silence (tails ring out).
        progress : callable, optional
            ``progress(node_name, index, total)`` before each node.
        isolate : bool
            Render in a spawned worker process (see :mod:`neuromaster.workers`).
        timeout_s : float, optional
            With ``isolate``: longest time one node may take (default 600 s).
        """
        out = self.output
        return self.render_taps([out], duration_s, progress=progress, isolate=isolate, timeout_s=timeout_s)[out]

    def render_taps(self, taps, duration_s: float | None = None, *, progress: Callable | None = None,
                    isolate: bool = False, timeout_s: float | None = None) -> dict[str, np.ndarray]:
        """Render and return the output of each node in ``taps`` (names), and of
        the output node, as ``{name: (channels, samples) float64}``."""
        taps = [taps] if isinstance(taps, str) else list(taps)
        for t in taps:
            self._need(t)
        wanted = list(dict.fromkeys(taps + [self.output]))
        if isolate:
            from .workers import render_in_worker
            return render_in_worker(self, wanted, duration_s, timeout_s=timeout_s, progress=progress)
        return self._render(wanted, duration_s, progress)

    def _render(self, wanted, duration_s=None, progress=None) -> dict[str, np.ndarray]:
        n = self.num_samples(duration_s)
        sr = self.sample_rate
        order = self._order(wanted)
        consumers = {u: sum(1 for e in self._edges if e[0] == u and e[1] in order) for u in order}
        keep = set(wanted)
        outputs: dict[str, np.ndarray] = {}
        for k, name in enumerate(order):
            node = self._nodes[name]
            if progress is not None:
                progress(name, k, len(order))
            if node.is_source:
                y = node.render(None, sr, n)
            else:
                ins = self.inputs_of(name)
                if not ins:
                    raise ParameterError(f"node {name!r} has no inputs")
                x = self._sum(name, ins, outputs)
                y = node.render(x, sr, n)
                for src, _ in ins:
                    consumers[src] -= 1
                    if consumers[src] == 0 and src not in keep:
                        outputs.pop(src, None)
            y = np.asarray(y, dtype=np.float64)
            if y.ndim != 2 or y.shape[1] != n:
                raise NeuromasterError(f"node {name!r} returned shape {y.shape}; expected (channels, {n})")
            if not np.isfinite(y).all():
                raise NeuromasterError(f"node {name!r} produced NaN or Inf samples")
            outputs[name] = y
        return {w: outputs[w] for w in wanted}

    def _sum(self, name, ins, outputs) -> np.ndarray:
        if len(ins) == 1 and ins[0][1] == 0.0:
            return outputs[ins[0][0]]
        channels = max(outputs[s].shape[0] for s, _ in ins)
        n = outputs[ins[0][0]].shape[1]
        acc = np.zeros((channels, n))
        for src, g in ins:
            y = outputs[src]
            if y.shape[0] not in (1, channels):
                raise ParameterError(f"node {name!r}: input {src!r} has {y.shape[0]} channels, others {channels}")
            if g == 0.0:
                acc += y
            else:
                acc += y * float(db_to_gain(g))
        return acc

    def render_to_file(self, path, duration_s: float | None = None, *, subtype: str = "FLOAT",
                       overwrite: bool = False, **render_options) -> np.ndarray:
        """Render and write the output atomically (temporary file, then
        rename; :class:`neuromaster.io.AudioWriter`). Returns the audio."""
        from .io import AudioWriter
        y = self.render(duration_s, **render_options)
        with AudioWriter(path, int(round(self.sample_rate)), y.shape[0], subtype, overwrite=overwrite) as w:
            w.write(y)
        return y

    def describe(self) -> dict:
        """JSON-safe summary: nodes, edges, output."""
        try:
            out = self.output
        except ParameterError:
            out = None
        return {"sample_rate": self.sample_rate, "nodes": [n.describe() for n in self._nodes.values()],
                "edges": [{"from": a, "to": b, "gain_db": g} for a, b, g in self._edges], "output": out}

    def __repr__(self):
        return f"<neuromaster.Graph {len(self._nodes)} nodes, {len(self._edges)} edges at {self.sample_rate:g} Hz>"


def _prefix(node: str, e: Exception) -> str:
    msg = str(e)
    return msg if msg.startswith(f"node {node!r}") else f"node {node!r}: {msg}"


def _render_task(graph: Graph, wanted, duration_s, progress=None) -> dict:
    """Worker entry for isolated renders (module level, so it pickles by name)."""
    return graph._render(wanted, duration_s, progress)

"""pedalboard interop: latency, presets and streaming of native plugins.

A "native" plugin is any ``pedalboard.Plugin``: built-ins (``Compressor``,
``Reverb``...), VST3 plugins from ``pedalboard.load_plugin``, and
``pedalboard.Pedalboard`` containers.
"""
from __future__ import annotations

import base64

import numpy as np

from .errors import ParameterError

try:
    import pedalboard as _pb
except ImportError:  # pragma: no cover - pedalboard is a hard dependency
    _pb = None


def is_native(obj) -> bool:
    """Whether ``obj`` is a pedalboard plugin (built-in, VST3 or container)."""
    return _pb is not None and isinstance(obj, _pb.Plugin)


def native_latency(plugin) -> int:
    """Latency in samples a native plugin adds when streamed (``reset=False``)."""
    if isinstance(plugin, _pb.Pedalboard) and not isinstance(plugin, _pb.Mix):
        return sum(native_latency(p) for p in plugin)
    if isinstance(plugin, _pb.Mix):
        return max((native_latency(p) for p in plugin), default=0)
    return int(getattr(plugin, "reported_latency_samples", 0) or 0)


#: Samples of delay :class:`NativeRun` adds so pedalboard never sees a block
#: of fewer than ``ADAPTER_LATENCY + 1`` samples (pedalboard reads a ``(2, 1)``
#: block as mono and refuses ``(2, 2)``: the layout is ambiguous).
ADAPTER_LATENCY = 8


class NativeRun:
    """A native plugin (or a run of them in one ``pedalboard.Pedalboard``)
    streamed with exact state carry-over at any block size.

    Input is queued until at least ``ADAPTER_LATENCY + 1`` samples are
    pending, then handed to pedalboard with ``reset=False``; output leaves a
    FIFO primed with ``ADAPTER_LATENCY`` zeros. So the run's streaming
    latency is the plugins' own latency plus ``ADAPTER_LATENCY``, for every
    chunking.
    """

    def __init__(self, plugins):
        plugins = list(plugins)
        self.plugin = plugins[0] if len(plugins) == 1 else _pb.Pedalboard(plugins)
        self._pending = None
        self._ready = None

    def latency(self) -> int:
        return native_latency(self.plugin) + ADAPTER_LATENCY

    def reset(self):
        self.plugin.reset()
        self._pending = None
        self._ready = None

    def stream(self, x: np.ndarray, sample_rate: float) -> np.ndarray:
        c, n = x.shape
        if self._ready is None or self._ready.shape[0] != c:
            self._pending = np.zeros((c, 0))
            self._ready = np.zeros((c, ADAPTER_LATENCY))
        self._pending = np.concatenate([self._pending, x], axis=1)
        if self._pending.shape[1] > ADAPTER_LATENCY:
            block = np.ascontiguousarray(self._pending, dtype=np.float32)
            y = np.asarray(self.plugin(block, sample_rate, buffer_size=block.shape[1], reset=False), dtype=np.float64)
            # After reset(), pedalboard's next reset=False call drops the plugin's
            # latency pre-roll and returns fewer samples; put the pre-roll (silence)
            # back so the stream keeps its length and its reported latency.
            short = block.shape[1] - y.shape[1]
            if short > 0:
                y = np.concatenate([np.zeros((c, short)), y], axis=1)
            self._ready = np.concatenate([self._ready, y], axis=1)
            self._pending = np.zeros((c, 0))
        out, self._ready = self._ready[:, :n], self._ready[:, n:]
        return out


def _builtin_params(plugin) -> dict:
    out = {}
    for klass in type(plugin).__mro__:
        for k, v in vars(klass).items():
            if isinstance(v, property) and not k.startswith("_") and k not in out and v.fset is not None:
                val = getattr(plugin, k)
                if isinstance(val, (int, float, bool, str)):
                    out[k] = val
    return out


#: id(plugin) -> (plugin name, file path) for VST3s loaded through neuromaster;
#: pedalboard's VST3Plugin does not remember the file it came from.
_VST3_PATHS: dict[int, tuple[str, str]] = {}


def remember_vst3_path(plugin, path) -> None:
    """Record the file a pedalboard VST3 was loaded from (for presets)."""
    _VST3_PATHS[id(plugin)] = (plugin.name, str(path))


def vst3_path(plugin) -> str:
    """The file a pedalboard VST3 came from: recorded at load, else found by
    its name in the standard VST3 folders."""
    known = _VST3_PATHS.get(id(plugin))
    if known and known[0] == plugin.name:
        return known[1]
    from .thirdparty import resolve_plugin
    try:
        return str(resolve_plugin(plugin.name, format="vst3"))
    except Exception as e:
        raise ParameterError(
            f"cannot save VST3 plugin {plugin.name!r}: its file is unknown ({e}); "
            "load it with neuromaster.thirdparty.load_pedalboard_plugin(path) so the path is recorded"
        ) from None


def native_to_dict(plugin) -> dict:
    """JSON-safe description of a native plugin (VST3 state included)."""
    if isinstance(plugin, _pb.VST3Plugin):
        d = {"type": "vst3", "path": vst3_path(plugin),
             "parameters": {k: float(p.raw_value) for k, p in plugin.parameters.items()}}
        try:
            d["state"] = base64.b64encode(bytes(plugin.preset_data)).decode("ascii")
        except Exception:  # some plugins cannot save state; parameters still restore
            pass
        return d
    if isinstance(plugin, _pb.Pedalboard):
        return {"type": f"pedalboard.{type(plugin).__name__}", "plugins": [native_to_dict(p) for p in plugin]}
    return {"type": f"pedalboard.{type(plugin).__name__}", "parameters": _builtin_params(plugin)}


def native_from_dict(d: dict):
    """Inverse of :func:`native_to_dict`."""
    t = d.get("type", "")
    if t == "vst3":
        plugin = _pb.load_plugin(d["path"])
        remember_vst3_path(plugin, d["path"])
        if "state" in d:
            plugin.preset_data = base64.b64decode(d["state"])
        for k, v in d.get("parameters", {}).items():
            if k not in plugin.parameters:
                raise ParameterError(f"VST3 {d['path']} has no parameter {k!r}")
            plugin.parameters[k].raw_value = float(v)
        return plugin
    name = t[len("pedalboard."):] if t.startswith("pedalboard.") else None
    klass = getattr(_pb, name, None) if name else None
    if klass is None or not (isinstance(klass, type) and issubclass(klass, _pb.Plugin)):
        raise ParameterError(f"unknown native plugin type {t!r}")
    if "plugins" in d:
        return klass([native_from_dict(p) for p in d["plugins"]])
    plugin = klass()
    for k, v in d.get("parameters", {}).items():
        if not hasattr(plugin, k):
            raise ParameterError(f"pedalboard.{name} has no parameter {k!r}")
        setattr(plugin, k, v)
    return plugin

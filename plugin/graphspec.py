"""Declarative graph specs (YAML or JSON) for :class:`neuromaster.Graph`.

A spec is one mapping (YAML, or JSON - which YAML also reads)::

    sample_rate: 44100          # Hz (default 44100)
    duration_s: 4.0             # optional; default: the longest input
    block_size: 512             # optional; default engine block of third-party nodes
    inputs:
      mix:
        demo: {genre: pop, seed: 3}             # neuromaster.demo.make_mix
      # or  file: song.wav                       (relative to the spec's folder)
      # or  signal: {kind: sine, frequency_hz: 997, level_db: -12, channels: 2}
      #             kind: sine | noise | impulse | silence (noise takes seed, impulse at_s)
    nodes:
      eq:
        type: neuromaster                        # any neuromaster processor by class name
        processor: ParametricEQ
        parameters: {low_gain_db: 2.0}           # in the parameter's units, or {normalized: x}
        inputs: [mix]
      comp:
        type: plugin                             # VST2/VST3 through DawDreamer
        plugin: lsp-plugins/compressor-stereo    # a path, or a name from the plugin folders
        parameters: {al: -18.0, cr: 3.0, scm: RMS}   # display units, labels, or {normalized: x}
        automation:
          al: {breakpoints: [[0.0, -30.0], [2.0, -12.0]]}   # (time_s, value), display units
        inputs: [eq]
      verb:
        type: plugin
        plugin: DragonflyPlateReverb
        inputs: [{from: eq, gain_db: -12.0}]
    connections:                                 # more edges (also [from, to] or [from, to, gain_db])
      - {from: verb, to: master, gain_db: -6.0}
    output: master

Node types and their keys:

``neuromaster``
    ``processor`` (class name: ``Gain``, ``Chain``, ``MasteringChain``...)
    with ``parameters``; or ``preset`` (a JSON file written by
    ``Processor.to_json``) or ``description`` (the same, inline).
``plugin``
    ``plugin``, ``format`` (vst2/vst3), ``parameters``, ``preset`` (.fxp,
    .fxb, .vstpreset, or .json from ``ThirdPartyPlugin.to_dict``),
    ``block_size``, ``latency_samples``.
``pedalboard``
    ``plugin`` (a VST3) or ``builtin`` (a pedalboard class name such as
    ``Compressor``), ``parameters`` (pedalboard's names and units),
    ``block_size``.
``faust``
    ``code`` or ``file``, ``parameters``, ``block_size``, ``latency_samples``.
``dawdreamer``
    ``processor`` (filter, compressor, reverb, panner, delay), ``parameters``,
    ``block_size``.

Every node also takes ``inputs`` and ``automation`` (parameter -> curve:
``{breakpoints: [[t, v], ...]}`` or ``{samples: [...]}``, plus
``normalized: true`` for 0-1 values). Errors raise
:class:`~neuromaster.errors.PresetError` naming the node and the key.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from .errors import AudioFileError, NeuromasterError, ParameterError, PresetError

TOP_KEYS = ("sample_rate", "duration_s", "block_size", "inputs", "nodes", "connections", "output", "description")
INPUT_KINDS = ("demo", "file", "signal")
COMMON_NODE_KEYS = ("type", "inputs", "automation", "description")
NODE_KEYS = {
    "neuromaster": ("processor", "parameters", "preset"),
    "plugin": ("plugin", "format", "parameters", "preset", "block_size", "latency_samples"),
    "pedalboard": ("plugin", "builtin", "parameters", "block_size"),
    "faust": ("code", "file", "parameters", "block_size", "latency_samples"),
    "dawdreamer": ("processor", "parameters", "block_size"),
}
SIGNAL_KEYS = ("kind", "frequency_hz", "level_db", "channels", "seed", "at_s")


def load_spec(path) -> tuple[dict, pathlib.Path]:
    """Read a YAML/JSON spec file; returns ``(spec, folder)``."""
    p = pathlib.Path(path).expanduser()
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise PresetError(f"{p}: no such graph spec") from None
    except OSError as e:
        raise PresetError(f"{p}: cannot read ({e.strerror or e})") from None
    if p.suffix.lower() == ".json":
        try:
            spec = json.loads(text)
        except ValueError as e:
            raise PresetError(f"{p}: not valid JSON ({e})") from None
    else:
        import yaml
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise PresetError(f"{p}: not valid YAML ({str(e).splitlines()[0]}"
                              + (f", line {e.problem_mark.line + 1}" if getattr(e, "problem_mark", None) else "")
                              + ")") from None
    if not isinstance(spec, dict):
        raise PresetError(f"{p}: a graph spec must be a mapping with 'inputs' and 'nodes'")
    return spec, p.parent


def load_graph(path, **overrides):
    """Build a :class:`~neuromaster.Graph` from a spec file (see the module docstring).

    ``overrides`` replace top-level keys (e.g. ``duration_s=2.0``).
    """
    spec, folder = load_spec(path)
    spec = dict(spec)
    for k, v in overrides.items():
        if v is not None:
            spec[k] = v
    return graph_from_spec(spec, folder, source=str(path))


def _err(where: str, msg: str) -> PresetError:
    # inner errors often start with the node already ("node 'x': ..."): say it once
    head = where.split(":", 1)[0]
    if head.startswith("node ") or head.startswith("input "):
        while msg.startswith(head + ": "):
            msg = msg[len(head) + 2:]
    return PresetError(f"{where}: {msg}")


def _check_keys(d, allowed, where):
    if not isinstance(d, dict):
        raise _err(where, f"must be a mapping; got {type(d).__name__}")
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise _err(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")


def _number(v, where, lo=None, hi=None, integer=False):
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
    if integer:
        ok = ok and float(v).is_integer()
    if not ok or (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f" in [{lo:g}, {hi:g}]" if lo is not None and hi is not None else ""
        raise _err(where, f"must be {'an integer' if integer else 'a number'}{rng}; got {v!r}")
    return int(v) if integer else float(v)


def graph_from_spec(spec: dict, base_dir=None, source: str = "spec"):
    """Build a :class:`~neuromaster.Graph` from a spec mapping."""
    from .graph import Graph
    base = pathlib.Path(base_dir) if base_dir is not None else pathlib.Path(".")
    _check_keys(spec, TOP_KEYS, source)
    sr = _number(spec.get("sample_rate", 44100), f"{source}: key 'sample_rate'", 22050, 192000)
    bs = _number(spec.get("block_size", 512), f"{source}: key 'block_size'", 1, 65536, integer=True)
    try:
        g = Graph(sr, bs)
    except ParameterError as e:
        raise _err(source, str(e)) from None
    if spec.get("duration_s") is not None:
        g.duration_s = _number(spec["duration_s"], f"{source}: key 'duration_s'", 1e-6, 86400)
    inputs = spec.get("inputs") or {}
    nodes = spec.get("nodes") or {}
    if not isinstance(inputs, dict) or not inputs:
        raise _err(source, "key 'inputs' must map input names to a demo, file or signal")
    if not isinstance(nodes, dict) or not nodes:
        raise _err(source, "key 'nodes' must map node names to node descriptions")
    for name, d in inputs.items():
        where = f"input {name!r}"
        _check_keys(d, INPUT_KINDS, where)
        if len(d) != 1:
            raise _err(where, f"give exactly one of {', '.join(INPUT_KINDS)}")
        try:
            g.add_input(str(name), _input_audio(d, g, base, where))
        except (ParameterError, AudioFileError) as e:
            raise _err(where, str(e)) from None
    # nodes first, edges after (so inputs may name nodes defined later)
    edges = []
    for name, d in nodes.items():
        where = f"node {name!r}"
        if not isinstance(d, dict):
            raise _err(where, f"must be a mapping; got {type(d).__name__}")
        t = d.get("type")
        if t not in NODE_KEYS:
            raise _err(where, f"key 'type' must be one of {', '.join(NODE_KEYS)}; got {t!r}")
        _check_keys(d, COMMON_NODE_KEYS + NODE_KEYS[t], where)
        _add_node(g, str(name), t, d, base, where)
        for i, item in enumerate(_as_list(d.get("inputs"), f"{where}: key 'inputs'")):
            src, gain = _edge_from(item, f"{where}: key 'inputs'[{i}]")
            edges.append((src, str(name), gain, f"{where}: key 'inputs'[{i}]"))
    for i, item in enumerate(_as_list(spec.get("connections"), f"{source}: key 'connections'")):
        where = f"{source}: key 'connections'[{i}]"
        if isinstance(item, (list, tuple)) and len(item) in (2, 3):
            src, dst = item[0], item[1]
            gain = item[2] if len(item) == 3 else 0.0
        elif isinstance(item, dict):
            _check_keys(item, ("from", "to", "gain_db"), where)
            if "from" not in item or "to" not in item:
                raise _err(where, "needs 'from' and 'to'")
            src, dst, gain = item["from"], item["to"], item.get("gain_db", 0.0)
        else:
            raise _err(where, f"must be {{from, to, gain_db}} or [from, to(, gain_db)]; got {item!r}")
        edges.append((str(src), str(dst), gain, where))
    for src, dst, gain, where in edges:
        try:
            g.connect(src, dst, _number(gain, f"{where}: gain_db", -120, 24))
        except ParameterError as e:
            raise _err(where, str(e)) from None
    for name, d in nodes.items():
        where = f"node {name!r}"
        if not g.inputs_of(str(name)):
            raise _err(where, "has no inputs (key 'inputs', or an entry in 'connections')")
        for pname, curve in (d.get("automation") or {}).items() if isinstance(d.get("automation") or {}, dict) else ():
            _apply_automation(g, str(name), str(pname), curve, f"{where}: key 'automation'.{pname}")
        if d.get("automation") is not None and not isinstance(d.get("automation"), dict):
            raise _err(f"{where}: key 'automation'", "must map parameter names to curves")
    out = spec.get("output")
    if out is not None:
        try:
            g.set_output(str(out))
        except ParameterError as e:
            raise _err(f"{source}: key 'output'", str(e)) from None
    else:
        try:
            g.output
        except ParameterError as e:
            raise _err(f"{source}: key 'output'", str(e)) from None
    return g


def _as_list(v, where):
    if v is None:
        return []
    if isinstance(v, (str, dict)):
        return [v]
    if isinstance(v, list):
        return v
    raise _err(where, f"must be a list; got {type(v).__name__}")


def _edge_from(item, where):
    if isinstance(item, str):
        return item, 0.0
    if isinstance(item, dict):
        _check_keys(item, ("from", "gain_db"), where)
        if "from" not in item:
            raise _err(where, "needs 'from'")
        return str(item["from"]), item.get("gain_db", 0.0)
    raise _err(where, f"must be a node name or {{from, gain_db}}; got {item!r}")


def _input_audio(d, g, base, where) -> np.ndarray:
    kind, arg = next(iter(d.items()))
    sr = g.sample_rate
    if kind == "file":
        p = pathlib.Path(str(arg)).expanduser()
        p = p if p.is_absolute() else base / p
        from .io import read_audio
        try:
            x, file_sr = read_audio(p)
        except AudioFileError as e:
            raise _err(f"{where}: key 'file'", str(e)) from None
        if float(file_sr) != sr:
            raise _err(f"{where}: key 'file'", f"{p} is at {file_sr} Hz; the graph renders at {sr:g} Hz")
        return x
    duration = g.duration_s
    if kind == "demo":
        opts = dict(arg or {}) if isinstance(arg, dict) or arg is None else None
        if opts is None:
            raise _err(f"{where}: key 'demo'", f"must be a mapping of make_mix arguments; got {arg!r}")
        opts.setdefault("duration_s", duration)
        if opts["duration_s"] is None:
            raise _err(f"{where}: key 'demo'", "needs duration_s (here or at the top level)")
        opts.setdefault("sample_rate", int(round(sr)))
        try:
            from . import demo
        except ImportError:  # pragma: no cover - demo ships with the package
            raise _err(f"{where}: key 'demo'", "neuromaster.demo is not available") from None
        try:
            return demo.make_mix(**opts)
        except TypeError as e:
            raise _err(f"{where}: key 'demo'", str(e)) from None
        except ParameterError as e:
            raise _err(f"{where}: key 'demo'", str(e)) from None
    # signal
    w = f"{where}: key 'signal'"
    _check_keys(arg, SIGNAL_KEYS, w)
    kind2 = arg.get("kind")
    if kind2 not in ("sine", "noise", "impulse", "silence"):
        raise _err(w, f"key 'kind' must be sine, noise, impulse or silence; got {kind2!r}")
    if duration is None:
        raise _err(w, "needs the top-level duration_s")
    n = int(round(duration * sr))
    ch = _number(arg.get("channels", 2), f"{w}: channels", 1, 8, integer=True)
    level = 10 ** (_number(arg.get("level_db", -12.0), f"{w}: level_db", -120, 6) / 20)
    if kind2 == "sine":
        f = _number(arg.get("frequency_hz", 997.0), f"{w}: frequency_hz", 1, sr / 2)
        x = level * np.sin(2 * np.pi * f * np.arange(n) / sr)
        return np.tile(x, (ch, 1))
    if kind2 == "noise":
        seed = _number(arg.get("seed", 0), f"{w}: seed", 0, 2**32 - 1, integer=True)
        return level * np.random.default_rng(seed).standard_normal((ch, n))
    x = np.zeros((ch, n))
    if kind2 == "impulse":
        at = int(round(_number(arg.get("at_s", 0.0), f"{w}: at_s", 0, duration) * sr))
        x[:, min(at, n - 1)] = level
    return x


def _params(d, where):
    p = d.get("parameters") or {}
    if not isinstance(p, dict):
        raise _err(f"{where}: key 'parameters'", f"must be a mapping; got {type(p).__name__}")
    return p


def _resolve_file(v, base, where):
    if not isinstance(v, str):
        raise _err(where, f"must be a path; got {v!r}")
    p = pathlib.Path(v).expanduser()
    return p if p.is_absolute() else base / p


def _add_node(g, name, t, d, base, where):
    params = _params(d, where)
    try:
        if t == "neuromaster":
            from .processor import Processor
            if "preset" in d:
                p = _resolve_file(d["preset"], base, f"{where}: key 'preset'")
                try:
                    desc = json.loads(p.read_text())
                except (OSError, ValueError) as e:
                    raise _err(f"{where}: key 'preset'", f"{p}: {e}") from None
                proc = Processor.from_dict(desc)
            else:
                cls_name = d.get("processor")
                import neuromaster  # noqa: F401  (registers every stage class)
                if cls_name not in Processor._registry or cls_name.startswith("_"):
                    known = sorted(k for k in Processor._registry if not k.startswith("_"))
                    raise _err(f"{where}: key 'processor'", f"unknown processor {cls_name!r}; known: {', '.join(known)}")
                proc = Processor._registry[cls_name]()
            g.add(name, proc)
            for k, v in params.items():
                _set_param(g, name, k, v, f"{where}: key 'parameters'.{k}")
        elif t == "plugin":
            if "plugin" not in d:
                raise _err(where, "needs key 'plugin' (a path or a name)")
            preset = _resolve_file(d["preset"], base, f"{where}: key 'preset'") if "preset" in d else None
            bs = _number(d["block_size"], f"{where}: key 'block_size'", 1, 65536, integer=True) if "block_size" in d else None
            lat = d.get("latency_samples")
            try:
                g.add_plugin(name, str(d["plugin"]), backend="dawdreamer", parameters=params, block_size=bs,
                             format=d.get("format"), latency_samples=lat, preset=preset)
            except PresetError as e:
                raise _err(f"{where}: key 'preset'", str(e)) from None
            except ParameterError as e:
                raise _err(f"{where}: key 'parameters'" if "parameter" in str(e).lower() or params else where,
                           str(e)) from None
        elif t == "pedalboard":
            bs = _number(d["block_size"], f"{where}: key 'block_size'", 1, 65536, integer=True) if "block_size" in d else None
            if ("plugin" in d) == ("builtin" in d):
                raise _err(where, "give exactly one of 'plugin' (a VST3) or 'builtin' (a pedalboard class)")
            if "plugin" in d:
                g.add_plugin(name, str(d["plugin"]), backend="pedalboard", parameters=params, block_size=bs)
            else:
                import pedalboard
                cls = getattr(pedalboard, str(d["builtin"]), None)
                if not (isinstance(cls, type) and issubclass(cls, pedalboard.Plugin)) or d["builtin"] in ("Plugin", "VST3Plugin"):
                    raise _err(f"{where}: key 'builtin'", f"no pedalboard plugin class {d['builtin']!r}")
                g.add(name, cls(), block_size=bs if bs is not None else g.block_size)
                for k, v in params.items():
                    _set_param(g, name, k, v, f"{where}: key 'parameters'.{k}")
        elif t == "faust":
            if ("code" in d) == ("file" in d):
                raise _err(where, "give exactly one of 'code' or 'file'")
            code = d.get("code")
            if "file" in d:
                p = _resolve_file(d["file"], base, f"{where}: key 'file'")
                try:
                    code = p.read_text()
                except OSError as e:
                    raise _err(f"{where}: key 'file'", f"{p}: {e.strerror or e}") from None
            bs = _number(d["block_size"], f"{where}: key 'block_size'", 1, 65536, integer=True) if "block_size" in d else None
            lat = _number(d.get("latency_samples", 0), f"{where}: key 'latency_samples'", 0, 10**7, integer=True)
            g.add_faust(name, code, block_size=bs, latency_samples=lat)
            for k, v in params.items():
                _set_param(g, name, k, v, f"{where}: key 'parameters'.{k}")
        elif t == "dawdreamer":
            bs = _number(d["block_size"], f"{where}: key 'block_size'", 1, 65536, integer=True) if "block_size" in d else None
            g.add_dawdreamer(name, str(d.get("processor")), block_size=bs)
            for k, v in params.items():
                _set_param(g, name, k, v, f"{where}: key 'parameters'.{k}")
    except PresetError:
        raise
    except NeuromasterError as e:
        raise _err(where, str(e)) from None


def _set_param(g, name, k, v, where):
    try:
        if isinstance(v, dict):
            if set(v) != {"normalized"}:
                raise ParameterError(f"a value is a number, a label, or {{normalized: x}}; got {v!r}")
            g[name].set_parameter(str(k), v["normalized"], normalized=True)
        elif isinstance(v, list):
            raise ParameterError("curves go under 'automation', not 'parameters'")
        else:
            g[name].set_parameter(str(k), v)
    except ParameterError as e:
        raise _err(where, str(e)) from None


def _apply_automation(g, name, pname, curve, where):
    if not isinstance(curve, dict):
        raise _err(where, "must be {breakpoints: [[t, v], ...]} or {samples: [...]} (plus normalized: true)")
    _check_keys(curve, ("breakpoints", "samples", "normalized"), where)
    kinds = [k for k in ("breakpoints", "samples") if k in curve]
    if len(kinds) != 1:
        raise _err(where, "give exactly one of 'breakpoints' or 'samples'")
    normalized = curve.get("normalized", False)
    if not isinstance(normalized, bool):
        raise _err(where, f"'normalized' must be true or false; got {normalized!r}")
    data = curve[kinds[0]]
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise _err(f"{where}.{kinds[0]}", "must hold numbers") from None
    if kinds[0] == "breakpoints" and (arr.ndim != 2 or arr.shape[1] != 2):
        raise _err(f"{where}.breakpoints", f"must be a list of [time_s, value] pairs; got shape {arr.shape}")
    if kinds[0] == "samples" and arr.ndim != 1:
        raise _err(f"{where}.samples", f"must be a flat list of values; got shape {arr.shape}")
    try:
        g[name].set_automation(pname, arr, normalized=normalized)
    except ParameterError as e:
        raise _err(where, str(e)) from None

"""Presets: chain settings, genre profiles and delivery targets (JSON only, never pickle).

Importable as :mod:`neuromaster.presets` (the package that also holds the
JSON files; this module is named ``preset_store`` so that it does not shadow
that package).

Files (package data in ``presets/``)
------------------------------------
``chains/NAME.json``
    A chain preset: stage settings for :class:`~neuromaster.MasteringChain`.
    ``chains/default.json`` is what ``neuromaster master`` uses without
    ``--preset``.
``genres/NAME.json``
    A genre profile: stage settings, *damage limits* for the closed loop
    (how far it may push the limiter) and a default delivery target.
``targets/NAME.json``
    A delivery target: integrated loudness, true-peak ceiling, tolerance and
    the source of the figures.

Preset schema (chains and genres)::

    {
      "kind": "genre",                      # or "chain"
      "name": "jazz",
      "description": "one line",
      "target": "apple_music",              # a target name, or {"integrated_lufs": .., "true_peak_dbtp": ..}
      "stages": {"limiter": {"bypass": false, "release_ms": 300.0}, ...},
      "limits": {"max_limiter_gain_reduction_db": 3.0, ...},
      "automation": {"gain.gain_db": {"breakpoints": [[0, -3], [10, 0]]}},   # chains only, optional
      "notes": {"stages.limiter.release_ms": "design choice: ...", ...}
    }

Stage settings are applied over the chain's defaults (``MasteringChain()``),
in file order, through the chain's own parameter table, so every value is
checked against the stage's current range. ``notes`` maps a place
(``"stages.limiter"``, ``"stages.limiter.release_ms"``, ``"limits"``,
``"target"``) to its source or rationale.

Errors name the file and the place, e.g. ``genres/jazz.json:
stages.limiter.ceiling_db: must be [-20, 0] dB; got 3``
(:class:`~neuromaster.errors.PresetError`, a ``ValueError``).
"""
from __future__ import annotations

import json
import math
import os
import pathlib
from dataclasses import dataclass, field

from .errors import ParameterError, PresetError

def presets_dir() -> pathlib.Path:
    """Folder of the shipped presets: the ``neuromaster.presets`` package (``presets/`` in the checkout)."""
    import importlib
    return pathlib.Path(importlib.import_module("neuromaster.presets").__file__).resolve().parent


FOLDERS = {"chain": "chains", "genre": "genres", "target": "targets"}

#: Damage limits a preset may set for the closed loop (name -> (minimum, maximum, unit, doc)).
LIMITS = {
    "max_limiter_gain_reduction_db": (0.0, 30.0, "dB",
                                      "deepest limiter gain reduction the loop may cause (peak of the trace)"),
    "max_limiter_mean_gain_reduction_db": (0.0, 30.0, "dB",
                                           "largest mean limiter gain reduction over the programme "
                                           "(10 ms ticks above the -70 LUFS gate)"),
    "max_limiter_input_gain_db": (-24.0, 24.0, "dB", "largest limiter input gain (drive) the loop may set"),
}

_PRESET_KEYS = ("kind", "name", "description", "target", "stages", "limits", "automation", "notes")
_TARGET_KEYS = ("name", "integrated_lufs", "true_peak_dbtp", "tolerance_lu", "source")

#: Ranges of a target's figures.
TARGET_LUFS_RANGE = (-50.0, 0.0)
TARGET_TRUE_PEAK_RANGE = (-20.0, 0.0)
TARGET_TOLERANCE_RANGE = (0.01, 3.0)


# --------------------------------------------------------------------- values
@dataclass(frozen=True)
class Target:
    """A delivery target.

    Attributes
    ----------
    name : str
    integrated_lufs : float
        BS.1770-4 integrated loudness to hit, LUFS (-50 to 0).
    true_peak_dbtp : float
        Ceiling for the delivered true peak, dBTP (-20 to 0).
    tolerance_lu : float
        Allowed distance from ``integrated_lufs``, LU (default 0.2).
    source : str
        Where the figures come from.
    """

    name: str
    integrated_lufs: float
    true_peak_dbtp: float
    tolerance_lu: float = 0.2
    source: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "integrated_lufs": self.integrated_lufs, "true_peak_dbtp": self.true_peak_dbtp,
                "tolerance_lu": self.tolerance_lu, "source": self.source}


@dataclass(frozen=True)
class Limits:
    """Damage limits for the closed loop (None = no limit beyond the stage's range)."""

    max_limiter_gain_reduction_db: float | None = None
    max_limiter_mean_gain_reduction_db: float | None = None
    max_limiter_input_gain_db: float | None = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in LIMITS if getattr(self, k) is not None}


@dataclass
class Preset:
    """A validated chain or genre preset (see the module docstring for the schema)."""

    name: str
    kind: str
    description: str = ""
    stages: dict = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    target: object = None          # str (target name), Target, or None
    automation: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    source: str = "<dict>"         # where it was loaded from (for messages)

    def build_chain(self, cls=None):
        """A new :class:`~neuromaster.MasteringChain` with this preset's settings."""
        if cls is None:
            from .mastering import MasteringChain as cls
        return _apply(cls(), self.stages, self.automation, self.source)

    def resolved_target(self) -> Target | None:
        """The preset's default target as a :class:`Target` (None if it names none)."""
        if self.target is None or isinstance(self.target, Target):
            return self.target
        return load_target(self.target)

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "name": self.name}
        if self.description:
            d["description"] = self.description
        if self.target is not None:
            d["target"] = self.target.to_dict() if isinstance(self.target, Target) else self.target
        d["stages"] = self.stages
        if self.limits.to_dict():
            d["limits"] = self.limits.to_dict()
        if self.automation:
            d["automation"] = self.automation
        if self.notes:
            d["notes"] = self.notes
        return d


# ------------------------------------------------------------------- reading
def _label(path: pathlib.Path) -> str:
    """Short name of a preset file for messages: ``genres/jazz.json`` for shipped ones."""
    try:
        return path.resolve().relative_to(presets_dir()).as_posix()
    except ValueError:
        return str(path)


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def read_json(path) -> tuple[dict, str]:
    """Parse a preset/target file: ``(object, label)``; errors name the file and the line."""
    p = pathlib.Path(path)
    label = _label(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise PresetError(f"{label}: is a directory, not a JSON file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PresetError(f"{label}: cannot be read ({e})") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise PresetError(f"{label}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except ValueError as e:
        raise PresetError(f"{label}: malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise PresetError(f"{label}: the top level must be a JSON object; got {type(obj).__name__}")
    return obj, label


def _is_path(name: str) -> bool:
    return name.endswith(".json") or os.sep in name or (os.altsep is not None and os.altsep in name)


def _find(name, kind: str) -> pathlib.Path:
    """Resolve a name (``jazz``, ``genres/jazz``) or a path to a file of ``kind``."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str) or not name:
        raise PresetError(f"a {kind} name must be a non-empty string or a path; got {name!r}")
    root = presets_dir()
    folders = [FOLDERS[kind]] if kind == "target" else [FOLDERS["chain"], FOLDERS["genre"]]
    head, _, tail = name.partition("/")
    if tail and head in FOLDERS.values() and "/" not in tail and not tail.endswith(".json"):
        candidate = root / head / f"{tail}.json"
        if candidate.is_file():
            return candidate
    if _is_path(name):
        p = pathlib.Path(name)
        if p.is_file():
            return p
        shipped = root / name
        if shipped.is_file():
            return shipped
        raise PresetError(f"{name}: no such {kind} file")
    for folder in folders:
        candidate = root / folder / f"{name}.json"
        if candidate.is_file():
            return candidate
    known = [n for folder in folders for n in _names(folder)]
    raise PresetError(f"unknown {kind} {name!r}; known: {', '.join(known) or 'none'} (or pass a .json path)")


def _names(folder: str) -> list[str]:
    d = presets_dir() / folder
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def list_presets() -> dict:
    """Shipped preset names: ``{"chains": [...], "genres": [...], "targets": [...]}``."""
    return {folder: _names(folder) for folder in ("chains", "genres", "targets")}


# ------------------------------------------------------------------ targets
def _number(value, place: str, lo: float, hi: float, unit: str, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise PresetError(f"{label}: {place}: must be a number in [{lo:g}, {hi:g}] {unit}; got {value!r}".rstrip())
    v = float(value)
    if not lo <= v <= hi:
        raise PresetError(f"{label}: {place}: must be [{lo:g}, {hi:g}] {unit}; got {value!r}".replace(" ;", ";"))
    return v


def target_from_dict(d: dict, label: str = "<dict>", name: str | None = None, place: str = "") -> Target:
    """Validate a target object (see :class:`Target`)."""
    pre = f"{place}." if place else ""
    if not isinstance(d, dict):
        raise PresetError(f"{label}: {place or 'target'}: must be an object; got {type(d).__name__}")
    unknown = [k for k in d if k not in _TARGET_KEYS]
    if unknown:
        raise PresetError(f"{label}: {pre}{unknown[0]}: unknown key; a target has {', '.join(_TARGET_KEYS)}")
    for key in ("integrated_lufs", "true_peak_dbtp"):
        if key not in d:
            raise PresetError(f"{label}: {pre}{key}: missing")
    lufs = _number(d["integrated_lufs"], pre + "integrated_lufs", *TARGET_LUFS_RANGE, "LUFS", label)
    tp = _number(d["true_peak_dbtp"], pre + "true_peak_dbtp", *TARGET_TRUE_PEAK_RANGE, "dBTP", label)
    tol = _number(d.get("tolerance_lu", 0.2), pre + "tolerance_lu", *TARGET_TOLERANCE_RANGE, "LU", label)
    nm = d.get("name", name or "custom")
    if not isinstance(nm, str) or not nm:
        raise PresetError(f"{label}: {pre}name: must be a non-empty string; got {nm!r}")
    src = d.get("source", "")
    if not isinstance(src, str):
        raise PresetError(f"{label}: {pre}source: must be a string; got {src!r}")
    return Target(nm, lufs, tp, tol, src)


def load_target(name_or_path) -> Target:
    """A delivery target by name (``"spotify"``) or path; a :class:`Target` passes through."""
    if isinstance(name_or_path, Target):
        return name_or_path
    path = _find(name_or_path, "target")
    obj, label = read_json(path)
    return target_from_dict(obj, label, name=path.stem)


def custom_target(integrated_lufs: float, true_peak_dbtp: float, tolerance_lu: float = 0.2) -> Target:
    """A target from figures (``--lufs X --ceiling Y``), validated like a file's."""
    return target_from_dict({"name": f"custom ({integrated_lufs:g} LUFS, {true_peak_dbtp:g} dBTP)",
                             "integrated_lufs": integrated_lufs, "true_peak_dbtp": true_peak_dbtp,
                             "tolerance_lu": tolerance_lu, "source": "given on the command line"}, "target")


# ------------------------------------------------------------------ presets
def _apply(chain, stages: dict, automation: dict, label: str):
    """Apply validated-shape stage settings to ``chain``; errors name the place."""
    from .mastering import STAGES
    classes = dict(STAGES)
    for stage, params in stages.items():
        if stage not in classes:
            raise PresetError(f"{label}: stages.{stage}: unknown stage; stages: {', '.join(classes)}")
        if not isinstance(params, dict):
            raise PresetError(f"{label}: stages.{stage}: must be an object of parameter values; "
                              f"got {type(params).__name__}")
        table = {p.name: p for p in classes[stage].PARAMETERS}
        for pname, value in params.items():
            place = f"stages.{stage}.{pname}"
            if pname != "bypass" and pname not in table:
                raise PresetError(f"{label}: {place}: unknown parameter; {stage} has: bypass, {', '.join(table)}")
            p = chain.parameters[f"{stage}.{pname}"]
            if isinstance(value, (list, dict)) or value is None:
                raise PresetError(f"{label}: {place}: must be {p.range_text}; got {value!r}")
            try:
                p.validate(value)
            except ParameterError:
                raise PresetError(f"{label}: {place}: must be {p.range_text}; got {value!r}") from None
            try:
                chain.set_parameter(f"{stage}.{pname}", value)
            except ParameterError as e:
                raise PresetError(f"{label}: {place}: {e}") from None
    for name, curve in (automation or {}).items():
        try:
            from .automation import Curve
            c = Curve.from_dict(chain._param(name), curve)
            chain.set_automation(name, c.values if c.kind == "samples" else [[t, v] for t, v in zip(c.times_s, c.values)])
        except ParameterError as e:
            raise PresetError(f"{label}: automation.{name}: {e}") from None
    return chain


def preset_from_dict(d: dict, label: str = "<dict>", kind: str | None = None, name: str | None = None) -> Preset:
    """Validate a preset object; errors name ``label`` and the place."""
    if not isinstance(d, dict):
        raise PresetError(f"{label}: a preset must be a JSON object; got {type(d).__name__}")
    unknown = [k for k in d if k not in _PRESET_KEYS]
    if unknown:
        raise PresetError(f"{label}: {unknown[0]}: unknown key; a preset has {', '.join(_PRESET_KEYS)}")
    k = d.get("kind", kind or "chain")
    if k not in ("chain", "genre"):
        raise PresetError(f"{label}: kind: must be 'chain' or 'genre'; got {k!r}")
    if kind is not None and k != kind:
        raise PresetError(f"{label}: kind: a file in {FOLDERS[kind]}/ must have kind {kind!r}; got {k!r}")
    pname = d.get("name", name or "custom")
    if not isinstance(pname, str) or not pname:
        raise PresetError(f"{label}: name: must be a non-empty string; got {pname!r}")
    desc = d.get("description", "")
    if not isinstance(desc, str):
        raise PresetError(f"{label}: description: must be a string; got {desc!r}")
    stages = d.get("stages", {})
    if not isinstance(stages, dict):
        raise PresetError(f"{label}: stages: must be an object (stage name -> parameters); got {type(stages).__name__}")
    automation = d.get("automation", {})
    if not isinstance(automation, dict):
        raise PresetError(f"{label}: automation: must be an object (flat parameter name -> curve)")
    # build once: validates every stage setting against the live parameter tables
    from .mastering import MasteringChain
    _apply(MasteringChain(), stages, automation, label)
    limits_d = d.get("limits", {})
    if not isinstance(limits_d, dict):
        raise PresetError(f"{label}: limits: must be an object; got {type(limits_d).__name__}")
    values = {}
    for key, value in limits_d.items():
        if key not in LIMITS:
            raise PresetError(f"{label}: limits.{key}: unknown limit; limits: {', '.join(LIMITS)}")
        if value is None:
            continue
        lo, hi, unit, _ = LIMITS[key]
        values[key] = _number(value, f"limits.{key}", lo, hi, unit, label)
    target = d.get("target")
    if isinstance(target, str):
        try:
            load_target(target)
        except PresetError as e:
            raise PresetError(f"{label}: target: {e}") from None
    elif isinstance(target, dict):
        target = target_from_dict(target, label, place="target")
    elif target is not None:
        raise PresetError(f"{label}: target: must be a target name or an object; got {target!r}")
    notes = d.get("notes", {})
    if not isinstance(notes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in notes.items()):
        raise PresetError(f"{label}: notes: must be an object of strings (place -> source or rationale)")
    return Preset(name=pname, kind=k, description=desc, stages=stages, limits=Limits(**values), target=target,
                  automation=automation, notes=notes, source=label)


def load_preset(name_or_path) -> Preset:
    """A chain or genre preset by name (``"default"``, ``"jazz"``, ``"genres/jazz"``) or path."""
    if isinstance(name_or_path, Preset):
        return name_or_path
    path = _find(name_or_path, "preset")
    obj, label = read_json(path)
    folder = path.resolve().parent
    kind = None
    root = presets_dir()
    for k, f in FOLDERS.items():
        if k != "target" and folder == (root / f).resolve():
            kind = k
    return preset_from_dict(obj, label, kind=kind, name=path.stem)


def show(name: str) -> dict:
    """The JSON object of a shipped or given preset/target, validated (for ``presets show``)."""
    try:
        path = _find(name, "preset")
        load_preset(path)
    except PresetError as first:
        try:
            path = _find(name, "target")
            load_target(path)
        except PresetError:
            raise first from None
    obj, label = read_json(path)
    return {"file": label, **obj}


__all__ = ["Target", "Limits", "Preset", "LIMITS", "load_preset", "load_target", "preset_from_dict",
           "target_from_dict", "custom_target", "list_presets", "read_json", "show", "presets_dir"]

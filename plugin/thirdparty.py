"""Third-party plugins: find, load, describe, set by name, map display units, verify latency.

Two hosts carry third-party plugins here:

* **DawDreamer** (:class:`ThirdPartyPlugin`): Linux VST2 ``.so`` and VST3
  bundles. This is the host of the graph's ``plugin`` nodes.
* **pedalboard** (:func:`load_pedalboard_plugin`): VST3 only; used by the
  graph's ``pedalboard`` nodes and by :class:`neuromaster.Chain`.

Finding plugins
---------------
A plugin is given by path, or by name from the standard folders
:data:`STANDARD_DIRS` plus ``VST_PATH`` and ``VST3_PATH`` (``os.pathsep``
separated). A name matches a file's stem case-insensitively with a ``-vst``
/ ``_vst`` suffix dropped (``"ZamComp"`` matches ``ZamComp-vst.so`` and
``ZamComp.vst3``), or a path relative to a plugin folder
(``"lsp-plugins/limiter-stereo"``). When a name matches both a VST3 and a
VST2, the VST3 wins unless ``format="vst2"`` is given; several matches of
one format raise with the candidates listed.

Parameters, read-back and display units
---------------------------------------
Parameters are addressed by the plugin's own name (``"th"``, ``"Threshold"``;
a name that occurs twice gets ``" #2"`` appended) or by index. Values are
written either normalised 0-1 (``normalized=True``, the plugin's native
scale) or in the plugin's **display units** (dB, ms, Hz... as the plugin
prints them; the default). DawDreamer's ``get_parameter`` returns its own
stored copy, not the plugin's value, so every write is read back through the
plugin itself (its ``getParameterText``) and checked.

Display units come from a :class:`DisplayMap` built from the plugin's own
text: the normalised range is sampled on a grid of
:data:`DISPLAY_GRID_POINTS` points, each text parsed, runs of equal text
collapsed to their centre, and the result inverted monotonically by
piecewise-linear interpolation in the value domain (linear, or logarithmic
where that fits the plugin's curve better). Accuracy is bounded by the
plugin's text resolution (LSP prints 0.01 dB, and three significant digits
for times and frequencies) plus the interpolation error, which the map
measures at the grid midpoints when it is built and exposes as
:attr:`DisplayMap.max_error`. Parameters whose text is a set of labels
(``"Peak"``, ``"RMS"``...) become choices set by label (the centre of the
label's normalised interval). Text that is neither numeric and monotonic nor
a small set of labels only takes normalised values.

Latency
-------
DawDreamer does not compensate plugin latency, and plugins update their
reported latency only once processing has started. So the reported figure is
read after a short throw-away render, and checked against an impulse through
the plugin (a -20 dBFS click: output peak position minus input position): a
:class:`LatencyCheck`. That happens at load and again whenever sample rate,
block size or parameters change. A mismatch warns (:class:`LatencyWarning`)
and the reported figure is used unless ``latency_samples`` overrides it (an
int, or ``"measured"``).

Renders
-------
Each render loads a fresh instance (DawDreamer does not clear a plugin's
state between renders: a reverb tail from one render would leak into the
next), restores the parameters, feeds the input through a
``PlaybackProcessor`` padded with ``latency`` zeros and drops the first
``latency`` output samples: the result is aligned with the input. Automation
is handed to DawDreamer's ``set_automation`` as per-sample normalised
curves; DawDreamer applies a curve once per engine block, at the block's
first sample (measured; see ``host_tests/test_thirdparty.py``), so the block
size is the automation resolution of a third-party node.

State
-----
A plugin's state is its parameter values (normalised, by index). DawDreamer's
``load_state`` is not used by default: with LSP's VST2 plugins it opens the
editor and crashes without a display, and after it DawDreamer re-applies its
own stored parameter copy anyway. The raw chunk is kept in presets and
restored before the parameters with ``restore_chunk=True`` (for plugins with
non-parameter state; run such renders in a worker). VST2 ``.fxp``/``.fxb``
and VST3 ``.vstpreset`` files load through DawDreamer's preset loaders.
"""
from __future__ import annotations

import base64
import contextlib
import math
import os
import pathlib
import re
import tempfile
import warnings
from dataclasses import dataclass

try:  # DawDreamer's LLVM must load before numba's (DESIGN.md, "Host bridge")
    import dawdreamer as _daw
except ImportError:  # pragma: no cover - dawdreamer is a hard dependency
    _daw = None

import numpy as np

from .audio import check_sample_rate
from .automation import Curve
from .errors import NeuromasterError, ParameterError, PresetError
from .params import Param

#: Folders searched for plugins by name (with ``VST_PATH`` / ``VST3_PATH``).
STANDARD_DIRS = ("/usr/lib/vst", "/usr/lib/lxvst", "/usr/lib/vst3", "~/.vst", "~/.vst3")

#: Grid of normalised values sampled to build a :class:`DisplayMap`.
DISPLAY_GRID_POINTS = 257

#: Default engine block size of DawDreamer-hosted nodes (samples).
DEFAULT_BLOCK_SIZE = 512

#: Level of the latency-check impulse (linear; -20 dBFS).
IMPULSE_LEVEL = 0.1

#: Samples of silence before the impulse in a latency check.
IMPULSE_OFFSET = 64

#: Samples rendered after the reported latency in a latency check.
IMPULSE_WINDOW = 8192


class PluginLoadError(NeuromasterError, OSError):
    """A third-party plugin cannot be found or loaded; the message names it."""


class ParameterReadbackError(ParameterError):
    """A parameter write did not read back as written (plugin snapped or refused it)."""


class LatencyWarning(UserWarning):
    """A plugin's reported latency differs from the impulse measurement."""


# ----------------------------------------------------------------- discovery
def plugin_format(path) -> str:
    """``"vst3"`` for a ``.vst3`` bundle/file, ``"vst2"`` for a ``.so``."""
    p = str(path).rstrip("/")
    if p.lower().endswith(".vst3"):
        return "vst3"
    if p.lower().endswith(".so"):
        return "vst2"
    raise PluginLoadError(f"{path}: not a plugin file (expected a .so VST2 or a .vst3 bundle)")


def plugin_dirs(paths=None, *, standard: bool = True) -> list[pathlib.Path]:
    """Plugin folders to search, existing ones only, without duplicates.

    Parameters
    ----------
    paths : sequence of str, optional
        Extra folders, searched first.
    standard : bool
        Include :data:`STANDARD_DIRS` and ``VST_PATH`` / ``VST3_PATH``.
    """
    cands = [pathlib.Path(p).expanduser() for p in (paths or ())]
    if standard:
        for var in ("VST_PATH", "VST3_PATH"):
            cands += [pathlib.Path(p).expanduser() for p in os.environ.get(var, "").split(os.pathsep) if p]
        cands += [pathlib.Path(p).expanduser() for p in STANDARD_DIRS]
    out, seen = [], set()
    for p in cands:
        try:
            key = p.resolve()
        except OSError:
            continue
        if p.is_dir() and key not in seen:
            seen.add(key)
            out.append(p)
    return out


def find_plugin_files(dirs) -> list[pathlib.Path]:
    """Plugin files under ``dirs``: ``.so`` (VST2) and ``.vst3`` bundles, sorted.

    ``.vst3`` bundles are not descended into (their inner ``.so`` is part of
    the bundle). Symlinks are followed; each real file is listed once.
    """
    found, seen = [], set()
    for d in dirs:
        d = pathlib.Path(d).expanduser()
        if d.suffix.lower() == ".vst3" or d.suffix.lower() == ".so":
            cands = [d]
        else:
            cands = []
            for root, subdirs, files in os.walk(d, followlinks=True):
                keep = []
                for s in sorted(subdirs):
                    if s.lower().endswith(".vst3"):
                        cands.append(pathlib.Path(root) / s)
                    else:
                        keep.append(s)
                subdirs[:] = keep
                cands += [pathlib.Path(root) / f for f in sorted(files) if f.lower().endswith((".so", ".vst3"))]
        for c in cands:
            try:
                key = c.resolve()
            except OSError:
                continue
            if key not in seen and c.exists():
                seen.add(key)
                found.append(c)
    return sorted(found, key=lambda p: str(p))


def _name_key(path: pathlib.Path) -> str:
    stem = path.name
    for suf in (".vst3", ".so"):
        if stem.lower().endswith(suf):
            stem = stem[: -len(suf)]
    stem = stem.lower()
    for suf in ("-vst", "_vst", "-vst2", "_vst2"):
        if stem.endswith(suf):
            stem = stem[: -len(suf)]
    return stem


def resolve_plugin(name_or_path, *, format: str | None = None, paths=None) -> pathlib.Path:
    """Path of a plugin given by path or by name (see the module docstring).

    Raises
    ------
    PluginLoadError
        Nothing matches (the message lists the folders searched), or several
        plugins of the preferred format match.
    """
    if format not in (None, "vst2", "vst3"):
        raise ParameterError(f"format must be 'vst2', 'vst3' or None; got {format!r}")
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path):
        raise ParameterError(f"a plugin is given by a path or a name (string); got {name_or_path!r}")
    p = pathlib.Path(name_or_path).expanduser()
    if p.exists():
        fmt = plugin_format(p)
        if format is not None and fmt != format:
            raise PluginLoadError(f"{p} is a {fmt.upper()} plugin, not {format.upper()}")
        return p
    if p.is_absolute() or str(name_or_path).startswith(("./", "../", "~")):
        raise PluginLoadError(f"{p}: no such plugin file")
    dirs = plugin_dirs(paths)
    want = str(name_or_path).lower().rstrip("/")
    want_key = _name_key(pathlib.Path(want))
    matches = []
    for d in dirs:
        for f in find_plugin_files([d]):
            rel = str(f.relative_to(d)).lower()
            rel_key = rel[: -len(f.suffix)] if f.suffix else rel
            if "/" in want:
                hit = want in (rel, rel_key)
            else:
                hit = _name_key(f) == want_key
            if hit:
                matches.append(f)
    if format is not None:
        matches = [m for m in matches if plugin_format(m) == format]
    if not matches:
        where = ", ".join(str(d) for d in dirs) or "(no plugin folders exist)"
        raise PluginLoadError(f"no plugin named {str(name_or_path)!r}{' (' + format + ')' if format else ''} in {where}")
    by_fmt = {"vst3": [m for m in matches if plugin_format(m) == "vst3"],
              "vst2": [m for m in matches if plugin_format(m) == "vst2"]}
    chosen = by_fmt["vst3"] or by_fmt["vst2"]
    unique = {m.resolve(): m for m in chosen}
    if len(unique) > 1:
        listed = ", ".join(str(m) for m in unique.values())
        raise PluginLoadError(f"plugin name {str(name_or_path)!r} is ambiguous: {listed}; pass a path")
    return next(iter(unique.values()))


class _Captured:
    text = ""


@contextlib.contextmanager
def capture_native_output():
    """Collect what native code writes to file descriptors 1 and 2 meanwhile.

    DawDreamer, JUCE and the plugins print progress lines ("Attempting to
    load VST...") from C++; they would clutter the CLI and corrupt
    machine-readable output (``plugins list --json``). The text is kept on
    the yielded object (``.text``) so a load error can quote the reason.
    """
    import sys
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # pragma: no cover
            pass
    cap = _Captured()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # pragma: no cover - no fds to redirect
        yield cap
        return
    tmp = tempfile.TemporaryFile(mode="w+b")
    try:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        yield cap
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        tmp.seek(0)
        cap.text = tmp.read().decode("utf-8", "replace")
        tmp.close()




# ------------------------------------------------------------- display text
_NUM = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)")
_INF = re.compile(r"^\s*([-+]?)(?:inf(?:inity)?|\u221e)\b", re.IGNORECASE)


def parse_display_value(text: str) -> float | None:
    """The number a parameter text starts with (``"-12.00"``, ``"447 Hz"``,
    ``"-inf"``), or None for a label (``"RMS"``, ``"off"``)."""
    if not isinstance(text, str):
        return None
    m = _INF.match(text)
    if m:
        return -math.inf if m.group(1) == "-" else math.inf
    m = _NUM.match(text)
    if not m:
        return None
    rest = text[m.end():].strip()
    # "12 dB/o" style labels of a stepped choice still parse; the caller
    # decides numeric vs choice from the whole curve.
    try:
        v = float(m.group(1))
    except ValueError:  # pragma: no cover
        return None
    if rest and rest[0].isdigit():  # pragma: no cover - malformed
        return None
    return v


def _text_resolution(texts) -> float:
    """Smallest display quantum implied by the texts (10**-decimals), > 0."""
    best = math.inf
    for t in texts:
        m = _NUM.match(t) if isinstance(t, str) else None
        if not m:
            continue
        s = m.group(1)
        if "e" in s.lower():
            continue
        dec = len(s.split(".")[1]) if "." in s else 0
        best = min(best, 10.0 ** (-dec))
    return best if math.isfinite(best) else 1.0


class DisplayMap:
    """Mapping between a plugin parameter's normalised value and its display units.

    Built from ``text_at(x) -> str`` (the plugin's text for normalised ``x``)
    on a grid of ``points`` values; see the module docstring.

    Attributes
    ----------
    kind : {"numeric", "choice", "text"}
    unit : str
        The plugin's label for the parameter ("dB", "ms", ...).
    minimum, maximum : float
        Finite display range (numeric maps).
    resolution : float
        Quantum of the plugin's text (e.g. 0.01 for "-12.00").
    max_error : float
        Largest difference, in display units, between the map's prediction
        and the plugin's text at the grid midpoints (measured when built).
    labels : list of str
        Choice labels in normalised order (choice maps).
    """

    def __init__(self, text_at, unit: str = "", points: int = DISPLAY_GRID_POINTS, name: str = ""):
        self.name = name
        self.unit = unit
        xs = np.linspace(0.0, 1.0, int(points))
        texts = [text_at(float(x)) for x in xs]
        vals = [parse_display_value(t) for t in texts]
        self.kind = "text"
        self.labels: list[str] = []
        self._label_x: dict[str, tuple[float, float]] = {}
        self.minimum = self.maximum = math.nan
        self.resolution = _text_resolution(texts)
        self.max_error = math.nan
        self.log_domain = False
        numeric = all(v is not None for v in vals)
        if numeric:
            arr = np.array(vals, dtype=np.float64)
            finite = np.isfinite(arr)
            # +-inf only at the ends (e.g. a gain's "-inf" at 0)
            inner_ok = finite[1:-1].all() if arr.size > 2 else True
            d = np.diff(arr[finite])
            monotonic = finite.sum() >= 2 and (np.all(d >= 0) or np.all(d <= 0)) and np.any(d != 0)
            distinct = np.unique(arr[finite]).size
            if inner_ok and monotonic and distinct >= 8:
                self._build_numeric(xs, arr, text_at)
                return
        distinct_texts = list(dict.fromkeys(texts))
        if 1 < len(distinct_texts) <= 64:
            self._build_choice(xs, texts)

    # numeric -------------------------------------------------------------
    def _build_numeric(self, xs, arr, text_at):
        self.kind = "numeric"
        finite = np.isfinite(arr)
        self._x_neg_inf = float(xs[np.argmax(arr == -np.inf)]) if np.any(arr == -np.inf) else None
        self._x_pos_inf = float(xs[np.argmax(arr == np.inf)]) if np.any(arr == np.inf) else None
        fx, fv = xs[finite], arr[finite]
        # collapse runs of equal text to their centre
        cx, cv = [], []
        i = 0
        while i < fv.size:
            j = i
            while j + 1 < fv.size and fv[j + 1] == fv[i]:
                j += 1
            cx.append(0.5 * (fx[i] + fx[j]))
            cv.append(fv[i])
            i = j + 1
        cx, cv = np.array(cx), np.array(cv)
        # keep the exact ends: the first/last grid points map to the range ends
        if cx[0] != fx[0]:
            cx = np.concatenate([[fx[0]], cx])
            cv = np.concatenate([[fv[0]], cv])
        if cx[-1] != fx[-1]:
            cx = np.concatenate([cx, [fx[-1]]])
            cv = np.concatenate([cv, [fv[-1]]])
        # keep one point per value for the inverse (ends repeat after the additions)
        _, first = np.unique(cv, return_index=True)
        order = np.sort(first)
        self._cx, self._cv = cx[order], cv[order]
        self.increasing = bool(self._cv[-1] > self._cv[0])
        self.minimum, self.maximum = float(self._cv.min()), float(self._cv.max())
        # choose the interpolation domain by the error at the grid midpoints
        mids = 0.5 * (fx[1:] + fx[:-1])
        truth = np.array([parse_display_value(text_at(float(x))) for x in mids], dtype=np.float64)
        ok = np.isfinite(truth)
        err_lin = np.abs(self._forward(mids[ok], False) - truth[ok])
        best = float(err_lin.max()) if err_lin.size else 0.0
        if self.minimum > 0:
            err_log = np.abs(self._forward(mids[ok], True) - truth[ok])
            if err_log.size and float(err_log.max()) < best:
                self.log_domain, best = True, float(err_log.max())
        self.max_error = best
        self._mid_rel = float(np.max(np.abs(self._forward(mids[ok], self.log_domain) - truth[ok])
                                     / np.maximum(np.abs(truth[ok]), 1e-12))) if ok.any() else 0.0

    def _forward(self, x, log_domain):
        if log_domain:
            return np.exp(np.interp(x, self._cx, np.log(self._cv)))
        return np.interp(x, self._cx, self._cv)

    def to_display(self, x):
        """Display value(s) for normalised ``x`` (numeric maps)."""
        self._need("numeric")
        x = np.asarray(x, dtype=np.float64)
        y = self._forward(x, self.log_domain)
        if self._x_neg_inf is not None:  # the plugin prints -inf at one end of the range
            at_low_end = self._x_neg_inf < 0.5
            y = np.where(x <= self._x_neg_inf if at_low_end else x >= self._x_neg_inf, -np.inf, y)
        return y

    def to_normalized(self, value):
        """Normalised value(s) for display ``value`` (numeric maps).

        Raises
        ------
        ParameterError
            A value outside the finite display range (``-inf`` / ``inf`` are
            accepted where the plugin shows them).
        """
        self._need("numeric")
        v = np.asarray(value, dtype=np.float64)
        out = np.empty_like(v)
        neg, pos = v == -np.inf, v == np.inf
        if neg.any() and self._x_neg_inf is None or pos.any() and self._x_pos_inf is None:
            raise ParameterError(f"{self.name}: the plugin shows no infinite value; range {self.range_text}")
        fin = ~(neg | pos)
        vf = v[fin]
        if vf.size and (np.isnan(vf).any() or vf.min() < self.minimum - 1e-9 * max(1.0, abs(self.minimum))
                        or vf.max() > self.maximum + 1e-9 * max(1.0, abs(self.maximum))):
            bad = vf[np.isnan(vf) | (vf < self.minimum) | (vf > self.maximum)][0]
            raise ParameterError(f"{self.name} must be in {self.range_text}; got {bad:g}")
        vf = np.clip(vf, self.minimum, self.maximum)
        cv, cx = (self._cv, self._cx) if self.increasing else (self._cv[::-1], self._cx[::-1])
        if self.log_domain:
            out[fin] = np.interp(np.log(vf), np.log(cv), cx)
        else:
            out[fin] = np.interp(vf, cv, cx)
        if neg.any():
            out[neg] = self._x_neg_inf
        if pos.any():
            out[pos] = self._x_pos_inf
        return out if out.ndim else float(out)

    def tolerance(self, value: float, text: str | None = None) -> float:
        """Allowed read-back difference at ``value`` (display units): half the
        quantum of the plugin's text (from ``text`` when given, e.g. 1 for
        "447", 0.01 for "-12.00") plus the map's measured interpolation error
        (absolute, or relative to ``value`` for log-domain maps)."""
        if self.kind != "numeric":
            return 0.0
        quantum = _text_resolution([text]) if text is not None else self.resolution
        scale = abs(value) if math.isfinite(value) else 0.0
        interp = self._mid_rel * scale if self.log_domain else self.max_error
        return 0.5 * quantum + interp + 1e-9 * max(1.0, scale)

    # choice --------------------------------------------------------------
    def _build_choice(self, xs, texts):
        self.kind = "choice"
        runs = []
        i = 0
        while i < len(texts):
            j = i
            while j + 1 < len(texts) and texts[j + 1] == texts[i]:
                j += 1
            runs.append((texts[i], xs[i], xs[j]))
            i = j + 1
        for label, a, b in runs:
            if label not in self._label_x:
                self.labels.append(label)
                self._label_x[label] = (float(a), float(b))

    def label_to_normalized(self, label: str) -> float:
        """Normalised value (centre of the label's interval) for a choice label."""
        self._need("choice")
        if label not in self._label_x:
            low = {l.lower(): l for l in self.labels}
            if isinstance(label, str) and label.lower() in low:
                label = low[label.lower()]
            else:
                raise ParameterError(f"{self.name} must be one of {', '.join(repr(l) for l in self.labels)}; got {label!r}")
        a, b = self._label_x[label]
        return 0.5 * (a + b)

    # --------------------------------------------------------------------
    @property
    def range_text(self) -> str:
        if self.kind == "numeric":
            lo, hi = self.minimum, self.maximum
            inf = " (or -inf)" if self._x_neg_inf is not None else ""
            return f"[{lo:g}, {hi:g}] {self.unit}{inf}".strip()
        if self.kind == "choice":
            return "one of " + ", ".join(repr(l) for l in self.labels)
        return "[0, 1] (normalised only)"

    def param(self) -> Param:
        """A :class:`Param` over the finite display range (for curve validation)."""
        self._need("numeric")
        return Param(self.name or "value", self.minimum, self.maximum, self.minimum, unit=self.unit)

    def _need(self, kind):
        if self.kind != kind:
            raise ParameterError(f"{self.name}: the plugin's text for this parameter is {self.kind}, "
                                 f"not {kind}; set it normalised (0-1)")

    def describe(self) -> dict:
        d = {"kind": self.kind, "unit": self.unit}
        if self.kind == "numeric":
            d.update(minimum=self.minimum, maximum=self.maximum, resolution=self.resolution,
                     max_error=self.max_error, log_domain=self.log_domain,
                     minus_inf=self._x_neg_inf is not None)
        elif self.kind == "choice":
            d["labels"] = list(self.labels)
        return d

    def __repr__(self):
        return f"<DisplayMap {self.name} {self.kind} {self.range_text}>"


# ----------------------------------------------------------- plugin objects
@dataclass
class PluginParameter:
    """One parameter of a third-party plugin (as the plugin describes it)."""

    index: int
    name: str
    unit: str
    discrete: bool = False
    num_steps: int = 0
    automatable: bool = True
    default: float = 0.0          #: normalised value after load
    default_text: str = ""

    def describe(self) -> dict:
        return {"index": self.index, "name": self.name, "unit": self.unit, "discrete": self.discrete,
                "num_steps": self.num_steps, "automatable": self.automatable,
                "default": self.default, "default_text": self.default_text}


@dataclass
class LatencyCheck:
    """Reported latency against an impulse measurement, at one setting."""

    reported: int
    measured: int | None      #: None when the impulse produced no output
    sample_rate: float
    block_size: int

    @property
    def ok(self) -> bool:
        return self.measured is not None and self.measured == self.reported

    def describe(self) -> dict:
        return {"reported": self.reported, "measured": self.measured, "ok": self.ok,
                "sample_rate": self.sample_rate, "block_size": self.block_size}


def _check_block_size(block_size) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or not 1 <= block_size <= 65536:
        raise ParameterError(f"block_size must be an integer in [1, 65536] samples; got {block_size!r}")
    return int(block_size)


class ThirdPartyPlugin:
    """A VST2 (``.so``) or VST3 plugin hosted by DawDreamer.

    Parameters
    ----------
    plugin : str or path
        Path, or name from the standard folders (see :func:`resolve_plugin`).
    sample_rate : float
        Rate in Hz of the template instance (22050-192000) and of the
        latency check at load; each render loads a fresh instance at the
        render's own rate.
    block_size : int
        DawDreamer engine block size (1-65536, default 512): the plugin sees
        blocks of this size and automation is applied once per block.
    format : {"vst2", "vst3"}, optional
        Disambiguates a name.
    parameters : dict, optional
        Initial values by name, in display units (or ``{"normalized": x}``).
    latency_samples : None, int or "measured"
        Override the reported latency used for compensation.
    verify_latency : bool
        Measure the latency with an impulse at load (default True).
    paths : sequence of str, optional
        Extra folders to search for a name.
    restore_chunk : bool
        Also restore the raw state chunk (DawDreamer ``load_state``) in
        presets and renders, before the parameters. Off by default: LSP's
        VST2 plugins crash on it without a display (use a worker).

    Examples
    --------
    >>> lim = ThirdPartyPlugin("lsp-plugins/limiter-stereo")      # doctest: +SKIP
    >>> lim.set_parameter("th", -6.0)                             # dB
    >>> lim.latency_check.reported, lim.latency_check.measured
    (220, 220)
    >>> y = lim.process(x, 44100)                                 # aligned with x
    """

    def __init__(self, plugin, sample_rate: float = 44100.0, block_size: int = DEFAULT_BLOCK_SIZE, *,
                 format: str | None = None, parameters: dict | None = None, latency_samples=None,
                 verify_latency: bool = True, paths=None, restore_chunk: bool = False):
        if _daw is None:  # pragma: no cover
            raise PluginLoadError("DawDreamer is not installed: pip install dawdreamer")
        self.path = resolve_plugin(plugin, format=format, paths=paths)
        self.format = plugin_format(self.path)
        self.sample_rate = check_sample_rate(sample_rate)
        self.block_size = _check_block_size(block_size)
        self.restore_chunk = bool(restore_chunk)
        self._chunk: bytes | None = None
        self._latency_override = None
        self.latency_samples = latency_samples
        self._automation: dict[int, tuple] = {}
        self._maps: dict[int, DisplayMap] = {}
        self._checks: dict[tuple, LatencyCheck] = {}
        self._reported: dict[tuple, int] = {}
        self._load_template()
        # the impulse check runs at load, with the plugin's own defaults (a
        # wet-only reverb or a gate set later would mislead an impulse)
        self.latency_check = self.verify_latency() if verify_latency else None
        if parameters:
            for k, v in parameters.items():
                self._set_from_spec(k, v)

    # ------------------------------------------------------------ loading
    def _new_engine(self, sample_rate: float, block_size: int):
        eng = _daw.RenderEngine(float(sample_rate), int(block_size))
        try:
            with capture_native_output() as out:
                proc = eng.make_plugin_processor("plugin", str(self.path))
        except Exception as e:
            said = [l.strip() for l in out.text.splitlines() if "error" in l.lower() or "unable" in l.lower()]
            why = f"{e}" + (f"; {said[-1]}" if said and said[-1] not in str(e) else "")
            raise PluginLoadError(f"{self.path}: DawDreamer cannot load it ({why})") from None
        if proc.get_plugin_parameter_size() < 0:  # pragma: no cover
            raise PluginLoadError(f"{self.path}: loaded without parameters")
        return eng, proc

    def _load_template(self):
        self._engine, self._proc = self._new_engine(self.sample_rate, self.block_size)
        desc = self._proc.get_parameters_description()
        if not desc and self._proc.get_num_output_channels() == 0:
            raise PluginLoadError(f"{self.path}: not an audio plugin (no parameters, no outputs)")
        self.num_input_channels = int(self._proc.get_num_input_channels())
        self.num_output_channels = int(self._proc.get_num_output_channels())
        if self.num_output_channels < 1:
            raise PluginLoadError(f"{self.path}: the plugin has no audio outputs")
        self.name = _plugin_display_name(self._proc, self.path)
        self.parameters: list[PluginParameter] = []
        counts: dict[str, int] = {}
        for d in desc:
            base = str(d.get("name", f"param{d['index']}")) or f"param{d['index']}"
            counts[base] = counts.get(base, 0) + 1
            name = base if counts[base] == 1 else f"{base} #{counts[base]}"
            i = int(d["index"])
            self.parameters.append(PluginParameter(
                index=i, name=name, unit=str(d.get("label", "")),
                discrete=bool(d.get("isDiscrete", False)), num_steps=int(d.get("numSteps", 0) or 0),
                automatable=bool(d.get("isAutomatable", True)),
                default=float(self._proc.get_parameter(i)), default_text=self._proc.get_parameter_text(i)))
        self._by_name = {p.name: p for p in self.parameters}
        self._by_name_lower = {}
        for p in self.parameters:
            self._by_name_lower.setdefault(p.name.lower(), p)

    # --------------------------------------------------------- parameters
    def parameter(self, key) -> PluginParameter:
        """A parameter by name (exact, then case-insensitive) or index."""
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if 0 <= int(key) < len(self.parameters):
                return self.parameters[int(key)]
            raise ParameterError(f"{self.name}: parameter index must be in [0, {len(self.parameters) - 1}]; got {key}")
        if isinstance(key, str):
            p = self._by_name.get(key) or self._by_name_lower.get(key.lower())
            if p is not None:
                return p
        shown = ", ".join(p.name for p in self.parameters[:40]) + (" ..." if len(self.parameters) > 40 else "")
        raise ParameterError(f"{self.name} has no parameter {key!r}; parameters: {shown}")

    def display_map(self, key) -> DisplayMap:
        """The parameter's :class:`DisplayMap` (built on first use, then cached)."""
        p = self.parameter(key)
        m = self._maps.get(p.index)
        if m is None:
            i = p.index
            saved = float(self._proc.get_parameter(i))

            def text_at(x):
                self._proc.set_parameter(i, x)
                return self._proc.get_parameter_text(i)

            try:
                m = DisplayMap(text_at, unit=p.unit, name=f"{self.name}.{p.name}")
            finally:
                self._proc.set_parameter(i, saved)
            self._maps[i] = m
        return m

    def get_normalized(self, key) -> float:
        """Current normalised value (DawDreamer's stored copy)."""
        return float(self._proc.get_parameter(self.parameter(key).index))

    def get_text(self, key) -> str:
        """The plugin's own text for the parameter's current value."""
        return self._proc.get_parameter_text(self.parameter(key).index)

    def get_value(self, key):
        """Current value in display units (float), or the label (choices)."""
        m = self.display_map(key)
        t = self.get_text(key)
        if m.kind == "numeric":
            return parse_display_value(t)
        return t

    def set_normalized(self, key, x: float) -> None:
        """Write a normalised 0-1 value and check the read-back."""
        p = self.parameter(key)
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) or not (0.0 <= float(x) <= 1.0):
            raise ParameterError(f"{self.name}.{p.name} normalised value must be in [0, 1]; got {x!r}")
        self._automation.pop(p.index, None)
        self._write(p, float(x), expect=None)

    def set_parameter(self, key, value, normalized: bool = False) -> None:
        """Set a parameter in display units (number, or label for choices),
        or normalised 0-1 with ``normalized=True``; a 1-D array or
        ``(time_s, value)`` breakpoints set automation instead."""
        from .automation import is_curve_value
        if is_curve_value(value):
            self.set_automation(key, value, normalized=normalized)
            return
        if normalized:
            self.set_normalized(key, value)
            return
        p = self.parameter(key)
        m = self.display_map(p.index)
        if m.kind == "choice":
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                # a stepped numeric parameter ("1", "2", "4" ...): match the label's number
                hits = [l for l in m.labels if parse_display_value(l) == float(value)]
                value = hits[0] if len(hits) == 1 else value
            if not isinstance(value, str):
                raise ParameterError(f"{self.name}.{p.name} takes a label, one of {', '.join(repr(l) for l in m.labels)}; got {value!r}")
            x = m.label_to_normalized(value)
            self._automation.pop(p.index, None)
            self._write(p, x, expect=("label", value))
            return
        if m.kind != "numeric":
            raise ParameterError(f"{self.name}.{p.name}: its text is not numeric; set it with normalized=True")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ParameterError(f"{self.name}.{p.name} must be a number in {m.range_text}; got {value!r}")
        x = float(m.to_normalized(float(value)))
        self._automation.pop(p.index, None)
        self._write(p, x, expect=("value", float(value)))

    def _write(self, p: PluginParameter, x: float, expect) -> None:
        self._proc.set_parameter(p.index, float(x))
        stored = float(self._proc.get_parameter(p.index))
        if abs(stored - x) > 1e-6:
            raise ParameterReadbackError(f"{self.name}.{p.name}: wrote {x:.6g}, DawDreamer stored {stored:.6g}")
        text = self._proc.get_parameter_text(p.index)
        if expect is None:
            m = self._maps.get(p.index)
            if m is not None and m.kind == "numeric":
                got, want = parse_display_value(text), float(m.to_display(x))
                if got is None or not _close(got, want, m.tolerance(want, text)):
                    raise ParameterReadbackError(
                        f"{self.name}.{p.name}: normalised {x:.6g} reads back as {text!r}; expected about {want:g} {m.unit}")
            return
        kind, want = expect
        m = self.display_map(p.index)
        if kind == "label":
            label = m.labels[[l.lower() for l in m.labels].index(str(want).lower())]
            if text != label:
                raise ParameterReadbackError(f"{self.name}.{p.name}: set to {label!r}, the plugin reads back {text!r}")
            return
        got = parse_display_value(text)
        tol = m.tolerance(want, text)
        if got is None or not _close(got, want, tol):
            raise ParameterReadbackError(
                f"{self.name}.{p.name}: set to {want:g} {m.unit}, the plugin reads back {text!r} "
                f"(tolerance {tol:.3g} {m.unit})")

    def _set_from_spec(self, key, value):
        if isinstance(value, dict):
            if set(value) == {"normalized"}:
                self.set_normalized(key, value["normalized"])
                return
            raise ParameterError(f"{self.name}.{key}: a value is a number, a label, or {{normalized: x}}; got {value!r}")
        self.set_parameter(key, value)

    # ---------------------------------------------------------- automation
    def set_automation(self, key, data, normalized: bool = False) -> None:
        """Drive a parameter with a curve: per-sample array or ``(time_s, value)``
        breakpoints, in display units (numeric parameters) or normalised 0-1
        with ``normalized=True``. Applied by DawDreamer once per engine block."""
        p = self.parameter(key)
        if not p.automatable:
            raise ParameterError(f"{self.name}.{p.name} is not automatable (the plugin says so)")
        if normalized:
            curve = Curve(Param(p.name, 0.0, 1.0, 0.0), data)
        else:
            m = self.display_map(p.index)
            curve = Curve(m.param(), data)
        self._automation[p.index] = (curve, bool(normalized))

    def clear_automation(self, key=None) -> None:
        if key is None:
            self._automation.clear()
        else:
            self._automation.pop(self.parameter(key).index, None)

    @property
    def automated_parameters(self) -> list[str]:
        return [self.parameters[i].name for i in self._automation]

    def automation_curve(self, key, n: int, sample_rate: float) -> np.ndarray:
        """The normalised per-sample curve handed to DawDreamer (length ``n``)."""
        p = self.parameter(key)
        curve, normalized = self._automation[p.index]
        v = curve.render(0, n, sample_rate)
        if normalized:
            return v
        return np.asarray(self.display_map(p.index).to_normalized(v), dtype=np.float64)

    # ---------------------------------------------------------------- state
    def normalized_values(self) -> dict[int, float]:
        return {p.index: float(self._proc.get_parameter(p.index)) for p in self.parameters}

    def get_chunk(self) -> bytes | None:
        """DawDreamer's saved state of the template instance (may be empty)."""
        fd, tmp = tempfile.mkstemp(suffix=".state")
        os.close(fd)
        try:
            self._proc.save_state(tmp)
            data = pathlib.Path(tmp).read_bytes()
        except Exception:
            data = None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return data or None

    def load_preset(self, path) -> None:
        """Load a VST2 ``.fxp``/``.fxb`` or VST3 ``.vstpreset`` file, then check
        that DawDreamer's parameter copy follows (it re-reads the plugin)."""
        p = pathlib.Path(path).expanduser()
        if not p.is_file():
            raise PresetError(f"{p}: preset file not found")
        ext = p.suffix.lower()
        if ext in (".fxp", ".fxb"):
            ok = self._proc.load_preset(str(p))
        elif ext == ".vstpreset":
            ok = self._proc.load_vst3_preset(str(p))
        elif ext == ".json":
            import json
            try:
                d = json.loads(p.read_text())
            except (OSError, ValueError) as e:
                raise PresetError(f"{p}: not a JSON plugin preset ({e})") from None
            self._apply_preset_dict(d, str(p))
            return
        else:
            raise PresetError(f"{p}: unknown preset type {ext!r}; use .fxp, .fxb, .vstpreset or .json")
        if not ok:
            raise PresetError(f"{p}: the plugin refused the preset")

    def to_dict(self) -> dict:
        """JSON-safe preset: path, format, every parameter (normalised, by
        name), automation, block size, and the raw chunk (base64)."""
        d = {"type": "plugin", "path": str(self.path), "format": self.format, "block_size": self.block_size,
             "parameters": {p.name: {"normalized": float(self._proc.get_parameter(p.index))} for p in self.parameters}}
        chunk = self.get_chunk()
        if chunk:
            d["chunk"] = base64.b64encode(chunk).decode("ascii")
        if self._automation:
            d["automation"] = {self.parameters[i].name: dict(c.to_dict(), normalized=nz)
                               for i, (c, nz) in self._automation.items()}
        if self._latency_override is not None:
            d["latency_samples"] = self._latency_override
        return d

    def _apply_preset_dict(self, d: dict, where: str = "preset"):
        if not isinstance(d, dict):
            raise PresetError(f"{where}: a plugin preset must be an object")
        if self.restore_chunk and d.get("chunk"):
            self._load_chunk(base64.b64decode(d["chunk"]))
        for k, v in (d.get("parameters") or {}).items():
            try:
                self._set_from_spec(k, v)
            except ParameterError as e:
                raise PresetError(f"{where}: parameter {k!r}: {e}") from None
        for k, c in (d.get("automation") or {}).items():
            c = dict(c)
            nz = bool(c.pop("normalized", False))
            key, val = next(iter(c.items())) if len(c) == 1 else (None, None)
            if key not in ("samples", "breakpoints"):
                raise PresetError(f"{where}: automation for {k!r} needs 'samples' or 'breakpoints'")
            self.set_automation(k, val, normalized=nz)

    @classmethod
    def from_dict(cls, d: dict, *, sample_rate: float = 44100.0, restore_chunk: bool = False,
                  verify_latency: bool = True) -> "ThirdPartyPlugin":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict) or "path" not in d:
            raise PresetError("a plugin preset needs at least 'path'")
        plug = cls(d["path"], sample_rate=sample_rate, block_size=d.get("block_size", DEFAULT_BLOCK_SIZE),
                   latency_samples=d.get("latency_samples"), verify_latency=verify_latency,
                   restore_chunk=restore_chunk)
        plug._apply_preset_dict(d, f"preset for {d['path']}")
        return plug

    def _load_chunk(self, data: bytes):
        fd, tmp = tempfile.mkstemp(suffix=".state")
        os.close(fd)
        try:
            pathlib.Path(tmp).write_bytes(data)
            with capture_native_output():
                self._proc.load_state(tmp)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._chunk = data

    def __getstate__(self):
        return {"dict": self.to_dict(), "sample_rate": self.sample_rate, "restore_chunk": self.restore_chunk,
                "checks": self._checks, "reported": self._reported,
                "latency_check": getattr(self, "latency_check", None)}

    def __setstate__(self, state):
        other = ThirdPartyPlugin.from_dict(state["dict"], sample_rate=state["sample_rate"],
                                           restore_chunk=state["restore_chunk"], verify_latency=False)
        self.__dict__.update(other.__dict__)
        self._checks = dict(state.get("checks") or {})
        self._reported = dict(state.get("reported") or {})
        self.latency_check = state.get("latency_check")

    # -------------------------------------------------------------- latency
    @property
    def latency_samples(self):
        """Override for the compensation latency: None, an int, or "measured"."""
        return self._latency_override

    @latency_samples.setter
    def latency_samples(self, v):
        if v is not None and v != "measured" and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0):
            raise ParameterError(f"latency_samples must be None, 'measured' or an integer >= 0; got {v!r}")
        self._latency_override = v if v is None or v == "measured" else int(v)

    def _settings_key(self, sample_rate, block_size):
        vals = tuple(round(v, 7) for v in self.normalized_values().values())
        return (float(sample_rate), int(block_size), vals)

    def _probe_reported(self, sample_rate: float, block_size: int) -> int:
        """The plugin's reported latency at the current settings, read after one
        block of processing (plugins update it only then); cached per setting."""
        key = self._settings_key(sample_rate, block_size)
        hit = self._reported.get(key)
        if hit is None:
            cin = max(self.num_input_channels, 1)
            eng, proc = self._fresh(sample_rate, block_size)
            n = max(block_size, 64)
            self._render_engine(eng, proc, np.zeros((cin, n)), n, sample_rate, automate=False)
            hit = self._reported[key] = int(proc.get_latency_samples())
        return hit

    def verify_latency(self, sample_rate: float | None = None, block_size: int | None = None) -> LatencyCheck:
        """Impulse check at the current settings: the reported latency (read
        once processing has started) against the peak position of a -20 dBFS
        impulse's response. Warns (:class:`LatencyWarning`) on a mismatch."""
        sr = self.sample_rate if sample_rate is None else check_sample_rate(sample_rate)
        bs = self.block_size if block_size is None else _check_block_size(block_size)
        key = self._settings_key(sr, bs)
        hit = self._checks.get(key)
        if hit is not None:
            return hit
        cin = max(self.num_input_channels, 1)
        reported = self._probe_reported(sr, bs)
        n = IMPULSE_OFFSET + reported + IMPULSE_WINDOW
        x = np.zeros((cin, n))
        x[:, IMPULSE_OFFSET] = IMPULSE_LEVEL
        eng, proc = self._fresh(sr, bs)
        y = self._render_engine(eng, proc, x, n, sr, automate=False)
        env = np.max(np.abs(y), axis=0)
        measured = int(np.argmax(env)) - IMPULSE_OFFSET if env.max() > 1e-7 else None
        check = LatencyCheck(reported=reported, measured=measured, sample_rate=sr, block_size=bs)
        if not check.ok and self._latency_override is None:
            warnings.warn(f"{self.name}: reports {reported} samples of latency but an impulse response peaks at "
                          f"{measured}; compensating {reported} (set latency_samples to override)",
                          LatencyWarning, stacklevel=2)
        self._checks[key] = check
        return check

    def latency_for(self, sample_rate: float, block_size: int | None = None) -> int:
        """Samples compensated at ``sample_rate`` with the current settings.

        The reported figure is re-read for every new setting; when it differs
        from the load-time check (another rate, block size, or a parameter
        that changes latency, such as a lookahead), the impulse check runs
        again at the new setting.
        """
        if isinstance(self._latency_override, int):
            return self._latency_override
        sr = check_sample_rate(sample_rate)
        bs = self.block_size if block_size is None else _check_block_size(block_size)
        reported = self._probe_reported(sr, bs)
        lc = self.latency_check
        if self._latency_override == "measured" or lc is None or lc.sample_rate != sr or lc.block_size != bs \
                or lc.reported != reported:
            check = self.verify_latency(sr, bs)
            if self._latency_override == "measured":
                if check.measured is None:
                    raise ParameterError(f"{self.name}: latency_samples='measured' but the impulse gave no output")
                return check.measured
        return reported

    @property
    def reported_latency_samples(self) -> int:
        return self.latency_for(self.sample_rate)

    # -------------------------------------------------------------- render
    def _fresh(self, sample_rate, block_size):
        eng, proc = self._new_engine(sample_rate, block_size)
        if self.restore_chunk and self._chunk:
            fd, tmp = tempfile.mkstemp(suffix=".state")
            os.close(fd)
            try:
                pathlib.Path(tmp).write_bytes(self._chunk)
                with capture_native_output():
                    proc.load_state(tmp)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        for i, v in self.normalized_values().items():
            proc.set_parameter(i, v)
        return eng, proc

    def _render_engine(self, eng, proc, x: np.ndarray, n_out: int, sample_rate: float, automate: bool,
                       offset: int = 0) -> np.ndarray:
        """Render ``n_out`` samples of ``x`` (C, >= n_out) through ``proc``."""
        graph = []
        if self.num_input_channels > 0:
            xin = _adapt_channels(x, self.num_input_channels, self.name)
            pad = np.zeros((xin.shape[0], n_out), dtype=np.float32)
            m = min(n_out, xin.shape[1])
            pad[:, :m] = xin[:, :m]
            pb = eng.make_playback_processor("source", pad)
            graph.append((pb, []))
            graph.append((proc, ["source"]))
        else:
            graph.append((proc, []))
        if automate:
            for i in self._automation:
                curve = self.automation_curve(i, n_out, sample_rate)
                proc.set_automation(i, np.ascontiguousarray(curve, dtype=np.float32))
        eng.load_graph(graph)
        # render() takes seconds and floors; a quarter sample of slack gives exactly n_out
        eng.render((n_out + 0.25) / float(sample_rate))
        y = np.asarray(eng.get_audio(), dtype=np.float64)
        if y.shape[1] != n_out:  # pragma: no cover - DawDreamer contract
            raise NeuromasterError(f"{self.name}: DawDreamer rendered {y.shape[1]} samples, expected {n_out}")
        return y

    def process(self, input_array, sample_rate: float, block_size: int | None = None) -> np.ndarray:
        """Render ``input_array`` (channels, samples) through a fresh instance,
        latency compensated: the output is aligned with the input and has its
        length. Returns float64 ``(output channels, samples)``."""
        from .audio import canonical
        x, _ = canonical(input_array)
        sr = check_sample_rate(sample_rate)
        bs = self.block_size if block_size is None else _check_block_size(block_size)
        lat = self.latency_for(sr, bs)
        n = x.shape[1]
        eng, proc = self._fresh(sr, bs)
        y = self._render_engine(eng, proc, x, n + lat, sr, automate=True)
        return y[:, lat:lat + n]

    __call__ = process

    # ----------------------------------------------------------- describe
    def describe(self, ranges: bool = True) -> dict:
        """JSON-safe description: name, format, channels, latency, parameters
        with their display range (text at 0 and 1) and default."""
        params = []
        for p in self.parameters:
            d = p.describe()
            if ranges:
                i = p.index
                saved = float(self._proc.get_parameter(i))
                self._proc.set_parameter(i, 0.0)
                t0 = self._proc.get_parameter_text(i)
                self._proc.set_parameter(i, 1.0)
                t1 = self._proc.get_parameter_text(i)
                self._proc.set_parameter(i, saved)
                d.update(min_text=t0, max_text=t1)
            params.append(d)
        lc = getattr(self, "latency_check", None)
        return {"name": self.name, "path": str(self.path), "format": self.format,
                "inputs": self.num_input_channels, "outputs": self.num_output_channels,
                "latency_samples": None if lc is None else lc.reported,
                "latency_measured": None if lc is None else lc.measured,
                "sample_rate": self.sample_rate, "parameters": params}

    def __repr__(self):
        return f"<neuromaster.ThirdPartyPlugin {self.name!r} ({self.format}) at {hex(id(self))}>"


def _plugin_display_name(proc, path) -> str:
    """The file's stem without a ``-vst`` suffix ("ZaMaximX2", "limiter-stereo").

    DawDreamer's ``get_name()`` returns the processor's name in the engine,
    not the plugin's, so the file name is the most stable label we have.
    """
    stem = pathlib.Path(path).name
    for suf in (".vst3", ".so"):
        if stem.lower().endswith(suf):
            stem = stem[: -len(suf)]
    for suf in ("-vst", "_vst", "-vst2", "_vst2"):
        if stem.lower().endswith(suf):
            stem = stem[: -len(suf)]
    return stem


def _close(a: float, b: float, tol: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= tol


def _adapt_channels(x: np.ndarray, channels: int, who: str) -> np.ndarray:
    """Fit ``x`` (C, n) to a plugin with ``channels`` inputs: mono is copied
    to every input; otherwise the counts must match."""
    c = x.shape[0]
    if c == channels:
        return x
    if c == 1:
        return np.repeat(x, channels, axis=0)
    raise ParameterError(f"{who} takes {channels} input channel(s); its input has {c}")


# ---------------------------------------------------------------- pedalboard
def load_pedalboard_plugin(name_or_path, *, paths=None, parameters: dict | None = None):
    """Load a VST3 through pedalboard (by path or name), optionally setting
    parameters by pedalboard's names in their display units."""
    import pedalboard
    path = resolve_plugin(name_or_path, format="vst3", paths=paths)
    try:
        with capture_native_output():
            plug = pedalboard.load_plugin(str(path))
    except Exception as e:
        raise PluginLoadError(f"{path}: pedalboard cannot load it ({e})") from None
    from .native import remember_vst3_path
    remember_vst3_path(plug, path)
    for k, v in (parameters or {}).items():
        set_pedalboard_parameter(plug, k, v)
    return plug


def _builtin_properties(plugin) -> list[str]:
    """Settable properties of a built-in pedalboard plugin (``Compressor.threshold_db``, ...)."""
    cls = type(plugin)
    return [a for a in dir(cls) if not a.startswith("_") and isinstance(getattr(cls, a, None), property)
            and getattr(cls, a).fset is not None]


def _set_builtin_property(plugin, name: str, value) -> None:
    """Set a built-in pedalboard plugin's property and read it back (DESIGN.md: read back after every write).

    pedalboard keeps numbers in float32, so a number reads back within its
    float32 rounding (relative 1e-6); anything else (enums, bools, strings)
    must read back equal. A plugin that stores something else raises
    :class:`ParameterReadbackError` naming the value written and read.
    """
    kind = type(plugin).__name__
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(f"{kind}.{name} must be a finite number; got {value!r}")
    try:
        setattr(plugin, name, value)
    except (ValueError, TypeError, AttributeError) as e:
        raise ParameterError(f"{kind}.{name}: {e}") from None
    got = getattr(plugin, name)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        ok = (isinstance(got, (int, float, np.integer, np.floating)) and not isinstance(got, bool)
              and math.isfinite(float(got))
              and abs(float(got) - float(value)) <= 1e-6 * max(1.0, abs(float(value))))
    else:
        ok = got == value
    if not ok:
        raise ParameterReadbackError(f"{kind}.{name}: set to {value!r}, reads back {got!r} (the plugin stores "
                                     f"something else: out of its range or snapped to a step)")


def set_pedalboard_parameter(plugin, name: str, value, normalized: bool = False) -> None:
    """Set a pedalboard plugin parameter (display units, or raw 0-1) and read it back.

    Works for VST3s (their ``parameters``) and for pedalboard's built-in
    plugins (their properties, e.g. ``Compressor.threshold_db``); every write
    is read back and a plugin that stores something else raises
    :class:`ParameterReadbackError`.
    """
    params = getattr(plugin, "parameters", None)
    if params is None or name not in params:
        if params is None:
            props = _builtin_properties(plugin)
            if name in props and not normalized:     # built-in plugin property
                _set_builtin_property(plugin, name, value)
                return
            if name in props:
                raise ParameterError(f"{type(plugin).__name__}.{name}: built-in pedalboard plugins take values "
                                     f"in their own units, not normalised 0-1")
            known = ", ".join(props) or "none"
        else:
            known = ", ".join(params) or "none"
        raise ParameterError(f"{type(plugin).__name__} has no parameter {name!r}; parameters: {known}")
    p = params[name]
    if normalized:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise ParameterError(f"{name} normalised value must be in [0, 1]; got {value!r}")
        p.raw_value = float(value)
        if abs(float(p.raw_value) - float(value)) > 1e-6:
            raise ParameterReadbackError(f"{name}: wrote raw {value}, reads back {p.raw_value}")
        return
    try:
        setattr(plugin, name, value)
    except (ValueError, TypeError) as e:
        raise ParameterError(f"{name}: {e}") from None
    got = getattr(plugin, name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        step = p.approximate_step_size or 0.0
        lo, hi = p.min_value, p.max_value
        tol = max(step, 1e-6 * max(1.0, abs(float(value)))) if step else 1e-3 * max(1.0, abs(float(value)))
        if isinstance(got, (int, float)) and abs(float(got) - float(value)) > tol + 1e-9:
            raise ParameterReadbackError(f"{name}: set to {value}, reads back {got} (range {lo} to {hi})")


# -------------------------------------------------------------------- scans
#: Version of the scan record format (bump to invalidate caches).
SCAN_FORMAT = 1


def scan_plugin(path, sample_rate: float = 44100.0) -> dict:
    """Describe one plugin file (runs in a worker during scans).

    Returns a dict with ``status`` ``"ok"`` (and name, format, channels,
    reported and measured latency, every parameter with its default and the
    text at both ends of its range) or ``"failed"`` with ``error``.
    """
    path = str(path)
    try:
        fmt = plugin_format(path)
    except PluginLoadError as e:
        return {"path": path, "status": "failed", "error": str(e)}
    try:
        plug = ThirdPartyPlugin(path, sample_rate=sample_rate, verify_latency=False)
    except NeuromasterError as e:
        return {"path": path, "format": fmt, "status": "failed", "error": str(e)}
    except Exception as e:  # pragma: no cover - DawDreamer's own errors
        return {"path": path, "format": fmt, "status": "failed", "error": f"{type(e).__name__}: {e}"}
    try:
        if plug.num_input_channels > 0:
            plug.latency_check = plug.verify_latency()
        else:
            plug.latency_check = None
        d = plug.describe()
    except Exception as e:
        return {"path": path, "format": fmt, "status": "failed", "error": f"{type(e).__name__}: {e}"}
    d["status"] = "ok"
    return d


def cache_dir() -> pathlib.Path:
    """``$NEUROMASTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/neuromaster``, else ``~/.cache/neuromaster``."""
    env = os.environ.get("NEUROMASTER_CACHE_DIR")
    if env:
        return pathlib.Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return pathlib.Path(base).expanduser() / "neuromaster"


def _file_key(path: pathlib.Path, sample_rate: float) -> str:
    """Cache key: real path + mtime + size (of a bundle's binary when found)."""
    p = pathlib.Path(path)
    target = p
    if p.is_dir():
        inner = sorted(p.glob("Contents/*/*.so"))
        target = inner[0] if inner else p
    st = target.stat()
    return f"{p.resolve()}|{st.st_mtime_ns}|{st.st_size}|{float(sample_rate):g}"


def _dawdreamer_version() -> str:
    try:
        from importlib.metadata import version
        return version("dawdreamer")
    except Exception:  # pragma: no cover
        return "unknown"


class PluginCache:
    """Scan results keyed by path + mtime + size (``plugins.json``)."""

    def __init__(self, path: pathlib.Path | None = None):
        self.path = pathlib.Path(path) if path is not None else cache_dir() / "plugins.json"
        self.entries: dict[str, dict] = {}
        self._load()

    def _load(self):
        import json
        try:
            d = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(d, dict) and d.get("format") == SCAN_FORMAT and d.get("dawdreamer") == _dawdreamer_version() \
                and isinstance(d.get("entries"), dict):
            self.entries = d["entries"]

    def get(self, key: str):
        return self.entries.get(key)

    def put(self, key: str, record: dict):
        self.entries[key] = record

    def save(self):
        """Write atomically (temporary file + rename); a read-only cache folder is not an error."""
        import json
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".plugins.", suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump({"format": SCAN_FORMAT, "dawdreamer": _dawdreamer_version(), "entries": self.entries}, f)
            os.replace(tmp, self.path)
        except OSError:
            pass


def list_plugins(paths=None, *, standard: bool = True, rescan: bool = False, sample_rate: float = 44100.0,
                 timeout_s: float | None = None, jobs: int = 1, progress=None, cache: PluginCache | None = None
                 ) -> list[dict]:
    """Scan plugin folders (each plugin in a worker process with a timeout),
    using and updating the scan cache.

    Parameters
    ----------
    paths : sequence of str, optional
        Folders (or plugin files) to scan. With ``standard=False`` only these.
    standard : bool
        Also scan :data:`STANDARD_DIRS` and ``VST_PATH`` / ``VST3_PATH``
        (default True when ``paths`` is None, else as given).
    rescan : bool
        Ignore cached results (they are still rewritten).
    timeout_s : float
        Per-plugin timeout in seconds (default 30).
    jobs : int
        Worker processes scanning in parallel.
    progress : callable
        ``progress(path, done, total)`` after each plugin scanned in a worker.

    Returns
    -------
    list of dict
        One record per plugin file, sorted by path; ``cached`` says whether
        it came from the cache.
    """
    from .workers import DEFAULT_SCAN_TIMEOUT_S, scan_plugins
    check_sample_rate(sample_rate)
    dirs = plugin_dirs(paths, standard=standard)
    files = [pathlib.Path(p).expanduser() for p in (paths or ()) if str(p).lower().rstrip("/").endswith((".so", ".vst3"))]
    files = find_plugin_files(files + dirs)
    cache = cache if cache is not None else PluginCache()
    records: dict[str, dict] = {}
    todo = []
    for f in files:
        try:
            key = _file_key(f, sample_rate)
        except OSError:
            continue
        hit = None if rescan else cache.get(key)
        if hit is not None:
            records[str(f)] = dict(hit, cached=True)
        else:
            todo.append((f, key))
    if todo:
        res = scan_plugins([str(f) for f, _ in todo], sample_rate=sample_rate,
                           timeout_s=DEFAULT_SCAN_TIMEOUT_S if timeout_s is None else timeout_s, jobs=jobs,
                           progress=progress)
        for (f, key), r in zip(todo, res):
            r = dict(r, path=str(f))
            if r.get("status") != "timeout":  # a hang may be transient; retry next time
                cache.put(key, r)
            records[str(f)] = dict(r, cached=False)
        cache.save()
    return [records[k] for k in sorted(records)]

"""Parameter tables: one per processor (JUCE ``NormalisableRange`` in spirit).

A :class:`Param` describes one parameter: name (with unit suffix), unit,
range, default, scale and a doc line. The same table drives validation,
``__repr__``, JSON presets, automation and the controller's 0-1 mapping.

Scales
------
``"linear"``  value = lo + x (hi - lo)
``"log"``     value = lo (hi/lo)**x                  (lo > 0; e.g. 20 Hz-20 kHz)
``"skew"``    value = lo + (hi - lo) x**(1/k), with k chosen so that ``centre``
              maps to x = 0.5 (JUCE's skew-around-centre)
Choices, ints and bools map their index evenly onto 0-1; an int parameter
with a ``values`` set (e.g. oversampling factors 1, 2, 4, 8, 16) accepts only
those values and maps their index evenly onto 0-1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ParameterError

_KINDS = ("float", "int", "bool", "choice")
_SCALES = ("linear", "log", "skew")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v)


@dataclass(frozen=True)
class Param:
    """Description of one processor parameter.

    Parameters
    ----------
    name : str
        snake_case with a unit suffix where the value has a unit
        (``threshold_db``, ``attack_ms``, ``cutoff_frequency_hz``).
    minimum, maximum : float
        Inclusive range (floats and ints). Ignored for bools and choices.
    default : float | int | bool | str
        Value after construction.
    unit : str
        Display unit ("dB", "ms", "Hz", "", ...).
    scale : {"linear", "log", "skew"}
        Mapping between value and normalised 0-1 (floats only).
    centre : float, optional
        For ``scale="skew"``: the value that maps to 0.5.
    kind : {"float", "int", "bool", "choice"}
    choices : tuple of str
        Allowed values for ``kind="choice"``.
    values : tuple of int
        For ``kind="int"`` only, optional: the allowed values (increasing,
        inside ``[minimum, maximum]``). Validation accepts only these, the
        error message lists them, and the normalised 0-1 mapping spreads
        their *indices* evenly (``values[round(x * (n - 1))]``). Empty (the
        default): every integer in the range, mapped linearly.
    automatable : bool
        Whether a curve may drive the parameter sample-accurately. Structural
        parameters (oversampling factor, band count, bit depth) are not.
    doc : str
        One line: what it does, in which unit.
    """

    name: str
    minimum: float = 0.0
    maximum: float = 1.0
    default: object = 0.0
    unit: str = ""
    scale: str = "linear"
    centre: float | None = None
    kind: str = "float"
    choices: tuple = field(default_factory=tuple)
    automatable: bool = True
    doc: str = ""
    values: tuple = field(default_factory=tuple)

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"Param {self.name}: kind must be one of {_KINDS}")
        if self.kind == "float" and self.scale not in _SCALES:
            raise ValueError(f"Param {self.name}: scale must be one of {_SCALES}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Param {self.name}: a choice parameter needs choices")
        if self.values:
            vals = tuple(self.values)
            if self.kind != "int":
                raise ValueError(f"Param {self.name}: values are for kind='int' parameters only")
            if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in vals):
                raise ValueError(f"Param {self.name}: values must be integers; got {vals!r}")
            if list(vals) != sorted(set(vals)) or vals[0] < self.minimum or vals[-1] > self.maximum:
                raise ValueError(f"Param {self.name}: values must be distinct, increasing and inside "
                                 f"[{_fmt(self.minimum)}, {_fmt(self.maximum)}]; got {vals!r}")
            object.__setattr__(self, "values", tuple(int(v) for v in vals))
        if self.kind in ("bool", "choice", "int") and self.automatable:
            object.__setattr__(self, "automatable", False)
        if self.scale == "log" and self.minimum <= 0:
            raise ValueError(f"Param {self.name}: log scale needs minimum > 0")
        if self.scale == "skew":
            c = self.centre
            if c is None or not (self.minimum < c < self.maximum):
                raise ValueError(f"Param {self.name}: skew scale needs minimum < centre < maximum")
        # validate the default against the table itself
        self.validate(self.default)

    # ------------------------------------------------------------------ range
    @property
    def range_text(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.values:
            return "one of " + ", ".join(str(v) for v in self.values)
        if self.kind == "bool":
            return "True or False"
        unit = f" {self.unit}" if self.unit else ""
        return f"[{_fmt(self.minimum)}, {_fmt(self.maximum)}]{unit}"

    def _error(self, value, owner: str | None = None) -> ParameterError:
        who = f"{owner}.{self.name}" if owner else self.name
        return ParameterError(f"{who} must be {self.range_text}; got {value!r}")

    def validate(self, value, owner: str | None = None):
        """Return the canonical value, or raise :class:`ParameterError`."""
        if self.kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise self._error(value, owner)
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            raise self._error(value, owner)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise self._error(value, owner)
        v = float(value)
        if not math.isfinite(v) or v < self.minimum or v > self.maximum:
            raise self._error(value, owner)
        if self.kind == "int":
            if v != round(v) or (self.values and int(round(v)) not in self.values):
                raise self._error(value, owner)
            return int(round(v))
        return v

    # ------------------------------------------------------------ normalised
    def _skew_exponent(self) -> float:
        # value = lo + (hi-lo) * x**(1/k); centre at x=0.5 -> k = log(0.5)/log(frac)
        frac = (self.centre - self.minimum) / (self.maximum - self.minimum)
        return math.log(0.5) / math.log(frac)

    def to_normalized(self, value) -> float:
        """Map a (valid) value onto 0-1 following the parameter's scale."""
        value = self.validate(value)
        if self.kind == "choice":
            n = len(self.choices)
            return self.choices.index(value) / (n - 1) if n > 1 else 0.0
        if self.kind == "bool":
            return 1.0 if value else 0.0
        if self.values:
            n = len(self.values)
            return self.values.index(value) / (n - 1) if n > 1 else 0.0
        lo, hi = float(self.minimum), float(self.maximum)
        if hi == lo:
            return 0.0
        if self.kind == "int" or self.scale == "linear":
            return (value - lo) / (hi - lo)
        if self.scale == "log":
            return math.log(value / lo) / math.log(hi / lo)
        return ((value - lo) / (hi - lo)) ** self._skew_exponent()

    def from_normalized(self, x: float):
        """Map 0-1 onto a value following the parameter's scale."""
        x = float(x)
        if not math.isfinite(x) or x < 0.0 or x > 1.0:
            raise ParameterError(f"normalised value for {self.name} must be in [0, 1]; got {x!r}")
        if self.kind == "choice":
            n = len(self.choices)
            return self.choices[int(round(x * (n - 1)))]
        if self.kind == "bool":
            return x >= 0.5
        if self.values:
            return self.values[int(round(x * (len(self.values) - 1)))]
        lo, hi = float(self.minimum), float(self.maximum)
        if self.kind == "int":
            return int(round(lo + x * (hi - lo)))
        if self.scale == "linear":
            v = lo + x * (hi - lo)
        elif self.scale == "log":
            v = lo * (hi / lo) ** x
        else:
            v = lo + (hi - lo) * x ** (1.0 / self._skew_exponent())
        return min(max(v, lo), hi)

    # vectorised versions used by the smoother and automation (floats only)
    def to_normalized_array(self, values: np.ndarray) -> np.ndarray:
        lo, hi = float(self.minimum), float(self.maximum)
        if self.kind != "float" or self.scale == "linear" or hi == lo:
            return (values - lo) / (hi - lo) if hi != lo else np.zeros_like(values)
        if self.scale == "log":
            return np.log(values / lo) / math.log(hi / lo)
        return ((values - lo) / (hi - lo)) ** self._skew_exponent()

    def from_normalized_array(self, x: np.ndarray) -> np.ndarray:
        lo, hi = float(self.minimum), float(self.maximum)
        if self.kind != "float" or self.scale == "linear":
            v = lo + x * (hi - lo)
        elif self.scale == "log":
            v = lo * (hi / lo) ** x
        else:
            v = lo + (hi - lo) * x ** (1.0 / self._skew_exponent())
        return np.clip(v, lo, hi)

    def describe(self) -> dict:
        """JSON-safe description (for ``plugins list``, docs and presets)."""
        d = {"name": self.name, "kind": self.kind, "default": self.default, "unit": self.unit, "doc": self.doc,
             "automatable": self.automatable}
        if self.kind == "choice":
            d["choices"] = list(self.choices)
        elif self.kind != "bool":
            d.update(minimum=self.minimum, maximum=self.maximum, scale=self.scale)
            if self.scale == "skew":
                d["centre"] = self.centre
            if self.values:
                d["values"] = list(self.values)
        return d


def choice(name, choices, default, doc="", **kw) -> Param:
    """Shorthand for a choice parameter."""
    return Param(name, kind="choice", choices=tuple(choices), default=default, doc=doc, **kw)


def boolean(name, default, doc="", **kw) -> Param:
    """Shorthand for a bool parameter."""
    return Param(name, kind="bool", default=bool(default), doc=doc, **kw)

"""``ParametricEQ``: ten RBJ-cookbook bands, stereo or mid/side, per-band targets."""
from __future__ import annotations

import numpy as np

from ..dsp import eq as eqdsp
from ..dsp.biquad import control_blocks
from ..errors import ParameterError
from ..params import Param, boolean, choice
from ..processor import CONTROL_INTERVAL, Processor

NUM_BANDS = 10
#: Default band frequencies: the ISO octave-band centres 31.5 Hz-16 kHz.
DEFAULT_FREQUENCIES_HZ = (31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
CHANNEL_MODES = ("stereo", "mid_side")
TARGETS = ("all", "left", "right", "mid", "side")
_ALLOWED_TARGETS = {"stereo": ("all", "left", "right"), "mid_side": ("all", "mid", "side")}
_BUTTERWORTH_Q = float(1.0 / np.sqrt(2.0))


def _band_params(n: int, f0: float) -> tuple:
    b = f"band{n}"
    return (
        boolean(f"{b}_enabled", False, doc=f"band {n} on"),
        choice(f"{b}_type", eqdsp.BAND_TYPES, "bell",
               doc=f"band {n} shape: bell, low/high shelf, high/low-pass, notch or tilt (RBJ cookbook)"),
        Param(f"{b}_frequency_hz", 20.0, 20000.0, f0, unit="Hz", scale="log",
              doc=f"band {n} centre / corner / shelf midpoint / tilt pivot in Hz"),
        Param(f"{b}_gain_db", -24.0, 24.0, 0.0, unit="dB",
              doc=f"band {n} gain in dB (bell, shelves, tilt; ignored by pass filters and notch)"),
        Param(f"{b}_q", 0.1, 20.0, _BUTTERWORTH_Q, scale="log",
              doc=f"band {n} Q (bell bandwidth, shelf slope, pass-filter resonance, notch width)"),
        Param(f"{b}_slope", min(eqdsp.SLOPES), max(eqdsp.SLOPES), 12, kind="int", values=eqdsp.SLOPES, unit="dB/oct",
              doc=f"band {n} high/low-pass slope: 12, 24 or 48 dB/oct (Butterworth order 2, 4, 8)"),
        choice(f"{b}_channels", TARGETS, "all",
               doc=f"band {n} target: all, left/right (stereo mode) or mid/side (mid_side mode)"),
    )


class ParametricEQ(Processor):
    """Up to ten parametric bands (RBJ Audio-EQ-Cookbook), in L/R or M/S.

    Each band ``N`` (1-10) has ``bandN_enabled``, ``bandN_type``,
    ``bandN_frequency_hz`` (20 Hz-20 kHz, log), ``bandN_gain_db`` (+-24 dB),
    ``bandN_q`` (0.1-20, log), ``bandN_slope`` and ``bandN_channels``; bands
    run in order 1 to 10. Types (see :func:`neuromaster.dsp.eq.band_sections`):

    * ``bell``: ``gain_db`` at the frequency; ``low_shelf`` / ``high_shelf``:
      ``gain_db`` in the shelf, half of it at the frequency (Q = 0.7071 is the
      cookbook's S = 1, no overshoot);
    * ``highpass`` / ``lowpass``: Butterworth, ``slope`` 12/24/48 dB/oct
      (order 2/4/8). Q scales the highest-Q section by ``q*sqrt(2)``, so the
      gain at the corner is ``20 log10(q)`` dB at every slope: -3.01 dB at the
      default q = 0.7071 (exact Butterworth), a resonant peak above it;
    * ``notch``: RBJ notch, Q sets its width;
    * ``tilt``: a high shelf scaled by ``-gain_db/2``: -gain/2 dB toward DC,
      0 dB at the frequency (the pivot), +gain/2 dB toward Nyquist.

    Channels: ``channel_mode="stereo"`` filters L and R, each band targeting
    ``"all"``, ``"left"`` or ``"right"``; ``channel_mode="mid_side"`` encodes
    ``M=(L+R)/2, S=(L-R)/2``, filters, and decodes ``L=M+S, R=M-S``, each band
    targeting ``"all"``, ``"mid"`` or ``"side"`` (a side-only high shelf is one
    band). An enabled band whose target does not exist in the current mode
    raises :class:`ParameterError` when audio is processed (not when it is set,
    so parameters may be set in any order).

    Mono input is a centred source (L = R = the signal, M = the signal,
    S = 0) and comes back as mono: in mid_side mode side bands have nothing to
    act on and mid bands act on the signal; in stereo mode a left- or
    right-only band gives the mono fold-down ``(EQ(x) + x) / 2``.

    Frequency, gain and Q are automatable; their coefficients are redesigned
    every :data:`CONTROL_INTERVAL` samples at absolute positions (so the
    result does not depend on block size), and a change between streaming
    calls glides over 20 ms. Static settings use coefficients designed once.
    Switching a band on or off, or changing its type, slope or target, takes
    effect at once (no crossfade; each band keeps its own filter state).
    Frequencies above ``0.49 * sample_rate`` (only possible below 40.8 kHz)
    are designed at ``0.49 * sample_rate``
    (:func:`neuromaster.dsp.biquad.design_frequency`).
    """

    PARAMETERS = (choice("channel_mode", CHANNEL_MODES, "stereo",
                         doc="filter left/right ('stereo') or mid/side ('mid_side')"),) + tuple(
        p for n in range(1, NUM_BANDS + 1) for p in _band_params(n, DEFAULT_FREQUENCIES_HZ[n - 1]))
    SUPPORTED_CHANNELS = (1, 2)

    # ------------------------------------------------------------ lifecycle
    def _prepare(self):
        self._state = eqdsp.cascade_state(NUM_BANDS * eqdsp.MAX_SECTIONS_PER_BAND)
        self._scratch = np.empty((3, 0))

    def _reset_state(self):
        self._state[:] = 0.0

    def _routing_problem(self) -> str | None:
        mode = self._values["channel_mode"]
        allowed = _ALLOWED_TARGETS[mode]
        for n in range(1, NUM_BANDS + 1):
            target = self._values[f"band{n}_channels"]
            if self._values[f"band{n}_enabled"] and target not in allowed:
                other = "mid_side" if mode == "stereo" else "stereo"
                return (f"ParametricEQ.band{n}_channels={target!r} needs channel_mode={other!r} "
                        f"(channel_mode is {mode!r}, where a band targets one of {', '.join(map(repr, allowed))})")
        return None

    def _ensure_prepared(self, sr, channels, block, reset):
        problem = self._routing_problem()
        if problem:
            raise ParameterError(problem)
        super()._ensure_prepared(sr, channels, block, reset)

    def _update(self):
        v = self._values
        mode_ms = v["channel_mode"] == "mid_side"
        enabled = [n for n in range(1, NUM_BANDS + 1)
                   if v[f"band{n}_enabled"] and v[f"band{n}_channels"] in _ALLOWED_TARGETS[v["channel_mode"]]]
        targets = {n: v[f"band{n}_channels"] for n in enabled}
        if self.num_channels == 2:
            mode = eqdsp.MODE_MID_SIDE if mode_ms else eqdsp.MODE_DIRECT
        elif not mode_ms and any(t != "all" for t in targets.values()):
            mode = eqdsp.MODE_MONO_AS_STEREO
        else:
            mode = eqdsp.MODE_DIRECT
        route_of = {"all": eqdsp.ROUTE_BOTH, "left": eqdsp.ROUTE_FIRST, "mid": eqdsp.ROUTE_FIRST,
                    "right": eqdsp.ROUTE_SECOND, "side": eqdsp.ROUTE_SECOND}
        bands, sos, slots, routes = [], [], [], []
        for n in enabled:
            if self.num_channels == 1 and mode_ms and targets[n] == "side":
                continue  # mono: the side signal is zero
            kind, slope = v[f"band{n}_type"], v[f"band{n}_slope"]
            sections = self._design(n, v[f"band{n}_frequency_hz"], v[f"band{n}_gain_db"], v[f"band{n}_q"])
            k = sections.shape[0]
            bands.append((n, kind, slope, len(sos), k))
            sos.extend(sections)
            slots.extend((n - 1) * eqdsp.MAX_SECTIONS_PER_BAND + np.arange(k))
            routes.extend([route_of[targets[n]]] * k)
        self._mode = mode
        self._bands = bands
        self._sos = np.array(sos, dtype=np.float64).reshape(-1, 6)
        self._slots = np.array(slots, dtype=np.int64)
        self._routes = np.array(routes, dtype=np.int64)
        self._automatable = [f"band{n}_{f}" for n, *_ in bands for f in ("frequency_hz", "gain_db", "q")]

    def _design(self, n, frequency_hz, gain_db, q):
        v = self._values
        return eqdsp.band_sections(v[f"band{n}_type"], frequency_hz, gain_db, q, v[f"band{n}_slope"], self.sample_rate)

    # ----------------------------------------------------------- processing
    def _process_block(self, x, sidechain):
        if not self._bands:
            return x
        if all(self._is_static(name) for name in self._automatable):
            # the fast path: coefficients designed once, the kernel called directly on
            # our own state (no per-block validation or state copy)
            n = x.shape[1]
            if self._scratch.shape[1] < n:
                self._scratch = np.empty((3, n))
            # y is a view of a scratch buffer (no 128 KiB allocation per block);
            # Processor._run copies it into the output at once
            y = self._scratch[:x.shape[0], :n]
            w = self._scratch[1:3, :n] if self._mode == eqdsp.MODE_MONO_AS_STEREO else y
            eqdsp._routed_kernel(x, y, w, self._sos, self._slots, self._routes, self._state, self._mode)
            return y
        n = x.shape[1]
        pos = self._position
        blocks = control_blocks(pos, n, CONTROL_INTERVAL)
        sos = np.empty((blocks,) + self._sos.shape)
        for band, _kind, _slope, start, k in self._bands:
            names = (f"band{band}_frequency_hz", f"band{band}_gain_db", f"band{band}_q")
            if all(self._is_static(name) for name in names):
                sos[:, start:start + k] = self._sos[start:start + k]
            else:
                f, g, q = (np.asarray(self._control_blocks(name, n), dtype=np.float64) for name in names)
                sos[:, start:start + k] = self._design(band, f, g, q)
        y, self._state = eqdsp.routed_cascade_blocks(x, sos, self._slots, self._routes, self._state, self._mode,
                                                     pos, CONTROL_INTERVAL)
        return y

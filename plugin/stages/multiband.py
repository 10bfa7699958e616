"""``MultibandCompressor``: 2-6 LR4 bands, each with its own compressor.

Crossovers: Linkwitz-Riley 4th order (:mod:`neuromaster.dsp.crossover`),
split as a cascade from the lowest frequency, with allpass compensation so
that the bands sum to an allpass (flat magnitude) when every band's gain is
unity. Dynamics per band: :mod:`neuromaster.dsp.dynamics` (Giannoulis et al.
2012 static curve with soft knee, peak or RMS detection, log-domain
attack/release).
"""
from __future__ import annotations

import numpy as np

from ..dsp import dynamics as dyn
from ..dsp.biquad import sos_state
from ..dsp.crossover import _lr4_gain_sum_kernel, _lr4_split_kernel, lr4_coefficients
from ..errors import ParameterError
from ..params import Param, boolean, choice
from ..processor import CONTROL_INTERVAL, Processor
from ._scratch import Scratch
from .compressor import filter_detector, sidechain_hpf_sos

MAX_BANDS = 6
#: Default crossover frequencies (the first ``num_bands - 1`` are used).
DEFAULT_CROSSOVERS_HZ = (120.0, 1000.0, 6000.0, 10000.0, 15000.0)
#: Samples per entry of the gain-reduction trace.
GAIN_REDUCTION_HOP = CONTROL_INTERVAL

_BAND_KINDS = ("threshold_db", "ratio", "knee_db", "attack_ms", "release_ms", "makeup_db")


def _band_params(k: int) -> tuple:
    b = f"band{k}_"
    return (
        Param(b + "threshold_db", -60.0, 0.0, -20.0, unit="dB", doc=f"band {k}: threshold"),
        Param(b + "ratio", 1.0, 100.0, 2.0, scale="log", doc=f"band {k}: ratio (1 = off)"),
        Param(b + "knee_db", 0.0, 24.0, 6.0, unit="dB", doc=f"band {k}: soft-knee width"),
        Param(b + "attack_ms", 0.01, 1000.0, 10.0, unit="ms", scale="log", doc=f"band {k}: 63 % attack time"),
        Param(b + "release_ms", 1.0, 10000.0, 150.0, unit="ms", scale="log", doc=f"band {k}: 63 % release time"),
        Param(b + "makeup_db", -24.0, 24.0, 0.0, unit="dB", doc=f"band {k}: gain after compression"),
        boolean(b + "bypass", False, doc=f"band {k}: pass the band unprocessed"),
        boolean(b + "solo", False, doc=f"band {k}: listen to soloed bands only"),
    )


class MultibandCompressor(Processor):
    """Multiband compressor: LR4 crossovers, per-band dynamics, M/S option.

    Parameters
    ----------
    num_bands : int
        2-6 bands (default 4). Structural: changing it re-prepares the stage.
    crossover1_hz ... crossover5_hz : float
        Crossover frequencies, 20 Hz-20 kHz (defaults 120, 1000, 6000,
        10000, 15000 Hz). The first ``num_bands - 1`` are used and must be
        strictly ascending (band 1 is the lowest): processing raises a
        ``ParameterError`` naming them otherwise (also when automation or a
        smoothing ramp makes them cross). They are not checked when set, so
        they can be changed one at a time. A crossover above 0.49 fs is
        designed at 0.49 fs (:func:`~neuromaster.dsp.biquad.design_frequency`).
    bandK_threshold_db, bandK_ratio, bandK_knee_db, bandK_attack_ms, bandK_release_ms, bandK_makeup_db : float
        Per band, as in :class:`~neuromaster.Compressor` (defaults -20 dB,
        2:1, 6 dB, 10 ms, 150 ms, 0 dB).
    bandK_bypass : bool
        The band passes with unity gain and its detector is reset.
    bandK_solo : bool
        If any band is soloed, only soloed bands are output (commercial-unit
        semantics); the other bands keep being detected, so un-soloing is
        seamless.
    stereo_link : float
        0-1, per band (default 1): see :mod:`neuromaster.dsp.dynamics`.
    channel_mode : {"stereo", "mid_side"}
        ``"mid_side"`` compresses M = (L + R)/2 and S = (L - R)/2 (decoded
        as L = M + S, R = M - S); ``stereo_link`` then links M and S. Mono
        input is processed as is.
    detection : {"peak", "rms"}
    rms_window_ms : float
        RMS time constant, 1-300 ms (default 10).
    sidechain_hpf_hz : float
        0 (off) to 500 Hz: a 12 dB/oct Butterworth high-pass on the detector
        of the lowest band (the only band whose pass band reaches down to
        DC), so sub-bass does not drive it.

    Attributes
    ----------
    last_gain_reduction_db : ndarray float32, (num_bands, hops)
        Per band, the deepest gain reduction (positive dB, makeup excluded,
        max over channels) in each hop of ``GAIN_REDUCTION_HOP`` (16)
        samples; hop ``h`` covers samples ``[16 h, 16 h + 16)`` since the
        last reset, and an entry appears in the call in which its hop
        completes (the traces of streaming calls concatenate to the one-shot
        trace; a trailing partial hop is reported by the call that
        completes it).

    Notes
    -----
    With every band at unity gain the output is the input through the
    crossovers' allpass (flat magnitude, phase of the LR4 sum), not the
    input itself; that holds for every LR crossover.
    """

    PARAMETERS = (
        Param("num_bands", 2, MAX_BANDS, 4, kind="int", doc="number of bands (structural)"),
        *(Param(f"crossover{j}_hz", 20.0, 20000.0, DEFAULT_CROSSOVERS_HZ[j - 1], unit="Hz", scale="log",
                doc=f"crossover {j} (used when num_bands > {j})") for j in range(1, MAX_BANDS)),
        *(p for k in range(1, MAX_BANDS + 1) for p in _band_params(k)),
        Param("stereo_link", 0.0, 1.0, 1.0, doc="0 = channels independent, 1 = all follow the loudest"),
        choice("channel_mode", ("stereo", "mid_side"), "stereo", doc="compress L/R or M/S"),
        choice("detection", dyn.DETECTIONS, "peak", doc="level detector: instantaneous peak or one-pole RMS"),
        Param("rms_window_ms", 1.0, 300.0, 10.0, unit="ms", scale="log", doc="RMS averaging time constant"),
        Param("sidechain_hpf_hz", 0.0, 500.0, 0.0, unit="Hz", scale="skew", centre=100.0,
              doc="high-pass on the lowest band's detector, 12 dB/oct (0 = off)"),
    )
    STRUCTURAL = frozenset({"num_bands"})

    @property
    def last_gain_reduction_db(self) -> np.ndarray | None:
        """``traces["gain_reduction_db"]`` of the last call (see Attributes)."""
        return self.traces.get("gain_reduction_db")

    # ----------------------------------------------------------- lifecycle
    def _prepare(self):
        k = self._values["num_bands"]
        c = self.num_channels
        self._k = k
        self._z_split = np.zeros((c, k - 1, 8))
        self._z_ap = np.zeros((c, k - 1, 4))
        self._ms = np.zeros((k, c))
        self._gs = np.zeros((k, c))
        self._hpf_z = sos_state(c, 1)
        self._hop_acc = np.zeros(k)
        self._scratch = Scratch()

    def _reset_state(self):
        for a in (self._z_split, self._z_ap, self._ms, self._gs, self._hpf_z, self._hop_acc):
            a[:] = 0.0

    def _update(self):
        v = self._values
        sr = self.sample_rate
        k = self._k
        self._xo_names = [f"crossover{j}_hz" for j in range(1, k)]
        xo = np.array([v[n] for n in self._xo_names], dtype=np.float64)
        self._xo_problem = self._crossover_problem(xo[np.newaxis])
        self._xo_static = lr4_coefficients(xo, sr)[np.newaxis]
        rows = {kind: np.array([[v[f"band{b}_{kind}"]] for b in range(1, k + 1)]) for kind in _BAND_KINDS}
        rows["ratio"] = 1.0 - 1.0 / rows["ratio"]
        rows["attack_ms"] = dyn.smoothing_coefficient(rows["attack_ms"], sr)
        rows["release_ms"] = dyn.smoothing_coefficient(rows["release_ms"], sr)
        self._static_rows = rows
        self._static_link = np.full(1, v["stereo_link"])
        self._static_rms = np.full(1, dyn.smoothing_coefficient(v["rms_window_ms"], sr))
        f = v["sidechain_hpf_hz"]
        self._hpf_sos = sidechain_hpf_sos(f, sr) if f > 0 else None
        bypass = [v[f"band{b}_bypass"] for b in range(1, k + 1)]
        solo = [v[f"band{b}_solo"] for b in range(1, k + 1)]
        self._active = [b for b in range(k) if not bypass[b]]
        any_solo = any(solo)
        row = []
        for b in range(k):
            if any_solo and not solo[b]:
                row.append(-2)
            elif bypass[b]:
                row.append(-1)
            else:
                row.append(self._active.index(b))
        self._gain_row = np.array(row, dtype=np.int64)
        self._static_active = {kind: np.ascontiguousarray(r[self._active]) for kind, r in rows.items()}
        self._no_floor = np.full((len(self._active), 1), np.inf)
        if self._prepared:
            for b in range(k):
                if bypass[b]:
                    self._gs[b] = 0.0
                    self._ms[b] = 0.0

    # ------------------------------------------------------------ controls
    def _crossover_problem(self, values: np.ndarray) -> str | None:
        """Why crossover rows ``values`` (blocks, num_bands - 1) in Hz cannot split the bands, or None."""
        if values.shape[1] < 2:
            return None
        ok = np.diff(values, axis=1) > 0.0
        if ok.all():
            return None
        row, j = (int(i) for i in np.argwhere(~ok)[0])
        names = self._xo_names
        shown = ", ".join(f"{nm}={values[row, i]:g}" for i, nm in enumerate(names))
        when = ""
        if values.shape[0] > 1:
            at = (self._position // CONTROL_INTERVAL + row) * CONTROL_INTERVAL
            when = f" at sample {at} (automation or a smoothing ramp)"
        return (f"{type(self).__name__}: the crossovers of the {len(names) + 1} bands must be strictly ascending "
                f"(band 1 is the lowest); {names[j]} ({values[row, j]:g} Hz) is not below {names[j + 1]} "
                f"({values[row, j + 1]:g} Hz){when}: {shown} Hz")

    def _crossover_coefs(self, n: int) -> np.ndarray:
        if all(self._is_static(name) for name in self._xo_names):
            if self._xo_problem is not None:
                raise ParameterError(self._xo_problem)
            return self._xo_static
        values = np.stack([np.broadcast_to(np.asarray(self._control_blocks(name, n), dtype=np.float64),
                                           (self._n_blocks(n),)) for name in self._xo_names], axis=1)
        problem = self._crossover_problem(values)
        if problem is not None:
            raise ParameterError(problem)
        return lr4_coefficients(values, self.sample_rate)

    def _n_blocks(self, n: int) -> int:
        p = self._position
        return (p + n - 1) // CONTROL_INTERVAL - p // CONTROL_INTERVAL + 1

    def _band_rows(self, kind: str, n: int) -> np.ndarray:
        active = self._active
        if not self._automation and not self._ramps:
            return self._static_active[kind]
        names = [f"band{b + 1}_{kind}" for b in active]
        if all(self._is_static(nm) for nm in names):
            return self._static_rows[kind][active]
        out = np.empty((len(active), n))
        for r, nm in enumerate(names):
            out[r] = self._control(nm, n)
        if kind == "ratio":
            return 1.0 - 1.0 / out
        if kind in ("attack_ms", "release_ms"):
            return dyn.smoothing_coefficient(out, self.sample_rate)
        return out

    def _global(self, name: str, n: int, static: np.ndarray, transform=None) -> np.ndarray:
        if self._is_static(name):
            return static
        v = self._control_array(name, n)
        return transform(v) if transform else v

    # ----------------------------------------------------------- processing
    def _process_block(self, x, sidechain):
        n = x.shape[1]
        c = x.shape[0]
        k = self._k
        pos = self._position
        mid_side = c == 2 and self._values["channel_mode"] == "mid_side"
        if mid_side:
            xin = np.empty_like(x)
            xin[0] = 0.5 * (x[0] + x[1])
            xin[1] = 0.5 * (x[0] - x[1])
        else:
            xin = x
        coefs = self._crossover_coefs(n)
        active = self._active
        ka = len(active)
        link = self._global("stereo_link", n, self._static_link)
        linked = c == 1 or (link.shape[0] == 1 and link[0] >= 1.0)
        detection = self._values["detection"]
        hpf_on = ka > 0 and active[0] == 0 and not (self._hpf_sos is None and self._is_static("sidechain_hpf_hz"))
        # fast path: the split kernel writes the linked peak level of every band
        fused = linked and detection == "peak" and not hpf_on
        bands = self._scratch("bands", (k, c, n))
        peak = self._scratch("peak", (k, 1, n)) if fused else bands
        _lr4_split_kernel(xin, coefs, pos, CONTROL_INTERVAL, self._z_split, bands, peak, fused, dyn.LEVEL_FLOOR)

        hops = (pos + n) // GAIN_REDUCTION_HOP - pos // GAIN_REDUCTION_HOP
        if ka:
            if fused:
                lev = peak if ka == k else peak[active]
                np.log10(lev, out=lev)
                scale = 20.0
            else:
                det = bands if ka == k else bands[active]
                if hpf_on:
                    det = det.copy() if det is bands else det
                    det[0], self._hpf_z = filter_detector(det[0], self, "sidechain_hpf_hz", self._hpf_z, self._hpf_sos)
                rms = self._global("rms_window_ms", n, self._static_rms,
                                   lambda v: dyn.smoothing_coefficient(v, self.sample_rate))
                lev, scale, ms = dyn.detector_levels(det, detection, rms, self._ms[active], linked)
                self._ms[active] = ms
            t = self._scratch("t", lev.shape)
            gs = self._gs[active]
            acc = self._hop_acc[active]
            hop_out = np.empty((ka, hops + 1))
            knee = self._band_rows("knee_db", n)
            cnt = dyn._gain_kernel(lev, scale, link, self._band_rows("threshold_db", n), knee, dyn.knee_inverse(knee),
                                   self._band_rows("ratio", n), self._no_floor,
                                   self._band_rows("attack_ms", n), self._band_rows("release_ms", n),
                                   self._band_rows("makeup_db", n), gs, t, t, pos, acc, hop_out,
                                   dyn.WRITE_T | dyn.COLLECT_HOPS)
            self._gs[active] = gs
            self._hop_acc[active] = acc
            np.exp(t, out=t)
            # gain-reduction trace: deepest reduction per hop of 16 samples
            gr = np.zeros((k, cnt))
            gr[active] = 0.0 - hop_out[:, :cnt]
        else:
            t = np.empty((0, 1, n))
            gr = np.zeros((k, hops))
        self._trace("gain_reduction_db", gr, hop=GAIN_REDUCTION_HOP)
        y = self._scratch("y", x.shape)
        _lr4_gain_sum_kernel(bands, t, self._gain_row, coefs, pos, CONTROL_INTERVAL, self._z_ap, y)
        if mid_side:
            m, s = y[0].copy(), y[1]
            y[0] = m + s
            y[1] = m - s
        return y

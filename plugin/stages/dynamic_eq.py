"""``DynamicEQ``: bell and shelf bands whose gain follows their band level.

Each enabled band has a detector (the input, or an external sidechain,
filtered to the band: RBJ band-pass at the band's frequency and Q for a
bell, a Butterworth low-pass / high-pass at the frequency for a low / high
shelf), the dynamics of :mod:`neuromaster.dsp.dynamics` (hard knee,
``floor_db = |range_db|``), and an RBJ cookbook EQ section whose gain is the
smoothed gain, redesigned every ``CONTROL_INTERVAL`` (16) samples at
absolute positions. The section runs in direct form I
(:mod:`neuromaster.dsp.biquad`) on its difference from the identity:
``y = x + D x`` with ``D = H - 1``, whose numerator ``b - a`` is exactly zero
at 0 dB (the same filter as direct form I on ``H``, to rounding, with the
state ``y - x`` in place of ``y``).

Gain of band ``b`` for a detector level ``L`` (dB) above ``threshold_db``::

    |g| = min((1 - 1/ratio) (L - threshold_db), |range_db|)
    g   = -|g| if range_db < 0 (cut above threshold) else +|g| (boost above threshold)

then smoothed with ``attack_ms`` (towards larger ``|g|``) and ``release_ms``
(63 % times). Below threshold ``g`` is exactly 0 dB, the RBJ section is then
exactly the identity (its numerator equals its denominator, so ``D = 0``),
and the output equals the input sample for sample.
"""
from __future__ import annotations

import numpy as np

from ..dsp import dynamics as dyn
from ..dsp import biquad as bq
from ..errors import ParameterError
from ..params import Param, boolean, choice
from ..processor import CONTROL_INTERVAL, Processor

NUM_BANDS = 4
BAND_TYPES = ("bell", "low_shelf", "high_shelf")
DETECTORS = ("internal", "external")
_DEFAULTS = (  # enabled, type, frequency_hz
    (True, "bell", 100.0),
    (False, "bell", 400.0),
    (False, "bell", 2500.0),
    (False, "high_shelf", 8000.0),
)
_BUTTERWORTH_Q = 1.0 / np.sqrt(2.0)
_DETECTOR_KIND = {"bell": "bandpass", "low_shelf": "lowpass", "high_shelf": "highpass"}
_EQ_CODE = {"bell": bq.PEAK, "low_shelf": bq.LOW_SHELF, "high_shelf": bq.HIGH_SHELF}
#: ``D = H - 1`` of the identity section: numerator 0, denominator 1.
_NO_CHANGE = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
_ZEROS = np.zeros((NUM_BANDS, 1))
_ZERO_ACC = np.zeros(NUM_BANDS)


def _band_params(k: int) -> tuple:
    b = f"band{k}_"
    on, kind, f = _DEFAULTS[k - 1]
    return (
        boolean(b + "enabled", on, doc=f"band {k}: on/off"),
        choice(b + "type", BAND_TYPES, kind, doc=f"band {k}: EQ shape"),
        Param(b + "frequency_hz", 20.0, 20000.0, f, unit="Hz", scale="log", doc=f"band {k}: centre / corner frequency"),
        Param(b + "q", 0.1, 10.0, 1.0, scale="log", doc=f"band {k}: Q of the EQ (and of a bell's detector)"),
        Param(b + "threshold_db", -60.0, 0.0, -24.0, unit="dB", doc=f"band {k}: detector level where the band acts"),
        Param(b + "ratio", 1.0, 100.0, 4.0, scale="log", doc=f"band {k}: dB over threshold per dB not changed"),
        Param(b + "attack_ms", 0.1, 1000.0, 5.0, unit="ms", scale="log", doc=f"band {k}: 63 % time to more change"),
        Param(b + "release_ms", 1.0, 10000.0, 100.0, unit="ms", scale="log", doc=f"band {k}: 63 % time back to 0 dB"),
        Param(b + "range_db", -24.0, 24.0, -6.0, unit="dB", doc=f"band {k}: largest change; < 0 cuts, > 0 boosts"),
        choice(b + "detector", DETECTORS, "internal", doc=f"band {k}: detect from the input or the sidechain"),
    )


def _cw_alpha(frequency_hz, q, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """RBJ ``cos(w0)`` and ``alpha`` of the EQ section (:func:`~neuromaster.dsp.biquad.cos_alpha`), as 1-D arrays."""
    cw, alpha = bq.cos_alpha(bq.design_frequency(frequency_hz, sample_rate), q, sample_rate)
    return np.atleast_1d(cw), np.atleast_1d(alpha)


def _detector_rows(kind: str, frequency_hz, q, sample_rate: float) -> np.ndarray:
    f = bq.design_frequency(frequency_hz, sample_rate)
    return bq.rbj(_DETECTOR_KIND[kind], f, 0.0, q if kind == "bell" else _BUTTERWORTH_Q, sample_rate)


def _difference_rows(rows: np.ndarray) -> np.ndarray:
    """``D = H - 1`` of RBJ rows ``[b0, b1, b2, 1, a1, a2]`` in place:
    numerator ``[b0 - 1, b1 - a1, b2 - a2]`` (exactly 0 where ``b == a``)."""
    rows[:, 0] -= 1.0
    rows[:, 1] -= rows[:, 4]
    rows[:, 2] -= rows[:, 5]
    return rows


class DynamicEQ(Processor):
    """Dynamic EQ: up to four bell / shelf bands acting above a threshold.

    Parameters (``K`` = 1..4)
    ----------
    bandK_enabled : bool
        Band on/off (band 1 on by default).
    bandK_type : {"bell", "low_shelf", "high_shelf"}
        EQ shape (RBJ cookbook peakingEQ / lowShelf / highShelf).
    bandK_frequency_hz : float
        20 Hz-20 kHz (designed at min(f, 0.49 fs):
        :func:`~neuromaster.dsp.biquad.design_frequency`).
    bandK_q : float
        0.1-10: the EQ's Q (for shelves the cookbook's shelf Q, 0.707 =
        slope 1) and the bell detector's band-pass Q.
    bandK_threshold_db : float
        -60 to 0 dB: detector level above which the band acts.
    bandK_ratio : float
        1-100: the gain changes by ``(1 - 1/ratio)`` dB per dB above threshold.
    bandK_attack_ms, bandK_release_ms : float
        63 % times of the gain towards / away from its target.
    bandK_range_db : float
        -24 to +24 dB: largest gain change; negative cuts when the band is
        loud (de-essing, taming resonances), positive boosts; 0 = inactive.
    bandK_detector : {"internal", "external"}
        Detect from the input, or from ``process(x, sr, sidechain=s)``
        (e.g. a kick ducking the 808's fundamental). An external band
        without a sidechain raises ``ParameterError``.
    detection : {"peak", "rms"}
        Level detection of every band's detector.
    rms_window_ms : float
        RMS time constant, 1-300 ms (default 10).
    stereo_link : float
        0-1 (default 1): see :mod:`neuromaster.dsp.dynamics`.

    Attributes
    ----------
    last_gain_db : ndarray float32, (4, samples)
        Gain in dB each band applied over the last call (0 for disabled
        bands; the deepest cut / largest boost over channels), per sample,
        before the block-rate coefficient update.
    """

    PARAMETERS = (
        *(p for k in range(1, NUM_BANDS + 1) for p in _band_params(k)),
        choice("detection", dyn.DETECTIONS, "peak", doc="level detector: instantaneous peak or one-pole RMS"),
        Param("rms_window_ms", 1.0, 300.0, 10.0, unit="ms", scale="log", doc="RMS averaging time constant"),
        Param("stereo_link", 0.0, 1.0, 1.0, doc="0 = channels independent, 1 = all follow the loudest"),
    )
    ACCEPTS_SIDECHAIN = True

    @property
    def last_gain_db(self) -> np.ndarray | None:
        """``traces["gain_db"]`` of the last call (see Attributes)."""
        return self.traces.get("gain_db")

    # ----------------------------------------------------------- lifecycle
    def _prepare(self):
        c = self.num_channels
        self._z_det = np.zeros((NUM_BANDS, c, 1, 4))   # detector filter, direct form I
        self._z_eq = np.zeros((NUM_BANDS, c, 1, 4))    # EQ section's difference D, direct form I
        self._ms = np.zeros((NUM_BANDS, c))
        self._gs = np.zeros((NUM_BANDS, c))
        self._coef = np.tile(_NO_CHANGE, (NUM_BANDS, c, 1))  # last designed D per band and channel

    def _reset_state(self):
        self._z_det[:] = 0.0
        self._z_eq[:] = 0.0
        self._ms[:] = 0.0
        self._gs[:] = 0.0
        self._coef[:] = _NO_CHANGE

    def _update(self):
        v = self._values
        sr = self.sample_rate
        self._bands = [k for k in range(NUM_BANDS) if v[f"band{k + 1}_enabled"]]
        self._det_sos = {}
        self._cwal = {}
        for k in self._bands:
            b = f"band{k + 1}_"
            self._det_sos[k] = _detector_rows(v[b + "type"], v[b + "frequency_hz"], v[b + "q"], sr)[np.newaxis]
            self._cwal[k] = _cw_alpha(v[b + "frequency_hz"], v[b + "q"], sr)
        if self._prepared:
            for k in range(NUM_BANDS):
                if k not in self._bands:  # a disabled band starts afresh when enabled again
                    self._z_det[k] = 0.0
                    self._z_eq[k] = 0.0
                    self._ms[k] = 0.0
                    self._gs[k] = 0.0
                    self._coef[k] = _NO_CHANGE

    # ----------------------------------------------------------- processing
    def _rows(self, name: str, bands: list, n: int, transform=None) -> np.ndarray:
        out = []
        static = True
        for k in bands:
            v = self._control(f"band{k + 1}_{name}", n)
            static = static and not isinstance(v, np.ndarray)
            out.append(v)
        if static:
            arr = np.array(out, dtype=np.float64)[:, np.newaxis]
        else:
            arr = np.empty((len(bands), n))
            for r, v in enumerate(out):
                arr[r] = v
        return transform(arr) if transform is not None else arr

    def _process_block(self, x, sidechain):
        n = x.shape[1]
        c = x.shape[0]
        pos = self._position
        bands = self._bands
        v = self._values
        if not bands:
            self._trace("gain_db", np.zeros((NUM_BANDS, n)))
            return x.copy()
        kb = len(bands)
        sr = self.sample_rate
        interval = CONTROL_INTERVAL
        first = pos // interval
        nbk = (pos + n - 1) // interval - first + 1
        # ---- detectors: band-filtered input or sidechain
        dets = np.empty((kb, c, n))
        for j, k in enumerate(bands):
            name = f"band{k + 1}_"
            if v[name + "detector"] == "external":
                if sidechain is None:
                    raise ParameterError(f"DynamicEQ band{k + 1}_detector is 'external' but process() got no "
                                         f"sidechain: pass sidechain=... or set band{k + 1}_detector='internal'")
                src = np.ascontiguousarray(np.broadcast_to(sidechain, (c, n))) if sidechain.shape[0] == 1 \
                    else sidechain
            else:
                src = x
            # the kernels run on our own state (updated in place)
            if self._is_static(name + "frequency_hz") and self._is_static(name + "q"):
                bq._cascade_kernel(src, dets[j], self._det_sos[k], self._z_det[k])
            else:
                fb = np.broadcast_to(np.asarray(self._control_blocks(name + "frequency_hz", n), dtype=np.float64),
                                     (nbk,))
                qb = np.broadcast_to(np.asarray(self._control_blocks(name + "q", n), dtype=np.float64), (nbk,))
                rows = _detector_rows(v[name + "type"], fb, qb, sr)[:, np.newaxis, :]
                bq._cascade_blocks_kernel(src, dets[j], rows, self._z_det[k], pos, interval)
        link = self._control_array("stereo_link", n) if not self._is_static("stereo_link") \
            else np.full(1, v["stereo_link"])
        linked = c == 1 or (link.shape[0] == 1 and link[0] >= 1.0)
        rms = dyn.smoothing_coefficient(self._control_array("rms_window_ms", n) if not self._is_static("rms_window_ms")
                                        else np.full(1, v["rms_window_ms"]), sr)
        lev, scale, ms = dyn.detector_levels(dets, v["detection"], rms, self._ms[bands], linked)
        self._ms[bands] = ms
        r = lev.shape[1]
        rng = self._rows("range_db", bands, n)
        gs = self._gs[bands]
        g = np.empty(lev.shape)
        dyn._gain_kernel(lev, scale, link, self._rows("threshold_db", bands, n), _ZEROS[:kb], _ZEROS[:kb],
                         self._rows("ratio", bands, n, lambda a: 1.0 - 1.0 / a), np.abs(rng),
                         self._rows("attack_ms", bands, n, lambda a: dyn.smoothing_coefficient(a, sr)),
                         self._rows("release_ms", bands, n, lambda a: dyn.smoothing_coefficient(a, sr)),
                         _ZEROS[:kb], gs, g, g, pos, _ZERO_ACC[:kb], _ZEROS[:kb], dyn.WRITE_GAIN)
        self._gs[bands] = gs
        # applied gain in dB: cut (range < 0) is the smoothed gain, boost (range > 0) its mirror image
        sign = np.where(rng > 0, -1.0, 1.0)                      # (kb, 1 or n)
        # g <= 0: the deepest row is the largest change
        gain_db = np.zeros((NUM_BANDS, n))
        gain_db[bands] = (g[:, 0] if r == 1 else g.min(axis=1)) * sign
        self._trace("gain_db", gain_db)
        # ---- EQ sections, redesigned at every control block start (absolute positions),
        # each run as y += D y with D = H - 1 (exactly 0 at 0 dB)
        starts = (first + np.arange(nbk)) * interval - pos
        fresh = starts >= 0  # blocks that start inside this call (else: continue the stored design)
        idx = starts[fresh]
        rows = np.empty((nbk, 1, 6))
        design = np.empty((int(fresh.sum()), 6))
        y = x.copy()
        d = np.empty_like(x)
        for j, k in enumerate(bands):
            name = f"band{k + 1}_"
            if self._is_static(name + "frequency_hz") and self._is_static(name + "q"):
                cw, al = self._cwal[k]
            else:
                fb = np.broadcast_to(np.asarray(self._control_blocks(name + "frequency_hz", n), dtype=np.float64),
                                     (nbk,))
                qb = np.broadcast_to(np.asarray(self._control_blocks(name + "q", n), dtype=np.float64), (nbk,))
                cw, al = _cw_alpha(fb[fresh], qb[fresh], sr)
            sg = sign[j, idx] if sign.shape[1] > 1 else sign[j, 0]
            for rr in range(r):
                if not fresh[0]:
                    rows[0, 0] = self._coef[k, rr]
                bq._rbj_rows_kernel(_EQ_CODE[v[name + "type"]], cw, al, np.ascontiguousarray(g[j, rr, idx] * sg),
                                    design)
                rows[fresh, 0] = _difference_rows(design)
                self._coef[k, rr] = rows[-1, 0]
                ch = slice(None) if r == 1 else slice(rr, rr + 1)   # linked: one design for every channel
                bq._cascade_blocks_kernel(y[ch], d[ch], rows, self._z_eq[k, ch], pos, interval)
            y += d
            if r == 1:
                self._coef[k] = self._coef[k, 0]
        return y

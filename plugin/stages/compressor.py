"""``Compressor``: a single-band feed-forward compressor (log-domain detector).

The signal flow, the detector, the static curve and the exact meaning of
``attack_ms`` / ``release_ms`` / ``stereo_link`` are those of
:mod:`neuromaster.dsp.dynamics` (Giannoulis, Massberg & Reiss 2012).
"""
from __future__ import annotations

import numpy as np

from ..dsp import dynamics as dyn
from ..dsp.biquad import design_frequency, rbj, sos_filter, sos_filter_blocks, sos_state
from ..params import Param, choice
from ..processor import CONTROL_INTERVAL, Processor
from ._scratch import Scratch

#: Q of the 2nd-order Butterworth sidechain high-pass (12 dB/octave).
HPF_Q = 1.0 / np.sqrt(2.0)
_IDENTITY = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
_NO_FLOOR = np.full((1, 1), np.inf)
_NO_HOPS = np.zeros((1, 1))
_NO_HOP_ACC = np.zeros(1)
_FLAGS = dyn.WRITE_GAIN | dyn.NEGATE_GAIN | dyn.WRITE_T


def sidechain_hpf_sos(frequency_hz, sample_rate: float) -> np.ndarray:
    """Butterworth 2nd-order high-pass rows (RBJ cookbook HPF, Q = 1/sqrt(2)).

    ``frequency_hz`` 0 gives the identity section (filter off); frequencies
    are designed at :func:`~neuromaster.dsp.biquad.design_frequency`
    (``min(f, 0.49 fs)``). Shape ``np.shape(frequency_hz) + (6,)``.
    """
    f = np.asarray(frequency_hz, dtype=np.float64)
    safe = design_frequency(np.maximum(np.where(f > 0, f, 1.0), 1e-3), sample_rate)
    sos = rbj("highpass", safe, 0.0, HPF_Q, sample_rate)
    return np.where((f > 0)[..., np.newaxis], sos, _IDENTITY)


def filter_detector(det: np.ndarray, proc: Processor, name: str, state: np.ndarray, static_sos) -> tuple:
    """Apply a (possibly automated) sidechain high-pass to ``det`` (D, n).

    ``static_sos`` is the (6,) design for the static value (None when off).
    Returns ``(filtered, new_state)``; ``state`` is ``(D, 1, 4)`` (:func:`~neuromaster.dsp.biquad.sos_state`).
    """
    n = det.shape[1]
    if proc._is_static(name):
        if static_sos is None:
            return det, state
        return sos_filter(det, static_sos, state)
    values = np.asarray(proc._control_blocks(name, n), dtype=np.float64)
    blocks = sidechain_hpf_sos(values, proc.sample_rate)[:, np.newaxis, :]
    return sos_filter_blocks(det, blocks, state, proc._position, CONTROL_INTERVAL)


class Compressor(Processor):
    """Feed-forward compressor with soft knee, peak/RMS detection and stereo link.

    Parameters
    ----------
    threshold_db : float
        Threshold in dBFS, -60 to 0 (default -20).
    ratio : float
        1 (no compression) to 100 (limiting), default 4.
    knee_db : float
        Soft-knee width in dB, 0 (hard) to 24 (default 6), centred on the
        threshold (Giannoulis et al. 2012, eq. 4).
    attack_ms, release_ms : float
        Time for the gain in dB to cover 63.2 % of a step towards more
        (attack, 0.01-1000 ms, default 10) or less (release, 1-10000 ms,
        default 100) reduction.
    makeup_db : float
        Gain after compression, -24 to +24 dB (default 0).
    detection : {"peak", "rms"}
        Instantaneous magnitude, or one-pole RMS with ``rms_window_ms``.
    rms_window_ms : float
        RMS averaging time constant, 1-300 ms (default 10; ``"rms"`` only).
    stereo_link : float
        0 (independent channels) to 1 (all channels follow the loudest;
        default 1).
    sidechain_hpf_hz : float
        2nd-order Butterworth high-pass (12 dB/oct) on the detector signal,
        0 (off, default) to 500 Hz. Keeps the bass from pumping the mix.
    mix : float
        Dry/wet, 0 (dry) to 1 (compressed, default): parallel compression.

    Attributes
    ----------
    last_gain_reduction_db : ndarray, float32, (channels, samples)
        Gain reduction (positive dB, makeup not included) applied to every
        sample of the last call, aligned with its output. Streaming calls
        concatenate to the one-shot trace.

    Notes
    -----
    An external detector signal goes in as ``process(x, sr, sidechain=kick)``
    (mono or one channel per input channel); otherwise the input detects
    itself. Up to 8 channels.
    """

    PARAMETERS = (
        Param("threshold_db", -60.0, 0.0, -20.0, unit="dB", doc="level above which the gain is reduced"),
        Param("ratio", 1.0, 100.0, 4.0, scale="log", doc="input dB over threshold per output dB (1 = off)"),
        Param("knee_db", 0.0, 24.0, 6.0, unit="dB", doc="soft-knee width centred on the threshold (0 = hard)"),
        Param("attack_ms", 0.01, 1000.0, 10.0, unit="ms", scale="log", doc="63 % time of the gain towards more reduction"),
        Param("release_ms", 1.0, 10000.0, 100.0, unit="ms", scale="log", doc="63 % time of the gain towards less reduction"),
        Param("makeup_db", -24.0, 24.0, 0.0, unit="dB", doc="gain after compression"),
        choice("detection", dyn.DETECTIONS, "peak", doc="level detector: instantaneous peak or one-pole RMS"),
        Param("rms_window_ms", 1.0, 300.0, 10.0, unit="ms", scale="log", doc="RMS averaging time constant"),
        Param("stereo_link", 0.0, 1.0, 1.0, doc="0 = channels independent, 1 = all follow the loudest"),
        Param("sidechain_hpf_hz", 0.0, 500.0, 0.0, unit="Hz", scale="skew", centre=100.0,
              doc="high-pass on the detector, 12 dB/oct (0 = off)"),
        Param("mix", 0.0, 1.0, 1.0, doc="dry/wet balance (parallel compression)"),
    )
    SUPPORTED_CHANNELS = tuple(range(1, 9))
    ACCEPTS_SIDECHAIN = True

    @property
    def last_gain_reduction_db(self) -> np.ndarray | None:
        """``traces["gain_reduction_db"]`` of the last call (see Attributes)."""
        return self.traces.get("gain_reduction_db")

    # ----------------------------------------------------------- lifecycle
    def _prepare(self):
        c = self.num_channels
        self._ms = np.zeros((1, c))
        self._gs = np.zeros((1, c))
        self._hpf_z = sos_state(c, 1)
        self._scratch = Scratch()

    def _reset_state(self):
        self._ms[:] = 0.0
        self._gs[:] = 0.0
        self._hpf_z[:] = 0.0

    def _update(self):
        v = self._values
        sr = self.sample_rate
        self._static = {
            "threshold_db": np.full((1, 1), v["threshold_db"]),
            "knee_db": np.full((1, 1), v["knee_db"]),
            "knee_inv": dyn.knee_inverse(np.full((1, 1), v["knee_db"])),
            "ratio": np.full((1, 1), 1.0 - 1.0 / v["ratio"]),
            "attack_ms": np.full((1, 1), dyn.smoothing_coefficient(v["attack_ms"], sr)),
            "release_ms": np.full((1, 1), dyn.smoothing_coefficient(v["release_ms"], sr)),
            "makeup_db": np.full((1, 1), v["makeup_db"]),
            "rms_window_ms": np.full(1, dyn.smoothing_coefficient(v["rms_window_ms"], sr)),
            "stereo_link": np.full(1, v["stereo_link"]),
        }
        f = v["sidechain_hpf_hz"]
        self._hpf_sos = sidechain_hpf_sos(f, sr) if f > 0 else None

    # ------------------------------------------------------------ controls
    def _row(self, name: str, n: int) -> np.ndarray:
        """Derived kernel parameter as (1, m) (or (m,) for link and RMS)."""
        if self._is_static(name):
            return self._static[name]
        v = self._control_array(name, n)
        sr = self.sample_rate
        if name == "ratio":
            v = 1.0 - 1.0 / v
        elif name in ("attack_ms", "release_ms", "rms_window_ms"):
            v = dyn.smoothing_coefficient(v, sr)
        return v if name in ("rms_window_ms", "stereo_link") else v[np.newaxis, :]

    # ----------------------------------------------------------- processing
    def _process_block(self, x, sidechain):
        n = x.shape[1]
        c = x.shape[0]
        det = x if sidechain is None else sidechain
        d = det.shape[0]
        if self._hpf_sos is not None or not self._is_static("sidechain_hpf_hz"):
            det, z = filter_detector(det, self, "sidechain_hpf_hz", self._hpf_z[:d], self._hpf_sos)
            self._hpf_z[:d] = z
        st = self._static
        static = not self._automation and not self._ramps
        link = st["stereo_link"] if static else self._row("stereo_link", n)
        linked = d == 1 or (link.shape[0] == 1 and link[0] >= 1.0)
        r = 1 if linked else d
        lev = self._scratch("lev", (1, r, n))
        if self._values["detection"] == "peak":
            dyn._peak_level_kernel(det[np.newaxis], dyn.LEVEL_FLOOR, lev)
            np.log10(lev, out=lev)
            scale = 20.0
        else:
            lev, scale, ms = dyn.detector_levels(det[np.newaxis], "rms",
                                                 st["rms_window_ms"] if static else self._row("rms_window_ms", n),
                                                 self._ms[:, :d], linked)
            self._ms[:, :d] = ms
        t = self._scratch("t", (1, r, n))
        gr = np.empty((1, c, n), dtype=np.float32)  # every entry is written
        trace = gr[:, :r]
        # the kernel continues a linked stretch from the deepest channel state
        if static:
            dyn._gain_kernel(lev, scale, link, st["threshold_db"], st["knee_db"], st["knee_inv"], st["ratio"],
                             _NO_FLOOR, st["attack_ms"], st["release_ms"], st["makeup_db"], self._gs, trace, t,
                             self._position, _NO_HOP_ACC, _NO_HOPS, _FLAGS)
        else:
            knee = self._row("knee_db", n)
            knee_inv = st["knee_inv"] if self._is_static("knee_db") else dyn.knee_inverse(knee)
            dyn._gain_kernel(lev, scale, link, self._row("threshold_db", n), knee, knee_inv, self._row("ratio", n),
                             _NO_FLOOR, self._row("attack_ms", n), self._row("release_ms", n),
                             self._row("makeup_db", n), self._gs, trace, t, self._position, _NO_HOP_ACC, _NO_HOPS,
                             _FLAGS)
        if r < c:
            gr[0, r:] = gr[0, 0]
        self._trace("gain_reduction_db", gr[0])
        np.exp(t, out=t)
        gain = t[0]  # (R, n), R in {1, C}
        mix = self._control("mix", n)
        if isinstance(mix, float) and mix == 1.0:
            return np.multiply(x, gain, out=self._scratch("y", x.shape))
        return x * (1.0 + mix * (gain - 1.0))

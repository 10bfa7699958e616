"""Loudness, peak and balance analysis (EBU R 128 / BS.1770-4 meters).

One code path: :class:`Meter` accepts chunks of any size and
:func:`analyze` is ``Meter(...).process(audio).result()``. Streaming the
same audio in any chunking gives the same result as one call (the kernels'
state carries exactly; see :mod:`neuromaster.dsp.loudness`).

Definitions (all levels relative to full scale = 1.0)
-----------------------------------------------------
Loudness
    ITU-R BS.1770-4: K-weighting designed for the actual sample rate,
    channel weights (mono/stereo 1.0; 5.1 ``L R C LFE Ls Rs`` = 1, 1, 1, 0,
    1.41, 1.41; 5.0 ``L R C Ls Rs``; quad ``L R Ls Rs``), momentary = 400 ms
    window, short-term = 3 s window, both evaluated every tick (10 ms at
    44.1/48/88.2/96/192 kHz; the largest divisor of 100 ms not above
    10 ms otherwise, e.g. 6.67 ms at 22.05 kHz); integrated = gated 400 ms
    blocks every 100 ms (absolute -70 LUFS, relative -10 LU, whole blocks
    only); loudness range per EBU Tech 3342 on the 3 s windows every 100 ms.
True peak
    ``"4x"``: BS.1770-4 Annex 2's 48-tap interpolator; ``"16x"``/``"32x"``:
    long Kaiser-windowed sinc interpolators (:mod:`neuromaster.dsp.truepeak`).
    Zeros are assumed before and after the signal (the interpolator tail is
    flushed at the end) and the true peak is never below the sample peak.
Balance
    ``correlation`` is ``sum(L R) / sqrt(sum L^2 sum R^2)`` of channels 0 and
    1 (no mean removal; +1 mono, 0 unrelated, -1 polarity-inverted);
    ``correlation_bands`` is the same from the long-term cross spectrum in a
    few bands. ``mono_loss_db`` is the loudness lost when channels 0 and 1
    are folded to mono, ``(L + R) / 2`` played on both (other channels
    unchanged), measured over the blocks the original's gate kept: 0 dB for mono content, ~3 dB for unrelated
    channels, large for out-of-phase content (``inf`` if it cancels exactly).

Silence and short input
    Loudness values that would be ``-inf`` (silence, everything gated out)
    or that need more audio than given (under 400 ms: momentary and
    integrated; under 3 s: short-term and LRA) are ``None`` in the result,
    as are values derived from them. Time series keep ``-inf`` for silent
    windows and ``nan`` before the first complete window.
"""
from __future__ import annotations

import math
import os
import pathlib
import sys

import numpy as np

from .audio import check_dtype, check_sample_rate
from .dsp import loudness as L
from .dsp.kweighting import kweighting_sos
from .dsp.loudness import kweighted_ticks, tick_layout, ticks_state
from .dsp.polyphase import polyphase_peak, polyphase_state
from .dsp.spectrum import band_sums, spectrum_nfft, third_octave_bands, welch_finish, welch_state, welch_update
from .dsp.truepeak import TRUE_PEAK_MODES, interpolator
from .errors import AudioFileError, ParameterError

#: Default BS.1770-4 channel weights by channel count (LFE = 0, surrounds 1.41).
DEFAULT_CHANNEL_WEIGHTS = {
    1: (1.0,),
    2: (1.0, 1.0),
    3: (1.0, 1.0, 1.0),                      # L R C
    4: (1.0, 1.0, 1.41, 1.41),               # L R Ls Rs
    5: (1.0, 1.0, 1.0, 1.41, 1.41),          # L R C Ls Rs (5.0, EBU Tech 3341 case 6)
    6: (1.0, 1.0, 1.0, 0.0, 1.41, 1.41),     # L R C LFE Ls Rs (5.1)
}

#: Bands of ``correlation_bands`` in Hz (capped at Nyquist).
CORRELATION_BANDS_HZ = ((20.0, 120.0), (120.0, 500.0), (500.0, 2000.0), (2000.0, 8000.0), (8000.0, 20000.0))

#: Sample rates the meters accept, in Hz.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000.0, 384000.0

#: Keys of :func:`to_json` output that hold per-tick time series.
SERIES_KEYS = ("loudness_time_s", "momentary_lufs", "short_term_lufs", "true_peak_time_s", "true_peak_series_dbtp")

_TRUE_PEAK_OFF = ("off", None)


def _finite_or_none(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _db20(v: float) -> float:
    return 20.0 * math.log10(v) if v > 0 else -math.inf


class _Rows:
    """Append-only float64 storage of ``rows`` values per tick (amortised growth, optional reserve)."""

    def __init__(self, rows: int):
        self._data = np.empty((rows, 0))
        self.size = 0

    def reserve(self, n: int) -> None:
        if n > self._data.shape[1]:
            grown = np.empty((self._data.shape[0], int(n)))
            grown[:, :self.size] = self._data[:, :self.size]
            self._data = grown

    def append(self, values: np.ndarray) -> None:
        n = values.shape[-1]
        if self.size + n > self._data.shape[1]:
            self.reserve(max(self.size + n, int(self._data.shape[1] * 1.5) + 1024))
        self._data[:, self.size:self.size + n] = values
        self.size += n

    def view(self) -> np.ndarray:
        return self._data[:, :self.size]


class Meter:
    """Streaming analysis meter; :meth:`result` equals :func:`analyze` on the concatenated chunks.

    Parameters
    ----------
    sample_rate : float
        In Hz, 8 kHz to 384 kHz.
    channels : int
        1 to 6 with the default weights (see :data:`DEFAULT_CHANNEL_WEIGHTS`),
        up to 64 with explicit ``channel_weights``.
    true_peak : {"4x", "16x", "32x", "off"}
        True-peak mode (see the module docstring). ``"off"`` skips it
        (true-peak keys are ``None``).
    channel_weights : sequence of float, optional
        BS.1770-4 ``G_i`` per channel (>= 0); overrides the defaults.

    Notes
    -----
    :meth:`process` takes float32/float64 chunks of any length: 1-D for a
    mono meter, or 2-D ``(channels, n)`` / ``(n, channels)``. A chunk whose
    both dimensions equal ``channels`` (e.g. a 2 x 2 chunk on a stereo meter)
    is read in the layout of the previous unambiguous chunk, and raises
    if there was none. Memory grows by a few values per 10 ms tick (about
    15 MB for an hour of stereo), never with the audio itself.

    Examples
    --------
    >>> m = Meter(48000, 2)                                # doctest: +SKIP
    >>> for block in blocks: m.process(block)              # doctest: +SKIP
    >>> m.result()["integrated_lufs"]                      # doctest: +SKIP
    """

    def __init__(self, sample_rate: float, channels: int, *, true_peak: str | None = "4x", channel_weights=None):
        self.sample_rate = check_sample_rate(sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
        if isinstance(channels, (bool, np.bool_)) or not isinstance(channels, (int, np.integer)) \
                or not 1 <= channels <= 64:
            raise ParameterError(f"channels must be an integer in [1, 64]; got {channels!r}")
        self.channels = int(channels)
        if channel_weights is None:
            if self.channels not in DEFAULT_CHANNEL_WEIGHTS:
                raise ParameterError(f"no default BS.1770 channel weights for {self.channels} channels "
                                     f"(defaults exist for 1-6); pass channel_weights")
            weights = DEFAULT_CHANNEL_WEIGHTS[self.channels]
        else:
            try:
                weights = np.asarray(channel_weights, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                weights = np.array([np.nan])
            if weights.size != self.channels or not np.all(np.isfinite(weights)) or np.any(weights < 0):
                raise ParameterError(f"channel_weights must be {self.channels} finite numbers >= 0; "
                                     f"got {channel_weights!r}")
        self.channel_weights = tuple(float(w) for w in weights)
        if true_peak in _TRUE_PEAK_OFF:
            self.true_peak_mode = "off"
            self._tp_taps = None
        elif true_peak in TRUE_PEAK_MODES:
            self.true_peak_mode = true_peak
            self._tp_taps = interpolator(true_peak)
        else:
            raise ParameterError(f"true_peak must be one of {TRUE_PEAK_MODES + ('off',)}; got {true_peak!r}")
        self._sos = kweighting_sos(self.sample_rate)
        self._tick, self._ticks_per_block = tick_layout(self.sample_rate)
        self._block = self._tick * self._ticks_per_block
        self.reset()

    # ------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all audio; keep the configuration."""

        self._frames = 0
        self._layout = None                      # "first" / "last" once known
        self._kstate = ticks_state(self.channels)
        # per tick: row 0 = sum_i G_i (sum of squares), row 1 = the same for the mono fold-down
        self._ticks = _Rows(2 if (self.channels >= 2 and self._kstate["acc"].shape[0] > self.channels) else 1)
        self._welch = welch_state(self.channels, spectrum_nfft(self.sample_rate))
        if self._tp_taps is not None:
            self._tp_hist = polyphase_state(self.channels, self._tp_taps.shape[1])
            self._tp_done = _Rows(1)                   # per tick: largest true peak over channels
            self._tp_partial = 0.0                     # ... of the unfinished tick
            self._tp_channel_max = np.zeros(self.channels)

    def reserve(self, frames: int) -> None:
        """Optional hint: ``frames`` samples per channel are coming (preallocates the per-tick
        storage exactly instead of growing it)."""
        n = int(frames) // self._tick + 2
        self._ticks.reserve(n)
        if self._tp_taps is not None:
            self._tp_done.reserve(n)

    @property
    def frames(self) -> int:
        """Samples per channel processed since the last reset."""
        return self._frames

    def __repr__(self) -> str:
        return (f"Meter(sample_rate={self.sample_rate:g}, channels={self.channels}, "
                f"true_peak={self.true_peak_mode!r}, frames={self._frames})")

    # ------------------------------------------------------------ input
    def _canonical(self, chunk) -> np.ndarray:
        x = check_dtype(chunk, "chunk")
        C = self.channels
        if x.ndim == 1:
            if C != 1:
                raise ParameterError(f"1-D chunk (shape {x.shape}) given to a {C}-channel meter; "
                                     f"pass (channels, n) or (n, channels)")
            y = x[np.newaxis, :]
        elif x.ndim == 2:
            r, c = x.shape
            first, last = r == C, c == C
            if first and last and r != 1:
                if self._layout is None:
                    raise ParameterError(f"chunk shape {x.shape} is ambiguous for a {C}-channel meter "
                                         f"(cannot tell channels from samples); send a longer chunk first")
                first = self._layout == "first"
            elif not (first or last):
                raise ParameterError(f"chunk shape {x.shape} does not have {C} channels on either axis")
            elif first and last:      # 1 x 1 on a mono meter
                first = True
            else:
                self._layout = "first" if first else "last"
            y = x if first else x.T
        else:
            raise ParameterError(f"chunk must be 1-D or 2-D; got shape {x.shape}")
        # a view when the chunk is already C-contiguous float64 (only read, never kept)
        return np.ascontiguousarray(y, dtype=np.float64)

    def _check_finite(self, x: np.ndarray) -> None:
        """Raise for NaN/Inf samples, naming the first one's position in the stream."""
        bad = ~np.isfinite(x)
        if bad.any():
            ch, idx = np.argwhere(bad)[0]
            kind = "NaN" if np.isnan(x[ch, idx]) else "Inf"
            raise ParameterError(f"audio contains {int(bad.sum())} non-finite samples (first: {kind} at channel "
                                 f"{ch}, sample {self._frames + int(idx)} of the stream)")

    def process(self, chunk) -> "Meter":
        """Add a chunk of audio (see the class notes for layouts); returns ``self``."""
        return self._process_canonical(self._canonical(chunk))

    def _process_canonical(self, x: np.ndarray) -> "Meter":
        """``process`` for an already validated C-contiguous float64 (channels, n) array."""

        n = x.shape[1]
        if n == 0:
            return self
        ticks, kstate = kweighted_ticks(x, self._sos, self._tick, self._kstate)
        # The kernel's running sums (sum and sum of squares of every sample) turn
        # NaN/Inf as soon as one sample is not finite: a free finiteness check.
        # Nothing is committed before it passes (state is a value).
        if not np.isfinite(kstate["stats"][:, :2]).all():
            self._check_finite(x)          # locates and raises (or: finite but huge, overflowed squares)
        self._kstate = kstate
        if ticks.shape[1]:
            self._ticks.append(self._weigh(ticks))
        if self._tp_taps is not None:
            peaks, self._tp_hist = polyphase_peak(x, self._tp_taps, self._tp_hist, segment_length=self._tick,
                                                  position=self._frames, include_input=True)
            self._tp_channel_max = np.maximum(self._tp_channel_max, peaks.max(axis=1))
            seg = peaks.max(axis=0)
            seg[0] = max(seg[0], self._tp_partial)
            if (self._frames + n) % self._tick == 0:
                self._tp_done.append(seg[np.newaxis, :])
                self._tp_partial = 0.0
            else:
                if seg.size > 1:
                    self._tp_done.append(seg[np.newaxis, :-1])
                self._tp_partial = float(seg[-1])
        self._welch = welch_update(x, self._welch)
        self._frames += n
        return self

    def _weigh(self, ticks: np.ndarray) -> np.ndarray:
        """Per-channel tick sums -> ``[sum_i G_i E_i]`` (+ the mono fold-down's for 2+ channels).

        Elementwise in a fixed order (no BLAS), so chunking cannot change a bit;
        keeps 1-2 values per tick instead of one per channel."""
        G, C = self.channel_weights, self.channels
        z = G[0] * ticks[0]
        for c in range(1, C):
            z = z + G[c] * ticks[c]
        if C >= 2 and ticks.shape[0] > C:
            # (L + R) / 2 on both channels 0 and 1: (G0 + G1) (E0 + E1 + 2 X01) / 4
            zm = ((G[0] + G[1]) / 4.0) * ((ticks[0] + ticks[1]) + 2.0 * ticks[C])
            for c in range(2, C):
                zm = zm + G[c] * ticks[c]
            return np.stack([z, zm])
        return z[np.newaxis, :]

    # ------------------------------------------------------------ output
    def result(self, *, series: bool = True) -> dict:
        """The analysis of everything processed so far (see :func:`analyze` for the keys).

        Does not change the meter: more chunks may follow. ``series=False``
        leaves the per-tick time series out (:data:`SERIES_KEYS`; saves
        ~15 MB per hour of audio); every scalar is the same.
        """
        sr, C, tick, tpb, frames = self.sample_rate, self.channels, self._tick, self._ticks_per_block, self._frames
        out: dict = {"sample_rate": int(sr) if float(sr).is_integer() else sr, "channels": C, "frames": frames,
                     "duration_s": frames / sr, "channel_weights": list(self.channel_weights),
                     "true_peak_mode": self.true_peak_mode, "loudness_hop_s": tick / sr}

        # ---- loudness -------------------------------------------------------
        Z = self._ticks.view()
        rows, n_ticks = Z.shape
        z = Z[0]                                              # sum_i G_i * (sum of squares) per tick
        n_blocks = n_ticks // tpb
        blocks = z[:n_blocks * tpb].reshape(n_blocks, tpb).sum(axis=1) if n_blocks else np.zeros(0)
        gate_ms = L.window_sums(blocks, L.MOMENTARY_BLOCKS) / (L.MOMENTARY_BLOCKS * self._block)
        keep, gamma_r = L.gate_blocks(gate_ms)
        integrated = float(L.energy_to_lufs(gate_ms[keep].mean())) if keep.any() else -math.inf
        out["integrated_lufs"] = _finite_or_none(integrated)
        out["relative_gate_lufs"] = _finite_or_none(gamma_r)

        def window_lufs(width_blocks):
            w = width_blocks * tpb
            s = np.full(n_ticks, np.nan)
            if n_ticks >= w:
                v = s[w - 1:]
                L.window_sums(z, w, out=v)                    # in place: no temporaries
                v /= width_blocks * self._block
                with np.errstate(divide="ignore"):
                    np.log10(v, out=v)
                v *= 10.0
                v += L.LOUDNESS_OFFSET_DB
            return s

        momentary = window_lufs(L.MOMENTARY_BLOCKS)
        short_term = window_lufs(L.SHORT_TERM_BLOCKS)
        if series:
            out["loudness_time_s"] = (np.arange(n_ticks) + 1) * (tick / sr)
            out["momentary_lufs"] = momentary
            out["short_term_lufs"] = short_term
        m_max = np.nanmax(momentary) if np.any(~np.isnan(momentary)) else None
        st_max = np.nanmax(short_term) if np.any(~np.isnan(short_term)) else None
        out["momentary_max_lufs"] = _finite_or_none(m_max)
        out["short_term_max_lufs"] = _finite_or_none(st_max)
        st_100ms = L.energy_to_lufs(L.window_sums(blocks, L.SHORT_TERM_BLOCKS) / (L.SHORT_TERM_BLOCKS * self._block))
        lra, lra_lo, lra_hi = L.loudness_range(st_100ms)
        out["loudness_range_lu"] = _finite_or_none(lra)
        out["loudness_range_low_lufs"] = _finite_or_none(lra_lo)
        out["loudness_range_high_lufs"] = _finite_or_none(lra_hi)

        # ---- mono fold-down -------------------------------------------------
        if rows == 2:
            if keep.any():
                bm = Z[1][:n_blocks * tpb].reshape(n_blocks, tpb).sum(axis=1)
                mono_ms = L.window_sums(bm, L.MOMENTARY_BLOCKS)[keep].sum()
                stereo_ms = L.window_sums(blocks, L.MOMENTARY_BLOCKS)[keep].sum()
                out["mono_loss_db"] = 10.0 * math.log10(stereo_ms / mono_ms) if mono_ms > 0 else math.inf
            else:
                out["mono_loss_db"] = None
        else:
            out["mono_loss_db"] = 0.0 if (C == 1 and keep.any()) else None

        # ---- sample statistics ----------------------------------------------
        stats = self._kstate["stats"]
        peak = stats[:, L.STAT_PEAK]
        sumsq = stats[:, L.STAT_SUMSQ]
        out["sample_peak_dbfs_per_channel"] = [_finite_or_none(_db20(p)) for p in peak]
        out["sample_peak_dbfs"] = _finite_or_none(_db20(peak.max())) if frames else None
        out["dc_offset"] = [float(s) / frames if frames else None for s in stats[:, L.STAT_SUM]]
        rms_ch = np.sqrt(sumsq / frames) if frames else np.zeros(C)
        rms_all = math.sqrt(float(sumsq.sum()) / (C * frames)) if frames else 0.0
        out["rms_dbfs_per_channel"] = [_finite_or_none(_db20(r)) for r in rms_ch]
        out["rms_dbfs"] = _finite_or_none(_db20(rms_all))
        out["crest_factor_db"] = (_finite_or_none(_db20(peak.max()) - _db20(rms_all)) if rms_all > 0 else None)
        out["crest_factor_db_per_channel"] = [(_finite_or_none(_db20(p) - _db20(r)) if r > 0 else None)
                                              for p, r in zip(peak, rms_ch)]
        if C >= 2:
            den = math.sqrt(float(sumsq[0]) * float(sumsq[1]))
            out["correlation"] = float(self._kstate["cross"][0] / den) if den > 0 else None
        else:
            out["correlation"] = 1.0 if sumsq[0] > 0 else None

        # ---- true peak --------------------------------------------------------
        if self._tp_taps is not None:
            T = self._tp_taps.shape[1]
            tail, _ = polyphase_peak(np.zeros((C, T - 1)), self._tp_taps, self._tp_hist,
                                     segment_length=T - 1, position=0)
            tail = tail.max(axis=1)                 # the interpolator's flushed tail, per channel
            last = max(self._tp_partial, float(tail.max()))
            done = self._tp_done.view()[0]
            if frames % tick:                       # a partial final segment
                segs = np.concatenate([done, [last]])
            elif done.size:                         # the flushed tail belongs to the last segment
                segs = done.copy()
                segs[-1] = max(segs[-1], last)
            else:
                segs = np.zeros(0)
            tp_lin = np.maximum(np.maximum(self._tp_channel_max, tail), peak)
            out["true_peak_dbtp_per_channel"] = [_finite_or_none(_db20(v)) for v in tp_lin]
            out["true_peak_dbtp"] = _finite_or_none(_db20(tp_lin.max())) if frames else None
            if series:
                with np.errstate(divide="ignore"):
                    out["true_peak_series_dbtp"] = 20.0 * np.log10(segs)
                out["true_peak_time_s"] = np.minimum((np.arange(segs.size) + 1) * tick, frames) / sr
        else:
            out["true_peak_dbtp_per_channel"] = [None] * C
            out["true_peak_dbtp"] = None
            if series:
                out["true_peak_series_dbtp"] = np.zeros(0)
                out["true_peak_time_s"] = np.zeros(0)
        tp = out["true_peak_dbtp"]
        out["plr_db"] = tp - out["integrated_lufs"] if tp is not None and out["integrated_lufs"] is not None else None
        out["psr_db"] = (tp - out["short_term_max_lufs"]
                         if tp is not None and out["short_term_max_lufs"] is not None else None)

        # ---- spectrum and band correlation -------------------------------------
        power, cross, w_energy = welch_finish(self._welch)
        nfft = self._welch["nfft"]
        centre, lo, hi = third_octave_bands(sr)
        if w_energy > 0:
            ms = power / (nfft * w_energy)                    # mean-square per bin and channel
            with np.errstate(divide="ignore"):
                out["spectrum_db"] = 10.0 * np.log10(band_sums(ms.mean(axis=0), sr, nfft, lo, hi))
        else:
            out["spectrum_db"] = np.full(centre.size, -np.inf)
        out["spectrum_hz"] = centre
        bands = [(a, min(b, sr / 2.0)) for a, b in CORRELATION_BANDS_HZ if a < sr / 2.0]
        corr_bands = {}
        if bands:
            blo, bhi = np.array([b[0] for b in bands]), np.array([b[1] for b in bands])
            p_b = band_sums(power, sr, nfft, blo, bhi)
            c_b = band_sums(cross, sr, nfft, blo, bhi) if C >= 2 else p_b[0]
            for k, (a, b) in enumerate(bands):
                den = math.sqrt(p_b[0, k] * p_b[1, k]) if C >= 2 else p_b[0, k]
                corr_bands[f"{a:g}-{b:g}"] = float(c_b[k] / den) if den > 0 else None
        out["correlation_bands"] = corr_bands
        return out


#: ``LoudnessMeter`` is the same object (name used in the issue).
LoudnessMeter = Meter


def _channels_first(audio) -> np.ndarray:
    """Validate layout and dtype like :func:`neuromaster.audio.canonical` and return a
    C-contiguous float64 ``(channels, n)`` array - without copying when the input already is one
    (the meters only read it). Finiteness is checked by the meter's kernel pass."""
    x = check_dtype(audio, "audio")
    if x.size == 0 and x.ndim in (1, 2):
        raise ParameterError(f"audio is empty: it has no samples (shape {x.shape})")
    if x.ndim == 1:
        y = x[np.newaxis, :]
    elif x.ndim == 2:
        r, c = x.shape
        if r == c and r > 1:
            raise ParameterError(f"audio has square shape {x.shape}: cannot tell channels from samples. "
                                 "Pass (channels, samples) with more samples than channels, or a 1-D array for mono.")
        y = x if r <= c else x.T
    else:
        raise ParameterError(f"audio must be 1-D (mono) or 2-D (channels x samples); got {x.ndim} dimensions "
                             f"{x.shape}")
    return np.ascontiguousarray(y, dtype=np.float64)


def analyze(audio, sample_rate: float, *, true_peak: str | None = "4x", channel_weights=None,
            series: bool = True) -> dict:
    """Measure loudness, peaks, dynamics, stereo balance and spectrum of ``audio``.

    Parameters
    ----------
    audio : ndarray
        float32/float64, 1-D (mono) or 2-D in either layout (the smaller
        dimension is channels; a square array raises), full scale = 1.0, at
        most 6 channels with the default weights (5.1 order
        ``L R C LFE Ls Rs``). NaN/Inf, empty arrays and integer dtypes raise.
    sample_rate : float
        In Hz, 8 kHz to 384 kHz.
    true_peak : {"4x", "16x", "32x", "off"}
        ``"4x"`` is BS.1770-4 Annex 2; ``"16x"``/``"32x"`` our high-precision
        interpolators.
    channel_weights : sequence of float, optional
        BS.1770-4 channel weights ``G_i``; default by channel count.
    series : bool
        Include the per-tick time series (default); ``False`` leaves out
        the keys in :data:`SERIES_KEYS`.

    Returns
    -------
    dict
        Scalars are ``float`` or ``None`` (see "Silence and short input" in
        the module docstring); arrays are numpy.

        ``integrated_lufs`` (LUFS)
            Gated programme loudness (BS.1770-4).
        ``relative_gate_lufs`` (LUFS)
            The relative gate that was applied.
        ``momentary_max_lufs``, ``short_term_max_lufs`` (LUFS)
            Maxima of the 400 ms and 3 s loudness, evaluated every tick.
        ``loudness_range_lu`` (LU), ``loudness_range_low_lufs``, ``loudness_range_high_lufs`` (LUFS)
            EBU Tech 3342 LRA and its 10th / 95th percentiles.
        ``true_peak_dbtp`` (dBTP), ``true_peak_dbtp_per_channel`` (list, dBTP)
            Maximum true peak, overall and per channel.
        ``true_peak_mode`` (str)
            The interpolator used.
        ``sample_peak_dbfs`` (dBFS), ``sample_peak_dbfs_per_channel`` (list, dBFS)
            Largest ``|sample|``.
        ``rms_dbfs``, ``rms_dbfs_per_channel`` (dBFS)
            RMS over all channels / per channel (a full-scale sine is -3.01).
        ``crest_factor_db``, ``crest_factor_db_per_channel`` (dB)
            Sample peak over RMS (3.01 dB for a sine).
        ``plr_db`` (dB)
            Peak-to-loudness ratio, ``true_peak_dbtp - integrated_lufs``.
        ``psr_db`` (dB)
            Peak-to-short-term-loudness ratio, ``true_peak_dbtp - short_term_max_lufs``.
        ``correlation`` (-1 to 1)
            Channels 0 and 1 (1.0 for mono input with signal).
        ``correlation_bands`` (dict, -1 to 1)
            Per band, keyed by its edges in Hz (``"20-120"``, ``"120-500"``,
            ``"500-2000"``, ``"2000-8000"``, ``"8000-20000"``; capped at Nyquist).
        ``mono_loss_db`` (dB)
            Loudness lost in the mono fold-down of channels 0 and 1 (0.0 for
            mono input; ``inf`` if it cancels completely).
        ``dc_offset`` (list, full-scale units)
            Mean of each channel.
        ``spectrum_hz`` (ndarray, Hz), ``spectrum_db`` (ndarray, dB re full-scale mean square)
            Long-term 1/3-octave spectrum (base-10 centres 20 Hz - 20 kHz
            below Nyquist), Hann-windowed Welch average over the whole
            signal and over channels; a 0 dBFS sine reads -3.01 dB in its band.
        ``loudness_time_s`` (ndarray, s), ``momentary_lufs``, ``short_term_lufs`` (ndarray, LUFS)
            Time series at ``loudness_hop_s``; each value is the window ending
            at the matching time (``nan`` before the window is complete,
            ``-inf`` for silence).
        ``loudness_hop_s`` (s)
            The tick (0.01 s at 44.1/48/88.2/96/192 kHz).
        ``true_peak_time_s`` (ndarray, s), ``true_peak_series_dbtp`` (ndarray, dBTP)
            Largest true peak (interpolated or sample value) over all
            channels in each tick (the last tick may be partial), for
            plotting; the interpolated values lag by the interpolator's group
            delay (under 1 ms).
        ``sample_rate`` (Hz), ``channels``, ``frames``, ``duration_s`` (s), ``channel_weights``
            What was measured.
    """
    x = _channels_first(audio)
    if x.shape[0] > 64:
        raise ParameterError(f"audio has {x.shape[0]} channels; at most 64 (6 with the default weights)")
    meter = Meter(sample_rate, x.shape[0], true_peak=true_peak, channel_weights=channel_weights)
    return meter._process_canonical(x).result(series=series)


# ----------------------------------------------------------------------- files
#: Files longer than this (seconds) get a progress bar by default when stderr is a terminal.
PROGRESS_MIN_DURATION_S = 120.0


def analyze_file(path, *, true_peak: str | None = "4x", block_size: int = 65536, progress: bool | None = None,
                 channel_weights=None, series: bool = True) -> dict:
    """Analyse an audio file by streaming it in blocks (bounded memory).

    Parameters
    ----------
    path : str or path
        WAV, FLAC, AIFF, OGG, MP3, ... (anything libsndfile reads).
    true_peak : str
        As in :func:`analyze`.
    block_size : int
        Frames read per block (memory is a few MB per 65536 stereo frames).
    progress : bool, optional
        Show a ``rich`` progress bar on stderr. ``None`` (default): only for
        files longer than :data:`PROGRESS_MIN_DURATION_S` when stderr is a terminal.
    channel_weights, series
        As in :func:`analyze`.

    Returns
    -------
    dict
        :func:`analyze`'s keys plus ``file`` (str), ``format`` and ``subtype``.

    Raises
    ------
    AudioFileError
        Missing, unreadable, non-audio path, a directory, or a read failure.
    ParameterError
        The file holds NaN/Inf samples (float formats) or an unsupported layout.
    """
    from .io import audio_info, iter_audio_blocks

    info = audio_info(path)
    meter = Meter(info["sample_rate"], info["channels"], true_peak=true_peak, channel_weights=channel_weights)
    meter.reserve(info["frames"])
    if progress is None:
        progress = info["duration_s"] >= PROGRESS_MIN_DURATION_S and sys.stderr.isatty()
    blocks = iter_audio_blocks(path, block_size)
    try:
        if progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
            from rich.console import Console
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                          TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task(f"analysing {pathlib.Path(path).name}", total=max(info["frames"], 1))
                for block in blocks:
                    meter.process(block)
                    bar.advance(task, block.shape[1])
        else:
            for block in blocks:
                meter.process(block)
    except AudioFileError:
        raise  # already names the file (e.g. NaN/Inf in it)
    except ParameterError as e:
        raise ParameterError(f"{path}: {e}") from None
    res = meter.result(series=series)
    res.update(file=os.fspath(path), format=info["format"], subtype=info["subtype"])
    return res


# ----------------------------------------------------------------------- output
def _json_value(v):
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_json_value(x) for x in v.tolist()]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isfinite(f):
            return f
        return None
    return v


def to_json(result: dict, *, include_series: bool = False) -> dict:
    """A JSON-safe copy of an analysis result.

    Non-finite numbers (``-inf`` loudness of silence, ``nan``, ``inf``)
    become ``None`` (JSON ``null``); numpy values become Python numbers and
    lists. The per-tick time series (:data:`SERIES_KEYS`) are dropped unless
    ``include_series`` (they hold 100 values per second); the spectrum is kept.
    """
    if not isinstance(result, dict):
        raise ParameterError(f"to_json expects an analysis result dict; got {type(result).__name__}")
    return {k: _json_value(v) for k, v in result.items() if include_series or k not in SERIES_KEYS}


def _finite_or_nan(values) -> np.ndarray:
    """A result's series as float, ``-inf`` (silence) drawn as gaps."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v), v, np.nan)


def plot_loudness(ax, result: dict, color, label: str) -> None:
    """Momentary, short-term and integrated loudness of an :func:`analyze` result on ``ax``."""
    t = np.asarray(result.get("loudness_time_s", []))
    if t.size:
        ax.plot(t, _finite_or_nan(result.get("momentary_lufs", [])), color=color, lw=0.6, alpha=0.45,
                label=f"{label}: momentary")
        ax.plot(t, _finite_or_nan(result.get("short_term_lufs", [])), color=color, lw=1.4,
                label=f"{label}: short-term")
    il = result.get("integrated_lufs")
    if il is not None:
        ax.axhline(il, color=color, ls="--", lw=1.0, label=f"{label}: integrated {il:.1f} LUFS")


def plot_spectrum(ax, result: dict, color, label: str) -> None:
    """Long-term 1/3-octave spectrum of an :func:`analyze` result on ``ax`` (log frequency)."""
    f = np.asarray(result.get("spectrum_hz", []))
    if f.size:
        ax.semilogx(f, _finite_or_nan(result.get("spectrum_db", [])), color=color, marker="o", ms=3, lw=1.2,
                    label=label)


def plot_analysis(result_or_results, png_path, labels=None, *, title: str | None = None, dpi: int = 110):
    """Draw loudness over time, true peak over time and the spectrum into a PNG.

    Parameters
    ----------
    result_or_results : dict or sequence of dict
        One :func:`analyze` result, or several to overlay (e.g. before/after).
    png_path : str or path
        Output PNG (overwritten).
    labels : sequence of str, optional
        Legend labels, one per result (default "1", "2", ... or the file names).

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    Uses matplotlib's Agg canvas directly (no pyplot, never opens a window).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    results = [result_or_results] if isinstance(result_or_results, dict) else list(result_or_results)
    if not results or not all(isinstance(r, dict) for r in results):
        raise ParameterError("plot_analysis needs an analysis result dict or a non-empty list of them")
    if labels is None:
        labels = [pathlib.Path(r["file"]).name if r.get("file") else str(i + 1) for i, r in enumerate(results)]
    labels = list(labels)
    if len(labels) != len(results):
        raise ParameterError(f"labels has {len(labels)} entries for {len(results)} results")
    fig = Figure(figsize=(11, 9), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax_l, ax_t, ax_s = fig.subplots(3, 1)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for i, (r, lab) in enumerate(zip(results, labels)):
        col = colors[i % len(colors)]
        plot_loudness(ax_l, r, col, lab)
        tt, tp = np.asarray(r.get("true_peak_time_s", [])), np.asarray(r.get("true_peak_series_dbtp", []))
        if tt.size:
            ax_t.plot(tt, np.where(np.isfinite(tp), tp, np.nan), color=col, lw=0.8, label=lab)
        tpm = r.get("true_peak_dbtp")
        if tpm is not None:
            ax_t.axhline(tpm, color=col, ls=":", lw=1.0, label=f"{lab}: max {tpm:.2f} dBTP")
        plot_spectrum(ax_s, r, col, lab)
    ax_l.set(title=title or "Loudness (BS.1770-4)", xlabel="time (s)", ylabel="LUFS")
    ax_t.set(title="True peak per tick", xlabel="time (s)", ylabel="dBTP")
    for ax, span, floor in ((ax_l, 20.0, -70.0), (ax_t, 12.0, -60.0)):
        lo, hi = ax.get_ylim()
        hi = min(hi, 10.0) if hi > lo else 0.0
        lo = max(min(lo, hi - span), floor)
        ax.set_ylim(lo, hi + 1.0)
        ax.ticklabel_format(axis="y", useOffset=False)
    ax_s.set(title="Long-term 1/3-octave spectrum", xlabel="frequency (Hz)", ylabel="dB re full-scale mean square")
    for ax in (ax_l, ax_t, ax_s):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
    png_path = pathlib.Path(png_path)
    fig.savefig(png_path, dpi=dpi)
    return png_path


__all__ = ["Meter", "LoudnessMeter", "analyze", "analyze_file", "to_json", "plot_analysis",
           "DEFAULT_CHANNEL_WEIGHTS", "CORRELATION_BANDS_HZ"]

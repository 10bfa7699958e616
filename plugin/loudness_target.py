"""Hitting a delivery target: the closed loop on the real chain.

The loop (:func:`master`, :func:`master_file`) renders, measures and
adjusts the gain into the limiter (``limiter.input_gain_db``; the colour
stages keep the drive the preset gave them) until the integrated loudness
of the *final* output is within ``tolerance_lu`` of the target and its true
peak, measured with the 16x meter, is at or below the ceiling.

Passes
------
1. *Pre-pass.* The input is streamed once through the engaged stages before
   the limiter (``MasteringChain.stream_section``) into a float32 cache (in
   memory up to ``cache_memory_bytes``, otherwise an anonymous temporary
   file, so memory stays bounded for long inputs). The same pass measures the
   input (if asked) and, per 10 ms tick of the cached signal, its K-weighted
   energy and 4x true peak.
2. *Search.* Each iteration renders only limiter -> parallel drive (+ guard
   limiter) -> dither from the cache and measures the output's integrated
   loudness (BS.1770-4) and the limiter's gain reduction. The next gain comes
   from a tick-level model of the limiter (per-tick peak over the aim,
   spread by the release, applied to the tick energies, gated like
   BS.1770), solved by bisection and corrected by the measured model error
   (the error varies slowly with the gain), kept inside the bracket of
   measured points (bisection fallback), so one or two renders usually
   suffice; at most ``max_iterations``.
3. *Verification.* The true peak of what is written (float32, or the
   dithered 16/24-bit grid, exactly) is measured with the 16x interpolator
   of the analysis meter: during the render when it is likely to be accepted
   (from the second render on, or when the model expects at most
   ``SPECULATIVE_MAX_GR_DB`` of limiting), else by reading the render back.
   An overshoot tightens the ceiling by the excess and the search continues.
   With ``analyze_output`` the accepted render is read back once more for
   the full analysis (spectrum, time series) of the report.

Damage limits (:class:`neuromaster.presets.Limits`) bound the search: the
peak and mean limiter gain reduction and the largest input gain. If the
target needs more, the loop stops at the loudest render within the limits
and reports ``status="unreachable"`` with how close it got.
"""
from __future__ import annotations

import math
import os
import pathlib
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from .analysis import Meter, plot_loudness, plot_spectrum, to_json
from .audio import canonical
from .dsp import loudness as L
from .dsp.kweighting import kweighting_sos
from .dsp.polyphase import polyphase_peak, polyphase_state
from .dsp.truepeak import interpolator
from .errors import AudioFileError, ParameterError
from .mastering import MasteringChain
from .preset_store import Limits, Preset, Target, load_preset, load_target

#: Frames per block for every pass.
BLOCK = 65536
#: Default stop tolerance of the loop in LU (half the targets' 0.2 LU).
DEFAULT_TOLERANCE_LU = 0.1
#: Default bound on renders of the search (plus tightening renders).
DEFAULT_MAX_ITERATIONS = 8
#: Pre-limiter cache held in memory up to this many bytes, else in a temporary file.
DEFAULT_CACHE_MEMORY_BYTES = 256 * 2 ** 20
#: Renders whose modelled peak limiter reduction is at most this (dB) measure the 16x true peak
#: while rendering (the model lands within tolerance there; see the module docstring).
SPECULATIVE_MAX_GR_DB = 6.0
#: Extra margin (dB) taken off the ceiling when a measured overshoot tightens it.
TIGHTEN_EXTRA_DB = 0.01
#: Gain-reduction level (dB) from which a tick counts as limited in the statistics.
GR_ACTIVE_DB = 0.1
#: Mean square of a tick at -70 LUFS (the absolute gate): ticks below are silent for the statistics.
_GATE_MS = 10.0 ** ((L.ABSOLUTE_GATE_LUFS - L.LOUDNESS_OFFSET_DB) / 10.0)

#: File name stem of the report :meth:`MasterResult.write_report` writes.
REPORT_STEM = "master_report"

STATUS_REACHED = "reached"
STATUS_UNREACHABLE = "unreachable"
STATUS_NOT_CONVERGED = "not_converged"


# ------------------------------------------------------------------ helpers
class _TickMax:
    """Per-tick maxima of a 1-D stream, after dropping its first ``skip`` samples."""

    def __init__(self, tick: int, skip: int = 0):
        self.tick, self.skip = int(tick), int(skip)
        self._done: list = []
        self._partial = -math.inf
        self._fill = 0

    def feed(self, v: np.ndarray) -> None:
        if self.skip:
            d = min(self.skip, v.size)
            v = v[d:]
            self.skip -= d
        if v.size == 0:
            return
        t = self.tick
        head = min(t - self._fill, v.size)
        self._partial = max(self._partial, float(v[:head].max()))
        self._fill += head
        if self._fill < t:
            return
        self._done.append(np.array([self._partial]))
        rest = v[head:]
        full = rest.size // t
        if full:
            self._done.append(rest[:full * t].reshape(full, t).max(axis=1))
        tail = rest[full * t:]
        self._fill = tail.size
        self._partial = float(tail.max()) if tail.size else -math.inf

    def values(self) -> np.ndarray:
        parts = list(self._done)
        if self._fill:
            parts.append(np.array([self._partial]))
        return np.concatenate(parts) if parts else np.zeros(0)


class _TickStats:
    """K-weighted energy (channel-weighted, BS.1770-4) and 4x true peak per tick of a stream."""

    def __init__(self, sample_rate: float, channels: int, peaks: bool = True):
        self.tick, self.ticks_per_block = L.tick_layout(sample_rate)
        self._sos = kweighting_sos(sample_rate)
        self._state = L.ticks_state(channels, with_cross=False)
        self._with_peaks = peaks
        self._taps = interpolator("4x")
        self._hist = polyphase_state(channels, self._taps.shape[1])
        self._energy: list = []
        self._peaks: list = []
        self._partial_peak = 0.0
        self._pos = 0

    def feed(self, x: np.ndarray) -> None:
        n = x.shape[1]
        if n == 0:
            return
        ticks, self._state = L.kweighted_ticks(x, self._sos, self.tick, self._state)
        if ticks.shape[1]:
            self._energy.append(ticks.sum(axis=0))     # mono/stereo: every channel weight is 1.0
        if not self._with_peaks:
            self._pos += n
            return
        peaks, self._hist = polyphase_peak(x, self._taps, self._hist, segment_length=self.tick, position=self._pos,
                                           include_input=True)
        seg = peaks.max(axis=0)
        seg[0] = max(seg[0], self._partial_peak)
        if (self._pos + n) % self.tick == 0:
            self._peaks.append(seg)
            self._partial_peak = 0.0
        else:
            self._peaks.append(seg[:-1])
            self._partial_peak = float(seg[-1])
        self._pos += n

    def integrated_lufs(self) -> float | None:
        """BS.1770-4 integrated loudness of everything fed (None for silence or < 400 ms)."""
        e = np.concatenate(self._energy) if self._energy else np.zeros(0)
        nb = e.size // self.ticks_per_block
        if nb < L.MOMENTARY_BLOCKS:
            return None
        blocks = e[:nb * self.ticks_per_block].reshape(nb, self.ticks_per_block).sum(axis=1)
        ms = L.window_sums(blocks, L.MOMENTARY_BLOCKS) / (L.MOMENTARY_BLOCKS * self.tick * self.ticks_per_block)
        value, _ = L.gated_loudness(ms)
        return value if math.isfinite(value) else None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(energy, peak)`` per complete tick (equal lengths)."""
        e = np.concatenate(self._energy) if self._energy else np.zeros(0)
        p = np.concatenate(self._peaks) if self._peaks else np.zeros(0)
        m = min(e.size, p.size)
        return e[:m], p[:m]


class _TruePeak16:
    """Running 16x true peak of a stream: the analysis meter's ``"16x"`` interpolator
    (:func:`neuromaster.dsp.truepeak.interpolator`) through the same polyphase kernel,
    zeros assumed after the end (tail flushed), never below the sample peak."""

    def __init__(self, channels: int):
        self._taps = interpolator("16x")
        self._hist = polyphase_state(channels, self._taps.shape[1])
        self._pos = 0
        self.peak = 0.0

    def feed(self, x: np.ndarray) -> None:
        n = x.shape[1]
        if n == 0:
            return
        peaks, self._hist = polyphase_peak(x, self._taps, self._hist, segment_length=1 << 30, position=self._pos,
                                           include_input=True)
        self.peak = max(self.peak, float(peaks.max()))
        self._pos += n

    def dbtp(self) -> float | None:
        tail, _ = polyphase_peak(np.zeros((self._hist.shape[0], self._taps.shape[1] - 1)), self._taps, self._hist,
                                 segment_length=1 << 30, position=0)
        p = max(self.peak, float(tail.max()) if tail.size else 0.0)
        return 20.0 * math.log10(p) if p > 0 else None


class _Cache:
    """Float32 ``(channels, n)`` audio written once and read block by block.

    In memory when it fits ``memory_bytes``, else in an anonymous temporary
    file (deleted when closed, or by the OS if the process dies).
    """

    def __init__(self, channels: int, frames: int, memory_bytes: int):
        self.channels, self.frames = int(channels), int(frames)
        self.written = 0
        size = self.channels * self.frames * 4
        self.in_memory = size <= memory_bytes
        if self.in_memory:
            self._data = np.empty((self.channels, self.frames), dtype=np.float32)
            self._file = None
        else:
            self._data = None
            self._file = tempfile.TemporaryFile(prefix="neuromaster-cache-")

    def append(self, y: np.ndarray) -> None:
        n = min(y.shape[1], self.frames - self.written)
        if n <= 0:
            return
        if self.in_memory:
            self._data[:, self.written:self.written + n] = y[:, :n]
        else:
            self._file.write(np.ascontiguousarray(y[:, :n].T, dtype=np.float32).tobytes())
        self.written += n

    def blocks(self, size: int):
        if self.in_memory:
            for a in range(0, self.written, size):
                yield self._data[:, a:a + size].astype(np.float64)
            return
        self._file.seek(0)
        frame_bytes = 4 * self.channels
        left = self.written
        while left > 0:
            n = min(size, left)
            buf = self._file.read(n * frame_bytes)
            yield np.frombuffer(buf, dtype=np.float32).reshape(n, self.channels).T.astype(np.float64)
            left -= n

    def close(self) -> None:
        self._data = None
        if self._file is not None:
            self._file.close()
            self._file = None


class _Pipeline:
    """Runs the measuring and writing of each block in one worker thread while the caller
    renders the next block (the numba kernels release the GIL). One job in flight, in order;
    a worker's exception is raised in the caller. ``threads=False`` runs inline."""

    def __init__(self, threads: bool = True):
        from concurrent.futures import ThreadPoolExecutor
        self._ex = ThreadPoolExecutor(1, thread_name_prefix="neuromaster-loop") if threads else None
        self._fut = None

    def submit(self, fn, *args) -> None:
        if self._ex is None:
            fn(*args)
            return
        if self._fut is not None:
            self._fut.result()
        self._fut = self._ex.submit(fn, *args)

    def close(self) -> None:
        try:
            if self._fut is not None:
                self._fut.result()
        finally:
            self._fut = None
            if self._ex is not None:
                self._ex.shutdown(wait=True)
                self._ex = None


class _Aligner:
    """Drops a stream's first ``skip`` samples (a latency) and keeps count."""

    def __init__(self, skip: int):
        self.skip = int(skip)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        if self.skip:
            d = min(self.skip, y.shape[1])
            self.skip -= d
            return y[:, d:]
        return y


def _flush_blocks(channels: int, frames: int):
    for a in range(0, frames, BLOCK):
        yield np.zeros((channels, min(BLOCK, frames - a)))


def _fit(mask: np.ndarray | None, n: int) -> np.ndarray | None:
    """A per-tick mask cut or padded (with True: a trailing partial tick counts) to ``n`` ticks."""
    if mask is None:
        return None
    if mask.size >= n:
        return mask[:n]
    return np.concatenate([mask, np.ones(n - mask.size, dtype=bool)])


def _stats(v: np.ndarray, active: np.ndarray | None = None) -> dict:
    """Max, and mean / 95th percentile / share above GR_ACTIVE_DB over ``active`` ticks, of a GR series (dB)."""
    if v.size == 0:
        return {"max_db": 0.0, "mean_db": 0.0, "p95_db": 0.0, "active_percent": 0.0}
    w = v[active] if active is not None and active.size == v.size and active.any() else v
    return {"max_db": float(v.max()), "mean_db": float(w.mean()), "p95_db": float(np.percentile(w, 95)),
            "active_percent": float(100.0 * np.mean(w > GR_ACTIVE_DB))}


class _RunningStats:
    """Max / min / mean / 95th percentile / share above GR_ACTIVE_DB of values streamed in
    rows (one row per band), in bounded memory (a 0.01 dB histogram up to 60 dB for the percentile)."""

    BIN_DB, TOP_DB = 0.01, 60.0

    def __init__(self):
        self.rows = None

    def feed(self, a: np.ndarray) -> None:
        a = np.asarray(a, dtype=np.float64)
        if a.shape[-1] == 0:
            return
        if self.rows is None:
            k = a.shape[0]
            nb = int(self.TOP_DB / self.BIN_DB) + 1
            self.rows = {"max": np.full(k, -np.inf), "min": np.full(k, np.inf), "sum": np.zeros(k), "n": 0,
                         "active": np.zeros(k), "hist": np.zeros((k, nb))}
        r = self.rows
        r["max"] = np.maximum(r["max"], a.max(axis=1))
        r["min"] = np.minimum(r["min"], a.min(axis=1))
        r["sum"] += a.sum(axis=1)
        r["n"] += a.shape[1]
        r["active"] += (a > GR_ACTIVE_DB).sum(axis=1)
        idx = np.clip((np.maximum(a, 0.0) / self.BIN_DB).astype(np.int64), 0, r["hist"].shape[1] - 1)
        for b in range(a.shape[0]):
            r["hist"][b] += np.bincount(idx[b], minlength=r["hist"].shape[1])

    def band(self, b: int) -> dict:
        r = self.rows
        n = max(r["n"], 1)
        cum = np.cumsum(r["hist"][b])
        p95 = float(np.searchsorted(cum, 0.95 * cum[-1]) * self.BIN_DB) if cum[-1] else 0.0
        return {"max_db": float(r["max"][b]), "min_db": float(r["min"][b]), "mean_db": float(r["sum"][b] / n),
                "p95_db": p95, "active_percent": float(100.0 * r["active"][b] / n)}


class _Monitor:
    """Collects per-stage gain reduction while a section of the chain streams (bounded memory:
    per-tick maxima for the limiters and peak meters, running statistics for the band traces)."""

    def __init__(self, chain: MasteringChain, sample_rate: float, tick: int, start: str | None = None,
                 active: np.ndarray | None = None):
        self.chain, self.sr, self.tick, self.start, self.active = chain, sample_rate, tick, start, active
        self.series: dict = {}      # stage -> _TickMax of the per-sample GR (max over channels)
        self.bands: dict = {}       # stage -> _RunningStats of the per-band traces (multiband hops / dynamic EQ)
        self.peaks: dict = {}       # stage -> (_TickMax in, _TickMax out) for stages without a trace

    def latency_before(self, name: str) -> int:
        """Samples between the section's input and ``name``'s input."""
        ch = self.chain
        if name == "guard_limiter":
            return (ch.section_latency(self.sr, self.start, "parallel_drive")
                    + ch.stage("parallel_drive").latency_for(self.sr))
        return ch.section_latency(self.sr, self.start, name)

    def __call__(self, name, stage, x, y):
        if name in ("limiter", "guard_limiter"):
            gr = stage.gain_reduction_db
            if name not in self.series:
                # the trace is aligned with the stage's output: skip its own and the earlier latency
                self.series[name] = _TickMax(self.tick, self.latency_before(name) + stage.latency_for(self.sr))
            if gr is not None and gr.shape[1]:
                self.series[name].feed(gr.max(axis=0))
        elif name == "multiband":
            tr = stage.last_gain_reduction_db
            if tr is not None and tr.shape[1]:
                self.bands.setdefault(name, _RunningStats()).feed(tr)
        elif name == "dynamic_eq":
            tr = stage.last_gain_db
            if tr is not None and tr.shape[1]:
                self.bands.setdefault(name, _RunningStats()).feed(tr)
        elif name in ("clipper", "transformer", "tube", "tape", "parallel_drive"):
            if name not in self.peaks:
                lat = stage.latency_for(self.sr)
                self.peaks[name] = (_TickMax(self.tick, 0), _TickMax(self.tick, lat))
            pin, pout = self.peaks[name]
            a = np.abs(x).max(axis=0)
            if name == "clipper":    # against the driven input: the clipper's reduction, not its drive
                a = a * 10.0 ** (stage.get_parameter("drive_db") / 20.0)
            pin.feed(a)
            pout.feed(np.abs(y).max(axis=0))

    def report(self) -> dict:
        out = {}
        for name, acc in self.series.items():
            v = np.maximum(acc.values(), 0.0)
            act = _fit(self.active, v.size)
            out[name] = {"kind": "limiter gain reduction (dB, 10 ms maxima over channels; mean and p95 over "
                                 "ticks above -70 LUFS)", **_stats(v, act)}
        for name, acc in self.bands.items():
            k = acc.rows["max"].size
            if name == "multiband":
                k = min(k, self.chain.get_parameter("multiband.num_bands"))
                bands = {}
                for b in range(k):
                    st = acc.band(b)
                    st.pop("min_db")
                    st["max_db"] = max(st["max_db"], 0.0)
                    bands[f"band{b + 1}"] = st
                out[name] = {"kind": "multiband gain reduction per band (dB, deepest per 16-sample hop)",
                             "bands": bands}
            else:
                bands = {}
                for b in range(k):
                    if not self.chain.get_parameter(f"dynamic_eq.band{b + 1}_enabled"):
                        continue
                    st = acc.band(b)
                    bands[f"band{b + 1}"] = {"deepest_cut_db": min(st["min_db"], 0.0),
                                             "largest_boost_db": max(st["max_db"], 0.0),
                                             "mean_change_db": st["mean_db"]}
                out[name] = {"kind": "dynamic EQ gain per band (dB; < 0 cut, > 0 boost)", "bands": bands}
        for name, (pin, pout) in self.peaks.items():
            a, b = pin.values(), pout.values()
            m = min(a.size, b.size)
            a, b = a[:m], b[:m]
            ok = (a > 1e-6) & (b > 0)
            red = np.zeros(m)
            red[ok] = 20.0 * np.log10(a[ok] / b[ok])
            out[name] = {"kind": "peak level change, input over output (dB, 10 ms windows; > 0 = peaks reduced; "
                                 "clipper: input after its drive)",
                         **_stats(np.maximum(red, 0.0)),
                         "largest_peak_increase_db": float(max(0.0, -red.min())) if m else 0.0}
        return out

    def limiter_series(self) -> np.ndarray:
        acc = self.series.get("limiter")
        return np.maximum(acc.values(), 0.0) if acc is not None else np.zeros(0)


# ------------------------------------------------------------------- model
class _LimiterModel:
    """Tick-level prediction of the integrated loudness after the limiter at a given input gain.

    Per 10 ms tick ``t`` of the pre-limiter signal: energy ``e_t``, true peak
    ``p_t``. At gain ``G`` and aim ``c`` the needed reduction is
    ``r_t = max(0, 20 log10(p_t G / c))`` dB; the limiter's release spreads it,
    ``R_t = max_k r_k exp(-(t - k) tick / release)`` (the reduction in dB
    decays exponentially); the output tick energy is ``e_t G^2 10^(-R_t / 10)``,
    gated per BS.1770-4. Only a guide for the search: every accepted result is
    measured on the real render.
    """

    def __init__(self, energy: np.ndarray, peak: np.ndarray, tick: int, ticks_per_block: int, sample_rate: float,
                 release_ms: float):
        self.e, self.p = energy, peak
        self.tick, self.tpb = tick, ticks_per_block
        self.block = tick * ticks_per_block
        self.lam = tick / (release_ms * 1e-3 * sample_rate)     # release per tick (exponent)
        self.k = np.arange(energy.size) * self.lam
        with np.errstate(divide="ignore"):
            self.logp = 20.0 * np.log10(np.maximum(peak, 1e-300))

    def reduction_db(self, gain_db: float, aim_db: float) -> np.ndarray:
        r = np.maximum(self.logp + gain_db - aim_db, 0.0)
        if not r.any():
            return r
        with np.errstate(divide="ignore"):
            a = np.log(r) + self.k
        env = np.exp(np.maximum.accumulate(a) - self.k)
        return env

    def loudness(self, gain_db: float, aim_db: float) -> float:
        n_blocks = self.e.size // self.tpb
        if n_blocks < L.MOMENTARY_BLOCKS:
            return -math.inf
        red = self.reduction_db(gain_db, aim_db)
        z = self.e * 10.0 ** ((gain_db - red) / 10.0)     # energy: G^2 = 10^(g/10); reduction in dB
        blocks = z[:n_blocks * self.tpb].reshape(n_blocks, self.tpb).sum(axis=1)
        ms = L.window_sums(blocks, L.MOMENTARY_BLOCKS) / (L.MOMENTARY_BLOCKS * self.block)
        value, _ = L.gated_loudness(ms)
        return value

    @property
    def peak_db(self) -> float:
        """Largest tick true peak of the pre-limiter signal, dBTP (4x)."""
        return float(np.max(self.logp, initial=-np.inf))

    def peak_reduction_db(self, gain_db: float, aim_db: float) -> float:
        return float(max(self.peak_db + gain_db - aim_db, 0.0))

    def mean_reduction_db(self, gain_db: float, aim_db: float, active: np.ndarray) -> float:
        red = self.reduction_db(gain_db, aim_db)
        w = red[active[:red.size]] if active.any() else red
        return float(w.mean()) if w.size else 0.0

    def solve_mean_reduction(self, goal_db: float, aim_db: float, lo: float, hi: float, active) -> float:
        """Largest gain in [lo, hi] whose modelled mean reduction stays at or below ``goal_db``."""
        if self.mean_reduction_db(hi, aim_db, active) <= goal_db:
            return hi
        if self.mean_reduction_db(lo, aim_db, active) > goal_db:
            return lo
        for _ in range(48):
            mid = 0.5 * (lo + hi)
            if self.mean_reduction_db(mid, aim_db, active) <= goal_db:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-4:
                break
        return lo

    def solve(self, target_lufs: float, aim_db: float, lo: float, hi: float) -> float:
        """Gain in [lo, hi] (dB) where the model's loudness meets ``target_lufs`` (bisection)."""
        f_lo, f_hi = self.loudness(lo, aim_db), self.loudness(hi, aim_db)
        if not math.isfinite(f_lo) or f_hi <= target_lufs:
            return hi
        if f_lo >= target_lufs:
            return lo
        for _ in range(48):
            mid = 0.5 * (lo + hi)
            if self.loudness(mid, aim_db) < target_lufs:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-4:
                break
        return 0.5 * (lo + hi)


# ------------------------------------------------------------------ results
@dataclass
class Iteration:
    """One render of the search."""

    gain_db: float
    ceiling_db: float
    integrated_lufs: float | None
    limiter_gr_max_db: float
    limiter_gr_mean_db: float
    feasible: bool
    predicted_lufs: float | None
    seconds: float
    true_peak_16x_dbtp: float | None = None

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


@dataclass
class MasterResult:
    """What the closed loop did and delivered.

    Attributes
    ----------
    status : {"reached", "unreachable", "not_converged"}
    message : str
        One line for people.
    target : Target
    limits : Limits
    integrated_lufs, true_peak_dbtp : float
        Of the delivered output (16x true peak).
    error_lu : float
        ``integrated_lufs - target.integrated_lufs``.
    iterations : list of Iteration
    before : dict or None
        Analysis of the input (16x true peak) when asked for.
    after : dict
        Analysis of the delivered output (16x true peak, with time series) with
        ``analyze_output``; else only ``integrated_lufs`` and ``true_peak_dbtp``.
    gain_reduction : dict
        Per stage: limiter (and guard) GR statistics, multiband per band,
        dynamic EQ per band, peak reduction of the clipper and saturators.
    limiter_gr_series_db : ndarray
        Limiter gain reduction per 10 ms tick of the delivered output.
    chain : MasteringChain
        The chain with the settings used (input gain and ceiling as delivered).
    audio : ndarray or None
        float32 output for :func:`master` (input layout); None for files.
    """

    status: str
    message: str
    target: Target
    limits: Limits
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    error_lu: float | None
    iterations: list
    before: dict | None
    after: dict
    gain_reduction: dict
    limiter_gr_series_db: np.ndarray
    chain: MasteringChain
    sample_rate: float
    channels: int
    frames: int
    preset: str | None = None
    audio: np.ndarray | None = None
    timings_s: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    output: str | None = None
    input: str | None = None
    subtype: str | None = None

    @property
    def reached(self) -> bool:
        return self.status == STATUS_REACHED

    def report(self) -> dict:
        """JSON-safe report (see ``docs/mastering.md``)."""
        t = self.target
        gr_hop = self.after.get("loudness_hop_s", 0.01)
        return to_json({
            "neuromaster_report": "master/1",
            "input": self.input, "output": self.output, "subtype": self.subtype,
            "sample_rate": self.sample_rate, "channels": self.channels, "frames": self.frames,
            "duration_s": self.frames / self.sample_rate,
            "preset": self.preset,
            "status": self.status, "message": self.message,
            "target": {**t.to_dict(),
                       "achieved_integrated_lufs": self.integrated_lufs,
                       "achieved_true_peak_dbtp": self.true_peak_dbtp,
                       "error_lu": self.error_lu,
                       "true_peak_margin_db": (None if self.true_peak_dbtp is None
                                               else t.true_peak_dbtp - self.true_peak_dbtp),
                       "within_tolerance": self.error_lu is not None and abs(self.error_lu) <= t.tolerance_lu,
                       "true_peak_ok": self.true_peak_dbtp is not None and self.true_peak_dbtp <= t.true_peak_dbtp},
            "limits": self.limits.to_dict(),
            "iterations": [it.to_dict() for it in self.iterations],
            "gain_reduction": self.gain_reduction,
            "limiter_gr_hop_s": gr_hop,
            "parameters": self.chain.to_dict(),
            "before": None if self.before is None else to_json(self.before, include_series=True),
            "after": to_json(self.after, include_series=True),
            "timings_s": self.timings_s,
            "notes": self.notes,
        })

    def write_report(self, folder, *, stem: str = REPORT_STEM, overwrite: bool = False) -> tuple:
        """Write ``STEM.json`` and ``STEM.png`` into ``folder`` (created if missing); returns both paths.

        Both files are written under temporary names and renamed into place
        together; on any failure neither appears (and a folder created for
        them is removed). Raises :class:`AudioFileError` for file-system
        problems (the message names the path).
        """
        staged = self._stage_report(folder, stem=stem, overwrite=overwrite)
        try:
            staged.commit()
        finally:
            staged.discard()
        return tuple(dest for _, dest, _ in staged.moves)

    def _stage_report(self, folder, *, stem: str = REPORT_STEM, overwrite: bool = False) -> "_StagedFiles":
        """The report written to temporary files in ``folder``, ready to be renamed into place."""
        import json
        if "spectrum_db" not in self.after or (self.before is None):
            raise ParameterError("the report needs the full analyses: master with analyze_input=True "
                                 "and analyze_output=True")
        folder = check_report_folder(folder, overwrite, stem)
        staged = _StagedFiles(overwrite)
        try:
            staged.make_folder(folder)
            jp, pp = report_paths(folder, stem)
            text = json.dumps(self.report(), indent=2, allow_nan=False) + "\n"
            staged.add(jp).write_text(text)
            plot_master(self, staged.add(pp), atomic=False)
        except OSError as e:
            staged.discard()
            if isinstance(e, AudioFileError):
                raise
            raise AudioFileError(f"{folder}: cannot write the report ({e.strerror or e})") from None
        except BaseException:
            staged.discard()
            raise
        return staged


def report_paths(folder, stem: str = REPORT_STEM) -> tuple[pathlib.Path, pathlib.Path]:
    """``(folder/STEM.json, folder/STEM.png)``."""
    folder = pathlib.Path(folder)
    return folder / f"{stem}.json", folder / f"{stem}.png"


def check_report_folder(folder, overwrite: bool = False, stem: str = REPORT_STEM) -> pathlib.Path:
    """Check, before any work, that the report can be written into ``folder``; returns it as a ``Path``.

    The folder may be missing (it is created when the report is written),
    but the nearest existing folder above it must be a writable folder (a
    real probe: a temporary file is created and removed), and without
    ``overwrite`` the report files must not exist yet. Raises
    :class:`AudioFileError` naming the path and the problem.
    """
    if isinstance(folder, (bytes, bytearray)):
        folder = os.fsdecode(folder)
    if not isinstance(folder, (str, os.PathLike)) or str(folder) == "":
        raise AudioFileError(f"report folder must be a non-empty path; got {folder!r}")
    folder = pathlib.Path(folder)
    if folder.exists() and not folder.is_dir():
        raise AudioFileError(f"report folder {folder}: exists and is not a folder")
    base = folder
    while not base.exists():
        if base.parent == base:
            break
        base = base.parent
    if base.exists() and not base.is_dir():
        raise AudioFileError(f"report folder {folder}: {base} is a file, not a folder")
    if not base.exists():
        raise AudioFileError(f"report folder {folder}: no part of the path exists")
    if not overwrite:
        for p in report_paths(folder, stem):
            if p.exists():
                raise AudioFileError(f"{p}: already exists (use --force to overwrite)")
    try:   # a real probe (os.access says yes to root even where the file system says no)
        fd, probe = tempfile.mkstemp(dir=base, prefix=".neuromaster-report-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise AudioFileError(f"report folder {folder}: {base} is not writable ({e.strerror or e})") from None
    return folder


class _StagedFiles:
    """Files written under temporary names, then renamed into place together (or all removed)."""

    def __init__(self, overwrite: bool):
        self.overwrite = overwrite
        self.moves: list = []        # (temporary, destination, overwrite)
        self.created: list = []      # folders made for the files, deepest last

    def make_folder(self, folder: pathlib.Path) -> None:
        missing = []
        f = folder
        while not f.exists():
            missing.append(f)
            f = f.parent
        for d in reversed(missing):
            d.mkdir()
            self.created.append(d)

    def add(self, dest: pathlib.Path) -> pathlib.Path:
        """A temporary path next to ``dest`` (hidden, unique) to write ``dest``'s content to."""
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=f".part{dest.suffix}")
        os.close(fd)
        tmp = pathlib.Path(tmp)
        self.moves.append((tmp, dest, self.overwrite))
        return tmp

    def commit(self) -> None:
        from .io import replace_together
        replace_together(self.moves)
        self.created = []            # the folders now hold the files: keep them

    def discard(self) -> None:
        """Remove the temporary files left (all of them unless committed) and the folders made."""
        for tmp, _, _ in self.moves:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            except OSError:  # pragma: no cover - best effort on the error path
                pass
        for d in reversed(self.created):
            try:
                d.rmdir()
            except OSError:  # pragma: no cover - not empty or gone: leave it
                pass
        self.created = []


def plot_master(result: MasterResult, png_path, dpi: int = 110, *, atomic: bool = True) -> pathlib.Path:
    """PNG: spectrum before/after, loudness over time before/after, limiter gain reduction over time.

    ``atomic`` (default): drawn to a temporary file next to ``png_path`` and
    renamed into place, so a failure leaves nothing under ``png_path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 10), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax_s, ax_l, ax_g = fig.subplots(3, 1)
    runs = [("before", result.before, "tab:blue"), ("after", result.after, "tab:orange")]
    for label, r, col in runs:
        if not r:
            continue
        plot_spectrum(ax_s, r, col, label)
        plot_loudness(ax_l, r, col, label)
    ax_l.axhline(result.target.integrated_lufs, color="k", ls=":", lw=1.0,
                 label=f"target {result.target.integrated_lufs:g} LUFS")
    gr = np.asarray(result.limiter_gr_series_db, dtype=float)
    hop = float(result.after.get("loudness_hop_s", 0.01)) if result.after else 0.01
    if gr.size:
        ax_g.fill_between(np.arange(gr.size) * hop, 0.0, -gr, color="tab:red", alpha=0.5, lw=0)
        ax_g.plot(np.arange(gr.size) * hop, -gr, color="tab:red", lw=0.6, label="limiter")
    ax_s.set(title="Long-term 1/3-octave spectrum", xlabel="frequency (Hz)", ylabel="dB re full-scale mean square")
    ax_l.set(title=f"Loudness (BS.1770-4) - {result.status}: {result.message}", xlabel="time (s)", ylabel="LUFS")
    lo, hi = ax_l.get_ylim()
    ax_l.set_ylim(max(lo, hi - 40.0), hi + 1.0)
    ax_g.set(title="Limiter gain reduction (10 ms maxima over channels)", xlabel="time (s)", ylabel="dB")
    top = float(gr.max()) if gr.size else 0.0
    ax_g.set_ylim(-max(1.0, top * 1.1), 0.2)
    for ax in (ax_s, ax_l, ax_g):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
    png_path = pathlib.Path(png_path)
    if not atomic:
        fig.savefig(png_path, dpi=dpi, format="png")
        return png_path
    fd, tmp = tempfile.mkstemp(dir=png_path.parent if str(png_path.parent) else ".", prefix=f".{png_path.stem}.",
                               suffix=".part.png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, png_path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return png_path


# ------------------------------------------------------------------- sinks
class _ArraySink:
    """Candidate output kept in memory (float32, canonical layout)."""

    def __init__(self, channels: int, frames: int):
        self.data = np.empty((channels, frames), dtype=np.float32)
        self.n = 0

    def write(self, y32: np.ndarray) -> None:
        self.data[:, self.n:self.n + y32.shape[1]] = y32
        self.n += y32.shape[1]

    def close(self):
        pass

    def blocks(self):
        for a in range(0, self.n, BLOCK):
            yield self.data[:, a:a + BLOCK].astype(np.float64)

    def discard(self):
        self.data = None


class _FileSink:
    """Candidate output written to a hidden file next to the destination (renamed into place at the end)."""

    def __init__(self, final: pathlib.Path, sample_rate: int, channels: int, subtype: str, index: int):
        from .io import AudioWriter
        self.path = final.with_name(f".{final.stem}.candidate-{os.getpid()}-{index}{final.suffix}")
        self._writer = AudioWriter(self.path, sample_rate, channels, subtype, overwrite=True)
        try:
            self._writer.__enter__()
        except OSError as e:
            raise AudioFileError(f"{final}: cannot write in {final.parent} ({e})") from None
        self._open = True

    def write(self, y32: np.ndarray) -> None:
        self._writer.write(y32)

    def close(self):
        if self._open:
            self._open = False
            self._writer.__exit__(None, None, None)

    def blocks(self):
        from .io import iter_audio_blocks
        return iter_audio_blocks(self.path, BLOCK)

    def discard(self):
        if self._open:
            self._open = False
            self._writer.__exit__(RuntimeError, RuntimeError("discarded"), None)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


# -------------------------------------------------------------------- loop
def _resolve(chain, preset, target, limits):
    """(chain, preset name, target, limits) from the many ways of giving them.

    A chain given by the caller is copied: the loop sets the limiter's input
    gain and ceiling (and :func:`master_file` the dither) on its own copy, so
    the caller's chain is never changed; ``MasterResult.chain`` holds the copy.
    """
    pname = None
    p = None
    if preset is not None:
        p = preset if isinstance(preset, Preset) else load_preset(preset)
        pname = p.name
    if chain is None:
        chain = p.build_chain() if p is not None else load_preset("default").build_chain()
        if p is None:
            pname = "default"
    elif not isinstance(chain, MasteringChain):
        raise ParameterError(f"chain must be a MasteringChain; got {type(chain).__name__}")
    else:
        chain = chain.copy()
    if target is None:
        target = (p.resolved_target() if p is not None else None) or load_target("spotify")
    elif not isinstance(target, Target):
        target = load_target(target)
    if limits is None:
        limits = p.limits if p is not None else Limits()
    elif isinstance(limits, dict):
        limits = Limits(**limits)
    return chain, pname, target, limits


class _Loop:
    def __init__(self, chain: MasteringChain, target: Target, limits: Limits, sample_rate: float, channels: int,
                 frames: int, *, tolerance_lu, max_iterations, cache_memory_bytes, progress, analyze_input,
                 analyze_output, threads=True):
        if not chain.is_engaged("limiter"):
            raise ParameterError("the closed loop adjusts the limiter's input gain: engage the limiter "
                                 "(limiter.bypass=False)")
        if not (isinstance(tolerance_lu, (int, float)) and 0.005 <= tolerance_lu <= 3.0):
            raise ParameterError(f"tolerance_lu must be in [0.005, 3] LU; got {tolerance_lu!r}")
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or not 1 <= max_iterations <= 50:
            raise ParameterError(f"max_iterations must be an integer in [1, 50]; got {max_iterations!r}")
        self.chain, self.target, self.limits = chain, target, limits
        self.sr, self.C, self.n = float(sample_rate), int(channels), int(frames)
        self.tol = float(tolerance_lu)
        self.max_it = max_iterations
        self.cache_bytes = cache_memory_bytes
        self.progress = progress
        self.analyze_input = analyze_input
        self.analyze_output = analyze_output
        self.threads = threads
        self.timings: dict = {}
        self.notes: list = []
        self.tick, self.tpb = L.tick_layout(self.sr)
        p = chain.parameters["limiter.input_gain_db"]
        self.g_min = p.minimum
        self.g_max = p.maximum if limits.max_limiter_input_gain_db is None \
            else min(p.maximum, limits.max_limiter_input_gain_db)

    def _tick(self, label, done, total):
        if self.progress is not None:
            self.progress(label, done, total)

    # ---- pass 1
    def prepass(self, source) -> None:
        t0 = time.perf_counter()
        ch = self.chain
        ch.set_parameter("limiter.ceiling_db", self.target.true_peak_dbtp)
        ch.prepare(self.sr, self.C, BLOCK)
        lat = ch.section_latency(self.sr, None, "limiter")
        self.cache = _Cache(self.C, self.n, self.cache_bytes)
        self.stats = _TickStats(self.sr, self.C)
        self.before_meter = Meter(self.sr, self.C, true_peak="16x") if self.analyze_input else None
        self.pre_monitor = _Monitor(ch, self.sr, self.tick, None)
        align = _Aligner(lat)
        done = 0

        pipe = _Pipeline(self.threads)

        def consume(block, y):
            if block is not None and self.before_meter is not None:
                self.before_meter.process(block)
            if y.shape[1]:
                self.cache.append(y)
                self.stats.feed(y)

        try:
            for block in source:
                pipe.submit(consume, block, align(ch.stream_section(block, None, "limiter", self.pre_monitor)))
                done += block.shape[1]
                self._tick("pre-limiter stages", done, self.n)
            if done != self.n:
                raise AudioFileError(f"the input gave {done} frames; expected {self.n}")
            for z in _flush_blocks(self.C, lat):
                pipe.submit(consume, None, align(ch.stream_section(z, None, "limiter", self.pre_monitor)))
        finally:
            pipe.close()
        e, p = self.stats.arrays()
        lim = ch.stage("limiter")
        release = lim.get_parameter("release_ms")
        if lim.get_parameter("auto_release"):
            from .dsp.limiter import AUTO_RELEASE_FAST
            release *= AUTO_RELEASE_FAST        # isolated peaks recover with the fast path
        self.model = _LimiterModel(e, p, self.tick, self.tpb, self.sr, release)
        self.silent_ticks = e / self.tick <= _GATE_MS
        self.timings["pre_pass"] = time.perf_counter() - t0

    # ---- one render of the post-limiter section
    def render(self, gain_db: float, sink, index: int, speculative: bool = False) -> tuple[Iteration, _Monitor]:
        t0 = time.perf_counter()
        ch = self.chain
        ch.set_parameter("limiter.input_gain_db", float(gain_db))
        ch.reset_section("limiter", None)
        lat = ch.section_latency(self.sr, "limiter", None)
        meter = _TickStats(self.sr, self.C, peaks=False)    # loudness
        tp16 = _TruePeak16(self.C) if speculative else None  # the 16x check, when this render is likely accepted
        mon = _Monitor(ch, self.sr, self.tick, "limiter", ~self.silent_ticks)
        align = _Aligner(lat)
        done = 0

        def consume(y):
            y32 = y.astype(np.float32)
            y64 = y32.astype(np.float64)          # exactly what is written
            meter.feed(y64)
            if tp16 is not None:
                tp16.feed(y64)
            if sink is not None:
                sink.write(y32)

        pipe = _Pipeline(self.threads)
        try:
            for block in self.cache.blocks(BLOCK):
                y = align(ch.stream_section(block, "limiter", None, mon))
                if y.shape[1]:
                    pipe.submit(consume, y)
                done += block.shape[1]
                self._tick(f"limiter pass {index}", done, self.n)
            for z in _flush_blocks(self.C, lat):
                y = align(ch.stream_section(z, "limiter", None, mon))
                if y.shape[1]:
                    pipe.submit(consume, y)
        finally:
            pipe.close()
        if sink is not None:
            sink.close()
        gr = mon.limiter_series()
        active = _fit(~self.silent_ticks, gr.size)
        gr_max = float(gr.max()) if gr.size else 0.0
        w = gr[active] if active.any() else gr
        gr_mean = float(w.mean()) if w.size else 0.0
        it = Iteration(gain_db=float(gain_db), ceiling_db=float(ch.get_parameter("limiter.ceiling_db")),
                       integrated_lufs=meter.integrated_lufs(),
                       limiter_gr_max_db=gr_max, limiter_gr_mean_db=gr_mean, feasible=self._feasible(gr_max, gr_mean),
                       predicted_lufs=None, seconds=time.perf_counter() - t0,
                       true_peak_16x_dbtp=None if tp16 is None else tp16.dbtp())
        return it, mon

    def _feasible(self, gr_max: float, gr_mean: float) -> bool:
        lim = self.limits
        if lim.max_limiter_gain_reduction_db is not None and gr_max > lim.max_limiter_gain_reduction_db + 1e-9:
            return False
        if lim.max_limiter_mean_gain_reduction_db is not None and gr_mean > lim.max_limiter_mean_gain_reduction_db + 1e-9:
            return False
        return True

    def verify(self, sink, full: bool) -> dict:
        """Measure a render again from its sink: the full analysis (16x true peak, series) or
        loudness and 16x true peak only."""
        t0 = time.perf_counter()
        if full:
            meter = Meter(self.sr, self.C, true_peak="16x")
            feed = meter.process
        else:
            stats, tp16 = _TickStats(self.sr, self.C, peaks=False), _TruePeak16(self.C)

            def feed(block):
                stats.feed(block)
                tp16.feed(block)
        done = 0
        for block in sink.blocks():
            feed(block)
            done += block.shape[1]
            self._tick("measuring the output (16x)", done, self.n)
        self.timings["verify"] = self.timings.get("verify", 0.0) + time.perf_counter() - t0
        if full:
            return meter.result(series=True)
        return {"integrated_lufs": stats.integrated_lufs(), "true_peak_dbtp": tp16.dbtp(),
                "true_peak_mode": "16x", "loudness_hop_s": self.tick / self.sr}

    # ---- the search
    def _next_gain(self, it: Iteration, offsets: dict, aim: float) -> tuple[float, str]:
        """The gain to render next and what bounds it ("loudness", "peak GR", "mean GR", "gain range")."""
        model, lim = self.model, self.limits
        target = self.target.integrated_lufs
        options = [(self.g_max, "gain range")]       # on a tie a limit wins: it is what stops the loudness
        if lim.max_limiter_gain_reduction_db is not None:
            # the deepest reduction follows the gain 1:1 once the loudest peak is limited (measured when it
            # is, else from the model's peak)
            if it.limiter_gr_max_db > 0.05:
                g_peak = it.gain_db + lim.max_limiter_gain_reduction_db - it.limiter_gr_max_db
            else:
                g_peak = aim + lim.max_limiter_gain_reduction_db - model.peak_db
            options.append((g_peak - 0.01, "peak GR"))
        if lim.max_limiter_mean_gain_reduction_db is not None:
            goal = lim.max_limiter_mean_gain_reduction_db - offsets["mean_gr"] - 0.005
            options.append((model.solve_mean_reduction(goal, aim, self.g_min, self.g_max, ~self.silent_ticks),
                            "mean GR"))
        options.append((model.solve(target - offsets["loudness"], aim, self.g_min, self.g_max), "loudness"))
        g, why = min(options, key=lambda o: o[0])
        return float(min(max(g, self.g_min), self.g_max)), why

    def run(self, make_sink):
        t_search = time.perf_counter()
        target = self.target.integrated_lufs
        model = self.model
        active = ~self.silent_ticks
        aim = self.chain.limiter_aim_db
        if not math.isfinite(model.loudness(self.g_max, aim)):
            # BS.1770 integrated loudness needs a 400 ms gating block above the -70 LUFS gate
            block_s = L.MOMENTARY_BLOCKS * self.tick * self.tpb / self.sr
            if self.n < L.MOMENTARY_BLOCKS * self.tick * self.tpb:
                raise ParameterError(f"the input is {self.n / self.sr:.3f} s long: its integrated loudness "
                                     f"(BS.1770) needs at least {block_s:g} s, so no loudness target can be met")
            raise ParameterError(f"the input has no integrated loudness (BS.1770): silent, or below the "
                                 f"{L.ABSOLUTE_GATE_LUFS:g} LUFS gate even at the largest input gain "
                                 f"({self.g_max:+g} dB); no loudness target can be met")
        offsets = {"loudness": 0.0, "mean_gr": 0.0}
        seed = Iteration(0.0, 0.0, None, model.peak_reduction_db(0.0, aim),
                         model.mean_reduction_db(0.0, aim, active), True, None, 0.0)
        g, why = self._next_gain(seed, offsets, aim)
        lo = hi = None            # measured gains: below target and feasible / above target or infeasible
        lo_L = hi_L = None
        best = None               # (iteration, sink, monitor) closest to the target within the limits
        iterations: list[Iteration] = []
        status, message = STATUS_NOT_CONVERGED, ""
        accepted = None
        while len(iterations) < self.max_it:
            predicted = model.loudness(g, aim) + offsets["loudness"]
            sink = make_sink(len(iterations))
            # measure 16x during the render when it is likely the accepted one (the model is
            # reliable at moderate limiting, and after one render its error is known)
            speculative = bool(iterations) or model.peak_reduction_db(g, aim) <= SPECULATIVE_MAX_GR_DB
            it, mon = self.render(g, sink, len(iterations) + 1, speculative)
            it.predicted_lufs = float(predicted) if math.isfinite(predicted) else None
            iterations.append(it)
            L_meas = it.integrated_lufs if it.integrated_lufs is not None else -math.inf
            hit = it.feasible and abs(L_meas - target) <= self.tol
            after = None
            if hit and it.true_peak_16x_dbtp is None and it.integrated_lufs is not None:
                after = self.verify(sink, self.analyze_output)
                it.true_peak_16x_dbtp = after["true_peak_dbtp"]
            if self._over(it):
                # a measured overshoot: tighten the ceiling by the excess (a hit renders again at the same gain)
                aim = self._tighten(it, len(iterations))
                if hit:
                    sink.discard()
                    continue
            elif hit:
                if best is not None:
                    best[1].discard()
                accepted = (it, sink, mon, after)
                status = STATUS_REACHED
                tp = it.true_peak_16x_dbtp
                message = (f"{L_meas:.2f} LUFS ({L_meas - target:+.2f} LU from {target:g}), true peak "
                           f"{tp if tp is not None else -math.inf:.2f} dBTP (ceiling "
                           f"{self.target.true_peak_dbtp:g}) in {len(iterations)} render(s)")
                break
            if it.feasible and (best is None or abs(L_meas - target) < abs(best[0].integrated_lufs - target)):
                if best is not None:
                    best[1].discard()
                best = (it, sink, mon)
            else:
                sink.discard()
            if not it.feasible or L_meas > target:
                if hi is None or g < hi:
                    hi, hi_L = g, (L_meas if it.feasible else None)
            elif lo is None or g > lo:
                lo, lo_L = g, L_meas
            if math.isfinite(L_meas):
                offsets["loudness"] = L_meas - model.loudness(g, aim)
            offsets["mean_gr"] = it.limiter_gr_mean_db - model.mean_reduction_db(g, aim, active)
            g_next, why = self._next_gain(it, offsets, aim)
            # unreachable: more loudness needs more gain, and the next gain is pinned by a limit
            if it.feasible and L_meas < target - self.tol and why != "loudness" and g_next <= g + 0.03:
                status, message = STATUS_UNREACHABLE, self._short_message(it, self._limit_name(why))
                break
            if it.feasible and L_meas > target + self.tol and g <= self.g_min + 1e-6:
                status = STATUS_UNREACHABLE
                message = self._short_message(it, f"the smallest input gain ({self.g_min:+g} dB)")
                break
            # keep the next render inside the bracket of measured points
            a = lo if lo is not None else self.g_min
            b = hi if hi is not None else self.g_max + 1e-9
            if not a < g_next < b:
                if lo_L is not None and hi_L is not None and hi_L > lo_L:
                    g_next = lo + (target - lo_L) * (hi - lo) / (hi_L - lo_L)     # secant inside the bracket
                if not a < g_next < b:
                    g_next = 0.5 * (a + b)
            if lo is not None and hi is not None and hi_L is None and hi - lo < 0.02:
                status = STATUS_UNREACHABLE
                message = self._short_message(best[0] if best else it, self._limit_text())
                break
            g = float(min(max(g_next, self.g_min), self.g_max))
        if accepted is None:
            if best is None:
                raise ParameterError(f"no render stayed within the damage limits ({self._limit_text()}); the "
                                     f"last used {iterations[-1].gain_db:+.2f} dB input gain")
            it, sink, mon = best
            after = None
            if it.true_peak_16x_dbtp is None:
                after = self.verify(sink, self.analyze_output)
                it.true_peak_16x_dbtp = after["true_peak_dbtp"]
            for _ in range(2):   # the delivered render must keep the ceiling: tighten and render it again
                if not self._over(it):
                    break
                self._tighten(it, len(iterations))
                sink.discard()
                sink = make_sink(len(iterations))
                it, mon = self.render(it.gain_db, sink, len(iterations) + 1, True)
                iterations.append(it)
                after = None
            if self._over(it):
                self.notes.append(f"the delivered render's true peak {it.true_peak_16x_dbtp:.3f} dBTP is over the "
                                  f"{self.target.true_peak_dbtp:g} dBTP ceiling")
            if status == STATUS_NOT_CONVERGED:
                Lb = it.integrated_lufs
                message = (f"not converged in {len(iterations)} renders: closest {Lb:.2f} LUFS "
                           f"({Lb - target:+.2f} LU from {target:g})")
            accepted = (it, sink, mon, after)
        it, sink, mon, after = accepted
        if after is None or (self.analyze_output and "spectrum_db" not in after):
            if self.analyze_output:
                after = self.verify(sink, True)
            else:
                after = {"integrated_lufs": it.integrated_lufs, "true_peak_dbtp": it.true_peak_16x_dbtp,
                         "true_peak_mode": "16x", "loudness_hop_s": self.tick / self.sr}
        self.chain.set_parameter("limiter.input_gain_db", it.gain_db)
        self.timings["search"] = time.perf_counter() - t_search
        return status, message, iterations, (it, sink, mon, after)

    def _over(self, it: Iteration) -> bool:
        tp = it.true_peak_16x_dbtp
        return tp is not None and tp > self.target.true_peak_dbtp

    def _tighten(self, it: Iteration, index: int) -> float:
        """Lower the chain's ceiling by a measured overshoot (plus TIGHTEN_EXTRA_DB); returns the new aim."""
        tp = it.true_peak_16x_dbtp
        ceiling = self.target.true_peak_dbtp
        new_c = self.chain.get_parameter("limiter.ceiling_db") - (tp - ceiling) - TIGHTEN_EXTRA_DB
        lowest = self.chain.lowest_ceiling_db
        if new_c < lowest:
            raise ParameterError(
                f"render {index}: the true peak {tp:.3f} dBTP (16x) is over the {ceiling:g} dBTP ceiling, and "
                f"keeping the ceiling would need the limiter to aim at {new_c:.3f} dBTP, below the lowest ceiling "
                f"the chain can deliver ({lowest:.4f} dBTP: the limiter's "
                f"{self.chain.parameters['limiter.ceiling_db'].minimum:g} dBTP minimum plus "
                f"{self.chain.dither_headroom_db:.4f} dB of dither headroom); use a higher true-peak ceiling")
        self.notes.append(f"render {index}: true peak {tp:.3f} dBTP (16x) over the {self.target.true_peak_dbtp:g} "
                          f"dBTP ceiling; limiter ceiling tightened to {new_c:.3f} dBTP")
        self.chain.set_parameter("limiter.ceiling_db", new_c)
        return self.chain.limiter_aim_db

    def _limit_name(self, why: str) -> str:
        lim = self.limits
        if why == "peak GR":
            return f"the preset's peak limiter gain reduction limit ({lim.max_limiter_gain_reduction_db:g} dB)"
        if why == "mean GR":
            return f"the preset's mean limiter gain reduction limit ({lim.max_limiter_mean_gain_reduction_db:g} dB)"
        return f"the largest input gain allowed ({self.g_max:+g} dB)"

    def _limit_text(self) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in self.limits.to_dict().items()) or "none"

    def _short_message(self, it: Iteration, what: str) -> str:
        t = self.target.integrated_lufs
        Lm = it.integrated_lufs if it.integrated_lufs is not None else float("-inf")
        return (f"target {t:g} LUFS not reachable within {what}: closest {Lm:.2f} LUFS ({Lm - t:+.2f} LU), "
                f"limiter gain reduction up to {it.limiter_gr_max_db:.1f} dB (mean {it.limiter_gr_mean_db:.2f} dB)")


def _run(source, n, sample_rate, channels, chain, target, limits, pname, make_sink, *, tolerance_lu, max_iterations,
         cache_memory_bytes, progress, analyze_input, analyze_output, threads=True):
    t0 = time.perf_counter()
    loop = _Loop(chain, target, limits, sample_rate, channels, n, tolerance_lu=tolerance_lu,
                 max_iterations=max_iterations, cache_memory_bytes=cache_memory_bytes, progress=progress,
                 analyze_input=analyze_input, analyze_output=analyze_output, threads=threads)
    try:
        loop.prepass(source)
        status, message, iterations, (it, sink, mon, after) = loop.run(make_sink)
    finally:
        if hasattr(loop, "cache"):
            loop.cache.close()
    before = loop.before_meter.result(series=True) if loop.before_meter is not None else None
    gr = loop.pre_monitor.report()
    gr.update(mon.report())
    tp = after["true_peak_dbtp"]
    il = after["integrated_lufs"]
    loop.timings["total"] = time.perf_counter() - t0
    res = MasterResult(status=status, message=message, target=target, limits=limits, integrated_lufs=il,
                       true_peak_dbtp=tp, error_lu=None if il is None else il - target.integrated_lufs,
                       iterations=iterations, before=before, after=after, gain_reduction=gr,
                       limiter_gr_series_db=mon.limiter_series(), chain=chain, sample_rate=sample_rate,
                       channels=channels, frames=n, preset=pname, timings_s=loop.timings, notes=loop.notes)
    return res, sink


def master(audio, sample_rate: float, *, chain: MasteringChain | None = None, preset=None, target=None,
           limits=None, tolerance_lu: float = DEFAULT_TOLERANCE_LU, max_iterations: int = DEFAULT_MAX_ITERATIONS,
           analyze_input: bool = True, analyze_output: bool = True,
           cache_memory_bytes: int = DEFAULT_CACHE_MEMORY_BYTES, progress=None, threads: bool = True) -> MasterResult:
    """Master an array to a delivery target with the closed loop.

    Parameters
    ----------
    audio : ndarray
        float32/float64, mono or stereo, either layout (pedalboard's rules).
    sample_rate : float
        Hz (22.05-192 kHz).
    chain : MasteringChain, optional
        The chain to use; it is not modified (the loop works on
        ``chain.copy()``, and ``result.chain`` holds the settings used:
        limiter input gain and ceiling as delivered). Default: built from
        ``preset``.
    preset : str, path or Preset, optional
        Chain or genre preset (default ``"default"``); a genre preset also
        gives the damage limits and the default target.
    target : str, path or Target, optional
        Delivery target (default: the preset's, else ``"spotify"``).
    limits : Limits or dict, optional
        Damage limits (default: the preset's).
    tolerance_lu : float
        Stop when the measured integrated loudness is this close, in LU
        (0.005-3; default 0.1).
    max_iterations : int
        Most renders of the search (1-50, default 8).
    analyze_input : bool
        Also measure the input (the report's "before").
    analyze_output : bool
        Full analysis of the delivered output (the report's "after", with
        spectrum and time series); otherwise only its integrated loudness and
        16x true peak are measured (enough for the loop).
    cache_memory_bytes : int
        Largest pre-limiter cache kept in memory.
    progress : callable, optional
        ``progress(label, frames_done, frames_total)``.
    threads : bool
        Measure and write each rendered block in a worker thread while the
        next block renders (default); False runs everything in the calling
        thread. The result is identical.

    Returns
    -------
    MasterResult
        ``.audio`` holds the float32 output in the input's layout.
    """
    x, layout = canonical(audio)
    chain, pname, target, limits = _resolve(chain, preset, target, limits)
    C, n = x.shape
    chain._check_channels(C)

    def source():
        for a in range(0, n, BLOCK):
            yield x[:, a:a + BLOCK]

    res, sink = _run(source(), n, float(sample_rate), C, chain, target, limits, pname,
                     lambda i: _ArraySink(C, n), tolerance_lu=tolerance_lu, max_iterations=max_iterations,
                     cache_memory_bytes=cache_memory_bytes, progress=progress, analyze_input=analyze_input,
                     analyze_output=analyze_output, threads=threads)
    res.audio = layout.restore(sink.data)
    return res


#: Output word lengths: CLI name -> (libsndfile subtype, dither bit depth or None for float).
BIT_DEPTHS = {"16": ("PCM_16", 16), "24": ("PCM_24", 24), "32f": ("FLOAT", None)}


def master_file(input_path, output_path, *, chain: MasteringChain | None = None, preset=None, target=None,
                limits=None, bit_depth: str = "24", overwrite: bool = False,
                tolerance_lu: float = DEFAULT_TOLERANCE_LU, max_iterations: int = DEFAULT_MAX_ITERATIONS,
                analyze_input: bool = False, analyze_output: bool | None = None,
                cache_memory_bytes: int = DEFAULT_CACHE_MEMORY_BYTES, progress=None,
                threads: bool = True, report=None) -> MasterResult:
    """Master a file to a file (streamed in blocks: memory bounded by the cache policy).

    The output keeps the input's sample rate and channel count; 16/24-bit
    output is dithered by the chain's Dither stage (engaged at that depth),
    ``"32f"`` is written as undithered float (dither bypassed). The file is
    written next to its destination under a hidden name and renamed into
    place at the end (atomic); it never replaces the input and an existing
    ``output_path`` needs ``overwrite=True``. The caller's ``chain`` is not
    modified (see :func:`master`). Other arguments as in :func:`master`
    (``analyze_output`` defaults to ``analyze_input``: both are needed for
    :meth:`MasterResult.write_report`).

    report : str or path, optional
        Also write the report (``master_report.json`` and ``.png``, see
        :meth:`MasterResult.write_report`) into this folder, created if
        missing. It is checked before mastering starts (the nearest existing
        folder must be writable; existing report files need ``overwrite``),
        implies both analyses, and is written before ``output_path`` is put
        in place: the master and its report appear together, and if either
        cannot be written neither does (an :class:`AudioFileError`).
    """
    from .io import audio_info, check_audio_path, iter_audio_blocks, replace_together, same_file

    inp = check_audio_path(input_path)
    out = pathlib.Path(output_path)
    if same_file(inp, out):
        raise AudioFileError(f"{out}: is the input file; write the master to another path")
    check_output_path(out, overwrite)
    if report is not None:
        report = check_report_folder(report, overwrite)
        if analyze_output is False:
            raise ParameterError("a report needs the full analysis of the output: analyze_output=False "
                                 "cannot go with report=...")
        analyze_input = analyze_output = True
    if bit_depth not in BIT_DEPTHS:
        raise ParameterError(f"bit_depth must be one of {', '.join(BIT_DEPTHS)}; got {bit_depth!r}")
    subtype, bits = BIT_DEPTHS[bit_depth]
    from .io import WRITE_FORMATS
    import soundfile as sf
    fmt = WRITE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise AudioFileError(f"{out}: cannot tell the format from the extension {out.suffix!r}; "
                             f"use one of {', '.join(sorted(WRITE_FORMATS))}")
    if not sf.check_format(fmt, subtype):
        raise ParameterError(f"{out}: {fmt} files cannot hold {bit_depth}-bit ({subtype}) samples; "
                             f"choose another --bit-depth or extension")
    info = audio_info(inp)
    chain, pname, target, limits = _resolve(chain, preset, target, limits)
    if bits is None:
        chain.set_parameter("dither.bypass", True)
    else:
        chain.set_parameter("dither.bypass", False)
        chain.set_parameter("dither.bit_depth", bits)
    C, n, sr = info["channels"], info["frames"], info["sample_rate"]
    chain._check_channels(C)
    if n == 0:
        raise AudioFileError(f"{inp}: has no audio frames")
    sinks = []

    def make_sink(i):
        s = _FileSink(out, sr, C, subtype, i)
        sinks.append(s)
        return s

    staged = None
    try:
        res, sink = _run(iter_audio_blocks(inp, BLOCK), n, float(sr), C, chain, target, limits, pname, make_sink,
                         tolerance_lu=tolerance_lu, max_iterations=max_iterations,
                         cache_memory_bytes=cache_memory_bytes, progress=progress, analyze_input=analyze_input,
                         analyze_output=analyze_input if analyze_output is None else analyze_output,
                         threads=threads)
        res.input, res.output, res.subtype = str(inp), str(out), subtype
        if out.exists() and not overwrite:
            raise AudioFileError(f"{out}: appeared while mastering; not replaced (use --force)")
        moves = []
        if report is not None:      # the report first, under temporary names; then everything goes in place
            staged = res._stage_report(report, overwrite=overwrite)
            moves = list(staged.moves)
        replace_together([*moves, (sink.path, out, overwrite)])
        if staged is not None:
            staged.created = []     # committed: the folders hold the files
    finally:
        if staged is not None:
            staged.discard()
        for s in sinks:
            s.discard()
    return res


def check_output_path(out: pathlib.Path, overwrite: bool) -> None:
    """Raise :class:`AudioFileError` unless ``out`` can be (over)written."""
    if out.is_dir():
        raise AudioFileError(f"{out}: is a directory")
    if out.exists() and not overwrite:
        raise AudioFileError(f"{out}: already exists (use --force to overwrite)")
    folder = out.parent if str(out.parent) else pathlib.Path(".")
    if not folder.is_dir():
        raise AudioFileError(f"{out}: the folder {folder} does not exist")
    try:   # a real probe (os.access says yes to root even where the file system says no)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{out.stem}.probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise AudioFileError(f"{out}: the folder {folder} is not writable ({e.strerror or e})") from None


__all__ = ["master", "master_file", "MasterResult", "Iteration", "plot_master", "BIT_DEPTHS",
           "STATUS_REACHED", "STATUS_UNREACHABLE", "STATUS_NOT_CONVERGED"]

"""The base of every oversampled nonlinear stage: :class:`OversampledProcessor`.

A stage runs its nonlinearity at ``oversampling`` times the sample rate
(:mod:`neuromaster.dsp.oversampling`) in the residual form of
:mod:`neuromaster.dsp.saturation`::

    v   = upsample(drive_input(x))            # oversampled, delayed by design.upsample_delay
    r   = f(v) - v                            # the curve's residual (exactly 0 where f is linear)
    d   = post(downsample(r))                 # base rate, delayed by design.latency_samples
    y   = combine(delay(x), d)                # default: delay(x) + mix * d

so the linear part of the signal is the exact, latency-aligned input and
only what the curve adds passes through the oversampling filters. Control
values are aligned with the audio they act on: a parameter read at the
oversampled rate is held over ``factor`` samples and delayed by
``design.upsample_delay``; one read at the output is delayed by the
latency. Automating ``drive_db`` at sample n therefore changes the
processing of input sample n, in one-shot and in streaming calls alike.

Used by ``SoftClipper``, ``TubeSaturator``, ``ParallelDrive``,
``TransformerSaturator`` and ``TapeSaturator``. Also here:
:func:`oversampling_param` (the shared ``oversampling`` parameter: one of
1, 2, 4, 8, 16 through :attr:`Param.values <neuromaster.params.Param>`),
:func:`as_ctrl` (a control value as the kernels take it:
:func:`neuromaster.dsp.controls.control`) and
:func:`run_channels` (per-channel kernels in parallel threads).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, ClassVar

import numpy as np

from neuromaster.dsp.controls import control as as_ctrl
from neuromaster.dsp.delay import delay, delay_state
from neuromaster.dsp.oversampling import FACTORS, downsample, oversampler_design, oversampler_state, upsample

from ..params import Param
from ..processor import Processor

#: Oversampled samples per channel below which :func:`run_channels` stays in
#: the calling thread (a thread hand-off costs some tens of microseconds).
PARALLEL_MIN_SAMPLES = 8192

#: CPUs available to this process (read once: ``os.cpu_count`` is not free).
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def oversampling_param(default: int = 8) -> Param:
    """The ``oversampling`` parameter: one of 1, 2, 4, 8, 16 (structural, not
    automatable; normalised 0, 0.25, 0.5, 0.75, 1)."""
    return Param("oversampling", 1, 16, int(default), kind="int", values=FACTORS,
                 doc="oversampling factor for the nonlinearity: 1, 2, 4, 8 or 16 (changes the latency)")


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, _CPUS - 1),
                                       thread_name_prefix="neuromaster-channel")
        return _pool


def _forget_pool_after_fork() -> None:
    """In a forked child the pool's threads do not exist (a task submitted to
    the inherited executor would never run): start a new pool when needed."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def run_channels(kernel: Callable[[int, int], None], channels: int, samples: int, parallel: bool) -> None:
    """Run ``kernel(lo, hi)`` over the channels ``lo:hi`` of a block.

    With ``parallel`` (and at least two channels, two CPUs and
    ``PARALLEL_MIN_SAMPLES`` samples per channel) the channels are split
    into one group per CPU and the groups run at the same time, one of them
    in the calling thread; otherwise ``kernel(0, channels)`` runs once. The
    kernels must release the GIL (``nogil=True``) and treat channels
    independently, so the result is the same either way, to the bit.
    """
    if not parallel or channels < 2 or _CPUS < 2 or samples < PARALLEL_MIN_SAMPLES:
        kernel(0, channels)
        return
    groups = min(channels, _CPUS)
    bounds = [round(g * channels / groups) for g in range(groups + 1)]
    pool = _thread_pool()
    futures = [pool.submit(kernel, bounds[g], bounds[g + 1]) for g in range(1, groups)]
    try:
        kernel(bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()


class _ControlLine:
    """Delay line for a control signal, cheap while the control is constant.

    ``push(v, n)`` takes a float (constant over the next ``n`` samples) or a
    per-sample array and returns the value ``delay`` samples earlier (a float
    while the whole line holds one value). Before the first push the line is
    taken to hold the first value pushed (a curve is held before its start).
    """

    def __init__(self, delay_samples: int):
        self.delay = int(delay_samples)
        self.reset()

    def reset(self) -> None:
        self._const = None
        self._buf = None

    def push(self, v, n: int):
        D = self.delay
        if D == 0:
            return v
        is_arr = isinstance(v, np.ndarray)
        if self._buf is None:
            if not is_arr and (self._const is None or self._const == v):
                self._const = v
                return v
            fill = self._const if self._const is not None else (v[0] if is_arr else v)
            self._buf = np.full(D, float(fill))
        arr = v if is_arr else np.full(n, float(v))
        full = np.concatenate([self._buf, arr])
        out = full[:n]
        self._buf = full[n:]
        if not is_arr and np.all(self._buf == v):
            self._const = v
            self._buf = None
        return out


class OversampledProcessor(Processor):
    """Base of the oversampled nonlinear stages (see the module docstring).

    Subclasses list the parameters their curve reads in ``OS_CONTROLS`` and
    those read at the output in ``OUT_CONTROLS``, include
    :func:`oversampling_param` in ``PARAMETERS``, and implement
    :meth:`_residual`; :meth:`_drive_input`, :meth:`_post`, :meth:`_combine`,
    :meth:`_extra_latency` and :meth:`_out_delay` are optional hooks. A
    nonlinearity with memory (hysteresis) keeps its state in attributes
    allocated in :meth:`_prepare_stage` (``self._design.factor`` and
    ``self.sample_rate`` give the oversampled rate) and cleared in
    :meth:`_reset_stage`; :meth:`_residual` then advances it block by block,
    and may run its channels in parallel with :meth:`_run_channels`.

    Attributes
    ----------
    channel_threads : bool
        Whether stages whose nonlinearity has memory (one serial recursion per
        channel: ``TransformerSaturator``, ``TapeSaturator``) process the
        channels of a block in parallel threads (default True; the output is
        identical either way). Set it to False on an instance or on the class
        when the caller already runs one stage per CPU.
    """

    OS_CONTROLS: ClassVar[tuple[str, ...]] = ()
    OUT_CONTROLS: ClassVar[tuple[str, ...]] = ("mix",)
    STRUCTURAL = frozenset({"oversampling"})
    SUPPORTED_CHANNELS = tuple(range(1, 9))
    channel_threads: bool = True

    # ------------------------------------------------------------ latency
    def latency_for(self, sample_rate: float) -> int:
        """Oversampler round trip (0 at 1x; 73-81 samples otherwise, at any rate)
        plus :meth:`_extra_latency`."""
        return oversampler_design(self.oversampling).latency_samples + self._extra_latency(sample_rate)

    def _extra_latency(self, sample_rate: float) -> int:
        """Delay a stage adds after the oversampler, in samples (override)."""
        return 0

    def _out_delay(self, name: str) -> int:
        """Alignment delay of an ``OUT_CONTROLS`` parameter: the total latency
        by default (override for values used before the extra stage)."""
        return self.latency_for(self.sample_rate)

    # ------------------------------------------------------------- lifecycle
    def _prepare(self) -> None:
        d = oversampler_design(self.oversampling)
        self._design = d
        self._os_lines = {n: _ControlLine(d.upsample_delay) for n in self.OS_CONTROLS}
        self._out_lines = {n: _ControlLine(self._out_delay(n)) for n in self.OUT_CONTROLS}
        self._prepare_stage()

    def _prepare_stage(self) -> None:
        """Allocate stage-specific state (override)."""

    def _reset_state(self) -> None:
        C = self.num_channels
        self._os_state = oversampler_state(self._design, C)
        self._dry_state = delay_state(C, self._design.latency_samples)
        for line in (*self._os_lines.values(), *self._out_lines.values()):
            line.reset()
        self._reset_stage()

    def _reset_stage(self) -> None:
        """Clear stage-specific state (override)."""

    # -------------------------------------------------------------- controls
    def _os_control(self, name: str, n: int):
        """Parameter over the oversampled block of ``n`` base samples: a float,
        or an array of ``n * factor`` values aligned with the upsampled audio."""
        v = self._control(name, n)
        F = self._design.factor
        if isinstance(v, np.ndarray) and F > 1:
            v = np.repeat(v, F)
        return self._os_lines[name].push(v, n * F)

    def _out_control(self, name: str, n: int):
        """Parameter over the next ``n`` output samples, aligned with the output."""
        return self._out_lines[name].push(self._control(name, n), n)

    def _run_channels(self, kernel: Callable[[int, int], None], samples: int) -> None:
        """:func:`run_channels` with this stage's ``channel_threads`` setting."""
        run_channels(kernel, self.num_channels, samples, bool(self.channel_threads))

    # ------------------------------------------------------------ processing
    def _process_block(self, x, sidechain):
        n = x.shape[1]
        v, self._os_state = upsample(self._drive_input(x), self._design, self._os_state)
        r = self._residual(v, n)
        d, self._os_state = downsample(r, self._design, self._os_state)
        d = self._post(d, n)
        dry, self._dry_state = delay(x, self._dry_state)
        return self._combine(dry, d, n)

    def _drive_input(self, x: np.ndarray) -> np.ndarray:
        """Signal fed to the curve, at the base rate (override; default ``x``)."""
        return x

    def _residual(self, v: np.ndarray, n: int) -> np.ndarray:
        """``f(v) - v`` on the oversampled block ``v`` (C, n * factor) (override)."""
        raise NotImplementedError

    def _post(self, d: np.ndarray, n: int) -> np.ndarray:
        """Filter the downsampled residual (override; default: none)."""
        return d

    def _combine(self, dry: np.ndarray, d: np.ndarray, n: int) -> np.ndarray:
        """Output from the delayed input and the residual (default ``dry + mix d``)."""
        mix = self._out_control("mix", n)
        return dry + np.asarray(mix) * d

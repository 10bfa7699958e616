"""Shared timing harness for the bench scripts.

Machines are shared and noisy: every figure is a median over interleaved
runs (each candidate runs once per round, so a burst of load hits all of
them alike), reported as wall-clock and CPU time of this process.
"""
from __future__ import annotations

import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host_tests"))  # the independent true-peak reference lives there

import neuromaster as nm  # noqa: E402  (imports dawdreamer before numba)


def timed(fn):
    """Run ``fn()`` once; return ``(result, wall_s, cpu_s)``."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def interleaved_medians(fns: dict, runs: int = 5, warmup: bool = True) -> dict:
    """``{name: (wall_median_s, cpu_median_s)}`` over ``runs`` interleaved rounds."""
    if warmup:
        for fn in fns.values():
            fn()
    walls = {k: [] for k in fns}
    cpus = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            _, w, c = timed(fn)
            walls[k].append(w)
            cpus[k].append(c)
    return {k: (float(np.median(walls[k])), float(np.median(cpus[k]))) for k in fns}


def demo_mix(seconds: float = 300.0, sample_rate: int = 44100, genre: str = "pop", seed: int = 0,
             dtype=np.float32) -> np.ndarray:
    """A seeded demo mix ``(2, n)`` for benchmarks."""
    return nm.demo.make_mix(genre, seconds, sample_rate, seed).astype(dtype)


def memcopy_seconds(x: np.ndarray, runs: int = 7) -> float:
    """Median wall time of a plain copy of ``x`` (the "multiple of a memory copy" unit)."""
    return interleaved_medians({"copy": lambda: x.copy()}, runs)["copy"][0]


def table(rows: list, headers: list) -> str:
    """A plain fixed-width text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

"""Shared timing harness for the bench scripts.

Machines are shared and noisy: every figure is a median over interleaved
runs (each candidate runs once per round, so a burst of load hits all of
them alike), reported as wall-clock and CPU time of this process.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
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


def interleaved_runs(fns: dict, runs: int = 5, warmup: bool = True, alternate: bool = False,
                     outputs: dict | None = None) -> dict:
    """``{name: (wall_s_list, cpu_s_list)}``, one entry per round, over ``runs`` interleaved rounds.

    Each round calls every function once, in the dict's order; with ``alternate`` every
    second round (the 2nd, 4th, ...) goes in reverse order, so no candidate always runs
    first. ``warmup`` calls each function once, untimed, before the rounds. If ``outputs``
    is a dict, it receives each function's result from its last timed run.
    """
    if warmup:
        for fn in fns.values():
            fn()
    times = {k: ([], []) for k in fns}
    for r in range(runs):
        for k in (reversed(list(fns)) if alternate and r % 2 else list(fns)):
            result, w, c = timed(fns[k])
            times[k][0].append(w)
            times[k][1].append(c)
            if outputs is not None:
                outputs[k] = result
            del result  # not kept alive while the next function runs
    return times


def interleaved_medians(fns: dict, runs: int = 5, warmup: bool = True, outputs: dict | None = None) -> dict:
    """``{name: (wall_median_s, cpu_median_s)}`` over ``runs`` interleaved rounds (see ``interleaved_runs``)."""
    times = interleaved_runs(fns, runs, warmup, outputs=outputs)
    return {k: (float(np.median(w)), float(np.median(c))) for k, (w, c) in times.items()}


def median_time(fn, runs: int) -> tuple[float, float]:
    """``(wall_median_s, cpu_median_s)`` of ``runs`` back-to-back calls of ``fn``; no warm-up (do it first)."""
    return interleaved_medians({"fn": fn}, runs, warmup=False)["fn"]


def demo_mix(seconds: float = 300.0, sample_rate: int = 44100, genre: str = "pop", seed: int = 0,
             dtype=np.float32) -> np.ndarray:
    """A seeded demo mix ``(2, n)`` for benchmarks."""
    return nm.demo.make_mix(genre, seconds, sample_rate, seed).astype(dtype)


def memcopy_seconds(x: np.ndarray, runs: int = 7, warmup: bool = True) -> float:
    """Median wall time of a plain copy of ``x`` (the "multiple of a memory copy" unit)."""
    return interleaved_medians({"copy": lambda: x.copy()}, runs, warmup)["copy"][0]


def load_average() -> tuple[float, float, float] | None:
    """``os.getloadavg()`` (1, 5 and 15 minutes), or None where the platform has none."""
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover
        return None


def table(rows: list, headers: list) -> str:
    """A plain fixed-width text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def measure_process(cmd: list[str], check: bool = True) -> dict:
    """Run ``cmd`` in a fresh wrapper process that runs nothing else.

    Returns ``{"rc", "wall_s", "rss_kib", "cpu_s", "err"}``: exit code, wall
    time, the command's peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of
    the wrapper, whose only child it is), its CPU time and the end of its
    stderr. ``check``: raise ``RuntimeError`` when the command fails.
    """
    wrapper = ("import json, resource, subprocess, sys, time\n"
               "t = time.perf_counter()\n"
               "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
               "wall = time.perf_counter() - t\n"
               "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
               "print(json.dumps({'rc': r.returncode, 'wall_s': wall, 'rss_kib': u.ru_maxrss,\n"
               "                  'cpu_s': u.ru_utime + u.ru_stime, 'err': r.stderr[-2000:]}))\n")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if check and res["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {res['rc']}: {res['err']}")
    return res

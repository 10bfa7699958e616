"""Benchmark and aliasing table for the oversampled nonlinear stages (issue 4).

    python bench/analog.py                  # speed: 5-minute stereo mix, 1/4/8/16x
    python bench/analog.py --seconds 60     # shorter track
    python bench/analog.py --stages TransformerSaturator TapeSaturator --factors 8
    python bench/analog.py --aliasing       # aliasing of a full-scale 7 kHz sine
    python bench/analog.py --harmonics      # TubeSaturator H2/H3 across bias (docs/tube.md)

Speed: for every stage in ``SATURATORS`` at each factor, the median of
``--repeats`` one-shot renders of the track (``neuromaster.demo.make_mix``,
stereo, 44.1 kHz), printed as the real-time factor (track duration / render
time) and as a multiple of a plain memory copy of the track (render time /
``x.copy()`` time, same array). ``pedalboard.Distortion`` (a tanh waveshaper
at the base rate, no oversampling) is timed in the same run as a reference.
Goal (issue 4): >= 50x real time per saturator at 8x.

Threads: the stages whose nonlinearity has memory (``TransformerSaturator``,
``TapeSaturator``: one serial Jiles-Atherton recursion per channel) run the
channels of a block in parallel threads by default
(``OversampledProcessor.channel_threads``); their rows are printed twice,
with "thr" 2 (the default, on a machine with 2 or more CPUs) and 1
(``channel_threads = False``). The wall
column is what a user waits; the CPU column is process CPU time summed over
threads, so a threaded row has CPU time above its wall time. On a shared
machine the wall column also depends on what else runs (the load average is
printed).

Aliasing: a full-scale 7 kHz sine at 44.1 kHz through each stage at default
settings; the strongest non-harmonic component and the summed power of all
of them, in dB relative to the fundamental, at 1/2/4/8/16x.

To benchmark another saturator, add a ``(name, factory)`` pair to
``SATURATORS``; the factory takes the oversampling factor.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from _harness import demo_mix, load_average, median_time, memcopy_seconds, nm
from cases_analog_a import aliasing_dbc, harmonics_dbc  # noqa: E402  (the tests' own measurements)

#: (name, factory(oversampling) -> processor at default settings). Add stages here.
SATURATORS = [
    ("SoftClipper", lambda f: nm.SoftClipper(oversampling=f)),
    ("TubeSaturator", lambda f: nm.TubeSaturator(oversampling=f)),
    ("ParallelDrive", lambda f: nm.ParallelDrive(oversampling=f)),
    ("TransformerSaturator", lambda f: nm.TransformerSaturator(oversampling=f)),
    ("TapeSaturator", lambda f: nm.TapeSaturator(oversampling=f)),
]

#: Stages that run their channels in parallel threads by default (printed with and without).
MEMORY_STAGES = ("TransformerSaturator", "TapeSaturator")

FACTORS_SPEED = (1, 4, 8, 16)
FACTORS_ALIAS = (1, 2, 4, 8, 16)
SAMPLE_RATE = 44100


def speed(seconds: float, repeats: int, stages=None, factors=FACTORS_SPEED) -> None:
    x = demo_mix(seconds, SAMPLE_RATE, dtype=np.float64)
    dur = x.shape[1] / SAMPLE_RATE
    t_copy = memcopy_seconds(x, max(repeats, 5), warmup=False)
    la = load_average()
    load = " ".join(f"{v:.1f}" for v in la) if la else "n/a"
    print(f"track: {dur:.0f} s stereo at {SAMPLE_RATE} Hz (make_mix 'pop'), memory copy {t_copy * 1e3:.1f} ms; "
          f"median of {repeats} render(s); load average {load}")
    print("(x real time: track duration / wall-clock render time; '(cpu)' the same with process CPU time summed "
          "over threads, which other processes on a shared machine disturb less; 'thr': threads the stage's "
          "channels ran in (channel_threads), more than 1 only for the stages with memory)")
    print(f"{'stage':<22}{'factor':>7}{'thr':>5}{'wall s':>9}{'x real time':>13}{'(cpu)':>9}{'x copy':>9}")
    warm = x[:, :4096]

    def row(name, f, thr, t, c, note=""):
        print(f"{name:<22}{f:>6}x{thr:>5}{t:>9.2f}{dur / t:>13.1f}{dur / c:>9.1f}{t / t_copy:>9.0f}{note}", flush=True)

    for name, factory in SATURATORS:
        if stages and name not in stages:
            continue
        for f in factors:
            proc = factory(f)
            threaded = name in MEMORY_STAGES
            for threads in ((True, False) if threaded else (False,)):
                proc.channel_threads = threads
                proc(warm, SAMPLE_RATE)  # compile / load the kernels outside the timing
                t, c = median_time(lambda: proc(x, SAMPLE_RATE), repeats)
                thr = str(min(x.shape[0], os.cpu_count() or 1)) if threads else "1"
                row(name, f, thr, t, c, "  (goal >= 50x at 8x)" if f == 8 and dur / t < 50 else "")
    try:
        import pedalboard
    except ImportError:  # pragma: no cover
        return
    ref = pedalboard.Distortion(drive_db=12.0)
    xf = x.astype(np.float32)
    ref(xf[:, :4096], SAMPLE_RATE)
    t, c = median_time(lambda: ref(xf, SAMPLE_RATE), repeats)
    row("pb.Distortion", 1, "1", t, c, "  (reference: tanh at the base rate, no oversampling)")


def aliasing() -> None:
    print("full-scale 7 kHz sine at 44.1 kHz, default settings: strongest non-harmonic component / "
          "total non-harmonic power, dB re fundamental")
    print(f"{'stage':<16}" + "".join(f"{str(f) + 'x':>16}" for f in FACTORS_ALIAS))
    for name, factory in SATURATORS:
        cells = []
        for f in FACTORS_ALIAS:
            worst, total = aliasing_dbc(factory(f))
            cells.append(f"{worst:7.1f} /{total:7.1f}")
        print(f"{name:<16}" + "".join(f"{c:>16}" for c in cells))


def harmonics(drives_db=(-6.0, 0.0, 6.0, 12.0)) -> None:
    """H2 and H3 of a full-scale 1 kHz sine through TubeSaturator (12AX7, B+ 250 V,
    100 kOhm, 8x) across the grid bias, at several drives (0 dB = 1 V peak at the grid)."""
    biases = np.round(np.arange(-3.0, -0.29, 0.1), 1)
    print("TubeSaturator, 12AX7, B+ 250 V, 100 kOhm load, 8x: full-scale 1 kHz sine, "
          "H2 / H3 in dBc (E = even-dominant, O = odd-dominant)")
    print(f"{'bias V':>7}" + "".join(f"{f'drive {d:+.0f} dB':>22}" for d in drives_db))
    for b in biases:
        cells = []
        for d in drives_db:
            (h2, h3), _ = harmonics_dbc(nm.TubeSaturator(bias_v=float(b), drive_db=d), 1.0, settle_s=0.3)
            cells.append(f"{h2:7.1f} /{h3:7.1f} {'E' if h2 > h3 else 'O'}")
        print(f"{b:7.1f}" + "".join(f"{c:>22}" for c in cells))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aliasing", action="store_true", help="print the aliasing table instead of timing")
    ap.add_argument("--harmonics", action="store_true", help="print TubeSaturator H2/H3 across bias")
    ap.add_argument("--seconds", type=float, default=300.0, help="track length in seconds (default 300)")
    ap.add_argument("--repeats", type=int, default=3, help="renders per measurement, median reported (default 3)")
    ap.add_argument("--stages", nargs="+", metavar="NAME", help="only these stages (default: all of SATURATORS)")
    ap.add_argument("--factors", nargs="+", type=int, default=list(FACTORS_SPEED), metavar="F",
                    help="oversampling factors to time (default 1 4 8 16)")
    args = ap.parse_args(argv)
    if args.aliasing:
        aliasing()
    elif args.harmonics:
        harmonics()
    else:
        unknown = set(args.stages or ()) - {n for n, _ in SATURATORS}
        if unknown:
            ap.error(f"unknown stage(s) {sorted(unknown)}; choose from {[n for n, _ in SATURATORS]}")
        speed(args.seconds, args.repeats, args.stages, tuple(args.factors))


if __name__ == "__main__":
    main()

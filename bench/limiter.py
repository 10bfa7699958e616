"""TruePeakLimiter vs pedalboard.BrickwallLimiter(true_peak=True): ceiling table and speed.

Usage::

    .venv/bin/python bench/limiter.py                 # table + 5-minute speed run
    .venv/bin/python bench/limiter.py --skip-speed    # table only (~20 s)
    .venv/bin/python bench/limiter.py --seconds 60    # shorter speed run

Part 1 (issue 3 item 5) limits every acceptance signal to -1 dBTP with both
limiters at their defaults and measures the output true peak with the
independent 16x reference of ``host_tests/truepeak_reference.py`` (never a
limiter's own detector). "over" is how far the output true peak exceeds the
ceiling, "wasted" how far below it the limited output sits. A second table
gives the same outputs through two other reconstructions (brick-wall ideal,
and scipy's short default filter), to show how much a broadband signal's
"true peak" depends on the reconstruction filter.

Part 2 (issue 3 item 6) times both on a 5-minute stereo 44.1 kHz mix driven
+12 dB into limiting (same float32 input, default buffer size, medians of
interleaved runs after a warm-up) and then measures both outputs' true peak.
"""
from __future__ import annotations

import argparse

import numpy as np

from _harness import demo_mix, interleaved_medians, nm
import pedalboard  # noqa: E402
import truepeak_reference as tr  # noqa: E402

SR = 44100
CEILING_DB = -1.0


def _pb():
    return pedalboard.BrickwallLimiter(ceiling_db=CEILING_DB, true_peak=True)


def _fmt(v, width=8):
    return f"{v:+{width}.3f}"


def table(seconds: float, music_seconds: float) -> None:
    pb_defaults = _pb()
    ours_defaults = nm.TruePeakLimiter(ceiling_db=CEILING_DB)
    print(f"Ceiling {CEILING_DB:+.1f} dBTP at {SR} Hz; output true peak by the independent reference "
          f"(16x Kaiser-windowed sinc, +-{tr.HALF_LENGTH} samples, beta {tr.BETA:g}, parabolic refinement).")
    print(f"ours: {ours_defaults!r}, latency {ours_defaults.latency_for(SR)} samples")
    print(f"pedalboard.BrickwallLimiter(ceiling_db=-1, true_peak=True): lookahead_ms={pb_defaults.lookahead_ms:g}, "
          f"release_ms={pb_defaults.release_ms:g} (its defaults)\n")
    head = (f"{'signal':24s} {'input':>8s} {'ours':>8s} {'pb':>8s} {'ours':>8s} {'pb':>8s} {'ours':>8s} {'pb':>8s}\n"
            f"{'':24s} {'dBTP':>8s} {'dBTP':>8s} {'dBTP':>8s} {'over':>8s} {'over':>8s} {'wasted':>8s} {'wasted':>8s}")
    print(head)
    print("-" * 92)
    others = []
    worst = {"ours_over": 0.0, "pb_over": 0.0, "ours_waste": 0.0, "pb_waste": 0.0}
    for name, x in tr.acceptance_signals(SR, seconds, music_seconds=music_seconds).items():
        ours = nm.TruePeakLimiter(ceiling_db=CEILING_DB)(x, SR).astype(np.float64)
        theirs = _pb()(x.astype(np.float32), SR).astype(np.float64)
        tin, to, tp = tr.true_peak_db(x), tr.true_peak_db(ours), tr.true_peak_db(theirs)
        oo, po = max(0.0, to - CEILING_DB), max(0.0, tp - CEILING_DB)
        ow, pw = max(0.0, CEILING_DB - to), max(0.0, CEILING_DB - tp)
        worst = {"ours_over": max(worst["ours_over"], oo), "pb_over": max(worst["pb_over"], po),
                 "ours_waste": max(worst["ours_waste"], ow), "pb_waste": max(worst["pb_waste"], pw)}
        print(f"{name:24s} {_fmt(tin)} {_fmt(to)} {_fmt(tp)} {oo:8.3f} {po:8.3f} {ow:8.3f} {pw:8.3f}")
        others.append((name, tr.ideal_true_peak_db(ours), tr.ideal_true_peak_db(theirs),
                       tr.short_true_peak_db(ours), tr.short_true_peak_db(theirs)))
    print("-" * 92)
    print(f"{'worst':24s} {'':8s} {'':8s} {'':8s} {worst['ours_over']:8.3f} {worst['pb_over']:8.3f} "
          f"{worst['ours_waste']:8.3f} {worst['pb_waste']:8.3f}\n")
    print("Same outputs through other reconstructions (dBTP): brick-wall ideal (FFT, 32x) and "
          "scipy resample_poly's default 16x filter (+-10 samples, Kaiser 5)")
    print(f"{'signal':24s} {'ours':>9s} {'pb':>9s} {'ours':>9s} {'pb':>9s}\n"
          f"{'':24s} {'ideal':>9s} {'ideal':>9s} {'short':>9s} {'short':>9s}")
    for name, oi, pi, os_, ps in others:
        print(f"{name:24s} {_fmt(oi, 9)} {_fmt(pi, 9)} {_fmt(os_, 9)} {_fmt(ps, 9)}")
    print()


def speed(seconds: float, repeats: int) -> None:
    x = (demo_mix(seconds, SR, dtype=np.float64) * 10 ** (12.0 / 20.0)).astype(np.float32)
    ours = nm.TruePeakLimiter(ceiling_db=CEILING_DB)
    theirs = _pb()
    warm = x[:, : 5 * SR]
    ours(warm, SR)
    theirs(warm, SR)

    def copy():  # returns nothing: the copy is dropped at once, not kept in ``out``
        np.array(x, copy=True)

    out = {}
    med = interleaved_medians({"copy": copy, "ours": lambda: ours(x, SR), "pedalboard": lambda: theirs(x, SR)},
                              repeats, warmup=False, outputs=out)
    w = {k: v[0] for k, v in med.items()}
    c = {k: v[1] for k, v in med.items()}
    print(f"Speed: {seconds:g} s stereo {SR} Hz mix driven +12 dB (input {tr.true_peak_db(x):+.2f} dBTP), "
          f"float32 in, buffer_size 8192, medians of {repeats} interleaved runs after a warm-up "
          f"(wall clock, and process CPU time: the machine may be shared)")
    for k in ("ours", "pedalboard"):
        print(f"  {k:11s} wall {w[k]:7.3f} s = {seconds / w[k]:6.1f}x real time "
              f"({w[k] / w['copy']:5.0f}x a memory copy)   cpu {c[k]:7.3f} s = {seconds / c[k]:6.1f}x real time")
    print(f"  ratio pedalboard / ours: wall {w['pedalboard'] / w['ours']:.2f}x, cpu {c['pedalboard'] / c['ours']:.2f}x "
          f"(goal >= 1.5x)")
    print("  output true peak (reference; computing, ~1 min) ...", flush=True)
    for k in ("ours", "pedalboard"):
        tp = tr.true_peak_db(out[k].astype(np.float64))
        print(f"  {k:11s} {tp:+.4f} dBTP   overshoot {max(0.0, tp - CEILING_DB):.4f} dB")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=300.0, help="length of the speed run's mix (default 300)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each limiter (default 5)")
    ap.add_argument("--skip-table", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args(argv)
    if not args.skip_table:
        table(seconds=2.0, music_seconds=10.0)
    if not args.skip_speed:
        speed(args.seconds, args.repeats)


if __name__ == "__main__":
    main()

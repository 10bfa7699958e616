"""Issue 3, item 6: every stage on a 5-minute stereo mix, and the anchor ratios.

    .venv/bin/python bench/dsp.py [--seconds 300] [--runs 5]

Prints, per stage with settings that make it work (medians of interleaved
runs): real-time factor (wall and CPU) and the multiple of a plain memory
copy of the track. Then, measured in the same run against pedalboard:

* ParametricEQ with 4 bells vs four ``pedalboard.PeakFilter``  (goal >= 2x faster)
* single-band Compressor vs ``pedalboard.Compressor``           (goal >= 1.0x)
* MultibandCompressor, 4 bands                                  (goal >= 200x real time)
* TruePeakLimiter vs ``pedalboard.BrickwallLimiter(true_peak=True)`` (goal >= 1.5x,
  zero overshoot: output true peak by the independent >= 16x reference)
"""
from __future__ import annotations

import argparse

import numpy as np

from _harness import demo_mix, interleaved_medians, memcopy_seconds, nm, table

import pedalboard as pb  # noqa: E402
from truepeak_reference import true_peak_db  # noqa: E402

SR = 44100
BELLS = [(80.0, 2.0, 0.8), (400.0, -2.5, 1.2), (2500.0, 1.5, 1.0), (9000.0, 2.0, 0.7)]


def _eq():
    kw = {}
    for i, (f, g, q) in enumerate(BELLS, 1):
        kw.update({f"band{i}_enabled": True, f"band{i}_type": "bell", f"band{i}_frequency_hz": f,
                   f"band{i}_gain_db": g, f"band{i}_q": q})
    return nm.ParametricEQ(**kw)


def stages():
    """(name, factory) of every stage with settings that make it act on a mix."""
    return [
        ("DCBlocker", lambda: nm.DCBlocker()),
        ("MidSide", lambda: nm.MidSide(mode="process", side_gain_db=1.5)),
        ("Gain", lambda: nm.Gain(gain_db=-1.0)),
        ("TransformerSaturator", lambda: nm.TransformerSaturator(drive_db=6.0)),
        ("TubeSaturator", lambda: nm.TubeSaturator(drive_db=6.0)),
        ("TapeSaturator", lambda: nm.TapeSaturator(drive_db=6.0)),
        ("DynamicEQ", lambda: nm.DynamicEQ(band1_enabled=True, band1_frequency_hz=3000.0, band1_threshold_db=-30.0,
                                           band1_range_db=-6.0)),
        ("MultibandCompressor", lambda: nm.MultibandCompressor(**{f"band{k}_threshold_db": -24.0 for k in range(1, 5)})),
        ("ParametricEQ (4 bells)", _eq),
        ("StereoWidth", lambda: nm.StereoWidth(width_high=1.3, mono_below_hz=120.0)),
        ("SoftClipper", lambda: nm.SoftClipper(drive_db=6.0)),
        ("TruePeakLimiter", lambda: nm.TruePeakLimiter(input_gain_db=8.0)),
        ("ParallelDrive", lambda: nm.ParallelDrive(drive_db=12.0, mix=0.3)),
        ("Dither", lambda: nm.Dither(bit_depth=16, noise_shaping="psychoacoustic")),
        ("Compressor", lambda: nm.Compressor(threshold_db=-24.0, ratio=4.0)),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    x = demo_mix(args.seconds, SR)
    dur = x.shape[1] / SR
    copy_s = memcopy_seconds(x)
    print(f"{args.seconds:g} s stereo {SR} Hz demo mix; memory copy {copy_s * 1e3:.2f} ms; "
          f"medians of {args.runs} interleaved runs\n")

    procs = {name: f() for name, f in stages()}
    res = interleaved_medians({name: (lambda p=p: p(x, SR)) for name, p in procs.items()}, args.runs)
    rows = [(name, f"{dur / w:.0f}x", f"{dur / c:.0f}x", f"{w / copy_s:.0f}") for name, (w, c) in res.items()]
    print(table(rows, ["stage", "x real time (wall)", "x real time (cpu)", "x memory copy"]))

    # ---- anchors, same run
    peak = pb.Pedalboard([pb.PeakFilter(cutoff_frequency_hz=f, gain_db=g, q=q) for f, g, q in BELLS])
    comp_ours = nm.Compressor(threshold_db=-24.0, ratio=4.0, attack_ms=1.0, release_ms=100.0, knee_db=0.0)
    comp_ours_unlinked = nm.Compressor(threshold_db=-24.0, ratio=4.0, attack_ms=1.0, release_ms=100.0, knee_db=0.0,
                                       stereo_link=0.0)
    comp_pb = pb.Compressor(threshold_db=-24.0, ratio=4.0, attack_ms=1.0, release_ms=100.0)
    lim_ours = nm.TruePeakLimiter(ceiling_db=-1.0, input_gain_db=12.0)
    lim_pb = pb.Pedalboard([pb.Gain(gain_db=12.0), pb.BrickwallLimiter(ceiling_db=-1.0, true_peak=True)])
    eq = procs["ParametricEQ (4 bells)"]
    anchors = interleaved_medians({
        "eq": lambda: eq(x, SR), "pb_peak": lambda: peak(x, SR),
        "comp": lambda: comp_ours(x, SR), "comp_unlinked": lambda: comp_ours_unlinked(x, SR),
        "pb_comp": lambda: comp_pb(x, SR),
        "lim": lambda: lim_ours(x, SR), "pb_lim": lambda: lim_pb(x, SR),
    }, args.runs)
    tp_ours = true_peak_db(lim_ours(x, SR))
    tp_pb = true_peak_db(lim_pb(x, SR))
    mbc_w, mbc_c = res["MultibandCompressor"]

    def ratio(a, b):
        return f"{anchors[b][0] / anchors[a][0]:.2f}x wall, {anchors[b][1] / anchors[a][1]:.2f}x cpu"

    print()
    print(table([
        ("ParametricEQ 4 bells vs 4 pedalboard.PeakFilter", ratio("eq", "pb_peak"), ">= 2x"),
        ("Compressor (linked) vs pedalboard.Compressor", ratio("comp", "pb_comp"), ">= 1.0x"),
        ("Compressor (unlinked) vs pedalboard.Compressor", ratio("comp_unlinked", "pb_comp"), ">= 1.0x"),
        ("MultibandCompressor 4 bands, x real time", f"{dur / mbc_w:.0f}x wall, {dur / mbc_c:.0f}x cpu", ">= 200x"),
        ("TruePeakLimiter vs pedalboard.BrickwallLimiter(true_peak)", ratio("lim", "pb_lim"), ">= 1.5x"),
        ("  output true peak, ceiling -1 dBTP (ours / pedalboard)", f"{tp_ours:+.3f} / {tp_pb:+.3f} dBTP", "<= -1.000"),
    ], ["comparison (speed: how many times faster ours is)", "measured", "goal"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed of the dynamics stages on a 5-minute stereo 44.1 kHz mix.

Prints, for each stage, the median wall time of the runs after a warm-up
(runs interleaved round-robin across the stages; also the median CPU time of
this process, which a loaded machine inflates less), the real-time factor, the multiple of a plain memory copy of the
track, and the ratio single-band Compressor vs ``pedalboard.Compressor``
measured in the same run (goal >= 1.0x: not slower). Goals (issue 3 item 6):
MultibandCompressor >= 200x real time at 4 bands.

Usage::

    .venv/bin/python bench/dynamics.py [--seconds 300] [--runs 5]
"""
from __future__ import annotations

import argparse
import numpy as np

from _harness import interleaved_medians


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="length of the mix in seconds (default 300)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per stage after one warm-up (default 5)")
    ap.add_argument("--only", default="", help="time only stages whose name contains this text")
    args = ap.parse_args(argv)

    import pedalboard

    import neuromaster as nm
    from neuromaster.demo import make_mix

    sr = 44100
    x = make_mix("pop", duration_s=args.seconds, sample_rate=sr, seed=0).astype(np.float32)
    dur = x.shape[1] / sr
    print(f"mix: {dur:.0f} s stereo {sr} Hz float32 ({x.nbytes / 1e6:.0f} MB); medians of {args.runs} runs after a warm-up")

    comp_kw = dict(threshold_db=-20.0, ratio=4.0, attack_ms=5.0, release_ms=100.0)
    stages = [
        ("pedalboard.Compressor", pedalboard.Compressor(**comp_kw)),
        ("Compressor (link 1, hard knee)", nm.Compressor(**comp_kw, knee_db=0.0)),
        ("Compressor (link 0, per channel)", nm.Compressor(**comp_kw, knee_db=0.0, stereo_link=0.0)),
        ("Compressor (defaults: 6 dB knee)", nm.Compressor(**comp_kw)),
        ("MultibandCompressor (4 bands)", nm.MultibandCompressor()),
        ("MultibandCompressor (6 bands, M/S, RMS)", nm.MultibandCompressor(num_bands=6, channel_mode="mid_side",
                                                                            detection="rms")),
        ("DynamicEQ (4 bands)", nm.DynamicEQ(band2_enabled=True, band3_enabled=True, band4_enabled=True)),
        ("StereoWidth (3 bands + mono_below)", nm.StereoWidth(width_low=0.6, width_mid=1.1, width_high=1.3,
                                                             mono_below_hz=120.0)),
    ]
    fns = {"memory copy": lambda: x.copy()}
    for name, proc in stages:
        if args.only and args.only not in name and name != "pedalboard.Compressor":
            continue
        fns[name] = lambda p=proc: p(x, sr)
    rows = interleaved_medians(fns, args.runs)
    copy_wall, copy_cpu = rows["memory copy"]
    print(f"{'stage':42s} {'wall s':>8s} {'cpu s':>8s} {'x real time':>12s} {'x copy':>8s}")
    for name, (wall, cpu) in rows.items():
        print(f"{name:42s} {wall:8.3f} {cpu:8.3f} {dur / wall:12.0f} {wall / copy_wall:8.1f}")
    pb_wall, pb_cpu = rows["pedalboard.Compressor"]
    for name in ("Compressor (link 1, hard knee)", "Compressor (link 0, per channel)", "Compressor (defaults: 6 dB knee)"):
        if name in rows:
            w, c = rows[name]
            print(f"{name} vs pedalboard.Compressor: {pb_wall / w:.2f}x (wall), {pb_cpu / c:.2f}x (cpu)  [goal >= 1.0x]")
    if "MultibandCompressor (4 bands)" in rows:
        w, c = rows["MultibandCompressor (4 bands)"]
        print(f"MultibandCompressor (4 bands): {dur / w:.0f}x real time (wall), {dur / c:.0f}x (cpu)  [goal >= 200x]")


if __name__ == "__main__":
    main()

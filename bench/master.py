"""Whole-process `neuromaster master` vs Matchering 2.0, and the full chain's real-time factor.

Usage::

    .venv/bin/python bench/master.py                   # 5-minute file, 3 interleaved runs each, + full chain
    .venv/bin/python bench/master.py --repeats 1       # quicker
    .venv/bin/python bench/master.py --skip-matchering --skip-chain

Part 1 (issue 5 item 7). A 5-minute stereo 44.1 kHz 24-bit mix from
``neuromaster.demo`` is mastered by ``neuromaster master IN OUT`` (default
preset, Spotify target: -14 LUFS, -1 dBTP) and by Matchering 2.0
(``matchering.process(target=IN, reference=REF, results=[matchering.pcm24(OUT)])``,
the same IN and a generated 5-minute reference mix, mastered louder). Every
measurement is one fresh process, started by a small wrapper process that
reports the wall time and ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``
(its only child: that process's peak RSS). Runs are interleaved; medians are
printed, with the ratios and the integrated loudness and true peak (16x) of
what each delivers, measured with our meters.

Part 2. ``MasteringChain`` with every stage engaged (saturators, clipper,
parallel drive and the limiter's detector at 8x) processing a stereo mix in
one call: real-time factor (median), and each stage's share, timed alone
on the same audio, to show which stage sets the limit.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

from _harness import ROOT, demo_mix, measure_process as measure, median_time

PY = sys.executable
NEUROMASTER = str(pathlib.Path(PY).with_name("neuromaster"))

#: Goals of issue 5 item 7.
WALL_GOAL, RSS_GOAL, RTF_GOAL = 1.0, 0.3, 20.0

MATCHERING_SNIPPET = """
import sys, matchering as mg
mg.log(lambda *a, **k: None)
mg.process(target=sys.argv[1], reference=sys.argv[2], results=[mg.pcm24(sys.argv[3])])
"""


def _deliverable(path: pathlib.Path) -> tuple[float, float]:
    from neuromaster.analysis import analyze_file
    r = analyze_file(path, true_peak="16x", series=False)
    return r["integrated_lufs"], r["true_peak_dbtp"]


def part1(seconds: float, repeats: int, skip_matchering: bool, work: pathlib.Path) -> None:
    from neuromaster import demo
    mix = work / "mix.wav"
    ref = work / "reference.wav"
    print(f"generating {seconds:g} s stereo 44.1 kHz 24-bit mix and reference (neuromaster.demo) ...", flush=True)
    demo.write_demo(mix, "pop", seconds, 44100, seed=0, return_audio=False)
    if not skip_matchering:
        demo.write_demo(ref, "edm", seconds, 44100, seed=1, peak_dbfs=-0.3, return_audio=False)
    ours_out, mg_out = work / "ours.wav", work / "matchering.wav"
    runs = {"neuromaster master": [], "matchering 2.0": []}
    cmds = {"neuromaster master": [NEUROMASTER, "master", str(mix), str(ours_out), "--force", "--quiet"],
            "matchering 2.0": [PY, "-c", MATCHERING_SNIPPET, str(mix), str(ref), str(mg_out)]}
    if skip_matchering:
        del runs["matchering 2.0"]
    for i in range(repeats):
        for name in runs:
            r = measure(cmds[name])
            runs[name].append(r)
            print(f"  run {i + 1}: {name:20s} {r['wall_s']:6.2f} s wall, {r['cpu_s']:6.2f} s CPU, "
                  f"peak RSS {r['rss_kib'] / 1024:7.1f} MiB", flush=True)
    print(f"\nwhole process, {seconds:g} s stereo file, median of {repeats} run(s) each:")
    print(f"{'':22s} {'wall (s)':>9s} {'CPU (s)':>8s} {'peak RSS (MiB)':>15s} {'integrated (LUFS)':>18s} "
          f"{'true peak (dBTP, 16x)':>22s}")
    med = {}
    for name, rs in runs.items():
        wall = statistics.median(r["wall_s"] for r in rs)
        cpu = statistics.median(r["cpu_s"] for r in rs)
        rss = statistics.median(r["rss_kib"] for r in rs) / 1024
        lufs, tp = _deliverable(ours_out if name.startswith("neuromaster") else mg_out)
        med[name] = (wall, rss)
        print(f"{name:22s} {wall:9.2f} {cpu:8.2f} {rss:15.1f} {lufs:18.2f} {tp:22.2f}")
    if len(med) == 2:
        (w0, r0), (w1, r1) = med["neuromaster master"], med["matchering 2.0"]
        print(f"ratios ours / matchering: wall {w0 / w1:.2f}x (goal <= {WALL_GOAL:g}x: "
              f"{'met' if w0 / w1 <= WALL_GOAL else 'NOT met'}), peak RSS {r0 / r1:.2f}x "
              f"(goal <= {RSS_GOAL:g}x: {'met' if r0 / r1 <= RSS_GOAL else 'NOT met'})")
    print("(Spotify target: -14 LUFS, -1 dBTP. Matchering matches the reference's loudness and limits its "
          "sample peak; it has no loudness target.)")


def _full_chain():
    import neuromaster as nm
    from neuromaster.mastering import STAGE_NAMES
    d = {f"{s}.bypass": False for s in STAGE_NAMES}
    for s in ("transformer", "tube", "tape", "clipper", "parallel_drive"):
        d[f"{s}.oversampling"] = 8
    d.update({"limiter.oversampling": 8, "mid_side.side_gain_db": 1.0, "transformer.drive_db": 3.0,
              "tube.drive_db": 3.0, "tape.drive_db": 0.0, "width.width_high": 1.2, "width.mono_below_hz": 120.0,
              "clipper.drive_db": 2.0, "limiter.input_gain_db": 4.0, "dither.bit_depth": 24})
    for band in (1, 3, 5, 7):
        d[f"eq.band{band}_enabled"] = True
        d[f"eq.band{band}_gain_db"] = 1.5
    d["dynamic_eq.band2_enabled"] = True
    return nm.MasteringChain(d)


def part2(seconds: float, repeats: int) -> None:
    sr = 44100
    x = demo_mix(seconds, sr, "rock", seed=2)
    chain = _full_chain()
    chain(x[:, :sr], sr)      # compile / warm up
    wall, _ = median_time(lambda: chain(x, sr), repeats)
    rtf = seconds / wall
    print(f"\nfull chain, every stage engaged, nonlinear stages and limiter detector at 8x: "
          f"{seconds:g} s stereo in {wall:.2f} s = {rtf:.1f}x real time (goal >= {RTF_GOAL:g}x: "
          f"{'met' if rtf >= RTF_GOAL else 'NOT met'}); latency {chain.reported_latency_samples} samples")
    print(f"{'stage':16s} {'alone (s)':>10s} {'x real time':>12s} {'share':>7s}")
    budget = seconds / RTF_GOAL
    rows = []
    for name in chain.engaged_stages:
        st = chain.stage(name).copy()
        xi = x if 1 in st.SUPPORTED_CHANNELS or x.shape[0] == 2 else x
        st(xi[:, :sr], sr)
        rows.append((name, median_time(lambda: st(xi, sr), repeats)[0]))
    total = sum(t for _, t in rows)
    for name, t in rows:
        print(f"{name:16s} {t:10.3f} {seconds / t:12.1f} {100 * t / total:6.1f}%")
    over = [(n, t) for n, t in rows if t > budget]
    print(f"the {RTF_GOAL:g}x goal leaves {budget:.2f} s for all stages together; stages that alone exceed it: "
          + (", ".join(f"{n} ({t / budget:.1f}x the budget)" for n, t in over) or "none"))
    heavy = sorted(rows, key=lambda r: -r[1])[:2]
    rest = total - sum(t for _, t in heavy)
    print(f"without {heavy[0][0]} and {heavy[1][0]} the stages alone would sum to {rest:.2f} s "
          f"= {seconds / rest:.1f}x real time")
    left = budget - rest
    both = total - rest
    if both > left:
        print(f"for {RTF_GOAL:g}x, {heavy[0][0]} + {heavy[1][0]} would have to fit in {max(left, 0):.2f} s; they take "
              f"{both:.2f} s ({both / max(left, 1e-9):.1f}x too slow)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="file length for part 1 (default 300)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per measurement, median printed (default 3)")
    ap.add_argument("--chain-seconds", type=float, default=60.0, help="audio length for part 2 (default 60)")
    ap.add_argument("--skip-matchering", action="store_true", help="time neuromaster only")
    ap.add_argument("--skip-chain", action="store_true", help="skip part 2")
    ap.add_argument("--skip-master", action="store_true", help="skip part 1")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory(prefix="nm-bench-master-") as d:
        if not args.skip_master:
            part1(args.seconds, args.repeats, args.skip_matchering, pathlib.Path(d))
    if not args.skip_chain:
        part2(args.chain_seconds, args.repeats)


if __name__ == "__main__":
    main()

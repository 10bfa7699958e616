"""ParametricEQ with 4 bells vs four pedalboard.PeakFilter in one Pedalboard.

5-minute stereo 44.1 kHz mix (the demo-like test signal), float32 in and out
for both, default buffer_size (8192) for both; one warm-up call each, then
medians of ``--runs`` timed calls, interleaved, measured in the same run.

    .venv/bin/python bench/eq.py [--runs 5] [--minutes 5] [--all]

``--all`` also prints the real-time factor of DCBlocker, MidSide, Dither and
the EQ with its four bells' frequencies automated (one run each after a
warm-up on a short slice).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

try:  # DawDreamer's LLVM before numba's (DESIGN.md)
    import dawdreamer  # noqa: F401
except ImportError:
    pass
import pedalboard

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "host_tests"))
import neuromaster as nm  # noqa: E402
from neuromaster.processor import Processor  # noqa: E402
from registry import default_signal  # noqa: E402
from _harness import interleaved_medians  # noqa: E402


class _Passthrough(Processor):
    """Returns its input: what the Processor base costs around any kernel."""

    def _process_block(self, x, sidechain):
        return x

BELLS = ((100.0, 3.0, 0.8), (400.0, -2.0, 1.5), (2500.0, 2.5, 1.0), (9000.0, -1.5, 0.7))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--all", action="store_true", help="also time the other core stages")
    args = ap.parse_args(argv)
    sample_rate = 44100
    n = int(args.minutes * 60 * sample_rate)
    x = default_signal(sample_rate, n, 2, seed=1).astype(np.float32)

    eq = nm.ParametricEQ(**{k: v for i, (f, g, q) in enumerate(BELLS, 1)
                            for k, v in ((f"band{i}_enabled", True), (f"band{i}_type", "bell"),
                                         (f"band{i}_frequency_hz", f), (f"band{i}_gain_db", g), (f"band{i}_q", q))})
    board = pedalboard.Pedalboard([pedalboard.PeakFilter(cutoff_frequency_hz=f, gain_db=g, q=q) for f, g, q in BELLS])

    null = _Passthrough()
    med = interleaved_medians({"ours": lambda: eq(x, sample_rate), "theirs": lambda: board(x, sample_rate),
                               "copy": lambda: x.astype(np.float64).astype(np.float32),
                               "base": lambda: null(x, sample_rate)}, args.runs)
    (ours, ours_cpu), (theirs, theirs_cpu), (copy, copy_cpu), (base, base_cpu) = (
        med["ours"], med["theirs"], med["copy"], med["base"])
    seconds = n / sample_rate
    y_ours = eq(x, sample_rate).astype(np.float64)
    y_theirs = board(x, sample_rate).astype(np.float64)
    rms_db = 20 * np.log10(np.sqrt(np.mean((y_ours - y_theirs) ** 2)) / np.sqrt(np.mean(y_ours ** 2)))
    print(f"signal: {args.minutes:g} min stereo {sample_rate} Hz float32; medians of {args.runs} runs after warm-up")
    print(f"{'':34s}{'wall s':>9s}{'x realtime':>12s}{'cpu s':>9s}")
    print(f"{'ParametricEQ, 4 bells':34s}{ours:9.3f}{seconds / ours:12.0f}{ours_cpu:9.3f}")
    print(f"{'pedalboard 4x PeakFilter':34s}{theirs:9.3f}{seconds / theirs:12.0f}{theirs_cpu:9.3f}")
    print(f"{'float32->64->32 copy':34s}{copy:9.3f}{seconds / copy:12.0f}{copy_cpu:9.3f}")
    print(f"{'Processor base, pass-through':34s}{base:9.3f}{seconds / base:12.0f}{base_cpu:9.3f}")
    print(f"speed ratio (pedalboard / ours): {theirs / ours:.2f}x wall, {theirs_cpu / ours_cpu:.2f}x cpu  (goal >= 2x)")
    print(f"ours as a multiple of the copy: {ours / copy:.1f}; the Processor base alone (layout, float64 copy, "
          f"checks, chunking, float32 output) takes {100 * base / ours:.0f}% of ours")
    print(f"difference ours vs pedalboard, rms relative to output: {rms_db:.1f} dB "
          "(pedalboard computes in float32)")
    if args.all:
        auto = nm.ParametricEQ.from_dict(eq.to_dict())
        for i, (f, _g, _q) in enumerate(BELLS, 1):
            auto.set_automation(f"band{i}_frequency_hz", [(0.0, f), (seconds, 2 * f)])
        stages = {
            "DCBlocker": nm.DCBlocker(),
            "MidSide (process, gains)": nm.MidSide(mid_gain_db=-1.0, side_gain_db=2.0),
            "Dither 16 bit, none": nm.Dither(),
            "Dither 16 bit, psychoacoustic": nm.Dither(noise_shaping="psychoacoustic"),
            "ParametricEQ, 4 automated bells": auto,
        }
        print(f"{'':34s}{'time s':>9s}{'x realtime':>12s}{'x copy':>9s}")
        for name, proc in stages.items():
            proc(x[:, :4096], sample_rate)  # compile / warm-up
            t0 = time.perf_counter()
            proc(x, sample_rate)
            dt = time.perf_counter() - t0
            print(f"{name:34s}{dt:9.3f}{seconds / dt:12.0f}{dt / copy:9.1f}")


if __name__ == "__main__":
    main()

"""Benchmark the meters against libebur128 (pyebur128) and pyloudnorm, and the CLI's memory.

Usage::

    .venv/bin/python bench/meters.py                 # 5-minute mix, 5 repeats, 60-minute memory run
    .venv/bin/python bench/meters.py --skip-long     # timings only
    .venv/bin/python bench/meters.py --repeats 3 --long-minutes 10

All timings are taken in this one run, on the same seeded demo mix
(``neuromaster.demo.make_mix(genre="pop", duration_s=300, sample_rate=44100,
seed=2026)``), after a warm-up call (numba compiles and loads its cache
outside the timings), single-threaded, the meters interleaved round by round
(so load from other processes slows them alike); median wall and CPU
seconds are printed.

* ours: :func:`neuromaster.analysis.analyze` - everything (integrated,
  momentary / short-term series and maxima, LRA, 4x true peak, sample peak,
  correlation overall and per band, mono loss, DC, 1/3-octave spectrum).
* pyebur128 full: modes I | LRA | TRUE_PEAK | SAMPLE_PEAK, frames fed in
  blocks of 65536 (interleaved float64), then integrated, LRA and per-channel
  true and sample peaks read out.
* pyloudnorm: ``Meter(rate, filter_class="DeMan").integrated_loudness``.

The memory figure is the peak resident set size of a separate
``neuromaster analyze --json FILE`` process on a 60-minute stereo 44.1 kHz
24-bit WAV written to a temporary folder, measured with
``resource.getrusage(RUSAGE_CHILDREN)`` in a wrapper process that runs
nothing else.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from _harness import interleaved_medians, measure_process


def ours(x, sr, mode="4x"):
    from neuromaster.analysis import analyze
    return analyze(x, sr, true_peak=mode)


def ebur128_full(x, sr, block=65536):
    import pyebur128 as eb
    m = eb.MeasurementMode
    st = eb.R128State(x.shape[0], sr, m.MODE_I | m.MODE_LRA | m.MODE_TRUE_PEAK | m.MODE_SAMPLE_PEAK)
    inter = np.ascontiguousarray(x.T).reshape(-1)
    C, n = x.shape
    for i in range(0, n, block):
        k = min(block, n - i)
        st.add_frames(inter[C * i:C * (i + k)], k)
    return (eb.get_loudness_global(st), eb.get_loudness_range(st),
            [eb.get_true_peak(st, c) for c in range(C)], [eb.get_sample_peak(st, c) for c in range(C)])


def pyloudnorm_integrated(x, sr):
    import pyloudnorm
    return pyloudnorm.Meter(sr, filter_class="DeMan").integrated_loudness(x.T)


def peak_rss_of_cli(path: str, true_peak: str = "4x") -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, exit code) of ``neuromaster analyze --json path``."""
    r = measure_process([sys.executable, "-m", "neuromaster.cli", "analyze", "--json", "--true-peak", true_peak, path],
                        check=False)
    return r["rss_kib"] / 1024.0, r["wall_s"], r["rc"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the timed mix (default 5)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per meter (default 5)")
    ap.add_argument("--long-minutes", type=float, default=60.0, help="length of the memory-test file (default 60)")
    ap.add_argument("--skip-long", action="store_true", help="skip the long-file memory measurement")
    args = ap.parse_args(argv)

    from neuromaster.demo import make_mix, write_demo

    sr = 44100
    duration = args.minutes * 60.0
    print(f"generating a {args.minutes:g}-minute stereo {sr} Hz mix (demo, genre=pop, seed=2026) ...", flush=True)
    x = make_mix(genre="pop", duration_s=duration, sample_rate=sr, seed=2026)

    # warm-up: numba compiles (or loads its cache) here, not in the timings
    ours(x[:, :sr * 5], sr)
    ours(x[:, :sr * 5], sr, "16x")
    ebur128_full(x[:, :sr * 5], sr)
    pyloudnorm_integrated(x[:, :sr * 5], sr)

    names = {"ours": "neuromaster analyze (full, true peak 4x)",
             "ebur": "pyebur128 I+LRA+TP+SP (libebur128)",
             "pyln": "pyloudnorm integrated (DeMan filters)",
             "ours16": "neuromaster analyze (full, true peak 16x)"}
    med = interleaved_medians({"ours": lambda: ours(x, sr), "ebur": lambda: ebur128_full(x, sr),
                               "pyln": lambda: pyloudnorm_integrated(x, sr)}, args.repeats, warmup=False)
    med.update(interleaved_medians({"ours16": lambda: ours(x, sr, "16x")}, max(1, args.repeats // 2), warmup=False))

    r = ours(x, sr)
    eb = ebur128_full(x, sr)
    pl = pyloudnorm_integrated(x, sr)

    print(f"\n{args.minutes:g} min stereo {sr} Hz, {args.repeats} interleaved rounds, medians, single thread")
    print(f"{'meter':44s} {'wall s':>8s} {'x real time':>11s} {'CPU s':>8s} {'vs ours (wall / CPU)':>22s}")
    w0, c0 = med["ours"]
    for key, name in names.items():
        w, c = med[key]
        ratio = "" if key == "ours" else f"{w / w0:8.2f}x / {c / c0:5.2f}x"
        print(f"{name:44s} {w:8.3f} {duration / w:11.0f} {c:8.3f} {ratio:>22s}")
    print(f"\nagreement: integrated ours {r['integrated_lufs']:.4f} LUFS, libebur128 {eb[0]:.4f} "
          f"({eb[0] - r['integrated_lufs']:+.4f}), pyloudnorm {pl:.4f} ({pl - r['integrated_lufs']:+.4f}); "
          f"LRA ours {r['loudness_range_lu']:.2f} LU, libebur128 {eb[1]:.2f}; "
          f"true peak ours {r['true_peak_dbtp']:.3f} dBTP, libebur128 {20 * np.log10(max(eb[2])):.3f}")
    wr, cr = med["ebur"][0] / w0, med["ebur"][1] / c0
    goal = "met" if min(wr, cr) >= 2.0 else "NOT met"
    print(f"goal ours >= 2x faster than pyebur128 full mode: {wr:.2f}x wall, {cr:.2f}x CPU ({goal})")

    if not args.skip_long:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "long.wav")
            print(f"\nwriting a {args.long_minutes:g}-minute stereo {sr} Hz 24-bit WAV to a temp folder ...",
                  flush=True)
            t = time.perf_counter()
            write_demo(path, genre="edm", duration_s=args.long_minutes * 60.0, sample_rate=sr, seed=7,
                       return_audio=False)
            print(f"  written in {time.perf_counter() - t:.1f} s ({os.path.getsize(path) / 2 ** 20:.0f} MiB)")
            rss, wall, rc = peak_rss_of_cli(path)
            goal = "met" if rss <= 300 else "NOT met"
            print(f"neuromaster analyze --json on {args.long_minutes:g} min: peak RSS {rss:.0f} MB "
                  f"(goal <= 300 MB: {goal}), wall {wall:.1f} s incl. start-up "
                  f"({args.long_minutes * 60 / wall:.0f}x real time), exit code {rc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

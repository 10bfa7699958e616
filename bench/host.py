"""Benchmark: a Graph of (our mastering chain) + LSP limiter vs the same processing done directly.

Run::

    .venv/bin/python bench/host.py                 # 5-minute stereo mix, 3 repeats
    .venv/bin/python bench/host.py --duration-s 60 --repeats 5

Both paths are timed in the same run, alternating, on the same input:

* **graph**: ``Graph`` with the input, our chain as one node and the LSP
  limiter (VST2, DawDreamer) as the next; ``graph.render()`` (latency
  compensated: output aligned with the input).
* **direct**: the chain called one-shot (``chain(x, sample_rate)``), then
  DawDreamer used by hand: engine, ``PlaybackProcessor`` with the chain's
  output plus the limiter's 220 samples of latency, render, slice.

Our chain is ``neuromaster.MasteringChain`` when it exists, else a ``Chain``
of the stages that exist (named in the output). Medians are printed, with
the overhead ratio graph / direct (goal <= 1.1x) and the largest difference
between the two outputs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import dawdreamer as daw  # before numba

import numpy as np

from _harness import demo_mix, interleaved_runs, load_average, nm

LIMITER = "/usr/lib/vst/lsp-plugins/limiter-stereo.so"


def build_chain():
    """MasteringChain if it exists, else a Chain of the stages that exist."""
    if hasattr(nm, "MasteringChain"):
        return nm.MasteringChain(), "MasteringChain()"
    stages = []
    if hasattr(nm, "DCBlocker"):
        stages.append(nm.DCBlocker())
    if hasattr(nm, "ParametricEQ"):
        stages.append(nm.ParametricEQ(band1_enabled=True, band1_type="bell", band1_frequency_hz=250.0,
                                      band1_gain_db=-2.0, band1_q=1.0, band2_enabled=True, band2_type="bell",
                                      band2_frequency_hz=4000.0, band2_gain_db=1.5, band2_q=0.8))
    if hasattr(nm, "TubeSaturator"):
        stages.append(nm.TubeSaturator(drive_db=3.0, mix=0.3))
    if hasattr(nm, "SoftClipper"):
        stages.append(nm.SoftClipper(ceiling_db=-0.5, drive_db=1.0))
    stages.append(nm.Gain(gain_db=-1.0))
    return nm.Chain(stages), "Chain([" + ", ".join(type(s).__name__ for s in stages) + "])"


def direct(chain, x, sample_rate, block_size, limiter_params):
    y = np.asarray(chain(x, sample_rate), dtype=np.float64)
    eng = daw.RenderEngine(sample_rate, block_size)
    p = eng.make_plugin_processor("lim", LIMITER)
    for i, v in limiter_params.items():
        p.set_parameter(i, v)
    lat = 220 if sample_rate == 44100 else int(round(0.005 * sample_rate))
    n = y.shape[1]
    pad = np.zeros((2, n + lat), dtype=np.float32)
    pad[:, :n] = y
    pb = eng.make_playback_processor("in", pad)
    eng.load_graph([(pb, []), (p, ["in"])])
    eng.render((n + lat + 0.25) / sample_rate)
    return np.asarray(eng.get_audio(), dtype=np.float64)[:, lat:lat + n]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration-s", type=float, default=300.0, help="length of the mix (default 300 s)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each path (default 3)")
    ap.add_argument("--sample-rate", type=int, default=44100)
    args = ap.parse_args(argv)
    if not os.path.exists(LIMITER):
        print(f"{LIMITER} missing: install the Debian package 'lsp-plugins-vst'", file=sys.stderr)
        return 2
    sr = args.sample_rate
    t0 = time.perf_counter()
    if hasattr(nm, "demo"):
        x = demo_mix(args.duration_s, sr, seed=1, dtype=np.float64)
        source = "neuromaster.demo.make_mix('pop')"
    else:  # pragma: no cover
        rng = np.random.default_rng(1)
        x = 0.2 * rng.standard_normal((2, int(args.duration_s * sr)))
        source = "noise"
    print(f"input: {source}, {x.shape[1] / sr:.0f} s stereo at {sr} Hz (made in {time.perf_counter() - t0:.1f} s)")
    chain, desc = build_chain()
    g = nm.Graph(sr)
    g.add_input("mix", x)
    g.add("chain", chain, inputs=["mix"])
    g.add_plugin("limiter", LIMITER, inputs=["chain"], parameters={"th": -1.0})
    params = g["limiter"].plugin.normalized_values()
    print(f"chain: {desc}; latency {chain.latency_for(sr)} samples; LSP limiter {g.latencies()['limiter']} samples")
    # warm-up (numba compile/cache load, plugin probe) on a short slice, untimed
    short = x[:, : sr * 2]
    g2 = nm.Graph(sr)
    g2.add_input("mix", short)
    g2.add("chain", chain, inputs=["mix"])
    g2.add("limiter", g["limiter"].plugin, inputs=["chain"])
    g2.render()
    direct(chain, short, sr, 512, params)
    y = {}
    times = interleaved_runs({"graph": g.render, "direct": lambda: direct(chain, x, sr, 512, params)},
                             args.repeats, warmup=False, alternate=True, outputs=y)
    wall = {k: w for k, (w, _) in times.items()}
    cpu = {k: c for k, (_, c) in times.items()}
    diff = float(np.max(np.abs(y["graph"] - y["direct"])))
    med = {k: statistics.median(v) for k, v in wall.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    for k in ("graph", "direct"):
        print(f"{k:<6}: wall median {med[k]:.3f} s (runs {', '.join(f'{v:.2f}' for v in wall[k])}); "
              f"CPU median {cmed[k]:.3f} s")
    print(f"overhead ratio graph/direct: wall {med['graph'] / med['direct']:.3f}x, "
          f"CPU {cmed['graph'] / cmed['direct']:.3f}x (goal <= 1.1x); "
          f"realtime factor {x.shape[1] / sr / med['graph']:.1f}x; max |graph - direct| = {diff:.3g}")
    la = load_average()
    if la:
        print(f"load average during the run: {la[0]:.2f} on {os.cpu_count()} cores "
              "(other processes inflate wall times; CPU time is less affected)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

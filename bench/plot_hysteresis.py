"""Plot the measured hysteresis of ``TransformerSaturator`` for docs/transformer.md.

    python bench/plot_hysteresis.py                      # writes docs/img/transformer_loop.png
    python bench/plot_hysteresis.py --out /tmp/loop.png

Left: the core's (h, m) loop inside the circuit (the field is the magnetising
current, the magnetisation follows from the flux the winding voltage imposes)
for a slow 5 Hz sine at drive -12 dB (peak flux about 0.9 of saturation), at
four ``hysteresis`` settings, traced by
``neuromaster.dsp.hysteresis.transformer_core(..., trace=True)`` with the
stage's own physical parameters at the default 8x rate.
Right: THD of a -6 dBFS sine at 30 Hz and 1 kHz against ``drive_db``
(the stage itself, one-second windows after one second of settling).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

try:  # DawDreamer's LLVM before numba's (DESIGN.md), when it is installed
    import dawdreamer  # noqa: F401
except ImportError:  # pragma: no cover
    pass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import neuromaster as nm  # noqa: E402
from neuromaster.dsp.hysteresis import transformer_core, transformer_state  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
SR = 44100


def loop(hysteresis: float, drive_db: float = -12.0, frequency_hz: float = 5.0):
    """(h, m) over the last of four periods of a slow sine through the core."""
    p = nm.TransformerSaturator(hysteresis=hysteresis, drive_db=drive_db).core_parameters()
    rate = SR * 8.0
    n = int(rate / frequency_hz)
    u = p["drive"] * np.sin(2 * np.pi * frequency_hz * np.arange(4 * n) / rate)
    _, h, m, _ = transformer_core(u[None], p["flux_rate"], p["source_r"], p["rho"], p["k"], p["c"], p["alpha"],
                                  rate, transformer_state(1), trace=True)
    return h[0, -n - 1:], m[0, -n - 1:]


def thd_db(proc, amplitude: float, frequency_hz: int) -> float:
    t = np.arange(2 * SR + 4096) / SR
    y = proc(amplitude * np.sin(2 * np.pi * frequency_hz * t), SR).astype(np.float64)[SR:2 * SR]
    spec = np.abs(np.fft.rfft(y))
    k = np.arange(2, (SR // 2) // frequency_hz + 1) * frequency_hz
    return float(10 * np.log10(max(np.sum(spec[k] ** 2), 1e-300) / spec[frequency_hz] ** 2))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE.parent / "docs" / "img" / "transformer_loop.png"))
    args = ap.parse_args(argv)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    zoom = ax1.inset_axes([0.06, 0.55, 0.36, 0.4])
    for hy in (0.0, 0.3, 0.6, 1.0):
        h, m = loop(hy)
        area = abs(np.sum(0.5 * (m[1:] + m[:-1]) * np.diff(h)))
        line, = ax1.plot(h, m, lw=1.2, label=f"hysteresis {hy:g} (k/a {0.002 * 100 ** hy:.3f}), area {area:.3f}")
        zoom.plot(h, m, lw=1.0, color=line.get_color())
    zoom.set_xlim(-0.6, 0.6)
    zoom.set_ylim(-0.2, 0.2)
    zoom.set_title("zoom near the origin", fontsize=7)
    zoom.tick_params(labelsize=6)
    zoom.grid(alpha=0.3)
    ax1.set_xlabel("field h = H / a  (magnetising current)")
    ax1.set_ylabel("magnetisation m = M / Ms")
    ax1.set_title("TransformerSaturator core loop, 5 Hz sine, drive -12 dB")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7, loc="lower right")
    drives = np.arange(-24.0, 24.1, 3.0)
    a = 10 ** (-6 / 20)
    for f in (30, 1000):
        thd = [thd_db(nm.TransformerSaturator(drive_db=float(d)), a, f) for d in drives]
        ax2.plot(drives, thd, "o-", ms=3, label=f"{f} Hz")
        print(f"{f} Hz, -6 dBFS: " + ", ".join(f"{d:+.0f} dB {t:.1f}" for d, t in zip(drives, thd)))
    ax2.set_xlabel("drive_db")
    ax2.set_ylabel("THD, dB re fundamental")
    ax2.set_title("THD of a -6 dBFS sine (default settings otherwise)")
    ax2.grid(alpha=0.3)
    ax2.legend()
    fig.tight_layout()
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())

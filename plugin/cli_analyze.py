"""``neuromaster analyze FILE... [--json] [--plot PNG] [--true-peak 4x|16x|32x]``."""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from .errors import NeuromasterError

EPILOG = """\
values:
  Loudness per ITU-R BS.1770-4 / EBU R 128 (LUFS, LU), true peak per
  BS.1770-4 Annex 2 (4x) or our 16x/32x interpolators (dBTP), sample peak
  and RMS (dBFS), crest factor, PLR and PSR (dB), stereo correlation
  (overall and per band), mono-sum loss (dB) and DC offset per channel.

silence and short files:
  Loudness that is -inf (digital silence, everything below the -70 LUFS
  gate) or needs more audio than the file has (momentary and integrated:
  400 ms; short-term: 3 s) is shown as "-inf" in the table and is null in
  --json output; so are the peaks and RMS of digital silence. Values that
  are differences or ratios of those (loudness range, crest factor, PLR,
  PSR, correlation, mono-sum loss) are shown as "n/a" and are null too.

output:
  --json prints one JSON object per file (a JSON list for several files),
  with the file name under "file"; time series are left out unless
  --series is given. --plot draws loudness over time (momentary,
  short-term, integrated), true peak over time and the 1/3-octave
  spectrum; with several files one PNG is written per file, named
  PNG-STEM_FILE-STEM.png next to PNG (e.g. --plot r.png a.wav b.flac
  writes r_a.png and r_b.png).

errors:
  A file that is missing, unreadable, a directory or not audio gets a
  message on stderr and is skipped; the others are still analysed and the
  exit code is 2. Reads WAV, FLAC, AIFF, OGG and MP3 (and whatever else
  libsndfile reads), streamed in blocks, so long files use little memory;
  a progress bar appears on stderr for long files when it is a terminal.
"""

#: Rows of the human-readable table: (key, label, unit, format).
TABLE_ROWS = (
    ("integrated_lufs", "Integrated loudness", "LUFS", "{:.1f}"),
    ("momentary_max_lufs", "Momentary max", "LUFS", "{:.1f}"),
    ("short_term_max_lufs", "Short-term max", "LUFS", "{:.1f}"),
    ("loudness_range_lu", "Loudness range", "LU", "{:.1f}"),
    ("true_peak_dbtp", "True peak", "dBTP", "{:.2f}"),
    ("sample_peak_dbfs", "Sample peak", "dBFS", "{:.2f}"),
    ("rms_dbfs", "RMS", "dBFS", "{:.1f}"),
    ("crest_factor_db", "Crest factor", "dB", "{:.1f}"),
    ("plr_db", "PLR (peak to loudness)", "dB", "{:.1f}"),
    ("psr_db", "PSR (peak to short-term)", "dB", "{:.1f}"),
    ("correlation", "Correlation", "", "{:+.2f}"),
    ("mono_loss_db", "Mono-sum loss", "dB", "{:.1f}"),
)

#: Keys whose ``None`` means "-inf" (loudness and what derives from it); the rest show "n/a".
_INF_WHEN_NONE = {"integrated_lufs", "momentary_max_lufs", "short_term_max_lufs", "true_peak_dbtp",
                  "sample_peak_dbfs", "rms_dbfs"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "analyze", help="measure loudness, true peak, dynamics and balance of audio files",
        description="Measure loudness (EBU R 128 / BS.1770-4), true peak, dynamics, stereo balance "
                    "and spectrum of audio files.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (WAV, FLAC, AIFF, OGG, MP3, ...)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table (null for -inf)")
    p.add_argument("--series", action="store_true", help="with --json: include the 10 ms time series")
    p.add_argument("--plot", metavar="PNG", help="write a PNG of loudness, true peak and spectrum")
    p.add_argument("--true-peak", default="4x", choices=("4x", "16x", "32x"),
                   help="true-peak interpolator: 4x = BS.1770-4 Annex 2 (default); 16x/32x = high precision")
    p.set_defaults(func=run)
    return p


def plot_paths(plot: str, files: list[str]) -> list[pathlib.Path]:
    """Where ``--plot`` writes for each file (see the help text)."""
    base = pathlib.Path(plot)
    if len(files) == 1:
        return [base]
    suffix = base.suffix or ".png"
    out, seen = [], {}
    for f in files:
        stem = pathlib.Path(f).stem or "audio"
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        name = f"{base.stem}_{stem}" + (f"_{n + 1}" if n else "")
        out.append(base.with_name(name + suffix))
    return out


def _fmt(result: dict, key: str, fmt: str) -> str:
    v = result.get(key)
    if v is None:
        return "-inf" if key in _INF_WHEN_NONE or key.endswith("_lufs") else "n/a"
    if v == float("inf"):
        return "inf"
    return fmt.format(v)


def _table(result: dict):
    from rich.table import Table

    # the name only: rich wraps a long title at the console width (80 columns
    # when not on a terminal); the full path is printed on its own line above
    title = pathlib.Path(str(result.get("file", ""))).name
    sub = (f"{result['sample_rate']:g} Hz, {result['channels']} ch, {result['duration_s']:.2f} s"
           f"{', ' + result['format'] + ' ' + result['subtype'] if result.get('format') else ''}"
           f", true peak {result['true_peak_mode']}")
    t = Table(title=title, caption=sub, show_header=True, header_style="bold")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("unit")
    for key, label, unit, fmt in TABLE_ROWS:
        t.add_row(label, _fmt(result, key, fmt), unit)
    dc = result.get("dc_offset") or []
    t.add_row("DC offset", " ".join("n/a" if d is None else f"{d:+.1e}" for d in dc), "FS")
    bands = result.get("correlation_bands") or {}
    if result["channels"] >= 2 and bands:
        t.add_row("Correlation by band", " ".join(f"{k}:{'n/a' if v is None else format(v, '+.2f')}"
                                                  for k, v in bands.items()), "Hz:r")
    return t


def run(args) -> int:
    from rich.console import Console

    from .analysis import analyze_file, plot_analysis, to_json

    console = Console(highlight=False)
    failures = 0
    outputs = []
    pngs = plot_paths(args.plot, args.files) if args.plot else [None] * len(args.files)
    for path, png in zip(args.files, pngs):
        try:
            res = analyze_file(path, true_peak=args.true_peak, series=bool(args.series or png is not None))
        except NeuromasterError as e:
            failures += 1
            print(f"neuromaster analyze: error: {e}", file=sys.stderr)
            continue
        except (OSError, RuntimeError, ValueError, MemoryError) as e:   # e.g. a decoder failing mid-file
            failures += 1
            print(f"neuromaster analyze: error: {path}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        if png is not None:
            try:
                plot_analysis(res, png, labels=[pathlib.Path(path).name])
            except (NeuromasterError, OSError, ValueError) as e:
                failures += 1
                print(f"neuromaster analyze: error: cannot write plot {png}: {e}", file=sys.stderr)
                png = None
        if args.json:
            outputs.append(to_json(res, include_series=args.series))
        else:
            print(res.get("file", path))  # plain print: never wrapped
            console.print(_table(res))
            if png is not None:
                console.print(f"plot written to {png}")
    if args.json and outputs:
        doc = outputs[0] if len(args.files) == 1 else outputs
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return 2 if failures else 0

"""``neuromaster master IN OUT [--preset P] [--target T | --lufs X --ceiling Y] [--set stage.param=value ...]
[--bit-depth 16|24|32f] [--report DIR] [--force]``: master a file to a delivery target."""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

EXIT_TARGET_MISSED = 3

EPILOG = f"""\
what it does:
  Builds the MasteringChain from the preset (default: chains/default.json),
  applies --set overrides, then runs the closed loop: the stages before the
  limiter are rendered once, and the limiter's input gain is adjusted (and
  the limiter -> parallel drive -> dither end re-rendered) until the
  integrated loudness is within --tolerance of the target and the true peak,
  measured at 16x on what is written, is at or below the ceiling. A genre
  preset also sets damage limits (largest limiter gain reduction and drive);
  a target beyond them is not forced.

target:
  --target NAME (a file in presets/targets: spotify, spotify_loud,
  apple_music, youtube, amazon, tidal, deezer, ebu_r128, atsc_a85, club) or
  a JSON path; or --lufs X --ceiling Y. Default: the preset's target, else
  spotify. `neuromaster presets list` shows them all.

output:
  Same sample rate and channels as IN. --bit-depth 16 or 24 (default):
  dithered by the chain's Dither stage (TPDF, its noise shaping setting);
  32f: undithered float. The file is written under a hidden name in OUT's
  folder and renamed into place when done; OUT must not be IN, and an
  existing OUT needs --force. The input is streamed in blocks; the
  pre-limiter cache stays in memory up to 256 MiB, beyond that in a
  temporary file.

report (--report DIR):
  DIR/master_report.json (before/after analysis, every parameter, target vs
  achieved, iterations, gain reduction per stage) and DIR/master_report.png
  (spectrum and loudness over time before/after, limiter gain reduction).
  DIR is created if missing; it is checked before mastering starts, and the
  report is written before OUT is renamed into place, so OUT and its report
  appear together (if the report cannot be written, OUT is not either).

exit codes:
  0 the target was reached and OUT written; 2 bad arguments, preset or
  files (nothing written); {EXIT_TARGET_MISSED} OUT written with the closest result within the
  preset's limits, but the target was not reached (the message says how
  close it got).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("master", help="master an audio file to a delivery target (closed loop)",
                              description="Master IN to a loudness / true-peak delivery target and write OUT.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="input audio file (WAV, FLAC, AIFF, ...)")
    p.add_argument("output", metavar="OUT", help="output audio file (.wav, .flac, .aiff, ...)")
    p.add_argument("--preset", default=None, metavar="P", help="chain or genre preset name or JSON path "
                                                               "(default: default)")
    p.add_argument("--target", default=None, metavar="T", help="delivery target name or JSON path")
    p.add_argument("--lufs", type=float, default=None, metavar="X", help="integrated loudness target, LUFS")
    p.add_argument("--ceiling", type=float, default=None, metavar="Y", help="true-peak ceiling, dBTP")
    p.add_argument("--set", action="append", default=[], metavar="STAGE.PARAM=VALUE", dest="overrides",
                   help="override a chain parameter (repeatable), e.g. --set eq.band1_enabled=true")
    p.add_argument("--bit-depth", default="24", choices=("16", "24", "32f"),
                   help="output word length: 16, 24 (default; dithered) or 32f (float, undithered)")
    p.add_argument("--report", default=None, metavar="DIR", help="write master_report.json and .png into DIR")
    p.add_argument("--force", action="store_true", help="overwrite OUT (and report files) if they exist")
    p.add_argument("--tolerance", type=float, default=None, metavar="LU",
                   help="stop tolerance in LU (default 0.1, at most the target's own tolerance)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.set_defaults(func=run)
    return p


def parse_value(param, text: str):
    """A ``--set`` value in the parameter's kind (bool: true/false/on/off/1/0; numbers; choice strings)."""
    from .errors import ParameterError
    t = text.strip()
    if param.kind == "bool":
        low = t.lower()
        if low in ("true", "on", "yes", "1"):
            return True
        if low in ("false", "off", "no", "0"):
            return False
        raise ParameterError(f"{param.name} takes true or false; got {text!r}")
    if param.kind == "choice":
        return t
    try:
        v = float(t)
    except ValueError:
        raise ParameterError(f"{param.name} takes a number {param.range_text}; got {text!r}") from None
    return int(v) if param.kind == "int" and v.is_integer() else v


def apply_overrides(chain, overrides) -> list[str]:
    """Apply ``STAGE.PARAM=VALUE`` strings to ``chain``; returns the names set."""
    from .errors import ParameterError
    names = []
    for item in overrides:
        if "=" not in item:
            raise ParameterError(f"--set takes STAGE.PARAM=VALUE; got {item!r}")
        name, text = item.split("=", 1)
        name = name.strip()
        p = chain._param(name)
        try:
            chain.set_parameter(name, parse_value(p, text))
        except ParameterError as e:
            raise ParameterError(f"--set {item}: {e}") from None
        names.append(name)
    return names


class _Progress:
    """A rich progress bar with one task per pass (on stderr)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = None
        self._tasks = {}

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            self._bar = Progress(TextColumn("[bold]{task.description:<28}"), BarColumn(),
                                 TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.__enter__()
        return self

    def __call__(self, label: str, done: int, total: int):
        if self._bar is None:
            return
        task = self._tasks.get(label)
        if task is None:
            task = self._tasks[label] = self._bar.add_task(label, total=max(total, 1))
        self._bar.update(task, completed=done)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


def run(args) -> int:
    from .errors import AudioFileError, ParameterError
    from .io import check_audio_path, same_file
    from .loudness_target import check_output_path, check_report_folder, master_file
    from .preset_store import custom_target, load_preset, load_target

    inp = check_audio_path(args.input)
    out = pathlib.Path(args.output)
    if same_file(inp, out):
        raise AudioFileError(f"{out}: is the input file; write the master to another path")
    check_output_path(out, args.force)
    if args.report is not None:
        # before any work: the folder (or its nearest existing parent) must be a writable folder
        try:
            check_report_folder(args.report, args.force)
        except AudioFileError as e:
            raise AudioFileError(f"--report: {e}") from None
    if (args.lufs is None) != (args.ceiling is None):
        raise ParameterError("--lufs and --ceiling go together (or use --target)")
    if args.target is not None and args.lufs is not None:
        raise ParameterError("give either --target or --lufs/--ceiling, not both")
    preset = load_preset(args.preset or "default")
    if args.lufs is not None:
        target = custom_target(args.lufs, args.ceiling)
    elif args.target is not None:
        target = load_target(args.target)
    else:
        target = preset.resolved_target() or load_target("spotify")
    chain = preset.build_chain()
    set_names = apply_overrides(chain, args.overrides)
    owned = {"dither.bypass": "the output word length and its dither come from --bit-depth (16, 24 or 32f)",
             "dither.bit_depth": "the output word length and its dither come from --bit-depth (16, 24 or 32f)",
             "limiter.input_gain_db": "the closed loop sets the limiter's input gain to reach the target",
             "limiter.ceiling_db": "the ceiling comes from the target (--target or --ceiling)"}
    for name in set_names:
        if name in owned:
            raise ParameterError(f"--set {name}: {owned[name]}")
    tol = 0.1 if args.tolerance is None else args.tolerance
    if not 0.005 <= tol <= target.tolerance_lu:
        raise ParameterError(f"--tolerance must be in [0.005, {target.tolerance_lu:g}] LU (the target's "
                             f"tolerance); got {tol:g}")
    show = not args.quiet and sys.stderr.isatty()
    with _Progress(show) as progress:
        # the report is written before OUT is put in place: both appear, or neither does
        res = master_file(inp, out, chain=chain, preset=preset, target=target, bit_depth=args.bit_depth,
                          overwrite=args.force, tolerance_lu=tol, analyze_input=args.report is not None,
                          progress=progress, report=args.report)
    if not args.quiet:
        _summary(res, args.report)
    if not res.reached:
        print(f"neuromaster master: {res.status}: {res.message}", file=sys.stderr)
        return EXIT_TARGET_MISSED
    return 0


def _fmt(v, unit, spec=".2f"):
    return "n/a" if v is None else f"{v:{spec}} {unit}"


def _summary(res, report) -> None:
    from rich.console import Console
    from rich.table import Table

    t = res.target
    table = Table(title=f"{res.output}", caption=f"preset {res.preset}, target {t.name}, {res.subtype}, "
                                                 f"{res.sample_rate:g} Hz, {res.channels} ch, "
                                                 f"{res.frames / res.sample_rate:.1f} s", header_style="bold")
    table.add_column("measure")
    table.add_column("target", justify="right")
    table.add_column("achieved", justify="right")
    table.add_row("integrated loudness", _fmt(t.integrated_lufs, "LUFS") + f" +-{t.tolerance_lu:g}",
                  _fmt(res.integrated_lufs, "LUFS"))
    table.add_row("true peak (16x)", "<= " + _fmt(t.true_peak_dbtp, "dBTP"), _fmt(res.true_peak_dbtp, "dBTP"))
    lim = res.gain_reduction.get("limiter", {})
    table.add_row("limiter gain reduction", "", f"max {lim.get('max_db', 0):.1f} dB, mean {lim.get('mean_db', 0):.2f} dB")
    table.add_row("limiter input gain", "", f"{res.chain.get_parameter('limiter.input_gain_db'):+.2f} dB")
    table.add_row("renders", "", f"{len(res.iterations)} ({res.timings_s.get('total', 0):.1f} s)")
    console = Console(highlight=False)
    console.print(table)
    console.print(f"{res.status}: {res.message}")
    if report is not None:
        console.print(f"report written to {report}/master_report.json and master_report.png")


def report_json(res) -> str:
    """The report as JSON text (for tests and scripting)."""
    return json.dumps(res.report(), indent=2, allow_nan=False)

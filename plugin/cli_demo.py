"""``neuromaster demo``: the main job on built-in demo material.

Generates a seeded procedural mix, writes it as WAV, analyses it and writes
the analysis as JSON and a PNG (loudness over time, true peak, spectrum),
then masters it to a platform target (default Spotify) with the genre's
preset and writes the master and its report (JSON and PNG) next to it.
"""
from __future__ import annotations

import inspect
import json
import os
import pathlib
import sys
import tempfile

from .errors import ParameterError

#: Shortest demo: the master's integrated loudness needs one BS.1770 gating block (400 ms).
MIN_DURATION_S = 0.4

FILES = ("mix.wav", "mix_analysis.json", "mix_analysis.png", "master.wav", "master_report.json",
         "master_report.png")


def add_parser(sub) -> None:
    from .demo import GENRES
    p = sub.add_parser("demo", help="generate a demo mix, analyse it, write the report",
                       description=__doc__.strip().splitlines()[0])
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--genre", default="pop", choices=GENRES, help="demo genre (default: pop)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of music (default: 30)")
    p.add_argument("--sample-rate", type=int, default=44100, help="Hz (default: 44100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--target", default="spotify", help="delivery target for the master (default: spotify; "
                                                         "see `neuromaster presets list`)")
    p.add_argument("--preset", default=None, help="mastering preset (default: the genre's profile)")
    p.add_argument("--force", action="store_true", help="overwrite files from an earlier run in --out")
    p.set_defaults(func=run)


def _check_out_folder(out: pathlib.Path, force: bool) -> pathlib.Path:
    """Validate ``--out`` without creating anything; returns the nearest existing folder."""
    from .errors import AudioFileError
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out} exists and is not a folder")
    base = out
    while not base.exists() and base.parent != base:
        base = base.parent
    if not base.is_dir():
        raise ParameterError(f"--out {out}: {base} is not a folder")
    existing = [f for f in FILES if (out / f).exists()]
    if existing and not force:
        raise ParameterError(f"{out} already holds {', '.join(existing)}; pass --force to overwrite")
    try:   # a real probe (root passes os.access checks the file system refuses)
        fd, probe = tempfile.mkstemp(dir=base, prefix=".neuromaster-demo-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise AudioFileError(f"--out {out}: {base} is not writable ({e.strerror or e})") from None
    return base


def run(args) -> int:
    from . import analysis, demo
    from .io import AudioWriter
    from .preset_store import load_preset, load_target

    # every argument is checked before anything is created
    out = pathlib.Path(args.out)
    peak = inspect.signature(demo.make_mix).parameters["peak_dbfs"].default
    demo._check_args(args.genre, args.duration, args.sample_rate, args.seed, None, (), peak)
    if args.duration < MIN_DURATION_S:
        raise ParameterError(f"--duration must be at least {MIN_DURATION_S:g} s (the master's integrated "
                             f"loudness needs one 400 ms BS.1770 gating block); got {args.duration:g}")
    preset = load_preset(args.preset or args.genre)
    target = load_target(args.target)
    _check_out_folder(out, args.force)
    created = []                 # folders made here, removed again if the run fails before filling them
    f = out
    while not f.exists():
        created.append(f)
        f = f.parent
    out.mkdir(parents=True, exist_ok=True)
    try:
        mix = demo.make_mix(args.genre, args.duration, args.sample_rate, args.seed)
        wav = out / "mix.wav"
        with AudioWriter(wav, args.sample_rate, mix.shape[0], "PCM_24", overwrite=True) as w:
            w.write(mix)
        result = analysis.analyze_file(wav)
        (out / "mix_analysis.json").write_text(json.dumps(analysis.to_json(result), indent=2) + "\n")
        analysis.plot_analysis(result, out / "mix_analysis.png", labels=[f"demo mix ({args.genre})"])
        _summary(result, out)
        _master(out, wav, preset, target)   # a target beyond the preset's limits is reported, not an error
    except BaseException:
        for d in created:        # deepest first; only folders nothing was written into
            try:
                d.rmdir()
            except OSError:
                break
        raise
    return 0


def _master(out: pathlib.Path, wav: pathlib.Path, preset, target):
    """Master the demo mix to the target and write master.wav and its report next to the mix."""
    from .loudness_target import master_file

    res = master_file(wav, out / "master.wav", preset=preset, target=target, bit_depth="24", overwrite=True,
                      report=out)
    lim = res.gain_reduction.get("limiter", {})
    print(f"master written to {out}/master.wav (preset {preset.name}, target {target.name}: "
          f"{target.integrated_lufs:g} LUFS, {target.true_peak_dbtp:g} dBTP); report in master_report.json/.png")
    print(f"  {'integrated':15s} {_fmt(res.integrated_lufs, 'LUFS')}")
    print(f"  {'true peak':15s} {_fmt(res.true_peak_dbtp, 'dBTP')} (16x)")
    print(f"  {'limiter GR':15s} max {lim.get('max_db', 0.0):.1f} dB, mean {lim.get('mean_db', 0.0):.2f} dB")
    print(f"  {res.status}: {res.message}")
    return res


def _fmt(v, unit):
    return "-inf" if v is None else f"{v:.2f} {unit}"


def _summary(result: dict, out: pathlib.Path) -> None:
    rows = [("integrated", _fmt(result.get("integrated_lufs"), "LUFS")),
            ("loudness range", _fmt(result.get("loudness_range_lu"), "LU")),
            ("true peak", _fmt(result.get("true_peak_dbtp"), "dBTP"))]
    print(f"demo mix written to {out}/ ({', '.join(FILES[:3])})", file=sys.stdout)
    for k, v in rows:
        print(f"  {k:15s} {v}")

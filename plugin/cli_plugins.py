"""``neuromaster plugins list [--json] [--path DIR...] [--rescan]``: scan third-party plugins."""
from __future__ import annotations

import argparse
import json
import sys

EPILOG = """\
folders:
  /usr/lib/vst, /usr/lib/lxvst, /usr/lib/vst3, ~/.vst, ~/.vst3 and the
  folders in VST_PATH and VST3_PATH (os.pathsep separated). --path scans
  only the folders (or plugin files) given, unless --standard is added.

scanning:
  Each plugin is loaded in a worker process (spawned; one plugin at a time
  per worker) with a timeout, so a plugin that crashes or hangs is listed
  as "crashed" or "timeout" and the scan goes on; one that will not load
  is listed as "failed" with the reason. Results are cached in
  ~/.cache/neuromaster/plugins.json (XDG_CACHE_HOME and
  NEUROMASTER_CACHE_DIR are honoured), keyed by path, modification time
  and size; --rescan ignores the cache.

output:
  For each plugin: name, format (VST2/VST3), input/output channels,
  reported latency in samples (and the impulse measurement when it
  differs), and every parameter with its index, unit, the plugin's text
  at both ends of its range and its default (normalised value after load,
  and its text). --json prints a JSON list for programs.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plugins", help="list third-party VST2/VST3 plugins and their parameters",
                              description="Third-party plugins (VST2 .so and VST3, hosted by DawDreamer).")
    sub = p.add_subparsers(dest="plugins_command", metavar="ACTION")
    sub.required = True
    lp = sub.add_parser("list", help="scan the plugin folders and list plugins with their parameters",
                        description="Scan plugin folders (each plugin in a worker process) and list the plugins.",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    lp.add_argument("--json", action="store_true", help="print JSON instead of tables")
    lp.add_argument("--path", nargs="+", metavar="DIR", action="extend", default=None,
                    help="scan these folders or plugin files instead of the standard folders")
    lp.add_argument("--standard", action="store_true", help="with --path: also scan the standard folders")
    lp.add_argument("--rescan", action="store_true", help="ignore cached scan results")
    lp.add_argument("--timeout", type=float, default=30.0, metavar="S", help="per-plugin timeout in seconds (default 30)")
    lp.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes scanning in parallel (default 1)")
    lp.add_argument("--summary", action="store_true", help="one line per plugin, without the parameter tables")
    lp.add_argument("--sample-rate", type=float, default=44100.0, metavar="HZ",
                    help="rate the plugins are loaded at (latency depends on it; default 44100)")
    lp.set_defaults(func=run_list)
    return p


def run_list(args) -> int:
    from .errors import ParameterError
    from .thirdparty import list_plugins
    if args.timeout <= 0:
        raise ParameterError(f"--timeout must be > 0 s; got {args.timeout}")
    if args.jobs < 1:
        raise ParameterError(f"--jobs must be >= 1; got {args.jobs}")
    standard = args.path is None or args.standard
    progress, bar = _progress()
    try:
        records = list_plugins(args.path, standard=standard, rescan=args.rescan, sample_rate=args.sample_rate,
                               timeout_s=args.timeout, jobs=args.jobs, progress=progress)
    finally:
        if bar is not None:
            bar.stop()
    if args.json:
        json.dump(records, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    _print_tables(records, summary=args.summary)
    return 0


def _progress():
    """A rich progress bar on stderr when it is a terminal (else no output)."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    bar = Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                   console=Console(stderr=True), transient=True)
    task = [None]

    def progress(path, done, total):
        if task[0] is None:
            bar.start()
            task[0] = bar.add_task("", total=total)
        bar.update(task[0], completed=done, description=str(path).rsplit("/", 1)[-1])

    return progress, bar


def _fmt_latency(r) -> str:
    rep, meas = r.get("latency_samples"), r.get("latency_measured")
    if rep is None:
        return "-"
    if meas is not None and meas != rep:
        return f"{rep} (impulse: {meas})"
    return str(rep)


def _print_tables(records, summary: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)
    ok = [r for r in records if r.get("status") == "ok"]
    bad = [r for r in records if r.get("status") != "ok"]
    t = Table(title=f"{len(records)} plugin file(s): {len(ok)} loaded, {len(bad)} failed", title_justify="left")
    for col in ("name", "format", "in/out", "latency", "params", "status", "path"):
        t.add_column(col, overflow="fold")
    for r in records:
        t.add_row(str(r.get("name", "-")), str(r.get("format", "-")).upper(),
                  f"{r['inputs']}/{r['outputs']}" if "inputs" in r else "-", _fmt_latency(r),
                  str(len(r.get("parameters", []))) if r.get("status") == "ok" else "-",
                  r.get("status", "?"), r["path"])
    console.print(t)
    for r in bad:
        err = str(r.get("error", ""))
        where = "" if err.startswith(r["path"]) else f"{r['path']}: "
        console.print(f"{r.get('status')}: {where}{err}", soft_wrap=True)
    if summary:
        return
    for r in ok:
        pt = Table(title=f"{r['name']} ({str(r['format']).upper()}, {r['inputs']} in / {r['outputs']} out, "
                         f"latency {_fmt_latency(r)}) - {r['path']}", title_justify="left")
        for col in ("#", "parameter", "unit", "min", "max", "default", "default (0-1)"):
            pt.add_column(col, overflow="fold")
        for p in r.get("parameters", []):
            pt.add_row(str(p["index"]), p["name"], p.get("unit", ""), p.get("min_text", ""), p.get("max_text", ""),
                       p.get("default_text", ""), f"{p.get('default', 0.0):.4f}")
        console.print(pt)

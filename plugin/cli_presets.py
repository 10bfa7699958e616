"""``neuromaster presets list [--json]`` and ``neuromaster presets show NAME [--json]``."""
from __future__ import annotations

import argparse
import json
import sys

EPILOG = """\
files:
  presets/chains/*.json   chain presets (default.json is `neuromaster master`'s default)
  presets/genres/*.json   genre profiles: stage settings, damage limits, default target
  presets/targets/*.json  delivery targets: integrated LUFS, true-peak ceiling, tolerance, source

show:
  NAME is a chain, genre or target name (or a JSON path). The file is
  validated first; a bad one gives an error naming the file and the place,
  e.g. "genres/jazz.json: stages.limiter.ceiling_db: must be [-20, 0] dB; got 3".
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("presets", help="list and show chain presets, genre profiles and delivery targets",
                              description="List and show presets and delivery targets.", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="presets_command", metavar="{list,show}")
    sub.required = True
    pl = sub.add_parser("list", help="table of chain presets, genres and targets")
    pl.add_argument("--json", action="store_true", help="print JSON")
    pl.set_defaults(func=run_list)
    ps = sub.add_parser("show", help="one preset or target")
    ps.add_argument("name", metavar="NAME", help="chain, genre or target name, or a JSON path")
    ps.add_argument("--json", action="store_true", help="print the JSON file (validated)")
    ps.set_defaults(func=run_show)
    return p


def _catalogue() -> dict:
    from .preset_store import list_presets, load_preset, load_target
    names = list_presets()
    out = {"chains": [], "genres": [], "targets": []}
    for kind in ("chains", "genres"):
        for n in names[kind]:
            p = load_preset(f"{kind}/{n}")
            t = p.resolved_target()
            out[kind].append({"name": n, "description": p.description, "target": t.name if t else None,
                              "engaged": p.build_chain().engaged_stages, "limits": p.limits.to_dict()})
    for n in names["targets"]:
        t = load_target(n)
        out["targets"].append(t.to_dict())
    return out


def run_list(args) -> int:
    cat = _catalogue()
    if args.json:
        sys.stdout.write(json.dumps(cat, indent=2) + "\n")
        return 0
    from rich.console import Console
    from rich.table import Table
    console = Console(highlight=False)
    for kind, title in (("chains", "Chain presets"), ("genres", "Genre profiles")):
        t = Table(title=title, header_style="bold")
        for col in ("name", "target", "limits (peak / mean GR, drive)", "engaged stages", "description"):
            t.add_column(col)
        for e in cat[kind]:
            lim = e["limits"]
            lim_text = (f"{lim.get('max_limiter_gain_reduction_db', '-')} / "
                        f"{lim.get('max_limiter_mean_gain_reduction_db', '-')} dB, "
                        f"{lim.get('max_limiter_input_gain_db', '-')} dB") if lim else "none"
            t.add_row(e["name"], e["target"] or "-", lim_text, ", ".join(e["engaged"]), e["description"])
        console.print(t)
    t = Table(title="Delivery targets", header_style="bold")
    for col in ("name", "integrated", "true peak", "tolerance", "source"):
        t.add_column(col)
    for e in cat["targets"]:
        t.add_row(e["name"], f"{e['integrated_lufs']:g} LUFS", f"{e['true_peak_dbtp']:g} dBTP",
                  f"+-{e['tolerance_lu']:g} LU", e["source"])
    console.print(t)
    return 0


def run_show(args) -> int:
    from .preset_store import show
    obj = show(args.name)
    if args.json:
        sys.stdout.write(json.dumps(obj, indent=2) + "\n")
        return 0
    from rich.console import Console
    from rich.table import Table
    console = Console(highlight=False)
    head = {k: v for k, v in obj.items() if k not in ("stages", "notes", "limits")}
    t = Table(title=f"{obj['file']}", show_header=False)
    t.add_column("key", style="bold")
    t.add_column("value")
    for k, v in head.items():
        if k != "file":
            t.add_row(k, v if isinstance(v, str) else json.dumps(v))
    for k, v in (obj.get("limits") or {}).items():
        t.add_row(f"limits.{k}", f"{v:g}")
    console.print(t)
    if obj.get("stages"):
        st = Table(title="stage settings (over the chain defaults)", header_style="bold")
        for col in ("stage", "parameter", "value"):
            st.add_column(col)
        for stage, params in obj["stages"].items():
            for k, v in params.items():
                st.add_row(stage, k, json.dumps(v))
        console.print(st)
    if obj.get("notes"):
        nt = Table(title="sources and rationale", header_style="bold")
        nt.add_column("place")
        nt.add_column("note")
        for k, v in obj["notes"].items():
            nt.add_row(k, v)
        console.print(nt)
    return 0

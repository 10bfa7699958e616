"""``neuromaster render GRAPH.yaml --out OUT.wav [--force]``: render a graph spec."""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

EPILOG = """\
spec:
  A YAML or JSON file with inputs (demo material, files, test signals),
  nodes (neuromaster processors, VST2/VST3 plugins through DawDreamer,
  VST3s through pedalboard, Faust code, DawDreamer processors) with
  parameters, presets and automation curves, connections with gains, the
  output node and the duration. See neuromaster.graphspec and the examples
  in examples/graphs/.

render:
  Every node's latency is compensated: the output is aligned with the
  input. Graphs with third-party, Faust or DawDreamer nodes render in a
  worker process (--isolate, the default for them): a plugin that crashes
  or hangs past --timeout (per node) ends that render with an error
  naming the node. The output and every --tap file are written to
  temporary files and renamed into place together once all are complete (a
  failure on any of them leaves none behind); an existing file is kept
  unless --force is given.

exit codes:
  0 written; 1 the render failed (a node crashed, hung or raised);
  2 bad spec or arguments (the message names the node and key).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("render", help="render a graph spec (YAML/JSON) to an audio file",
                              description="Render a declarative graph of neuromaster stages and third-party plugins.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="GRAPH", help="graph spec, .yaml/.yml or .json")
    p.add_argument("--out", required=True, metavar="OUT", help="output audio file (.wav, .flac, ...)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="override the spec's duration_s")
    p.add_argument("--subtype", default="FLOAT", help="output sample format: FLOAT (default), PCM_24, PCM_16, ...")
    p.add_argument("--tap", action="append", default=[], metavar="NODE=FILE",
                   help="also write a node's output to FILE (repeatable)")
    iso = p.add_mutually_exclusive_group()
    iso.add_argument("--isolate", dest="isolate", action="store_true", default=None,
                     help="render in a worker process (default when the graph has third-party, Faust or DawDreamer nodes)")
    iso.add_argument("--no-isolate", dest="isolate", action="store_false", help="render in this process")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="with --isolate: longest time per node in seconds (default 600)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)
    return p


def _parse_taps(items):
    from .errors import ParameterError
    taps = {}
    for t in items:
        if "=" not in t:
            raise ParameterError(f"--tap takes NODE=FILE; got {t!r}")
        node, path = t.split("=", 1)
        if not node or not path:
            raise ParameterError(f"--tap takes NODE=FILE; got {t!r}")
        taps[node] = pathlib.Path(path)
    return taps


def run(args) -> int:
    from .errors import AudioFileError, ParameterError
    from .graphspec import load_graph
    from .io import AudioWriterGroup, same_file
    from .workers import WorkerError
    out = pathlib.Path(args.out)
    taps = _parse_taps(args.tap)
    paths = [("--out", out), *((f"--tap {node}", path) for node, path in taps.items())]
    for i, (what, path) in enumerate(paths):
        if path.is_dir():
            raise AudioFileError(f"{path}: is a directory")
        if path.exists() and not args.force:
            raise AudioFileError(f"{path}: already exists (use --force to overwrite)")
        if not path.parent.is_dir() and str(path.parent):
            raise AudioFileError(f"{path}: the folder {path.parent} does not exist")
        for other_what, other in paths[:i]:
            if same_file(path, other):
                raise ParameterError(f"{what} and {other_what} name the same file {path}")
    if args.timeout <= 0:
        raise ParameterError(f"--timeout must be > 0 s; got {args.timeout}")
    g = load_graph(args.spec, duration_s=args.duration)
    for node in taps:
        if node not in g:
            raise ParameterError(f"--tap: no node named {node!r} (nodes: {', '.join(g.nodes)})")
    isolate = args.isolate
    if isolate is None:
        isolate = any(n.kind in ("plugin", "pedalboard", "faust", "dawdreamer") for n in g.nodes.values())
    t0 = time.perf_counter()
    try:
        res = g.render_taps(list(taps), isolate=isolate, timeout_s=args.timeout)
    except WorkerError as e:
        print(f"neuromaster render: error: {e}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - t0
    sr = int(round(g.sample_rate))
    written = []
    # every file goes to a temporary name first; they are renamed into place together once all are
    # complete, so a failure on any of them leaves none behind
    with AudioWriterGroup() as group:
        for node, path in [(g.output, out), *taps.items()]:
            y = res[node]
            w = group.add(path, sr, y.shape[0], args.subtype, overwrite=args.force)
            w.write(y)
            written.append((node, path, y, w))
    written = [(node, path, y, w.clipped_samples) for node, path, y, w in written]
    if not args.quiet:
        lat = {k: v for k, v in g.latencies().items() if v}
        lat_text = ", ".join(f"{k} {v}" for k, v in lat.items()) or "none"
        for node, path, y, clipped in written:
            extra = f"; {clipped} samples clipped to full scale ({args.subtype})" if clipped else ""
            print(f"wrote {path}: node {node!r}, {y.shape[0]} ch, {y.shape[1] / g.sample_rate:.3f} s at {sr} Hz{extra}")
        print(f"rendered {len(g.nodes)} nodes in {elapsed:.2f} s"
              f"{' (worker process)' if isolate else ''}; latency compensated (samples): {lat_text}")
    return 0

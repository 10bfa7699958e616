"""The ``neuromaster`` command line.

Each subcommand lives in its own module ``neuromaster.cli_<name>`` exposing
``add_parser(subparsers)`` (which sets ``func``) and is listed in
``SUBCOMMANDS``. User errors exit with code 2 and a message on stderr,
never a traceback; so do failures of the system underneath a command (a
full disk or an I/O error while writing, a permission refused when a file
is renamed into place, out of memory, a library's runtime error), with the
message naming the command.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import NeuromasterError

#: Subcommand modules, in help order.
SUBCOMMANDS = ("analyze", "plugins", "render", "demo", "master", "presets")

EXIT_OK = 0
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuromaster", description="Scriptable mastering: analyse, master, render.")
    parser.add_argument("--version", action="version", version=f"neuromaster {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f".cli_{name}", __package__).add_parser(sub)
    return parser


def _version() -> str:
    from . import __version__
    return __version__


def _describe(e: BaseException) -> str:
    """``"<kind>: <message>"`` for a system error (the kind tells a disk problem from a library one)."""
    text = str(e).strip() or "no details"
    return f"{type(e).__name__}: {text}"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NeuromasterError as e:
        print(f"neuromaster {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print(f"neuromaster {args.command}: error: out of memory", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:   # ENOSPC / EIO from libsndfile or the OS, PermissionError in a rename, ...
        where = f" ({e.filename})" if getattr(e, "filename", None) and str(e.filename) not in str(e) else ""
        print(f"neuromaster {args.command}: error: {_describe(e)}{where}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as e:   # libsndfile / plugin hosts report failures as RuntimeError
        print(f"neuromaster {args.command}: error: {_describe(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("neuromaster: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``brainyolo`` command: one module per command in this package (its options and what it does),
shared option groups and argument types in :mod:`brainyolo.cli.options`.

A command module has ``add_parser(commands)``, which adds its sub-parser and sets ``run`` to the
function that carries it out. :data:`COMMANDS` lists them in the order ``brainyolo --help`` shows.

Bad input ends with one line ``brainyolo: error: FILE: PROBLEM`` on stderr, exit status 2, and no
partial output (everything is written to temporary files first).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from brainyolo import __version__
from brainyolo.cli import (
    analyze,
    balance,
    benchmark,
    cache,
    check,
    compare,
    convert,
    decode,
    demo,
    detect,
    evaluate,
    export_nir,
    fetch,
    import_nir,
    presets,
    run,
    scenes,
    simulate,
    tune,
)
from brainyolo.io.errors import BrainyoloError, one_line

COMMANDS = (convert, detect, decode, evaluate, simulate, tune, balance, demo, run, analyze, fetch, compare, scenes,
            presets, cache, check, benchmark, import_nir, export_nir)
"""The command modules, in the order of ``brainyolo --help``."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (:data:`COMMANDS`)."""
    parser = argparse.ArgumentParser(
        prog="brainyolo", description="Spiking-YOLO in Brian2: Darknet Tiny YOLO -> spiking network.")
    parser.add_argument("--version", action="version", version=f"brainyolo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    for sub in commands.choices.values():
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return parser


def _profiled(args, whole_process: bool) -> int:
    """Run the command under a stopwatch (:mod:`brainyolo.system.timing`); print the table, write profile.json.
    ``whole_process``: the command is the process (``brainyolo ...``), so its start-up counts."""
    from brainyolo.io.atomic import write_json
    from brainyolo.system.timing import as_dict, report, stage, stopwatch

    with stopwatch(since_process_start=whole_process) as watch:
        with stage("start-up"):  # the imports every spiking command makes (Brian2 and its code generation)
            import brainyolo.pipeline  # noqa: F401
            import brainyolo.spiking.simulate  # noqa: F401
        code = args.run(args)
    print("\n".join(report(watch)))
    out = getattr(args, "output_dir", None)
    if code == 0 and out is not None and Path(out).is_dir():
        write_json(Path(out) / "profile.json", as_dict(watch))
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    0: done. 2: bad input (one line ``brainyolo: error: FILE: PROBLEM`` on stderr; nothing
    half-written). 130: interrupted. 1: an unexpected failure inside brainyolo, also one line
    (``BRAINYOLO_DEBUG=1`` shows the traceback): it is a bug, please report it.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "profile", False):
            return _profiled(args, whole_process=argv is None)
        return args.run(args)
    except BrainyoloError as err:
        print(f"brainyolo: error: {one_line(str(err), 2000)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("brainyolo: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("brainyolo: error: out of memory", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - one line instead of a traceback, the traceback on request
        if os.environ.get("BRAINYOLO_DEBUG"):
            raise
        print(f"brainyolo: error: internal error {type(err).__name__}: {one_line(str(err))} (a bug in brainyolo: "
              "please report it; BRAINYOLO_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1

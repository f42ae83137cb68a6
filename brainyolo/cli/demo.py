"""``brainyolo demo``."""

from __future__ import annotations


def add_parser(commands) -> None:
    p = commands.add_parser("demo", help="the whole pipeline on the embedded default model",
                            description="Convert the embedded default model with generated "
                                        "calibration scenes and detect on a generated picture.")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.experiments.demo import run_demo

    run_demo(args.output, progress=not args.quiet)
    return 0

"""``brainyolo run``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from brainyolo.cli.options import existing, farm, farm_options, positive_int


def add_parser(commands) -> None:
    p = commands.add_parser("run", help="run an experiment described by a TOML run file",
                            description="Run every configuration of a run file (model, calibration, images, "
                                        "simulation, normalization x neuron x read-out grid) and score it at "
                                        "every checkpoint next to the ANN; writes RUN_FILE's folder/NAME/ "
                                        "(summary.md, summary.json, map_vs_steps.png). Resumes if interrupted.")
    p.add_argument("run_file", help="TOML run file, e.g. runs/demo.toml")
    farm_options(p, "every configuration's images")
    p.add_argument("--threads", type=positive_int, help="OpenMP threads per simulation (default: the run file's)")
    p.add_argument("-o", "--output", dest="output_dir", help="output folder (default: beside the run file, "
                                                             "named after the run)")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.experiments.experiment import run_experiment, summary_table
    from brainyolo.experiments.run_file import load_run_file

    run_file = existing(args.run_file)
    spec = load_run_file(run_file)
    if args.threads:
        spec = dataclasses.replace(spec, threads=args.threads)
    out = Path(args.output_dir) if args.output_dir else run_file.resolve().parent / spec.name
    summary = run_experiment(spec, out, progress=not args.quiet, farm=farm(args))
    print(summary_table(summary), end="")
    print(f"-> {out} (summary.md, summary.json, map_vs_steps.png) in {summary['seconds']:.0f} s")
    return 0

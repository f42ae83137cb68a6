"""The same code with one binary fed image after image and with a process per image, in turn.

    python analysis/overhead/served.py MODEL ROUNDS PHOTO [PHOTO ...] [--steps N]

Each round simulates the photos with a :class:`brainyolo.SpikingDetector` (the default preset, ``--steps``, default
50) twice: first with the binary started per image (``$BRAINYOLO_SERVE=0``, as Brian2 runs a binary),
then served (:mod:`brainyolo.spiking.binary_server`), each after a warm-up photo that builds or loads the binary (not
counted). Prints per image the simulation (timed inside the binary), the binary's start and results (its process or
its request, less the simulation) and the wall time of the runs, and checks that both ways gave the same recordings,
photo by photo (exit status 1 where they did not). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def same(first, second) -> bool:
    """Two runs' recordings (nested dicts of arrays), equal element for element."""
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(same(first[k], second[k]) for k in first)
    return np.array_equal(np.asarray(first), np.asarray(second))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("rounds", type=int)
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        parser.error("ROUNDS and --steps are at least 1")

    import os

    import brainyolo
    from brainyolo.spiking.runners import SERVE_VARIABLE

    columns, data = {}, {}
    for round_ in range(1, args.rounds + 1):
        for serve, label in ((False, "a process per image"), (True, "served")):
            os.environ[SERVE_VARIABLE] = "1" if serve else "0"
            with brainyolo.SpikingDetector(args.model, steps=args.steps) as detector:
                detector.run(args.photos[0])  # the build, or the binary's start: not counted
                started = time.perf_counter()
                runs = [detector.run(photo).result for photo in args.photos]
                wall = time.perf_counter() - started
                served = detector._simulator._runner.server is not None
            if served != serve:
                print(f"served.py: the runner {'served' if served else 'did not serve'} images (serve={serve})",
                      file=sys.stderr)
                return 1
            name = f"{label}, round {round_}"
            columns[name] = {
                "simulation": statistics.mean(r.timing["run_seconds"] for r in runs),
                "binary start and results": statistics.mean(r.timing["process_seconds"] - r.timing["run_seconds"]
                                                            for r in runs),
                "wall": wall / len(runs)}
            data[name] = [r.data for r in runs]
    print("| seconds per image | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for row in ("simulation", "binary start and results", "wall"):
        print(f"| {row} | " + " | ".join(f"{c[row]:.3f}" for c in columns.values()) + " |")
    reference = next(iter(data.values()))
    equal = all(same(a, b) for runs in data.values() for a, b in zip(reference, runs, strict=True))
    print(f"({len(args.photos)} photos, {args.steps} steps; the recordings of every run equal photo by photo: "
          f"{'yes' if equal else 'NO'})")
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())

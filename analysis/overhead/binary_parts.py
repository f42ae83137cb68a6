"""Where the binary's start and results go per image, timed by wrapping the runner's functions.

    python analysis/overhead/binary_parts.py MODEL PHOTO [PHOTO ...] [--steps N]

Runs the photos with a :class:`brainyolo.SpikingDetector` (the default preset, ``--steps``, default 50) after a
warm-up photo (not counted) and prints, per image, the simulation (timed inside the binary), the exchange with the
served binary less the simulation (its reset, copying its static arrays into its state and applying the run's
arguments, writing the results), writing the run's input files (into the run's results folder, removed with it), and
the runner's run in all. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import collections
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps is at least 1")

    import brainyolo
    from brainyolo.spiking import binary_server, runners

    seconds = collections.defaultdict(float)

    def timed(owner, name):
        function = getattr(owner, name)

        def wrapper(*a, **k):
            started = time.perf_counter()
            try:
                return function(*a, **k)
            finally:
                seconds[name] += time.perf_counter() - started

        setattr(owner, name, wrapper)

    timed(binary_server.BinaryServer, "_exchange")
    timed(runners, "write_run_inputs")
    timed(runners.StandaloneRunner, "run")
    with brainyolo.SpikingDetector(args.model, steps=args.steps) as detector:
        detector.run(args.photos[0])
        seconds.clear()
        simulation = sum(detector.run(photo).result.timing["run_seconds"] for photo in args.photos)
    n = len(args.photos)
    if seconds["_exchange"] == 0:
        print("binary_parts.py: the binary was not served (a network it cannot reset)")
        return 1
    rows = {"simulation (inside the binary)": simulation,
            "the served binary besides the simulation": seconds["_exchange"] - simulation,
            "writing the run's input files": seconds["write_run_inputs"],
            "the runner's run in all": seconds["run"]}
    print(f"| seconds per image ({n} photos, {args.steps} steps) | |")
    print("| --- | ---: |")
    for label, value in rows.items():
        print(f"| {label} | {value / n:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

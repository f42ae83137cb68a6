"""A fresh process per image against one binary fed image after image (``serve``), in one session.

    python analysis/overhead/serve.py MODEL.h5 OUT IMAGE... [--rounds 2] [--steps 50]

Builds the ``fast`` preset's network once (or finds it in the build cache), then records the images with
``serve=False`` and ``serve=True`` in turn, ``--rounds`` times each (launch, serve, launch, serve: a slow
spell of the machine falls on both), through the Python API (:meth:`brainyolo.SpikingDetector.record`:
simulation, recording, ``recordings.h5``). Prints per image the stages of each and their ratio, and checks
that both wrote the same recordings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import numpy as np

import brainyolo
from brainyolo.system.timing import STAGES, stopwatch

MODES = {False: "a process per image", True: "one process, served"}


def measure(model, images, out: Path, serve: bool, steps: int) -> dict:
    """One recording of ``images``; the stopwatch's seconds per stage (network construction excluded)."""
    with brainyolo.SpikingDetector(model, "fast", steps=steps, serve=serve) as detector:
        detector.build()
        with stopwatch() as watch:
            detector.record(images, out)
    return {"images": watch.images, "wall": watch.wall(), "stages": dict(watch.seconds),
            "other": watch.wall() - sum(watch.seconds.values())}


def same_recordings(a: Path, b: Path) -> int:
    """Every dataset of two recordings.h5 files equal (timings apart); how many were compared."""
    compared = 0
    with h5py.File(a / "recordings.h5") as x, h5py.File(b / "recordings.h5") as y:
        def visit(name, item):
            nonlocal compared
            if isinstance(item, h5py.Dataset):
                np.testing.assert_array_equal(item[()], y[name][()], err_msg=name)
                compared += 1
        x.visititems(visit)
    return compared


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out", type=Path)
    parser.add_argument("images", nargs="+")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    totals = {mode: {"images": 0, "wall": 0.0, "other": 0.0, "stages": {}} for mode in MODES}
    for round_ in range(args.rounds):
        for serve in MODES:
            result = measure(args.model, args.images, args.out / f"{'serve' if serve else 'launch'}{round_}", serve,
                             args.steps)
            total = totals[serve]
            total["images"] += result["images"]
            total["wall"] += result["wall"]
            total["other"] += result["other"]
            for name, seconds in result["stages"].items():
                total["stages"][name] = total["stages"].get(name, 0.0) + seconds
    compared = same_recordings(args.out / "launch0", args.out / "serve0")
    (args.out / "serve.json").write_text(json.dumps({MODES[k]: v for k, v in totals.items()}, indent=1))
    names = [s for s in STAGES if any(s in t["stages"] for t in totals.values())] + ["other", "wall"]
    print(f"{len(args.images)} images x {args.rounds} rounds each, {args.steps} steps, fast preset; "
          f"recordings equal ({compared} datasets)")
    print(f"| seconds per image | {MODES[False]} | {MODES[True]} | served / per process |")
    print("| --- | ---: | ---: | ---: |")
    for name in names:
        row = []
        for serve in MODES:
            t = totals[serve]
            seconds = t[name] if name in ("other", "wall") else t["stages"].get(name, 0.0)
            row.append(seconds / t["images"])
        ratio = f"{row[1] / row[0]:.2f}" if row[0] > 0.005 else ""
        label = f"**{name}**" if name == "wall" else name
        print(f"| {label} | {row[0]:.3f} | {row[1]:.3f} | {ratio} |")
    for serve in MODES:
        t = totals[serve]
        print(f"{MODES[serve]}: not simulation {1 - t['stages'].get('simulation', 0.0) / t['wall']:.0%} of the wall "
              f"time, {3600 * t['images'] / t['wall']:.0f} images per hour")


if __name__ == "__main__":
    main()

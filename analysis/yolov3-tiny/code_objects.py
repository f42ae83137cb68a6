"""Milliseconds per step of yolov3-tiny's code objects, summed by kind (Brian2's code-object timers).

``python analysis/yolov3-tiny/code_objects.py MODEL.h5 IMAGE --schedule delayed --steps 300 --repeat 2``: one
warm-up run, then ``repeat`` profiled runs of IMAGE through the compiled network (2 threads, float32), each printed
as the loop's ms/step and the ms/step of thresholders, resetters, convolutions, max-pools, relays and the rest, then
of each convolution. ``before-after.sh`` runs it on two commits of the code, in turn.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from brainyolo.detector import SpikingDetector
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.simulate import SimulationSettings

KINDS = ("thresholder", "resetter", "conv", "pool", "relay")


def kind(name: str) -> str:
    """The kind of a code object, by its name: ``layer00_spike_resetter_codeobject`` is a resetter."""
    for word in KINDS:
        if word in name if word in ("thresholder", "resetter") else name.startswith(word):
            return word
    return "other"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path)
    p.add_argument("image", type=Path)
    p.add_argument("--schedule", default="delayed", choices=["delayed", "same_step"])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    # same_step: the fast preset's neuron (its thresholds as uniform: the model is not balanced)
    build = BuildOptions(schedule=args.schedule,
                         **({"neuron": "if_signed_ibt_tracking"} if args.schedule == "same_step" else {}))
    settings = SimulationSettings(steps=args.steps, build=build, device="cpp_standalone", threads=2, float32=True,
                                  profile=True)
    with SpikingDetector.from_settings(args.model, settings) as detector:
        detector.run(args.image)  # the build, and a warm-up run
        for _ in range(args.repeat):
            result = detector.run(args.image).result
            sums = dict.fromkeys((*KINDS, "other"), 0.0)
            for name, seconds in result.timing["profile"].items():
                sums[kind(name)] += 1e3 * seconds / args.steps
            print(f"{args.schedule} loop {1e3 * result.timing['run_seconds'] / args.steps:.2f} ms/step; "
                  + ", ".join(f"{k} {v:.2f}" for k, v in sums.items())
                  + f"; thresholders + resetters {sums['thresholder'] + sums['resetter']:.2f}", flush=True)
            convolutions = sorted((name, seconds) for name, seconds in result.timing["profile"].items()
                                  if kind(name) == "conv")
            print("  convolutions: " + ", ".join(f"{name.split('_')[0]} {1e3 * seconds / args.steps:.2f}"
                                                 for name, seconds in convolutions), flush=True)


if __name__ == "__main__":
    main()

"""Potential correction: each hidden channel's initial membrane lowered by its measured mean local error, the
weights and biases left alone (the start-up part of Li et al., ICML 2021), evaluated through the Python API.

A 16-step run's per-channel mean local error ``e`` (``layer_error.py --save``, normalized activation per step, on
train images) is ``e * T / v_th`` spikes too many over ``T`` steps; starting each neuron of the channel that many
thresholds lower cancels them on average: ``v_init_c = v_init - scale * e_c * T / v_th``. One C++ build with
``channel_parameters`` runs every val image; the table row has mAP@0.5 and synaptic events per image at every
checkpoint, as ``bias_table.py`` reads them (``OUT/metrics.json``, ``OUT/snn_images/``).

    python analysis/fast-and-frugal/potential_correction.py MODEL.h5 ERRORS.npz --images DIR --labels DIR
        --error-steps 16 [--scale 1] [--steps 50] [--checkpoints 8,16,25,32,50] -o OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import brainyolo
from brainyolo.ann.letterbox import list_images
from brainyolo.io.atomic import write_json
from brainyolo.pipeline import ann_detections, checkpoint_conv_events
from brainyolo.readout.evaluation import read_ground_truth, score


def corrected_starts(parameters: dict, errors: dict[int, np.ndarray], steps: int, scale: float) -> dict:
    """``{layer: {"v_init": per-channel array}}`` for every hidden layer with a measured error."""
    starts = {}
    for index, values in parameters.items():
        if index in errors and "v_init" in values and "v_th" in values:
            starts[index] = {"v_init": values["v_init"] - scale * np.asarray(errors[index]) * steps / values["v_th"]}
    return starts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("errors")
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--error-steps", type=int, required=True, help="the steps the errors were measured at")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--checkpoints", default="8,16,25,32,50")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    out = Path(args.output)
    (out / "snn_images").mkdir(parents=True, exist_ok=True)
    with np.load(args.errors) as data:
        errors = {int(k): data[k] for k in data.files}
    paths = list_images(args.images)
    checkpoints = tuple(int(s) for s in args.checkpoints.split(","))
    with brainyolo.SpikingDetector(args.model, "fast", steps=args.steps, checkpoints=checkpoints,
                                   threads=args.threads, channel_parameters=True) as detector:
        names = detector.model.graph.class_names
        starts = corrected_starts(detector.parameters, errors, args.error_steps, args.scale)
        records: dict[int, list] = {}
        for path in paths:
            run = detector.run(path, parameters=starts)
            for step, found in run.detections.items():
                records.setdefault(step, []).extend(found.records(path.name, names))
            write_json(out / "snn_images" / f"{path.stem}.json",
                       {"conv_events": checkpoint_conv_events(run.result.data, run.result.checkpoints)})
        graph = detector.model.graph
    truths = read_ground_truth(paths, names, labels=args.labels)
    ann = [r for path, found in ann_detections(graph, paths) for r in found.records(path.name, names)]
    metrics = {"ann": score(truths, ann, len(names)),
               "snn": {str(step): score(truths, found, len(names)) for step, found in sorted(records.items())}}
    write_json(out / "metrics.json", metrics)
    for step, values in metrics["snn"].items():
        print(f"{step} steps: mAP@0.5 {values['mAP50']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Agreement of spiking runs with their ANN on tuning images: AP@0.5 of the SNN's detections against the ANN's own
(score >= 0.25 taken as the truth, as ``brainyolo tune`` does) and synaptic events per image (x the ANN's 2.78e9
MACs), at each checkpoint, for one neuron file and one or more parameter files (one line each).

    python analysis/fast-and-frugal/snn_agreement.py MODEL.h5 STEPS CHECKPOINTS NEURON PARAMS[,PARAMS...] IMAGE...

CHECKPOINTS: comma-separated steps (the last one is STEPS). Same-step schedule, Vmem read-out, 2 threads (the
fast preset's schedule and read-out; the neuron and its parameters are the files').
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from brainyolo.convert.model_file import load_model
from brainyolo.convert.tuning import ann_agreement_truths
from brainyolo.readout.evaluation import score
from brainyolo.spiking.parameters import read_parameter_file

ANN_MACS = 2.78e9


def main(model_path: str, steps: str, checkpoints: str, neuron: str, params: str, *images: str) -> None:
    import brainyolo

    paths = [Path(p) for p in images]
    steps, checkpoints = int(steps), tuple(int(c) for c in checkpoints.split(","))
    model = load_model(model_path)
    graph = model.graph
    classes = len(graph.class_names)
    truths = ann_agreement_truths(graph, paths)
    norm = "channel-balanced" if model.channel_balanced else None  # a channel-balanced model: its balance applied
    for parameter_file in params.split(","):
        detector = brainyolo.SpikingDetector(model_path, steps=steps, checkpoints=checkpoints, neuron=neuron,
                                             parameters=read_parameter_file(parameter_file), threads=2,
                                             normalization=norm)
        found = {c: [] for c in checkpoints}
        events = np.zeros(len(checkpoints))
        with detector:
            for path in paths:
                run = detector.run(path)
                for step, detections in run.detections.items():
                    found[step].extend(detections.records(path.name, graph.class_names))
                events += sum(np.asarray(layer["input_events"], float) for layer in run.result.data["layers"].values()
                              if "input_events" in layer)
        cells = ", ".join(f"{c}: {score(truths, found[c], classes)['mAP50']:.3f} @ "
                          f"{events[k] / len(paths) / ANN_MACS:.2f}x" for k, c in enumerate(checkpoints))
        print(f"{Path(parameter_file).name} [{Path(neuron).name}]: {cells}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 7:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

"""How much the spiking network's agreement with the ANN depends on which way near-ties round, as
rounding_spread.py measures it for the rounded ANN: the spiking network on each image as it is and on
REALIZATIONS - 1 copies of it with every pixel changed by a factor 1 + 1e-6 N(0, 1) (seeds (k, image's place),
clipped to [0, 1]): a change far below what a camera resolves, which moves a few neurons across a rounding tie.
Per realization: the agreement (AP@0.5 against the ANN's detections of score >= 0.25, on the image as it is) and
the events per image (x the ANN's MACs); then their mean and standard deviation. One neuron file, one parameter
file, same-step schedule, Vmem read-out, 2 threads (snn_agreement.py's set-up); NEURON and PARAMS both ``-``: the
default preset at STEPS (16: ``short``), as ``brainyolo detect --mode snn --steps STEPS`` runs it.

    python analysis/fast-and-frugal/snn_spread.py MODEL.h5 STEPS NEURON PARAMS REALIZATIONS IMAGE...
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rounding_spread import PERTURBATION
from snn_agreement import ANN_MACS

import brainyolo
from brainyolo.convert.model_file import load_model
from brainyolo.convert.tuning import ann_agreement_truths
from brainyolo.readout.evaluation import score
from brainyolo.spiking.parameters import read_parameter_file
from brainyolo.stimuli import Image, pixels_of


def perturbed(path: Path, k: int, index: int) -> Image:
    """The photo at ``path`` (k = 0) or its copy ``k`` with every pixel times ``1 + 1e-6 N(0, 1)``."""
    if k == 0:
        return Image(path)
    pixels = pixels_of(path).astype(np.float64)
    rng = np.random.default_rng([k, index])
    changed = np.clip(pixels * (1 + PERTURBATION * rng.standard_normal(pixels.shape)), 0, 1)
    return Image(changed.astype(np.float32), name=path.name)


def main(model_path: str, steps: str, neuron: str, params: str, count: str, *images: str) -> None:
    paths, steps, count = [Path(p) for p in images], int(steps), int(count)
    model = load_model(model_path)
    graph = model.graph
    truths = ann_agreement_truths(graph, paths)
    norm = "channel-balanced" if model.channel_balanced else None
    if (neuron, params) == ("-", "-"):
        detector = brainyolo.SpikingDetector(model_path, steps=steps, threads=2)
        name = f"the default preset ({detector.settings.preset})"
    else:
        detector = brainyolo.SpikingDetector(model_path, steps=steps, checkpoints=(steps,), neuron=neuron, threads=2,
                                             normalization=norm, parameters=read_parameter_file(params))
        name = f"{Path(params).name} [{Path(neuron).name}]"
    found, events = [[] for _ in range(count)], np.zeros(count)
    with detector:
        for k in range(count):
            for index, path in enumerate(paths):
                run = detector.run(perturbed(path, k, index))
                found[k].extend(run.detections[steps].records(path.name, graph.class_names))
                events[k] += sum(float(layer["input_events"][-1]) for layer in run.result.data["layers"].values()
                                 if "input_events" in layer)
            ap = score(truths, found[k], len(graph.class_names))["mAP50"]
            print(f"realization {k}: agreement {ap:.3f}, events/image {events[k] / len(paths) / ANN_MACS:.2f}x MACs",
                  flush=True)
    agreement = np.array([score(truths, f, len(graph.class_names))["mAP50"] for f in found])
    print(f"{name}: mean {agreement.mean():.3f} sd {agreement.std(ddof=1):.3f} "
          f"over {count} realizations", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 7:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

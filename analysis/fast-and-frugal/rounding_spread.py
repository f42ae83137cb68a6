"""How much the rounded ANN's agreement with the ANN depends on which way near-ties round: the rounded ANN (every
hidden layer rounded to multiples of v_th / T, at most BURST spikes a step) on the image as it is and on
REALIZATIONS - 1 copies of it with every pixel changed by a factor 1 + 1e-6 N(0, 1) (seeds (k, image's place)): a
change far below what a camera resolves, which moves a few neurons of the first layer across a rounding tie, as float32
arithmetic does in the simulator. Per threshold factor (of the model's balanced thresholds): the agreement (AP@0.5
against the ANN's detections of score >= 0.25) of each realization, their mean and standard deviation, and the
events per image (x the ANN's MACs).

    python analysis/fast-and-frugal/rounding_spread.py MODEL.h5 STEPS BURST FACTOR[,FACTOR...] REALIZATIONS IMAGE...
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rounded_agreement import rounded_setup
from snn_agreement import ANN_MACS

from brainyolo.ann.heads import detect_from_heads
from brainyolo.convert.balancing import rounded_forward, synaptic_events
from brainyolo.readout.evaluation import score

PERTURBATION = 1e-6


def realizations(chw: np.ndarray, count: int, index: int):
    """The image, then ``count - 1`` copies changed by a factor ``1 + 1e-6 N(0, 1)`` per pixel (seed ``k`` for copy
    ``k``; ``index`` the image's place, so that every image gets its own draws)."""
    image = np.asarray(chw, np.float64)
    yield image
    for k in range(1, count):
        rng = np.random.default_rng([k, index])
        yield image * (1 + PERTURBATION * rng.standard_normal(image.shape))


def main(model_path: str, steps: str, burst: str, factors: str, count: str, *images: str) -> None:
    paths = [Path(p) for p in images]
    steps, burst, count = int(steps), int(burst), int(count)
    model, graph, lambdas, hidden, owners, data, truths = rounded_setup(model_path, paths)
    for factor in factors.split(","):
        thresholds = {i: model.thresholds.v_th[i] * float(factor) for i in hidden}
        found, events = [[] for _ in range(count)], 0.0
        for index, (path, chw, box) in enumerate(data):
            for k, image in enumerate(realizations(chw, count, index)):
                outputs, maps = rounded_forward(graph, lambdas, image, thresholds, steps, burst=burst)
                found[k].extend(detect_from_heads(graph, maps, box).records(path.name, graph.class_names))
                events += sum(synaptic_events(graph, outputs, owners, thresholds, steps).values())
        agreement = np.array([score(truths, f, len(graph.class_names))["mAP50"] for f in found])
        cells = " ".join(f"{a:.3f}" for a in agreement)
        print(f"factor {factor}: agreement {cells}; mean {agreement.mean():.3f} sd {agreement.std(ddof=1):.3f}, "
              f"events/image {events / count / len(data) / ANN_MACS:.2f}x MACs", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 7:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

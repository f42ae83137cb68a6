"""Which layer's rounding costs the agreement, and what its spikes cost: the rounded ANN with the negative side on its
own grid (negative_grid.py's, M = NEGATIVE) at FACTOR of the model's balanced thresholds, then once per hidden layer
with that layer's threshold times RATIO (0: the layer exact, not rounded at all) and every other layer as it was.
Per row: the agreement with the ANN's detections (score >= 0.25) of REALIZATIONS roundings (rounding_spread.py's) and
their mean, the events per image (x the ANN's MACs) and the share of them the changed layer's spikes cause.

    python analysis/fast-and-frugal/layer_refinement.py MODEL.h5 STEPS BURST NEGATIVE FACTOR RATIO REALIZATIONS IMAGE...
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from negative_grid import sides, signed_detections
from rounded_agreement import rounded_setup
from rounding_spread import realizations
from snn_agreement import ANN_MACS

from brainyolo.convert.balancing import synaptic_events
from brainyolo.readout.evaluation import score


def main(model_path: str, steps: str, burst: str, negative: str, factor: str, ratio: str, count: str,
         *images: str) -> None:
    steps, burst, count, negative, ratio = int(steps), int(burst), int(count), float(negative), float(ratio)
    model, graph, lambdas, hidden, owners, data, truths = rounded_setup(model_path, [Path(p) for p in images])
    base = {i: model.thresholds.v_th[i] * float(factor) for i in hidden}
    print(f"## {len(data)} images, {steps} steps, at most {burst} spikes a step, negative grid {negative:g}, "
          f"x {float(factor):g}; one layer's threshold x {ratio:g} (0: exact); {count} realizations", flush=True)
    for changed in [None, *hidden]:
        thresholds = dict(base)
        if changed is not None:
            if ratio == 0:
                del thresholds[changed]
            else:
                thresholds[changed] *= ratio
        found, events = [[] for _ in range(count)], {}
        for index, (path, chw, box) in enumerate(data):
            for k, image in enumerate(realizations(chw, count, index)):
                outputs, records = signed_detections(graph, lambdas, image, box, path.name, thresholds, steps, burst,
                                                     negative)
                found[k].extend(records)
                spiking = {i: thresholds.get(i, base[i]) for i in hidden}  # an exact layer: counted at its grid
                positive, negatives = sides(outputs)
                for side, grid in ((positive, spiking), (negatives, {i: v * negative for i, v in spiking.items()})):
                    for owner, value in synaptic_events(graph, side, owners, grid, steps).items():
                        events[owner] = events.get(owner, 0.0) + value
        agreement = np.array([score(truths, f, len(graph.class_names))["mAP50"] for f in found])
        total = sum(events.values())
        share = "" if changed is None else f", layer {changed}'s spikes {events[changed] / total:.1%} of them"
        print(f"{'none' if changed is None else f'layer {changed:2d}'}: agreement "
              f"{' '.join(f'{a:.3f}' for a in agreement)}; mean {agreement.mean():.3f}, events/image "
              f"{total / count / len(data) / ANN_MACS:.2f}x MACs{share}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 9:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

"""The negative side of the signed neuron on its own grid: the rounded ANN (every hidden layer rounded to multiples
of v_th / T, at most BURST spikes a step) with each layer's negative outputs rounded to multiples of M v_th / T
instead, a negative spike standing for M v_th (counted as one event). M = 1 is the spiking network as it is. Per
M:FACTOR pair (FACTOR of the model's balanced thresholds): the agreement with the ANN's detections (score >= 0.25)
of REALIZATIONS roundings (rounding_spread.py's), their mean, and the events per image (x the ANN's MACs).
With ``--stats`` instead: per layer, the share of negative outputs and their size in grid steps on the images.

    python analysis/fast-and-frugal/negative_grid.py MODEL.h5 STEPS BURST M:FACTOR[,M:FACTOR...] REALIZATIONS IMAGE...
    python analysis/fast-and-frugal/negative_grid.py --stats MODEL.h5 STEPS FACTOR IMAGE...
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rounded_agreement import rounded_setup
from rounding_spread import realizations
from snn_agreement import ANN_MACS

from brainyolo.ann.heads import detect_from_heads
from brainyolo.ann.reference import forward
from brainyolo.convert.balancing import quantize, synaptic_events
from brainyolo.readout.evaluation import score


def signed_rounding(thresholds: dict[int, float], steps: int, burst: int, negative: float):
    """A forward pass's ``after`` hook: positive outputs on the grid ``v / steps``, negative ones on ``negative``
    times it."""

    def rounded(index, out):
        if index not in thresholds:
            return out
        v = thresholds[index]
        return quantize(np.maximum(out, 0), v, steps, burst) + quantize(np.minimum(out, 0), v * negative, steps, burst)

    return rounded


def signed_detections(graph, lambdas, image: np.ndarray, box, name: str, thresholds: dict[int, float], steps: int,
                      burst: int, negative: float) -> tuple[list, list]:
    """The rounded ANN of one image (:func:`signed_rounding`): every layer's output and its detections' records."""
    outputs = forward(graph, image, capture=True, dtype=np.float64,
                      after=signed_rounding(thresholds, steps, burst, negative))
    maps = [outputs[h] * np.asarray(lambdas[graph.layers[h].inputs[0]], np.float64)[:, None, None]
            for h in graph.heads()]
    return outputs, detect_from_heads(graph, maps, box).records(name, graph.class_names)


def sides(outputs: list) -> tuple[list, list]:
    """Each layer's output split into its positive and its negative part."""
    return ([None if o is None else np.maximum(o, 0) for o in outputs],
            [None if o is None else np.minimum(o, 0) for o in outputs])


def signed_runs(model_path: str, steps: int, burst: int, pairs: str, count: int, images, counters: dict):
    """Per M:FACTOR pair of ``pairs``: ``(M, FACTOR, agreements, totals)``, the agreement with the ANN's detections of
    each of ``count`` realizations, and per counter of ``counters`` (``{name: f(graph, side, owners, grid, steps)}``,
    the events of one side of one image's rounded outputs on its grid) its events per image (x the ANN's MACs)."""
    model, graph, lambdas, hidden, owners, data, truths = rounded_setup(model_path, [Path(p) for p in images])
    for pair in pairs.split(","):
        negative, factor = (float(x) for x in pair.split(":"))
        thresholds = {i: model.thresholds.v_th[i] * factor for i in hidden}
        coarse = {i: v * negative for i, v in thresholds.items()}
        found, totals = [[] for _ in range(count)], dict.fromkeys(counters, 0.0)
        for index, (path, chw, box) in enumerate(data):
            for k, image in enumerate(realizations(chw, count, index)):
                outputs, records = signed_detections(graph, lambdas, image, box, path.name, thresholds, steps, burst,
                                                     negative)
                found[k].extend(records)
                for side, grid in zip(sides(outputs), (thresholds, coarse), strict=True):
                    for name, counter in counters.items():
                        totals[name] += counter(graph, side, owners, grid, steps)
        found_ap = np.array([score(truths, f, len(graph.class_names))["mAP50"] for f in found])
        yield negative, factor, found_ap, {name: t / count / len(data) / ANN_MACS for name, t in totals.items()}


def spike_count_events(graph, side, owners, grid, steps) -> float:
    """The synaptic events of one side's rounded outputs, one per spike."""
    return sum(synaptic_events(graph, side, owners, grid, steps).values())


def agreement(model_path: str, steps: str, burst: str, pairs: str, count: str, *images: str) -> None:
    runs = signed_runs(model_path, int(steps), int(burst), pairs, int(count), images, {"spikes": spike_count_events})
    for negative, factor, found_ap, events in runs:
        cells = " ".join(f"{a:.3f}" for a in found_ap)
        print(f"M {negative:g}, factor {factor:g}: agreement {cells}; mean {found_ap.mean():.3f}, "
              f"events/image {events['spikes']:.2f}x MACs", flush=True)


def stats(model_path: str, steps: str, factor: str, *images: str) -> None:
    model, graph, lambdas, hidden, owners, data, _ = rounded_setup(model_path, [Path(p) for p in images])
    values = {i: [] for i in hidden}
    events = np.zeros(2)
    for _, chw, _ in data:
        outputs = forward(graph, np.asarray(chw, np.float64), capture=True, dtype=np.float64)
        thresholds = {i: model.thresholds.v_th[i] * float(factor) for i in hidden}
        for i in hidden:
            values[i].append(outputs[i].ravel() / (thresholds[i] / int(steps)))
        for k, side in enumerate(sides(outputs)):
            events[k] += sum(synaptic_events(graph, side, owners, thresholds, int(steps)).values())
    print(f"negative outputs cause {events[1] / events.sum():.1%} of the events (unrounded)")
    print("| layer | negative outputs | their size in grid steps, median (90th percentile) | of them under half a step "
          "| positive outputs: median size | under half a step |")
    print("| ---: | ---: | --- | ---: | ---: | ---: |")
    for i in hidden:
        x = np.concatenate(values[i])
        n, p = -x[x < 0], x[x > 0]
        print(f"| {i} | {np.mean(x < 0):.0%} | {np.median(n):.2f} ({np.percentile(n, 90):.2f}) "
              f"| {np.mean(n < 0.5):.0%} | {np.median(p):.2f} | {np.mean(p < 0.5):.0%} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--stats" and len(sys.argv) >= 6:
        stats(*sys.argv[2:])
    elif len(sys.argv) >= 7:
        agreement(*sys.argv[1:])
    else:
        raise SystemExit(__doc__)

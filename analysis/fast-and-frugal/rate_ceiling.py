"""The asymptote of a converted network: its ANN with every spiking layer's output clipped to what
one spike per step can carry.

A hidden neuron of the converted network fires at most one spike per step, and each spike stands for
``v_th`` of its normalized input: however long the run, its rate code carries at most ``v_th`` (and,
with IBT, at least ``-v_th`` on the leaky side). Activations above that (the 0.1 % the p99.9
normalization lets through, and everything they feed) are clipped. This script runs the normalized
ANN with exactly that clipping after every hidden convolution and scores it, so the SNN's long-run
mAP@0.5 under a faithful read-out can be compared with what rate coding can reach at all, for
several thresholds (``v_th`` 1 is the shipped default; a larger ``v_th`` clips less and quantizes
coarser). ``--per-layer`` also clips one layer at a time at ``v_th`` 1 to show where it costs.

    python analysis/fast-and-frugal/rate_ceiling.py MODEL.h5 --images DIR (--labels DIR | --coco JSON) [--count N]
        [--v-th 1,1.5,2,inf] [--per-layer]

Read-only: prints a table (and the clipped fraction of each layer's activations at each ``v_th``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from brainyolo.ann.heads import detect_from_heads
from brainyolo.ann.letterbox import iterate_letterboxed, list_images
from brainyolo.ann.reference import forward
from brainyolo.convert.model_file import load_model
from brainyolo.readout.evaluation import read_ground_truth, score
from brainyolo.spiking.builder import hidden_layers


def clipped_forward(graph, lambdas, image: np.ndarray, ceilings: dict[int, float],
                    counts: dict[int, list[int]] | None = None):
    """Head maps of the normalized ``graph`` with layer ``i``'s output clipped to ``[-c, c]`` for each
    ``i: c`` in ``ceilings``, scaled back by the output layers' ``lambdas`` (as the SNN's decoder does).

    ``counts`` (optional) collects ``[clipped, total]`` activations per clipped layer.
    """
    def clip(index, out):
        ceiling = ceilings.get(index)
        if ceiling is None or not np.isfinite(ceiling):
            return out
        if counts is not None:
            tally = counts.setdefault(index, [0, 0])
            tally[0] += int(np.count_nonzero(np.abs(out) > ceiling))
            tally[1] += out.size
        return np.clip(out, -ceiling, ceiling)

    outputs = forward(graph, image, dtype=np.float64, after=clip)
    feeding = [graph.layers[head].inputs[0] for head in graph.heads()]  # a head's output is that layer's map
    return [outputs[head] * np.asarray(lambdas[i], np.float64)[:, None, None]
            for head, i in zip(graph.heads(), feeding, strict=True)]


def detections_for(graph, lambdas, paths, ceilings, counts=None) -> list[dict]:
    """Detection records (as in detections.json) of the clipped network on ``paths``."""
    _, height, width = graph.input_shape
    found = []
    for path, chw, box in iterate_letterboxed(paths, width, height):
        maps = clipped_forward(graph, lambdas, chw.astype(np.float64), ceilings, counts)
        found.extend(detect_from_heads(graph, maps, box).records(path.name, graph.class_names))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--coco", type=Path)
    parser.add_argument("--count", type=int)
    parser.add_argument("--v-th", default="1,1.25,1.5,1.7,2,inf")
    parser.add_argument("--per-layer", action="store_true")
    args = parser.parse_args(argv)
    model = load_model(args.model)
    graph, lambdas = model.normalized_graph(), model.lambdas()
    paths = list_images(args.images)[: args.count]
    truths = read_ground_truth(paths, graph.class_names, labels=args.labels, coco=args.coco)
    n_classes = len(graph.class_names)
    hidden = hidden_layers(graph)

    def map50(ceilings, counts=None):
        return score(truths, detections_for(graph, lambdas, paths, ceilings, counts), n_classes)["mAP50"]

    print(f"{args.model}: {len(paths)} images of {args.images}; hidden layers {hidden}")
    print("| v_th (the ceiling) | mAP@0.5 | clipped activations per hidden layer (%) |")
    print("| ---: | ---: | --- |")
    for text in args.v_th.split(","):
        v_th = float(text)
        counts: dict[int, list[int]] = {}
        value = map50(dict.fromkeys(hidden, v_th), counts)
        clipped = " ".join(f"{i}:{100 * c / t:.3f}" for i, (c, t) in sorted(counts.items()))
        print(f"| {text} | {value:.4f} | {clipped or '-'} |", flush=True)
    if args.per_layer:
        print("| only this layer clipped at v_th 1 | mAP@0.5 |")
        print("| ---: | ---: |")
        for index in hidden:
            print(f"| {index} | {map50({index: 1.0}):.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

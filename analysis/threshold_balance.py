"""Per-layer thresholds balanced from the ANN alone (``brainyolo.balancing``), written as a ``--params`` file.

On the tuning images (never the evaluation images) this script measures, for the holding tracking
neuron after ``T`` steps (its ANN with each hidden convolution rounded to a grid of ``v_th / T``):

* every hidden layer's synaptic events per image at threshold 1 (``C_l``),
* the detection error when only that layer is rounded at the base threshold, per squared grid step
  (``e_l``),

then the thresholds that minimize ``sum e_l v_l²`` for the events of the uniform base threshold
times ``--budget`` (``v_l ∝ (C_l / e_l)^(1/3)``, clipped to ``[--low, --high]``). It prints both
per layer, the modelled error and events of the uniform and the balanced thresholds (every layer
rounded at once: the check of the additive model) and, with ``--coco``/``--labels``, the mAP@0.5 of
the rounded ANN (a model of the SNN, not the SNN: run it to know).

    python analysis/threshold_balance.py MODEL.h5 --images DIR [--count N] --steps T [--v-th 2.5]
        [--budget 1] [--low 1] [--high 8] [--coco JSON | --labels DIR] [--map-count N]
        [--evaluation-images DIR] -o PARAMS.toml

The written file sets ``v_init = 0.5`` and ``hold_positive = 1`` for every layer and ``v_th`` per layer;
use it with ``--neuron if_signed_ibt_tracking --schedule same-step --decode vmem``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from brainyolo.balancing import balance, channel_owners, detection_error, quantize, synaptic_events
from brainyolo.evaluation import read_ground_truth, score
from brainyolo.heads import detect_from_heads
from brainyolo.images import iterate_letterboxed, list_images
from brainyolo.modelfile import load_model
from brainyolo.parameters import ParameterSettings, write_parameter_file
from brainyolo.reference import forward
from brainyolo.spiking.builder import hidden_layers
from brainyolo.tuning import same_images


def rounded_forward(graph, lambdas, image, thresholds: dict[int, float], steps: int):
    """Every layer's output and the heads' maps (scaled back by the output layers' λ, as the decoder
    reads them) of the ANN with layer ``l``'s output rounded at ``thresholds[l]`` after ``steps``."""
    def rounded(index, out):
        return quantize(out, thresholds[index], steps) if index in thresholds else out

    outputs = forward(graph, image, capture=True, dtype=np.float64, after=rounded)
    feeding = [graph.layers[head].inputs[0] for head in graph.heads()]
    maps = [outputs[head] * np.asarray(lambdas[i], np.float64)[:, None, None]
            for head, i in zip(graph.heads(), feeding, strict=True)]
    return outputs, maps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--images", type=Path, required=True, help="tuning images (never the evaluation images)")
    parser.add_argument("--count", type=int, default=16, help="images measuring C and e")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--v-th", type=float, default=2.5, help="the uniform base threshold")
    parser.add_argument("--budget", type=float, default=1.0, help="events as a multiple of the base's")
    parser.add_argument("--low", type=float, default=1.0)
    parser.add_argument("--high", type=float, default=8.0)
    parser.add_argument("--coco", type=Path)
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--map-count", type=int, help="images scoring the rounded ANN (default: all)")
    parser.add_argument("--evaluation-images", type=Path, help="refused if it shares images with --images")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    model = load_model(args.model)
    graph, lambdas = model.normalized_graph(), model.lambdas()
    hidden = hidden_layers(graph)
    owners = channel_owners(graph, hidden)
    anchors = [len(graph.layers[h].anchors) for h in graph.heads()]
    _, height, width = graph.input_shape
    paths = list_images(args.images)
    if not paths:
        parser.error(f"{args.images}: holds no images")
    if args.evaluation_images is not None:
        shared = same_images(paths, list_images(args.evaluation_images))
        if shared:
            parser.error(f"{args.images}: {len(shared)} of the tuning images are evaluation images "
                         f"({shared[0]}, ...); tune on others")
    steps, base = args.steps, dict.fromkeys(hidden, args.v_th)
    grid = (args.v_th / steps) ** 2

    cost = dict.fromkeys(hidden, 0.0)
    error = dict.fromkeys(hidden, 0.0)
    all_base = [0.0, 0.0]
    args.count = min(args.count, len(paths))
    for number, (_, chw, _) in enumerate(iterate_letterboxed(paths[: args.count], width, height), 1):
        image = chw.astype(np.float64)
        outputs, reference = rounded_forward(graph, lambdas, image, {}, steps)
        for layer, events in synaptic_events(graph, outputs, owners, dict.fromkeys(hidden, 1.0), steps).items():
            cost[layer] += events / args.count
        for layer in hidden:
            _, maps = rounded_forward(graph, lambdas, image, {layer: args.v_th}, steps)
            error[layer] += detection_error(reference, maps, anchors) / grid / args.count
        outputs, maps = rounded_forward(graph, lambdas, image, base, steps)
        all_base[0] += detection_error(reference, maps, anchors) / args.count
        all_base[1] += sum(synaptic_events(graph, outputs, owners, base, steps).values()) / args.count
        print(f"  image {number}/{args.count}", file=sys.stderr, flush=True)

    budget = args.budget * sum(c / args.v_th for c in cost.values())
    chosen = balance(cost, error, budget, args.low, args.high)
    print(f"{args.model}: {args.count} images of {args.images}, T = {steps}, base v_th {args.v_th}, "
          f"budget {args.budget} x the base's modelled events ({budget:.4g} per image)")
    print("| layer | events per image at v_th 1 (C) | error per grid step² (e) | share of the base's events | "
          "share of the base's error | balanced v_th |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    c_total, e_total = sum(cost.values()), sum(error.values())
    for layer in hidden:
        print(f"| {layer} | {cost[layer]:.4g} | {error[layer]:.4g} | {100 * cost[layer] / c_total:.1f} % | "
              f"{100 * error[layer] / e_total:.1f} % | {chosen[layer]:.3f} |")
    modelled = sum(error[i] * chosen[i] ** 2 for i in hidden) / sum(error[i] * args.v_th ** 2 for i in hidden)
    spent = sum(cost[i] / chosen[i] for i in hidden) / (c_total / args.v_th)
    print(f"additive model: balanced error {modelled:.3f} x the base's at {spent:.3f} x its events")

    all_balanced = [0.0, 0.0]
    for _, chw, _ in iterate_letterboxed(paths[: args.count], width, height):
        image = chw.astype(np.float64)
        _, reference = rounded_forward(graph, lambdas, image, {}, steps)
        outputs, maps = rounded_forward(graph, lambdas, image, chosen, steps)
        all_balanced[0] += detection_error(reference, maps, anchors) / args.count
        all_balanced[1] += sum(synaptic_events(graph, outputs, owners, chosen, steps).values()) / args.count
    print(f"every layer rounded at once: base error {all_base[0]:.4g}, events {all_base[1]:.4g}; balanced error "
          f"{all_balanced[0]:.4g} ({all_balanced[0] / all_base[0]:.3f} x), events {all_balanced[1]:.4g} "
          f"({all_balanced[1] / all_base[1]:.3f} x)")

    if args.coco or args.labels:
        scored = paths[: args.map_count]
        truths = read_ground_truth(scored, graph.class_names, labels=args.labels, coco=args.coco)

        def map50(thresholds):
            found = []
            for path, chw, box in iterate_letterboxed(scored, width, height):
                _, maps = rounded_forward(graph, lambdas, chw.astype(np.float64), thresholds, steps)
                found.extend(detect_from_heads(graph, maps, box).records(path.name, graph.class_names))
            return score(truths, found, len(graph.class_names))["mAP50"]

        ann = map50({})
        for name, thresholds in (("uniform", base), ("balanced", chosen)):
            value = map50(thresholds)
            print(f"rounded ANN, {name}: mAP@0.5 {value:.4f} ({100 * value / ann:.1f} % of the ANN's {ann:.4f}; "
                  f"{len(scored)} images)", flush=True)

    entries = [("all", "v_init", 0.5), ("all", "hold_positive", 1.0)]
    entries += [(str(i), "v_th", round(chosen[i], 4)) for i in hidden]
    header = (f"Thresholds balanced by analysis/threshold_balance.py: {args.count} images of {args.images}, "
              f"T = {steps}, base v_th {args.v_th}, budget {args.budget}, bounds [{args.low}, {args.high}].\n"
              "Use with --neuron if_signed_ibt_tracking --schedule same-step --decode vmem.")
    write_parameter_file(args.output, ParameterSettings(tuple(entries)), header)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

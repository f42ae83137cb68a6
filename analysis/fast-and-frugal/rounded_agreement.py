"""The rounded ANN (every hidden layer rounded to multiples of v_th / T, at most BURST spikes a step: what a
spiking network whose net counts are exact at the end computes; ``brainyolo balance``'s model): agreement with
the ANN (AP@0.5 against its detections of score >= 0.25) and the synaptic events its counts would cause, per
image, for each threshold choice: a factor of the model's balanced thresholds, or a parameter file's v_th.

    python analysis/fast-and-frugal/rounded_agreement.py MODEL.h5 STEPS BURST FACTOR|PARAMS.toml[,...] IMAGE...
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

from snn_agreement import ANN_MACS

from brainyolo.ann.heads import detect_from_heads
from brainyolo.ann.letterbox import iterate_letterboxed
from brainyolo.convert.balancing import channel_owners, rounded_forward, synaptic_events
from brainyolo.convert.model_file import load_model
from brainyolo.convert.tuning import ann_agreement_truths
from brainyolo.readout.evaluation import score
from brainyolo.spiking.builder import hidden_layers
from brainyolo.spiking.parameters import read_parameter_file


def thresholds_of(choice: str, model, hidden: list[int]) -> dict[int, float]:
    """Per hidden layer, the threshold of ``choice``: a parameter file's ``v_th``, or the balanced ones x a factor."""
    if choice.endswith(".toml"):
        settings = read_parameter_file(choice)
        return {i: float(settings.for_layer(i)["v_th"]) for i in hidden}
    return {i: model.thresholds.v_th[i] * float(choice) for i in hidden}


class RoundedSetup(NamedTuple):
    """What the rounded-ANN scripts share: the model, its normalized graph and lambdas (a channel-balanced model's
    with its balance), the hidden layers and channel owners, the letterboxed images and the ANN's detections."""

    model: object
    graph: object
    lambdas: list
    hidden: list
    owners: object
    data: list
    truths: object


def rounded_setup(model_path: str, paths: list[Path]) -> RoundedSetup:
    """:class:`RoundedSetup` of a model file and images."""
    model = load_model(model_path)
    norm = "channel-balanced" if model.channel_balanced else None
    graph = model.normalized_graph(norm)
    hidden = hidden_layers(graph)
    _, height, width = graph.input_shape
    return RoundedSetup(model, graph, model.lambdas(norm), hidden, channel_owners(graph, hidden),
                        list(iterate_letterboxed(paths, width, height)), ann_agreement_truths(model.graph, paths))


def main(model_path: str, steps: str, burst: str, choices: str, *images: str) -> None:
    paths = [Path(p) for p in images]
    steps, burst = int(steps), int(burst)
    model, graph, lambdas, hidden, owners, data, truths = rounded_setup(model_path, paths)
    known = {path.name: rounded_forward(graph, lambdas, chw, {}, steps)[0] for path, chw, _ in data}
    for choice in choices.split(","):
        thresholds = thresholds_of(choice, model, hidden)
        found, events = [], 0.0
        for path, chw, box in data:
            outputs, maps = rounded_forward(graph, lambdas, chw, thresholds, steps, known=known[path.name], burst=burst)
            found.extend(detect_from_heads(graph, maps, box).records(path.name, graph.class_names))
            events += sum(synaptic_events(graph, outputs, owners, thresholds, steps).values())
        ap = score(truths, found, len(graph.class_names))["mAP50"]
        print(f"factor {choice}: agreement {ap:.3f}, events/image {events / len(data):.3e} = "
              f"{events / len(data) / ANN_MACS:.2f}x MACs", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 6:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

"""Bias correction where the quiet, settling neuron makes it exact: per-channel offsets of the rounding.

With ``if_signed_ibt_tracking_late`` every hidden layer ends at its input rounded to multiples of v_th / T (the
rounded ANN, ``rounded_forward``). An offset ``d_c`` added to a channel's input before the rounding is the same as
starting that channel's neurons ``d_c * T / v_th`` thresholds higher (a per-channel ``v_init``), so the empirical
bias correction of post-training quantization (Nagel et al., ICCV 2019, "Data-free quantization through weight
equalization and bias correction"; Li et al., ICML 2021, for converted SNNs) can be measured on the rounded ANN
alone, layer by layer in the network's order, on calibration images:

* ``local``: each layer's offsets cancel the mean of its own rounding error, given the rounded layers below
  (``E[q(x + d)] = E[x]`` per channel, two fixed-point passes);
* ``total``: each layer's offsets cancel the mean difference between the ANN's output and the rounded network's
  (the error carried from below included).

Then the agreement with the ANN's detections (score >= 0.25 as the truth) and the events per image on other images,
without and with the offsets.

    python analysis/fast-and-frugal/rounding_offsets.py MODEL.h5 --steps 16 --burst 2 --factor 0.45 \\
        --mode local --calibrate IMAGE... --test IMAGE...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from brainyolo.ann.heads import detect_from_heads
from brainyolo.ann.letterbox import iterate_letterboxed
from brainyolo.ann.reference import forward
from brainyolo.convert.balancing import channel_owners, quantize, synaptic_events
from brainyolo.convert.model_file import load_model
from brainyolo.convert.tuning import ann_agreement_truths
from brainyolo.experiments.experiment import operation_costs
from brainyolo.readout.evaluation import score
from brainyolo.spiking.builder import hidden_layers

PASSES = 2
"""Fixed-point passes per layer (the rounding is not linear in the offset)."""


def rounded_outputs(graph, image, thresholds: dict[int, float], steps: int, burst: int, offsets: dict,
                    errors: dict | None = None) -> list[np.ndarray]:
    """Every layer's output of the normalized ANN with each layer of ``thresholds`` rounded after its channel's
    offset is added; ``errors[layer]`` (when given) collects the per-channel mean of ``output - rounded``."""

    def after(index, out):
        if index not in thresholds:
            return out
        shift = offsets.get(index)
        rounded = quantize(out + (0.0 if shift is None else shift[:, None, None]), thresholds[index], steps, burst)
        if errors is not None and index in errors:
            errors[index].append((out - rounded).mean(axis=(1, 2)))
        return rounded

    return forward(graph, np.asarray(image, np.float64), capture=True, dtype=np.float64, after=after)


def calibrate(graph, images: list[np.ndarray], thresholds: dict[int, float], steps: int, burst: int,
              mode: str = "local") -> dict[int, np.ndarray]:
    """Per rounded layer, in the network's order, the per-channel offsets (normalized units) of ``mode``."""
    reference = [forward(graph, np.asarray(image, np.float64), capture=True, dtype=np.float64) for image in images] \
        if mode == "total" else None  # (every layer of the ANN: the calibration images are few)
    offsets: dict[int, np.ndarray] = {}
    for layer in sorted(thresholds):
        for _ in range(PASSES):
            errors = {layer: []}
            outputs = [rounded_outputs(graph, image, thresholds, steps, burst, offsets, errors)[layer]
                       for image in images]  # (only this layer's output kept)
            if mode == "total":
                mean = np.mean([(ref[layer] - out).mean(axis=(1, 2))
                                for ref, out in zip(reference, outputs, strict=True)], axis=0)
            else:
                mean = np.mean(errors[layer], axis=0)
            offsets[layer] = offsets.get(layer, 0.0) + mean
    return offsets


def agreement(graph, lambdas, data, thresholds, steps, burst, offsets, truths) -> tuple[float, float]:
    """AP@0.5 against the ANN's detections and the synaptic events per image of the rounded network."""
    owners = channel_owners(graph, sorted(thresholds))
    feeding = [graph.layers[head].inputs[0] for head in graph.heads()]
    found, events = [], 0.0
    for path, chw, box in data:
        outputs = rounded_outputs(graph, chw, thresholds, steps, burst, offsets)
        maps = [outputs[head] * np.asarray(lambdas[i], np.float64)[:, None, None]
                for head, i in zip(graph.heads(), feeding, strict=True)]
        found.extend(detect_from_heads(graph, maps, box).records(path.name, graph.class_names))
        events += sum(synaptic_events(graph, outputs, owners, thresholds, steps).values())
    return score(truths, found, len(graph.class_names))["mAP50"], events / len(data)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--burst", type=int, default=2, help="spikes a step at most (the late neuron's burst x "
                                                             "its firing steps / T)")
    parser.add_argument("--factor", type=float, default=0.45, help="the model's balanced thresholds x this")
    parser.add_argument("--mode", choices=("local", "total"), default="local")
    parser.add_argument("--calibrate", nargs="+", required=True)
    parser.add_argument("--test", nargs="+", required=True)
    args = parser.parse_args(argv)
    model = load_model(args.model)
    graph, lambdas = model.normalized_graph(), model.lambdas()
    thresholds = {i: model.thresholds.v_th[i] * args.factor for i in hidden_layers(graph)}
    _, height, width = graph.input_shape
    calibration = [chw for _, chw, _ in iterate_letterboxed([Path(p) for p in args.calibrate], width, height)]
    offsets = calibrate(graph, calibration, thresholds, args.steps, args.burst, args.mode)
    print(f"{args.mode} offsets, {len(calibration)} calibration images; mean |offset| per layer in grid steps "
          "(v_th / T): " + ", ".join(f"{layer}: {np.abs(values).mean() * args.steps / thresholds[layer]:.3f}"
                                     for layer, values in offsets.items()))
    tests = [Path(p) for p in args.test]
    data = list(iterate_letterboxed(tests, width, height))
    truths = ann_agreement_truths(model.graph, tests)
    macs = operation_costs(model.graph)["ann_macs"]
    for name, chosen in (("without offsets", {}), ("with offsets", offsets)):
        ap, events = agreement(graph, lambdas, data, thresholds, args.steps, args.burst, chosen, truths)
        print(f"{name}: agreement {ap:.3f} on {len(tests)} images, {events:.3e} events per image = "
              f"{events / macs:.2f}x the ANN's MACs", flush=True)


if __name__ == "__main__":
    main()

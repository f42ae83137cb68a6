"""Where a short run's error comes from, layer by layer: the spiking network's rates against the ANN.

For every spiking layer of a converted network this script compares, on a few images, the value its
spikes carry after ``T`` steps, ``r = (n+ - n-) * v_th / T`` (a max-pool's spikes carry its input's
``v_th``), with

* the ANN's activation ``a`` of the same layer (normalized): the *total* error ``r - a``, what the
  layer passes on;
* the layer's own function of the rates it received, ``t = f(W r_in + b)`` (``r_in``: the spiking
  inputs' rates; route and upsample are exact): the *local* error ``r - t``, what this layer adds by
  quantizing in time (and by its start-up transient);
* the share of the mean local error that falls on neurons whose target is negative (the leaky side
  of IBT neurons);
* the mean of the local error per channel over images and positions: the part a per-channel bias
  change would remove (bias correction, Li et al., ICML 2021, "A free lunch from ANN").

With ``--from T0`` the rates are those of the window ``(T0, T]`` instead (two runs, ``T0`` and ``T``
steps: the network is deterministic, so the first ``T0`` steps are equal), which is what a late-half
read-out sees. The output layers (integrate-only) are read as the decoder reads them.

    python analysis/fast-and-frugal/layer_error.py MODEL.h5 --images DIR [--count N] --steps T [--from T0]
        [--params FILE] [--schedule same-step] [--norm channel] [--threads 1] [--save NPZ]

Read-only apart from the build cache: prints the synaptic events per image and one row per layer,
errors as fractions of the ANN activation's RMS.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from brainyolo.analysis.spikes import net_spike_counts
from brainyolo.ann.graph import INPUT
from brainyolo.ann.letterbox import letterbox, list_images, load_image
from brainyolo.ann.reference import forward, forward_rule
from brainyolo.convert.model_file import load_model
from brainyolo.readout.decoding import Decoder, estimate_activation
from brainyolo.spiking.builder import output_layers
from brainyolo.spiking.network import spike_values
from brainyolo.spiking.parameters import ParameterSettings, read_parameter_file
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.simulate import SimulationSettings, Simulator


class LayerTally:
    """Running sums of one layer's errors over images (per channel where needed)."""

    def __init__(self, channels: int):
        self.n = 0
        self.activation_sq = 0.0
        self.total_sq = 0.0
        self.local_sq = 0.0
        self.local_sum = np.zeros(channels)
        self.local_count = 0
        self.negative = [0.0, 0]  # local error summed over neurons whose target is < 0, and their number

    def add(self, rate: np.ndarray, ann: np.ndarray, target: np.ndarray) -> None:
        local = rate - target
        self.n += rate.size
        self.activation_sq += float(np.sum(ann ** 2))
        self.total_sq += float(np.sum((rate - ann) ** 2))
        self.local_sq += float(np.sum(local ** 2))
        self.local_sum += local.sum(axis=(1, 2))
        self.local_count += rate.shape[1] * rate.shape[2]
        below = target < 0
        self.negative[0] += float(local[below].sum())
        self.negative[1] += int(below.sum())

    def row(self) -> dict[str, float]:
        """RMS of the activation; total, local and per-channel-mean local error over that RMS."""
        rms = np.sqrt(self.activation_sq / self.n)
        channel_mean = self.local_sum / self.local_count
        return {"activation_rms": rms, "total": np.sqrt(self.total_sq / self.n) / rms,
                "local": np.sqrt(self.local_sq / self.n) / rms,
                "channel_mean": np.sqrt(np.mean(channel_mean ** 2)) / rms,
                "mean": float(np.mean(channel_mean)) / rms,
                "negative_share": self.negative[1] / self.n,
                "mean_on_negative": self.negative[0] / self.n / rms}


def spiking_values(data: dict, values: list[np.ndarray], window: int, outputs: set[int],
                   earlier: dict | None) -> dict[int, np.ndarray]:
    """Per spiking layer, the value its spikes carried per step over the window (counts differenced)."""
    rates = {}
    for index, layer in data["layers"].items():
        if index in outputs:
            continue
        net = net_spike_counts(layer)  # (a finer negative grid's -1 spikes at their own value)
        if earlier is not None:
            net -= net_spike_counts(earlier["layers"][index])
        rates[index] = net * values[index][:, None, None] / window
    return rates


def compare(graph, image: np.ndarray, rates: dict, decoded: dict, tallies: dict) -> None:
    """Add one image: every spiking and output layer's total and local error."""
    ann = forward(graph, image, capture=True, dtype=np.float64)
    snn: list[np.ndarray | None] = [None] * len(graph.layers)
    for index, layer in enumerate(graph.layers):
        inputs = [image if i == INPUT else snn[i] for i in layer.inputs]
        target = forward_rule(layer, [np.asarray(x, np.float64) for x in inputs])
        own = rates.get(index, decoded.get(index))
        snn[index] = target if own is None else own
        if own is not None:
            tallies.setdefault(index, LayerTally(own.shape[0])).add(own, ann[index], target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--images", required=True)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--from", dest="start", type=int, default=0, help="window start T0 (0: the whole run)")
    parser.add_argument("--params", default=None)
    parser.add_argument("--neuron", default="if_signed_ibt")
    parser.add_argument("--schedule", default="same-step", choices=("same-step", "delayed"))
    parser.add_argument("--norm", default="channel")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", default=None, metavar="NPZ",
                        help="also write each layer's per-channel mean local error (key: the layer index)")
    args = parser.parse_args(argv)
    if not 0 <= args.start < args.steps:
        parser.error("--from must be in [0, --steps)")
    model = load_model(args.model)
    graph = model.normalized_graph(args.norm)
    parameters = read_parameter_file(args.params) if args.params else ParameterSettings()
    schedule = args.schedule.replace("-", "_")
    paths = list_images(args.images)[:args.count]

    def settings(steps):
        return SimulationSettings(steps=steps, threads=args.threads, float32=True, sample_neurons=1,
                                  parameters=parameters,
                                  build=BuildOptions(neuron=args.neuron, output="vmem", input="current",
                                                     schedule=schedule, normalization=args.norm))

    runs = {}
    for steps in sorted({args.steps, args.start} - {0}):
        with Simulator(args.model, settings(steps)) as sim:
            v_th = {i: p.get("v_th", 1.0) for i, p in sim.parameters.items()}
            runs[steps] = [sim.run(p) for p in paths]
    values = spike_values(graph, v_th)
    decoder = Decoder.for_model(model, args.norm, "vmem", schedule=schedule)
    outputs = set(output_layers(graph))
    window = args.steps - args.start
    tallies: dict[int, LayerTally] = {}
    _, height, width = graph.input_shape
    for k, result in enumerate(runs[args.steps]):
        earlier = runs[args.start][k].data if args.start else None
        rates = spiking_values(result.data, values, window, outputs, earlier)
        decoded = {}
        for index in outputs:
            accumulated = result.data["output"][index]["v"][-1:]
            if earlier is not None:
                accumulated = accumulated - earlier["output"][index]["v"][-1:]
            delay = 0 if earlier is not None else decoder.output_delay(index)
            decoded[index] = estimate_activation(accumulated, [window], graph.layers[index].bias, delay)[0]
        image, _ = letterbox(load_image(paths[k]), width, height)
        compare(graph, image, rates, decoded, tallies)
    if args.save:
        np.savez(args.save, **{str(i): t.local_sum / t.local_count for i, t in tallies.items()})
    print(f"{args.model}: {len(paths)} images of {args.images}, steps ({args.start}, {args.steps}], "
          f"{args.neuron}, {schedule}, params {args.params or 'defaults'}")
    events = [r.synaptic_events for r in runs[args.steps]]
    print(f"synaptic events per image at {args.steps} steps: {np.mean(events):.3g}")
    print("layer kind      shape            act_rms   total   local  chan_mean  mean   neg%  mean_from_neg")
    for index in sorted(tallies):
        r = tallies[index].row()
        layer = graph.layers[index]
        print(f"{index:5d} {type(layer).__name__:8s} {str(tuple(result.data['layers'][index]['shape'])):16s} "
              f"{r['activation_rms']:8.4f} {r['total']:7.3f} {r['local']:7.3f} {r['channel_mean']:9.3f} "
              f"{r['mean']:+7.3f} {100 * r['negative_share']:5.1f} {r['mean_on_negative']:+7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

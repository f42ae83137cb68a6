"""Where a short run's spikes go: per hidden layer, the spikes sent (+1 and -1) against the fewest that carry its
rounded ANN's counts at the end (|round(output · T / v_th)|, every layer below rounded too: ``rounded_forward``
with the run's thresholds), the net count's distance from that count, and the negative spikes; summed over the
images.

    python analysis/fast-and-frugal/spike_surplus.py MODEL.h5 PARAMS.toml STEPS NEURON IMAGE...

(The rounded model clips where the neuron runs out of spikes: bursts of ``burst x (1 - quiet)`` a step on average,
the neuron file's ``burst`` and the run's ``quiet``, 0 where the neuron has none. It rounds both signs on one grid, so
a neuron file with a finer negative grid, ``negative_value`` below 1, is refused.)
"""

from __future__ import annotations

import sys

import numpy as np

from brainyolo.analysis.spikes import net_spike_counts
from brainyolo.ann.letterbox import iterate_letterboxed
from brainyolo.convert.balancing import rounded_forward
from brainyolo.convert.model_file import read_model
from brainyolo.spiking.builder import hidden_layers
from brainyolo.spiking.neurons import load_neuron_model
from brainyolo.spiking.parameters import read_parameter_file


def main(model_path: str, params: str, steps: str, neuron: str, *images: str) -> None:
    import brainyolo

    steps = int(steps)
    if load_neuron_model(neuron).negative_divisions != 1:
        raise SystemExit(f"{neuron}: a finer negative grid (negative_value); the rounded ANN here has one grid")
    model = read_model(model_path)
    graph, lambdas = model.normalized_graph(), model.lambdas()
    hidden = hidden_layers(graph)
    detector = brainyolo.SpikingDetector(model_path, steps=steps, checkpoints=(steps,), neuron=neuron,
                                         parameters=read_parameter_file(params), threads=2)
    _, height, width = graph.input_shape
    totals = {i: np.zeros(5) for i in hidden}
    with detector:
        thresholds = {i: float(np.atleast_1d(detector.parameters[i]["v_th"]).ravel()[0]) for i in hidden}
        quiet = float(np.atleast_1d(detector.parameters[hidden[0]].get("quiet", 0.0)).ravel()[0])
        burst = max(1, round(load_neuron_model(neuron).burst * (1 - quiet)))
        for path, chw, _ in iterate_letterboxed(images, width, height):
            run = detector.run(path)
            outputs, _ = rounded_forward(graph, lambdas, chw, thresholds, steps, burst=burst)
            print(path)
            for i in hidden:
                positive, negative = run.spike_counts(i)
                ideal = np.rint(outputs[i] * steps / thresholds[i])
                net = net_spike_counts(run.result.data["layers"][i])
                totals[i] += [positive.sum() + negative.sum(), np.abs(ideal).sum(), np.abs(net - ideal).sum(),
                              negative.sum(), np.abs(net).sum()]
    for i in hidden:
        spikes, ideal, error, negative, net = totals[i]
        print(f"layer {i:2d} v_th {thresholds[i]:.3f} spikes {spikes:.3e} ideal {ideal:.3e} ratio {spikes / ideal:.2f} "
              f"|net| {net:.3e} neg {negative:.2e} |net-ideal|/ideal {error / ideal:.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 6:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

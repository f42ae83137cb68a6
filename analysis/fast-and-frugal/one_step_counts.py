"""One image through the spiking network (the recorded net count of every neuron) against the rounded ANN, layer
by layer, two ways:

* against the rounded ANN of the whole image (``rounded_forward``, float64): how far the two networks end apart;
* against the layer computed from the spiking network's own counts below it and rounded (local): what the layer
  itself does differently (how many above, how many below their own rounding); for those neurons, how far the
  exact input is from a rounding tie (x.5);

and the read-out: the decoder's head maps from the recorded output membranes against the output layers computed
from the spiking network's own counts below them.

    python analysis/fast-and-frugal/one_step_counts.py MODEL.h5 STEPS BURST NEURON PARAMS.toml IMAGE RUN_DIR [NEGATIVE]

BURST: the rounded ANN's spikes a step (the neuron's burst over its firing steps). RUN_DIR: the spiking run's
folder (``recordings.h5``); a run is made there (same-step schedule, Vmem read-out, 2 threads) unless it exists.
NEGATIVE: the neuron file's ``negative_value`` (default 1): the rounded ANN rounds the negative side on that fraction
of the grid (``negative_grid.py``'s ``signed_rounding``); a negative spike counts what the recordings say it stood for
(``brainyolo.analysis.spikes.net_spike_counts``), which must be the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
from negative_grid import signed_rounding

from brainyolo.analysis.spikes import load_run, net_spike_counts
from brainyolo.ann.letterbox import iterate_letterboxed
from brainyolo.ann.reference import forward
from brainyolo.convert.model_file import load_model
from brainyolo.readout.decoding import Decoder
from brainyolo.spiking.builder import hidden_layers
from brainyolo.spiking.parameters import read_parameter_file


def recorded_net_counts(run_dir: Path, model_path: str, hidden: list[int], negative: float) -> dict[int, np.ndarray]:
    """Every recorded layer's net count per neuron of the run's first image (each negative spike at the value its
    layer recorded, which must be ``negative`` for the ``hidden`` layers)."""
    layers = load_run(run_dir, model_path).images[0].layers
    recorded = {layers[i]["negative_value"] for i in hidden}
    if recorded != {negative}:
        raise SystemExit(f"{run_dir}: its negative spikes stood for {sorted(recorded)} of a spike, not {negative:g}")
    return {index: net_spike_counts(layer) for index, layer in layers.items()}


def main(model_path: str, steps: str, burst: str, neuron: str, params: str, image: str, run_dir: str,
         negative: str = "1") -> None:
    import brainyolo

    steps, burst, run_dir, negative = int(steps), int(burst), Path(run_dir), float(negative)
    units = round(1 / negative)  # net counts are multiples of 1 / units
    model = load_model(model_path)
    norm = "channel-balanced" if model.channel_balanced else None  # a channel-balanced model: its balance applied
    graph = model.normalized_graph(norm)
    hidden = hidden_layers(graph)
    settings = read_parameter_file(params)
    thresholds = {i: float(settings.for_layer(i)["v_th"]) for i in hidden}
    if not (run_dir / "recordings.h5").exists():
        detector = brainyolo.SpikingDetector(model_path, steps=steps, checkpoints=(steps,), neuron=neuron,
                                             parameters=settings, threads=2, normalization=norm)
        with detector:
            detector.record([Path(image)], run_dir)
    counts = recorded_net_counts(run_dir, model_path, hidden, negative)
    _, height, width = graph.input_shape
    ((_, chw, _),) = list(iterate_letterboxed([Path(image)], width, height))
    whole = forward(graph, np.asarray(chw, np.float64), capture=True, dtype=np.float64,
                    after=signed_rounding(thresholds, steps, burst, negative))
    print("layer  neurons  differ-from-rounded-ANN  max|diff|  differ-locally (above/below)  "
          "their-distance-to-a-tie(max)")

    def own_counts(index, out):
        """The layer from the spiking network's counts below it; its own counts passed on."""
        if index not in thresholds:
            return out
        grid = thresholds[index] / steps
        snn = counts[index].reshape(out.shape)
        rounded = np.rint(signed_rounding(thresholds, steps, burst, negative)(index, out) / grid * units) / units
        exact = out / grid
        local = snn != rounded
        reference = np.rint(whole[index] / grid * units) / units
        tie = np.abs(np.abs(exact[local] / np.where(out < 0, negative, 1.0)[local]) % 1 - 0.5)
        print(f"{index:5d}  {snn.size:7d}  {np.count_nonzero(snn != reference):23d}  "
              f"{np.abs(snn - reference).max():9g}  {np.count_nonzero(local):14d} "
              f"({np.count_nonzero(snn > rounded):4d}/{np.count_nonzero(snn < rounded):4d})  "
              f"{tie.max() if tie.size else 0:.4f}", flush=True)
        return snn * grid

    own = forward(graph, np.asarray(chw, np.float64), capture=True, dtype=np.float64, after=own_counts)
    # the read-out: the decoder's head maps from the recorded output membranes against the output layers computed
    # from the spiking network's own counts below them
    decoder = Decoder.for_model(model, norm, schedule="same_step")
    with h5py.File(run_dir / "recordings.h5") as f:
        recorded = {int(name): {"v": group["v"][()]} for name, group in f["images/0000/output"].items()}
        checkpoints = [int(c) for c in f.attrs["checkpoints"]]
    for head, decoded in zip(graph.heads(), decoder.head_maps(recorded, checkpoints)[-1], strict=True):
        index = graph.layers[head].inputs[0]
        computed = own[index] * np.asarray(decoder.lambdas[index], np.float64)[:, None, None]
        print(f"output layer {index}: decoded head map against the one computed from the counts below: "
              f"max |diff| {np.abs(decoded - computed).max():.1e} (max |value| {np.abs(computed).max():.2f})",
              flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (8, 9):
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

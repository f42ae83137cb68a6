"""The shipped directly trained detector in Brian2 against spikingjelly, on real (non-dyadic) weights.

Run in the training environment (it has torch, spikingjelly and brainyolo with Brian2)::

    .venv-train/bin/python tools/check_direct_equivalence.py [MODEL.h5] [--scenes 8] [--steps 8]

For each fresh scene: every spiking layer's spikes at every step from Brian2 (numpy runtime,
float64, recorded for every neuron) and from spikingjelly running the same folded weights in
float64; prints the spikes that differ (the weight-shared convolution rounds each step's input to
its fixed-point grid, 2**-shift with shift about 25 here, so a membrane within that of the
threshold may fire in one and not the other), the largest head-map difference and whether the
decoded detections are the same.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import h5py
import numpy as np


def brian2_spikes(run_dir: Path, steps: int) -> tuple[dict, dict]:
    spikes, outputs = [], []
    with h5py.File(run_dir / "recordings.h5") as f:
        for name in sorted(f["images"]):
            image = f["images"][name]
            per_layer = {}
            for layer_name, layer in image["layers"].items():
                shape = tuple(layer.attrs["shape"])
                neurons = layer["sample_neuron"][()]
                if len(neurons) != np.prod(shape):
                    raise SystemExit("not every neuron was recorded (raise sample_neurons)")
                s = np.zeros((steps, *shape), np.uint8)
                rows, when = layer["sample_spike_neuron"][()], layer["sample_spike_step"][()]
                c, y, x = neurons[rows].T
                np.add.at(s, (when - 1, c, y, x), 1)
                per_layer[int(layer_name)] = s
            spikes.append(per_layer)
            outputs.append({int(k): {"v": v["v"][()]} for k, v in image["output"].items()})
    return spikes, outputs


def main() -> None:
    import torch

    from brainyolo.ann.heads import detect_from_heads
    from brainyolo.ann.letterbox import iterate_letterboxed
    from brainyolo.convert.model_file import load_model
    from brainyolo.data import scenes
    from brainyolo.data.embedded import model_file
    from brainyolo.readout.decoding import Decoder
    from brainyolo.spiking.simulate import SimulationSettings, simulate
    from brainyolo.training.direct import folded_module

    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="embedded-direct")
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    path = model_file(args.model)
    model = load_model(path)
    graph, params = model.graph, model.spiking.layers
    module = folded_module(graph, params, torch, dtype=torch.float64)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        paths = scenes.write_scenes(work / "scenes", args.scenes, args.seed)
        simulate(path, paths, SimulationSettings(steps=args.steps, checkpoints=tuple(range(1, args.steps + 1)),
                                                 device="runtime", sample_neurons=10**7), work / "run",
                 progress=False)
        ours, outputs = brian2_spikes(work / "run", args.steps)
        decoder = Decoder.for_model(model, decode="vmem")
        _, height, width = graph.input_shape
        total, differ, worst, same_detections = 0, 0, 0.0, 0
        for k, (image_path, chw, box) in enumerate(iterate_letterboxed(paths, width, height)):
            with torch.no_grad():
                heads, theirs = module(torch.from_numpy(chw[None].astype(np.float64)), args.steps, record=True)
            for index, s in theirs.items():
                reference = s[:, 0].numpy().astype(np.uint8)
                total += int(reference.sum())
                differ += int((ours[k][index] != reference).sum())
            maps = decoder.head_maps(outputs[k], list(range(1, args.steps + 1)))[-1]
            worst = max(worst, max(float(np.abs(m - h[0].numpy()).max()) for m, h in zip(maps, heads, strict=True)))
            a = detect_from_heads(graph, maps, box).records(image_path.name, graph.class_names)
            b = detect_from_heads(graph, [h[0].numpy() for h in heads], box).records(image_path.name,
                                                                                      graph.class_names)
            same = len(a) == len(b) and all(
                x["category_id"] == y["category_id"] and np.allclose(x["bbox"], y["bbox"], atol=1e-3)
                and abs(x["score"] - y["score"]) < 1e-5 for x, y in zip(a, b, strict=True))
            same_detections += int(same)
        print(f"{args.scenes} scenes, {args.steps} steps: spikingjelly fired {total} spikes; Brian2 differs in "
              f"{differ} (neuron, step) entries; largest head-map difference {worst:.3g}; "
              f"detections identical on {same_detections}/{args.scenes} scenes")


if __name__ == "__main__":
    main()

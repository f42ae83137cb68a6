"""A plastic readout: a Brian2 population of your own learns with STDP from a hidden layer's spikes over a
sequence of scenes.

    .venv/bin/python examples/plastic_readout.py -o plastic.png        # 24 scenes, layer 5, 48 steps

The embedded detector in C++ standalone (one binary for the whole sequence). Four readout neurons, one per
object class, receive every +1 spike of layer 5 through ``Synapses`` with pair-based STDP (Song, Miller and
Abbott 2000; Brian2's own formulation). While a scene is shown, a teacher current drives the readout neurons
of the classes in it. Synapses from layer neurons that fire just before a readout spike grow; those whose
spike follows one shrink; silent inputs keep their weight. The weights a run ends with are where the next run
starts (``initial=``), so the population learns over the sequence. The figure shows each readout neuron's mean
weight over the scenes and the learnt weights per layer channel.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import brian2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend
import numpy as np  # noqa: E402

import brainyolo  # noqa: E402
from brainyolo.data import scenes  # noqa: E402

LAYER, STEPS = 5, 48
W_INITIAL, W_MAX = 1e-4, 4e-4  # a layer-5 spike's weight: alone, the layer keeps the readout below threshold
A_PRE, A_POST = 1e-5, -1.05e-5  # STDP steps (depression slightly stronger: Song, Miller and Abbott 2000)
CLASSES = len(scenes.CLASS_NAMES)

READOUT = """
dv/dt = (teach * 1.5 - v) / (10*ms) : 1
teach : 1
"""
STDP = """
w : 1
dapre/dt = -apre / (20*ms) : 1 (event-driven)
dapost/dt = -apost / (20*ms) : 1 (event-driven)
"""
ON_PRE = f"""
v_post += w
apre += {A_PRE}
w = clip(w + apost, 0, {W_MAX})
"""
ON_POST = f"""
apost += {A_POST}
w = clip(w + apre, 0, {W_MAX})
"""


def readout(network) -> list:
    """The user's population and its plastic synapses from every neuron of layer ``LAYER``."""
    layer = network.layers[LAYER]
    group = brian2.NeuronGroup(CLASSES, READOUT, threshold="v > 1", reset="v = 0", method="euler",
                               clock=network.clock, name="readout")
    synapses = brian2.Synapses(layer.group, group, STDP, on_pre=ON_PRE, on_post=ON_POST, clock=network.clock,
                               name="plastic", namespace=dict(layer.group.namespace))
    synapses.connect()  # all to all: neuron i of the layer -> class j, synapse i * CLASSES + j
    synapses.w = W_INITIAL
    return [group, synapses]


def classes_in(label_file: Path) -> np.ndarray:
    """1 for each class with an object in the scene (the scene's YOLO label file), else 0."""
    present = np.zeros(CLASSES)
    for line in label_file.read_text().splitlines():
        present[int(line.split()[0])] = 1
    return present


def main(output: str, count: int = 24, steps: int = STEPS, device: str = "cpp_standalone") -> dict:
    """Learn over ``count`` scenes; write the figure; return ``{"mean_weight": (count + 1, classes),
    "weights": (C, classes) final mean weight per layer channel and class, "taught": (count, classes)}``."""
    with tempfile.TemporaryDirectory() as folder:
        paths = scenes.write_scenes(folder, count, seed=2020)
        taught = np.array([classes_in(Path(folder) / "labels" / f"{p.stem}.txt") for p in paths])
        with brainyolo.SpikingDetector("embedded", steps=steps, checkpoints=(), device=device) as detector:
            learner = detector.add(readout)
            channels = detector.model.graph.shapes()[LAYER][0]
            w = None
            history = []
            for path, teach in zip(paths, taught, strict=True):
                initial = {"readout": {"teach": teach}}
                if w is not None:
                    initial["plastic"] = {"w": w}  # carry the learnt weights into this run
                states = detector.run(path, initial=initial).recorded(learner)
                w = states["plastic"]["w"]
                history.append(w.reshape(-1, CLASSES).mean(axis=0))
    per_channel = w.reshape(-1, channels, CLASSES).mean(axis=0)  # neuron order: the channel is fastest
    mean_weight = np.vstack([np.full(CLASSES, W_INITIAL), history])
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for c, name in enumerate(scenes.CLASS_NAMES):
        left.plot(np.arange(count + 1), mean_weight[:, c], marker="o", ms=3, label=name)
    left.set(xlabel="scenes shown", ylabel="mean synaptic weight", title=f"readout of layer {LAYER}: learning")
    left.legend(fontsize=8)
    image = right.imshow(per_channel.T, aspect="auto", cmap="viridis")
    right.set(xlabel=f"layer {LAYER} channel", yticks=range(CLASSES), yticklabels=scenes.CLASS_NAMES,
              title="learnt weight (mean over positions)")
    figure.colorbar(image, ax=right)
    figure.tight_layout()
    figure.savefig(Path(output), dpi=100)
    plt.close(figure)
    return {"mean_weight": mean_weight, "weights": per_channel, "taught": taught}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="plastic.png")
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--device", default="cpp_standalone", choices=("cpp_standalone", "runtime"))
    args = parser.parse_args()
    main(args.output, args.scenes, device=args.device)
    print(args.output)

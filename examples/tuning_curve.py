"""A tuning curve: move an object across the image and plot the firing rate of the neurons whose receptive
field covers the centre of the image.

    .venv/bin/python examples/tuning_curve.py -o tuning.png          # 25 positions, layer 4, 32 steps

The embedded detector in C++ standalone (one binary for every position): a bright ellipse on a grey
background (a disc) crosses the image's middle row from left to right. The neurons at the centre of layer 4's map
see the centre of the image; their receptive field (from the layers' kernels and strides) is shaded. Each
curve is one channel's firing rate (positive spikes per step) against the object's centre: a tuned channel
fires while the object is inside the field.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import brainyolo  # noqa: E402
from brainyolo.ann.graph import Conv, MaxPool  # noqa: E402

LAYER, STEPS, SIZE = 4, 32, 96


def receptive_field(graph, layer: int) -> tuple[int, int]:
    """The receptive field of one neuron of ``layer`` on the input (pixels), and the input distance between
    two neighbouring neurons of the layer (its total stride); a chain of convolutions and max-pools."""
    field, jump = 1, 1
    for index in range(layer + 1):
        kind = graph.layers[index]
        if isinstance(kind, (Conv, MaxPool)):
            field += (kind.size - 1) * jump
            jump *= kind.stride
    return field, jump


def picture(centre_x: float, side: int = 20) -> np.ndarray:
    """A grey picture with a white ellipse centred on ``(centre_x, middle row)``."""
    image = Image.new("RGB", (SIZE, SIZE), (128, 128, 128))
    top = SIZE // 2 - side // 2
    ImageDraw.Draw(image).ellipse([centre_x - side / 2, top, centre_x + side / 2, top + side], fill=(240, 240, 240))
    return np.asarray(image)


def main(output: str, positions: int = 25, steps: int = STEPS, device: str = "cpp_standalone") -> dict:
    """Run the sweep; write the figure to ``output``; return ``{"x": centres, "rates": (positions, C)}``."""
    xs = np.linspace(0, SIZE, positions)
    with brainyolo.SpikingDetector("embedded", steps=steps, checkpoints=(), device=device) as detector:
        _, height, width = detector.model.graph.shapes()[LAYER]
        y, x = height // 2, width // 2  # the neurons at the map's centre
        counts = [detector.run(picture(cx), threshold=0.5).spike_counts(LAYER)[0][:, y, x] for cx in xs]
        field, jump = receptive_field(detector.model.graph, LAYER)
    rates = np.array(counts) / steps
    centre = x * jump + (jump - 1) / 2  # the field's centre on the input
    tuned = np.argsort(rates.max(axis=0) - rates.min(axis=0))[::-1][:6]  # the channels that change the most
    figure, axis = plt.subplots(figsize=(8, 4.5))
    axis.axvspan(centre - field / 2, centre + field / 2, color="0.9", label=f"receptive field ({field} px)")
    for channel in tuned:
        axis.plot(xs, rates[:, channel], marker="o", ms=3, lw=1, label=f"channel {channel}")
    axis.set(xlabel="object centre x (pixels of the 96 x 96 input)", ylabel="firing rate (spikes / step)",
             title=f"layer {LAYER}, neurons at map position (y, x) = ({y}, {x}): tuning to the object's position")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(Path(output), dpi=100)
    plt.close(figure)
    return {"x": xs, "rates": rates, "field": (centre - field / 2, centre + field / 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="tuning.png")
    parser.add_argument("--positions", type=int, default=25)
    parser.add_argument("--device", default="cpp_standalone", choices=("cpp_standalone", "runtime"))
    args = parser.parse_args()
    main(args.output, args.positions, device=args.device)
    print(args.output)

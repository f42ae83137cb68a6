"""A copy of a model file with its channel scales found again by another channel sensitivity
(:data:`brainyolo.convert.balancing.channel_sensitivity`), on the first COUNT images of a folder (the ones
``convert`` balanced on: COCO train 1-16 by default).

    python analysis/fast-and-frugal/rebalanced_channels.py MODEL.h5 SENSITIVITY IMAGES_DIR COUNT OUT.h5
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from brainyolo.ann.letterbox import iterate_letterboxed, list_images
from brainyolo.convert.balancing import channel_scales
from brainyolo.convert.model_file import load_model, save_model
from brainyolo.spiking.builder import hidden_layers


def main(model_path: str, sensitivity: str, folder: str, count: str, out: str) -> None:
    model = load_model(model_path)
    graph, lambdas = model.normalized_graph(), model.lambdas()  # the model's own normalization, as convert's
    hidden = hidden_layers(graph)
    _, height, width = graph.input_shape
    images = (chw for _, chw, _ in iterate_letterboxed(list_images(folder)[:int(count)], width, height))
    scales = channel_scales(graph, images, hidden, lambdas, sensitivity)
    before = model.thresholds.channel_scale
    for i in hidden:
        if i in before:
            match = np.corrcoef(np.log(before[i]), np.log(scales[i]))[0, 1]
            print(f"layer {i}: scales {scales[i].min():.2f}-{scales[i].max():.2f}, correlation of the logs with "
                  f"the model's own {match:.2f}")
    model.thresholds = dataclasses.replace(model.thresholds, channel_scale=scales)
    save_model(model, out)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

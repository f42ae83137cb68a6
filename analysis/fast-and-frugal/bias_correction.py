"""A model file whose hidden convolutions' biases cancel their measured per-channel mean error.

The per-channel mean of a layer's *local* error (``analysis/fast-and-frugal/layer_error.py --save NPZ``: spike-carried
value minus the layer's own function of its spiking inputs, normalized units, per step) is what a bias
change can remove (bias correction, Li et al., ICML 2021, "A free lunch from ANN: towards efficient,
accurate spiking neural networks calibration"). This writes MODEL's copy with every hidden convolution's
bias ``b`` replaced by ``b - scale * mean_error * lambda`` (lambda: the layer's output normalization, so
that the normalized bias moves by ``-scale * mean_error``); output layers, weights and calibration are
unchanged, and the provenance records the error file. Measure on calibration or train images only.

    python analysis/fast-and-frugal/bias_correction.py MODEL.h5 ERRORS.npz OUT.h5 [--scale 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from brainyolo.convert.model_file import load_model, save_model
from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.builder import hidden_layers


def corrected(model, errors: dict[int, np.ndarray], scale: float = 1.0, source: str = ""):
    """``model`` with each hidden convolution's bias moved by ``-scale * errors[index] * lambda``."""
    lambdas, graph = model.lambdas(), model.graph
    for index in hidden_layers(graph):
        if index not in errors:
            continue
        error = np.asarray(errors[index], np.float64)
        if error.shape != graph.layers[index].bias.shape or not np.all(np.isfinite(error)):
            raise BrainyoloError(source or None, f"layer {index}: {error.shape} finite mean errors expected "
                                                 f"for {graph.layers[index].bias.shape[0]} channels")
        bias = graph.layers[index].bias.astype(np.float64) - scale * error * lambdas[index]
        graph = graph.replace(index, bias=bias.astype(np.float32))
    return dataclasses.replace(model, graph=graph, provenance={**model.provenance, "bias_correction": source,
                                                               "bias_correction_scale": scale})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("errors", help="per-channel mean local errors (layer_error.py --save)")
    parser.add_argument("output")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    try:
        with np.load(args.errors) as data:
            errors = {int(key): data[key] for key in data.files}
        save_model(corrected(load_model(args.model), errors, args.scale, Path(args.errors).name), args.output)
    except (BrainyoloError, ValueError, OSError) as err:
        print(f"bias_correction: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

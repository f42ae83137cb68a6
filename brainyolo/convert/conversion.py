"""Darknet cfg + weights + calibration images -> a converted model (the ``convert`` command's step)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from brainyolo.ann.darknet import load_darknet
from brainyolo.ann.letterbox import iterate_letterboxed, list_images
from brainyolo.convert.balancing import BalanceSettings, balance_model
from brainyolo.convert.calibration import DEFAULT_PERCENTILE, HistogramSpec, NonFiniteActivations, calibrate
from brainyolo.convert.model_file import ConvertedModel
from brainyolo.io.atomic import sha256_of
from brainyolo.io.errors import BrainyoloError


def convert_darknet(cfg: str | os.PathLike, weights: str | os.PathLike,
                    calibration_images: list[Path], norm: str = "channel",
                    percentile: float = DEFAULT_PERCENTILE, names: str | os.PathLike | None = None,
                    calibration_source: str = "", spec: HistogramSpec = HistogramSpec(),
                    progress: bool = True, balance: BalanceSettings | None = BalanceSettings()) -> ConvertedModel:
    """Darknet cfg + weights + calibration images -> :class:`ConvertedModel`.

    Batch-norm folded, every convolution's activations measured on the calibration images, and (unless
    ``balance`` is None) each hidden layer's threshold balanced on the first ``balance.images`` of them
    (:func:`~brainyolo.convert.balancing.balance_model`; the ``fast`` preset runs with them).
    """
    if not 0 < percentile <= 100:
        raise BrainyoloError(None, f"percentile {percentile} is outside (0, 100]")
    darknet = load_darknet(cfg, weights, names)
    graph = darknet.folded_graph()
    if not calibration_images:
        raise BrainyoloError(calibration_source or None, "no calibration images")
    try:
        calibration = calibrate(graph, calibration_images, percentile, spec, progress)
    except NonFiniteActivations as err:
        largest = max(float(np.abs(array).max()) for layer in graph.layers
                      for array in (getattr(layer, "weight", None), getattr(layer, "bias", None)) if array is not None)
        raise BrainyoloError(weights, f"{err} (largest folded weight {largest:.3g}): the weights overflow "
                                      "float32") from None
    h = darknet.header
    provenance = {"cfg_name": Path(cfg).name, "cfg_sha256": sha256_of(cfg),
                  "weights_name": Path(weights).name, "weights_sha256": sha256_of(weights),
                  "darknet_version": f"{h.major}.{h.minor}.{h.revision}", "darknet_seen": h.seen,
                  "calibration_source": str(calibration_source),
                  "calibration_first_image": calibration_images[0].name}
    model = ConvertedModel(graph, calibration, norm, provenance)
    if balance is not None:
        _, height, width = graph.input_shape
        paths = calibration_images[:balance.images]
        chws = (chw for _, chw, _ in _progress(iterate_letterboxed(paths, width, height), len(paths),
                                                "balancing thresholds", progress))
        model.thresholds = balance_model(model, chws, balance)
    return model


def _progress(iterable, total: int, what: str, show: bool):
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=what, unit="image", leave=False, disable=None if show else True)


def calibration_images(folder: str | os.PathLike, count: int | None = None) -> list[Path]:
    """The first ``count`` images (by name) of ``folder``; an empty folder is an error."""
    paths = list_images(folder)
    if not paths:
        raise BrainyoloError(folder, "calibration folder holds no images")
    return paths[:count] if count else paths

"""The pipeline's steps as functions the command line (and users' scripts) call."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from brainyolo.calibration import DEFAULT_PERCENTILE, HistogramSpec, calibrate
from brainyolo.darknet import load_darknet
from brainyolo.errors import BrainyoloError
from brainyolo.fileio import sha256_of
from brainyolo.graph import Graph
from brainyolo.heads import EVAL_THRESHOLD, Detections, detect_from_heads
from brainyolo.images import iterate_letterboxed, list_images
from brainyolo.modelfile import ConvertedModel
from brainyolo.reference import head_maps


def convert_darknet(cfg: str | os.PathLike, weights: str | os.PathLike,
                    calibration_images: list[Path], norm: str = "channel",
                    percentile: float = DEFAULT_PERCENTILE, names: str | os.PathLike | None = None,
                    calibration_source: str = "", spec: HistogramSpec = HistogramSpec(),
                    progress: bool = True) -> ConvertedModel:
    """Darknet cfg + weights + calibration images -> :class:`ConvertedModel`."""
    if not 0 < percentile <= 100:
        raise BrainyoloError(None, f"percentile {percentile} is outside (0, 100]")
    darknet = load_darknet(cfg, weights, names)
    graph = darknet.folded_graph()
    if not calibration_images:
        raise BrainyoloError(calibration_source or None, "no calibration images")
    calibration = calibrate(graph, calibration_images, percentile, spec, progress)
    h = darknet.header
    provenance = {"cfg_name": Path(cfg).name, "cfg_sha256": sha256_of(cfg),
                  "weights_name": Path(weights).name, "weights_sha256": sha256_of(weights),
                  "darknet_version": f"{h.major}.{h.minor}.{h.revision}", "darknet_seen": h.seen,
                  "calibration_source": str(calibration_source),
                  "calibration_first_image": calibration_images[0].name}
    return ConvertedModel(graph, calibration, norm, provenance)


def calibration_images(folder: str | os.PathLike, count: int | None = None) -> list[Path]:
    """The first ``count`` images (by name) of ``folder``; an empty folder is an error."""
    paths = list_images(folder)
    if not paths:
        raise BrainyoloError(folder, "calibration folder holds no images")
    return paths[:count] if count else paths


def ann_detections(graph: Graph, image_paths: Iterable[Path],
                   threshold: float = EVAL_THRESHOLD) -> Iterator[tuple[Path, Detections]]:
    """Run the numpy ANN on each image, one at a time; yield ``(path, detections)``."""
    _, height, width = graph.input_shape
    for path, chw, box in iterate_letterboxed(image_paths, width, height):
        yield path, detect_from_heads(graph, head_maps(graph, chw), box, threshold)

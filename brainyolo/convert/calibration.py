"""Streaming activation statistics for data-based normalization.

For every convolution's output, per channel: the maximum of ``|a|`` and the p-th percentile of
``|a|`` over all positions of all calibration images. Images are streamed from disk one at a time
and each channel keeps a fixed log-binned histogram, so memory does not grow with the number of
images.

Error bound
-----------
Bins are geometric, ``[low * r**(k-1), low * r**k)`` with ``r = 1 + resolution``. The estimate of
the nearest-rank percentile (numpy's ``method="inverted_cdf"``) is the geometric centre of the bin
holding that rank, so ``|estimate / exact - 1| <= sqrt(r) - 1`` (0.499 % at the default
resolution 0.01), for values in ``[low, high)``. Below ``low`` the estimate is ``low``; at or above
``high`` it is the exact maximum. With the defaults (``1e-4 .. 1e4``) each channel costs 1,854 bins
of 8 bytes; yolov3-tiny's 3,695 convolution channels, 55 MB.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainyolo.ann.graph import Conv, Graph
from brainyolo.ann.letterbox import iterate_letterboxed
from brainyolo.ann.reference import forward

DEFAULT_PERCENTILE = 99.9


@dataclass(frozen=True)
class HistogramSpec:
    """Geometric binning of ``|a|``: ``resolution`` is the relative bin width."""

    low: float = 1e-4
    high: float = 1e4
    resolution: float = 0.01

    @property
    def ratio(self) -> float:
        return 1.0 + self.resolution

    @property
    def inner_bins(self) -> int:
        return math.ceil(math.log(self.high / self.low) / math.log(self.ratio))

    @property
    def bins(self) -> int:
        """Inner bins plus one underflow and one overflow bin."""
        return self.inner_bins + 2

    @property
    def relative_error(self) -> float:
        """Bound on ``|estimate / exact - 1|`` inside ``[low, high)``."""
        return math.sqrt(self.ratio) - 1.0

    def bin_index(self, values: np.ndarray) -> np.ndarray:
        """Bin of each non-negative value: 0 underflow, 1..inner_bins, inner_bins + 1 overflow."""
        with np.errstate(divide="ignore"):
            scaled = np.log(np.asarray(values, np.float64) * (1.0 / self.low))
        scaled *= 1.0 / math.log(self.ratio)
        index = np.floor(scaled, out=scaled)
        np.clip(index, -1, self.inner_bins, out=index)
        return index.astype(np.int64) + 1

    def bin_centre(self, index: np.ndarray) -> np.ndarray:
        """Geometric centre of inner bins."""
        return self.low * self.ratio ** (np.asarray(index, np.float64) - 0.5)


class StreamingPercentile:
    """Per-row percentile and maximum of ``|values|`` over a stream of ``(rows, n)`` blocks.

    Parameters
    ----------
    rows : int
        Number of independent streams (channels).
    spec : HistogramSpec
    """

    def __init__(self, rows: int, spec: HistogramSpec = HistogramSpec()):
        self.spec = spec
        self.counts = np.zeros((rows, spec.bins), np.int64)
        self.maximum = np.zeros(rows, np.float64)

    def update(self, block: np.ndarray) -> None:
        """Add a ``(rows, n)`` block of values (their absolute values are binned)."""
        block = np.abs(block.reshape(len(self.counts), -1))
        if block.shape[1] == 0:
            return
        self.maximum = np.maximum(self.maximum, block.max(axis=1))
        index = self.spec.bin_index(block)
        index += (np.arange(len(self.counts), dtype=np.int64) * self.spec.bins)[:, None]
        self.counts += np.bincount(index.ravel(), minlength=self.counts.size).reshape(
            self.counts.shape)

    @staticmethod
    def _estimate(counts: np.ndarray, maximum: np.ndarray, percentile: float,
                  spec: HistogramSpec) -> np.ndarray:
        total = counts.sum(axis=1)
        rank = np.ceil(percentile / 100.0 * total).clip(1, None)  # 1-based nearest rank
        bins = np.argmax(np.cumsum(counts, axis=1) >= rank[:, None], axis=1)
        estimate = np.minimum(spec.bin_centre(bins), maximum)
        estimate = np.where(bins == 0, spec.low, estimate)
        estimate = np.where(bins == spec.bins - 1, maximum, estimate)
        return np.where(total > 0, estimate, np.nan)

    def percentile(self, percentile: float) -> np.ndarray:
        """Estimated percentile of every row."""
        return self._estimate(self.counts, self.maximum, percentile, self.spec)

    def pooled_percentile(self, percentile: float) -> float:
        """Estimated percentile of all rows pooled together."""
        return float(self._estimate(self.counts.sum(axis=0, keepdims=True),
                                    self.maximum.max(keepdims=True), percentile, self.spec)[0])


class NonFiniteActivations(ValueError):
    """A convolution's output overflowed (or became NaN) on a calibration image: the weights are unusable.

    Attributes
    ----------
    layer : int
        Index of the first such convolution.
    image : str
        Name of the calibration image.
    """

    def __init__(self, layer: int, image: str):
        self.layer, self.image = layer, image
        super().__init__(f"layer {layer} gives activations that are not finite numbers on calibration image {image}")


@dataclass
class LayerStatistics:
    """Calibration result of one convolution: percentile and max of ``|a|``, per channel and pooled."""

    channel_percentile: np.ndarray
    channel_max: np.ndarray
    layer_percentile: float
    layer_max: float


@dataclass
class Calibration:
    """Calibration results for every convolution of a graph (keyed by layer index)."""

    layers: dict[int, LayerStatistics]
    percentile: float
    images: int
    spec: HistogramSpec


def calibrate(graph: Graph, image_paths: Iterable, percentile: float = DEFAULT_PERCENTILE,
              spec: HistogramSpec = HistogramSpec(), progress: bool = True) -> Calibration:
    """Stream letterboxed images through the ANN and collect each convolution's statistics.

    Parameters
    ----------
    graph : Graph
        Batch-norm folded, un-normalized network.
    image_paths : iterable of paths
        Calibration images (training images, as the paper does); read one at a time.
    percentile : float in (0, 100]
    spec : HistogramSpec
    progress : bool
        Show a progress bar on stderr.
    """
    from tqdm import tqdm

    if not 0 < percentile <= 100:
        raise ValueError(f"percentile {percentile} is outside (0, 100]")
    image_paths = list(image_paths)
    convs = [i for i, layer in enumerate(graph.layers) if isinstance(layer, Conv)]
    streams = {i: StreamingPercentile(graph.layers[i].filters, spec) for i in convs}
    _, height, width = graph.input_shape
    images = iterate_letterboxed(image_paths, width, height)
    for path, chw, _ in tqdm(images, total=len(image_paths), desc="calibration", unit="image",
                             disable=None if progress else True, leave=False):
        with np.errstate(over="ignore", invalid="ignore"):
            outputs = forward(graph, chw, capture=True)
        for index in convs:
            if not np.all(np.isfinite(outputs[index])):
                raise NonFiniteActivations(index, Path(path).name)
            streams[index].update(outputs[index])
    layers = {i: LayerStatistics(s.percentile(percentile), s.maximum.copy(),
                                 s.pooled_percentile(percentile), float(s.maximum.max()))
              for i, s in streams.items()}
    return Calibration(layers, percentile, len(image_paths), spec)

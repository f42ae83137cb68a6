"""Darknet cfg + weights: exact reader and writer.

Reading goes cfg text -> :class:`Section` list -> graph layers (one reader per section name,
registered with :func:`section_reader`) -> shapes -> weights, which are counted exactly against
what the cfg implies. Batch-norm is folded into each convolution's weight and bias:
``y = scale * (x - mean) / sqrt(var + 1e-6) + bias``. Darknet itself is not consistent here: its
CPU path divides by ``sqrt(var) + 1e-6``, its GPU path by ``sqrt(var + 1e-5)``. brainyolo follows
OpenCV's Darknet importer (``sqrt(var + 1e-6)``), the independent oracle of the tests; on
yolov3-tiny the three conventions' head maps differ by about 1e-4 (CPU) and 1e-3 (GPU).

Writing goes the other way (graph layers -> sections by :data:`section_writer`, and
:class:`ConvParams` -> weights), so a model trained elsewhere can be exported to Darknet files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainyolo.ann.darknet_cfg import (  # the cfg half, re-exported: this module is the Darknet entry point
    MAX_CFG_BYTES,
    Section,
    SectionOptions,
    format_cfg,
    graph_from_sections,
    parse_cfg_text,
    read_cfg,
    section_read_rule,
    section_reader,
    section_writer,
    sections_from_graph,
)
from brainyolo.ann.graph import (
    INPUT,
    Conv,
    Graph,
)
from brainyolo.io.atomic import atomic_path
from brainyolo.io.errors import BrainyoloError

BN_EPSILON = 1e-6
"""Added to the running variance before the square root when batch-norm is folded."""

LEAKY_SLOPE = 0.1
"""Darknet's leaky activation: max(x, 0.1 x)."""

__all__ = ["MAX_CFG_BYTES", "Section", "SectionOptions", "format_cfg", "graph_from_sections", "parse_cfg_text",
           "read_cfg", "section_read_rule", "section_reader", "section_writer", "sections_from_graph", "BN_EPSILON",
           "LEAKY_SLOPE",
           "KNOWN_WEIGHTS_VERSIONS", "WeightsHeader", "ConvParams", "parameter_count", "read_weights", "write_weights",
           "random_parameters", "DarknetModel", "batch_normalize_flags", "read_names", "find_names", "load_darknet",
           "save_darknet"]


# --------------------------------------------------------------------------------------------
# cfg text
# --------------------------------------------------------------------------------------------




# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------


KNOWN_WEIGHTS_VERSIONS = ((0, 0), (0, 1), (0, 2))
"""(major, minor) of the weights headers Darknet has written (the revision is free)."""


@dataclass
class WeightsHeader:
    """The header of a ``.weights`` file. ``seen`` is int64 from version 0.2 on, int32 before."""

    major: int = 0
    minor: int = 2
    revision: int = 0
    seen: int = 0

    @property
    def seen_is_int64(self) -> bool:
        return (self.major * 10 + self.minor) >= 2 and self.major < 1000 and self.minor < 1000

    @property
    def nbytes(self) -> int:
        return 12 + (8 if self.seen_is_int64 else 4)


@dataclass
class ConvParams:
    """A convolution's entry in a ``.weights`` file, in file order.

    ``scales``, ``rolling_mean`` and ``rolling_variance`` are ``None`` without batch-norm.
    """

    biases: np.ndarray
    weights: np.ndarray
    scales: np.ndarray | None = None
    rolling_mean: np.ndarray | None = None
    rolling_variance: np.ndarray | None = None

    @property
    def batch_normalize(self) -> bool:
        return self.scales is not None

    def arrays(self) -> list[np.ndarray]:
        """The arrays in the order Darknet stores them."""
        bn = [self.scales, self.rolling_mean, self.rolling_variance] if self.batch_normalize else []
        return [self.biases, *bn, self.weights]

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """(weight, bias) with batch-norm folded in (see the module docstring), float32."""
        weight = self.weights.astype(np.float64)
        bias = self.biases.astype(np.float64)
        if self.batch_normalize:
            gain = self.scales.astype(np.float64) / np.sqrt(
                self.rolling_variance.astype(np.float64) + BN_EPSILON)
            weight = weight * gain[:, None, None, None]
            bias = bias - gain * self.rolling_mean
        with np.errstate(over="ignore"):
            return weight.astype(np.float32), bias.astype(np.float32)


def _conv_layout(graph: Graph, batch_normalize: Sequence[bool]) -> list[tuple[int, tuple]]:
    """(layer index, weight shape) of every convolution, in file order."""
    shapes = graph.shapes()
    layout = []
    for index, layer in enumerate(graph.layers):
        if isinstance(layer, Conv):
            (source,) = layer.inputs
            in_channels = graph.input_shape[0] if source == INPUT else shapes[source][0]
            layout.append((index, (layer.filters, in_channels, layer.size, layer.size)))
    if len(layout) != len(batch_normalize):
        raise ValueError("one batch_normalize flag per convolution is needed")
    return layout


def parameter_count(graph: Graph, batch_normalize: Sequence[bool]) -> int:
    """Number of float32 values a weights file for this graph holds after its header."""
    total = 0
    for (_, shape), bn in zip(_conv_layout(graph, batch_normalize), batch_normalize, strict=True):
        total += shape[0] * (4 if bn else 1) + int(np.prod(shape))
    return total


def read_weights(path: str | os.PathLike, graph: Graph,
                 batch_normalize: Sequence[bool]) -> tuple[WeightsHeader, list[ConvParams]]:
    """Read a ``.weights`` file for ``graph``; its size must match the cfg exactly."""
    expected = parameter_count(graph, batch_normalize)
    try:
        size = Path(path).stat().st_size
        if size > 64 + 4 * expected:  # refuse before reading a file far too large
            data = b""
        else:
            data = Path(path).read_bytes()
    except OSError as err:
        raise BrainyoloError(path, f"cannot read weights: {err.strerror or err}") from None
    if size < 12:
        raise BrainyoloError(path, f"{size} bytes is too short for a Darknet weights header")
    if data:
        major, minor, revision = (int(v) for v in np.frombuffer(data, "<i4", 3))
    else:
        with open(path, "rb") as f:
            major, minor, revision = (int(v) for v in np.frombuffer(f.read(12), "<i4", 3))
    if (major, minor) not in KNOWN_WEIGHTS_VERSIONS or not 0 <= revision < 1000:
        raise BrainyoloError(path, f"weights header version {major}.{minor}.{revision} is not one Darknet writes "
                                   f"(known: {', '.join(f'{a}.{b}.x' for a, b in KNOWN_WEIGHTS_VERSIONS)}): "
                                   "not a Darknet weights file?")
    header = WeightsHeader(major, minor, revision, 0)
    if size < header.nbytes:
        raise BrainyoloError(path, f"{size} bytes is too short for the {header.nbytes}-byte header of "
                                   f"version {major}.{minor}")
    body = size - header.nbytes
    if body % 4 or body // 4 != expected:
        extra = f" and {body % 4} stray bytes" if body % 4 else ""
        raise BrainyoloError(path, f"expected {expected} float32 parameters after the "
                                   f"{header.nbytes}-byte header (version {major}.{minor}."
                                   f"{revision}), found {body // 4}{extra}")
    header.seen = int(np.frombuffer(data, "<i8" if header.seen_is_int64 else "<i4", 1, 12)[0])
    values = np.frombuffer(data, "<f4", expected, header.nbytes)
    params, offset = [], 0

    def take(count, shape=None):
        nonlocal offset
        chunk = values[offset:offset + count].astype(np.float32)
        offset += count
        return chunk.reshape(shape) if shape else chunk

    for (index, shape), bn in zip(_conv_layout(graph, batch_normalize), batch_normalize, strict=True):
        n = shape[0]
        biases = take(n)
        scales, mean, var = (take(n), take(n), take(n)) if bn else (None, None, None)
        entry = ConvParams(biases, take(int(np.prod(shape)), shape), scales, mean, var)
        for name, array in zip(("biases", "scales", "rolling_mean", "rolling_variance", "weights"),
                               (biases, scales, mean, var, entry.weights), strict=True):
            if array is not None and not np.all(np.isfinite(array)):
                raise BrainyoloError(path, f"layer {index} (convolution): {name} hold values that are not "
                                           "finite (NaN or infinite)")
        if bn and not np.all(var >= 0):
            raise BrainyoloError(path, f"layer {index} (convolution): rolling_variance holds negative values")
        params.append(entry)
    return header, params


def write_weights(path: str | os.PathLike, header: WeightsHeader,
                  params: Sequence[ConvParams]) -> None:
    """Write a ``.weights`` file (atomically)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(np.asarray([header.major, header.minor, header.revision], "<i4").tobytes())
        f.write(np.asarray([header.seen], "<i8" if header.seen_is_int64 else "<i4").tobytes())
        for entry in params:
            for array in entry.arrays():
                f.write(np.ascontiguousarray(array, "<f4").tobytes())


def random_parameters(graph: Graph, batch_normalize: Sequence[bool],
                      rng: np.random.Generator) -> list[ConvParams]:
    """He-scaled random parameters for every convolution, for tests and smoke runs."""
    params = []
    for (_, shape), bn in zip(_conv_layout(graph, batch_normalize), batch_normalize, strict=True):
        n, fan_in = shape[0], int(np.prod(shape[1:]))
        weights = rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
        biases = rng.normal(0, 0.1, n).astype(np.float32)
        if bn:
            params.append(ConvParams(biases, weights, rng.uniform(0.5, 1.5, n).astype(np.float32),
                                     rng.normal(0, 0.1, n).astype(np.float32),
                                     rng.uniform(0.5, 2.0, n).astype(np.float32)))
        else:
            params.append(ConvParams(biases, weights))
    return params


# --------------------------------------------------------------------------------------------
# whole models
# --------------------------------------------------------------------------------------------


@dataclass
class DarknetModel:
    """A Darknet model as stored: cfg sections, weights header, raw per-convolution parameters."""

    sections: list[Section]
    graph: Graph
    header: WeightsHeader
    params: list[ConvParams]

    def folded_graph(self) -> Graph:
        """The graph with every convolution's batch-norm folded into its weight and bias."""
        graph = self.graph
        convs = [i for i, layer in enumerate(graph.layers) if isinstance(layer, Conv)]
        for index, entry in zip(convs, self.params, strict=True):
            weight, bias = entry.folded()
            graph = graph.replace(index, weight=weight, bias=bias)
        return graph


def batch_normalize_flags(sections: Sequence[Section], path="<cfg>") -> list[bool]:
    """Per convolution section, whether it has batch-norm parameters."""
    flags = []
    for section in sections[1:]:
        if section.name in ("convolutional", "conv"):
            flags.append(bool(SectionOptions(section, path).int("batch_normalize", 0)))
    return flags


def read_names(path: str | os.PathLike) -> list[str]:
    """Class names, one per line (blank lines skipped; no final newline needed)."""
    try:
        return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise BrainyoloError(path, f"cannot read class names: {err}") from None


def find_names(cfg_path: str | os.PathLike, classes: int) -> Path | None:
    """A ``*.names`` file beside the cfg (or in its parent's folders) with ``classes`` lines."""
    cfg_path = Path(cfg_path)
    candidates = sorted(cfg_path.parent.glob("*.names"))
    candidates += sorted(p for p in cfg_path.parent.parent.glob("*/*.names") if p not in candidates)
    for candidate in candidates:
        try:
            if len(read_names(candidate)) == classes:
                return candidate
        except BrainyoloError:
            continue
    return None


def load_darknet(cfg: str | os.PathLike, weights: str | os.PathLike,
                 names: str | os.PathLike | None = None) -> DarknetModel:
    """Read a Darknet cfg + weights (+ class names) into a :class:`DarknetModel`.

    Without ``names``, a ``*.names`` file near the cfg with the right number of lines is used,
    else the classes are called ``class0``, ``class1``, ...
    """
    sections = read_cfg(cfg)
    graph = graph_from_sections(sections, cfg)
    if not graph.heads():
        raise BrainyoloError(cfg, "has no [yolo] or [region] section: brainyolo reads detectors")
    n_classes = len(graph.class_names)
    if names is None:
        names = find_names(cfg, n_classes)
    if names is not None:
        class_names = read_names(names)
        if len(class_names) != n_classes:
            raise BrainyoloError(names, f"{len(class_names)} class names, the cfg has "
                                        f"{n_classes} classes")
        graph.class_names = class_names
    flags = batch_normalize_flags(sections, cfg)
    header, params = read_weights(weights, graph, flags)
    convs = [i for i, layer in enumerate(graph.layers) if isinstance(layer, Conv)]
    for index, entry in zip(convs, params, strict=True):
        for name, array in zip(("weights", "biases"), entry.folded(), strict=True):
            if not np.all(np.isfinite(array)):
                raise BrainyoloError(weights, f"layer {index} (convolution): its {name} with batch-norm folded in "
                                              "overflow float32 (values near 3.4e38 or a tiny rolling_variance)")
    return DarknetModel(sections, graph, header, params)


def save_darknet(model: DarknetModel, cfg: str | os.PathLike, weights: str | os.PathLike) -> None:
    """Write ``model`` as a cfg + weights pair (both atomically)."""
    with atomic_path(cfg) as tmp:
        tmp.write_text(format_cfg(model.sections))
    write_weights(weights, model.header, model.params)



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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainyolo.ann.graph import (
    INPUT,
    Conv,
    Graph,
    GraphError,
    Layer,
    MaxPool,
    RegionHead,
    Route,
    Upsample,
    YoloHead,
    validate_graph,
)
from brainyolo.io.atomic import atomic_path
from brainyolo.io.errors import BrainyoloError
from brainyolo.registry import Registry

BN_EPSILON = 1e-6
"""Added to the running variance before the square root when batch-norm is folded."""

LEAKY_SLOPE = 0.1
"""Darknet's leaky activation: max(x, 0.1 x)."""


# --------------------------------------------------------------------------------------------
# cfg text
# --------------------------------------------------------------------------------------------


@dataclass
class Section:
    """One ``[name]`` block of a cfg file with its ``key=value`` options (values as text)."""

    name: str
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0


def parse_cfg_text(text: str, path: str | os.PathLike = "<cfg>") -> list[Section]:
    """Split cfg text into sections; comments (``#``, ``;``) and blank lines are skipped."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise BrainyoloError(path, f"line {number}: malformed section header {raw.strip()!r}")
            sections.append(Section(line[1:-1].strip().lower(), {}, number))
        elif "=" in line:
            if not sections:
                raise BrainyoloError(path, f"line {number}: option before the first section")
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise BrainyoloError(path, f"line {number}: expected 'key=value', got {raw.strip()!r}")
    if not sections or sections[0].name not in ("net", "network"):
        raise BrainyoloError(path, "the first section must be [net]")
    return sections


MAX_CFG_BYTES = 1 << 20
"""Largest cfg file read (yolov3's is 8 KiB)."""


def read_cfg(path: str | os.PathLike) -> list[Section]:
    """Read and split a cfg file (UTF-8 text; a missing final newline is fine)."""
    try:
        if Path(path).stat().st_size > MAX_CFG_BYTES:
            raise BrainyoloError(path, f"larger than {MAX_CFG_BYTES >> 20} MiB: not a Darknet cfg")
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as err:
        raise BrainyoloError(path, f"cannot read cfg: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise BrainyoloError(path, f"cannot read cfg: not UTF-8 text (byte {err.start})") from None
    if "\x00" in text:
        raise BrainyoloError(path, "cannot read cfg: holds NUL bytes (not a text file)")
    return parse_cfg_text(text, path)


def format_cfg(sections: Sequence[Section]) -> str:
    """Cfg text for ``sections``."""
    blocks = []
    for section in sections:
        lines = [f"[{section.name}]"] + [f"{k}={v}" for k, v in section.options.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


class _Options:
    """Typed access to a section's options, with errors naming the file, line and key."""

    _REQUIRED = object()

    def __init__(self, section: Section, path):
        self.section, self.path = section, path

    def _raw(self, key: str, default):
        if key in self.section.options:
            return self.section.options[key]
        if default is self._REQUIRED:
            raise BrainyoloError(self.path, f"line {self.section.line}: [{self.section.name}] "
                                            f"is missing required key '{key}'")
        return default

    def _convert(self, key, raw, convert):
        try:
            return convert(raw)
        except ValueError:
            raise BrainyoloError(self.path, f"line {self.section.line}: [{self.section.name}] "
                                            f"{key}={raw!r} is not valid") from None

    def int(self, key: str, default=_REQUIRED) -> int:
        raw = self._raw(key, default)
        return raw if isinstance(raw, int) else self._convert(key, raw, int)

    def text(self, key: str, default=_REQUIRED) -> str:
        return self._raw(key, default)

    def floats(self, key: str, default=_REQUIRED) -> list[float]:
        raw = self._raw(key, default)
        if isinstance(raw, list):
            return raw
        return self._convert(key, raw, lambda s: [float(v) for v in s.split(",") if v.strip()])

    def ints(self, key: str, default=_REQUIRED) -> list[int]:
        raw = self._raw(key, default)
        if isinstance(raw, list):
            return raw
        return self._convert(key, raw, lambda s: [int(v) for v in s.split(",") if v.strip()])

    def fail(self, problem: str):
        raise BrainyoloError(self.path, f"line {self.section.line}: [{self.section.name}] {problem}")


# --------------------------------------------------------------------------------------------
# sections -> graph layers
# --------------------------------------------------------------------------------------------

_SECTION_READERS: dict[str, Callable[[_Options, int], Layer]] = {}


def section_reader(*names: str):
    """Register the function turning a ``[name]`` section into a graph layer.

    The function receives the section's options and the layer's own index and returns the layer.
    """

    def decorate(function):
        for name in names:
            _SECTION_READERS[name] = function
        return function

    return decorate


def _previous(index: int) -> tuple[int, ...]:
    return (index - 1 if index > 0 else INPUT,)


@section_reader("convolutional", "conv")
def _read_conv(opts: _Options, index: int) -> Conv:
    filters, size = opts.int("filters"), opts.int("size")
    if opts.int("groups", 1) != 1:
        opts.fail("groups other than 1 are not supported")
    if opts.int("dilation", 1) != 1:
        opts.fail("dilation other than 1 is not supported")
    activation = opts.text("activation", "logistic")
    if activation not in ("leaky", "linear"):
        opts.fail(f"activation '{activation}' is not supported (leaky or linear)")
    pad = size // 2 if opts.int("pad", 0) else opts.int("padding", 0)
    return Conv(_previous(index), filters=filters, size=size,
                stride=opts.int("stride", 1), pad=pad, activation=activation,
                alpha=LEAKY_SLOPE if activation == "leaky" else 1.0)


@section_reader("maxpool", "max")
def _read_maxpool(opts: _Options, index: int) -> MaxPool:
    stride = opts.int("stride", 1)
    size = opts.int("size", stride)
    return MaxPool(_previous(index), size=size, stride=stride, pad=opts.int("padding", size - 1))


@section_reader("upsample")
def _read_upsample(opts: _Options, index: int) -> Upsample:
    stride = opts.int("stride", 2)
    if stride < 1:
        opts.fail("only positive (up-sampling) strides are supported")
    return Upsample(_previous(index), stride=stride)


@section_reader("route")
def _read_route(opts: _Options, index: int) -> Route:
    sources = tuple(i + index if i < 0 else i for i in opts.ints("layers"))
    if not sources or any(not 0 <= i < index for i in sources):
        opts.fail(f"layers={opts.text('layers')} must name earlier layers")
    return Route(sources)


@section_reader("yolo")
def _read_yolo(opts: _Options, index: int) -> YoloHead:
    anchors = opts.floats("anchors")
    if len(anchors) % 2:
        opts.fail("anchors must come in (width, height) pairs")
    all_anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    mask = tuple(opts.ints("mask", list(range(len(all_anchors)))))
    if any(not 0 <= m < len(all_anchors) for m in mask):
        opts.fail(f"mask {mask} points outside the {len(all_anchors)} anchors")
    num = opts.int("num", 1)  # Darknet reads num anchor pairs (default 1): they must be all the anchors
    if num != len(all_anchors):
        opts.fail(f"num={num} but {len(all_anchors)} anchor pairs")
    return YoloHead(_previous(index), classes=opts.int("classes"), mask=mask,
                    all_anchors=all_anchors)


@section_reader("region")
def _read_region(opts: _Options, index: int) -> RegionHead:
    anchors = opts.floats("anchors")
    if len(anchors) % 2:
        opts.fail("anchors must come in (width, height) pairs")
    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    num = opts.int("num")
    if num != len(anchors):
        opts.fail(f"num={num} but {len(anchors)} anchor pairs")
    coords = opts.int("coords", 4)
    if coords != 4:
        opts.fail("only coords=4 is supported")
    return RegionHead(_previous(index), classes=opts.int("classes"), coords=coords,
                      softmax=bool(opts.int("softmax", 0)), anchors=anchors)


def graph_from_sections(sections: Sequence[Section], path="<cfg>",
                        class_names: Sequence[str] | None = None) -> Graph:
    """Build the (weightless) graph of a parsed cfg and check that its shapes fit together."""
    net = _Options(sections[0], path)
    input_shape = (net.int("channels"), net.int("height"), net.int("width"))
    layers = []
    for section in sections[1:]:
        reader = _SECTION_READERS.get(section.name)
        if reader is None:
            raise BrainyoloError(path, f"line {section.line}: section [{section.name}] is not "
                                       f"supported (supported: {', '.join(sorted(_SECTION_READERS))})")
        layers.append(reader(_Options(section, path), len(layers)))
    graph = Graph(input_shape, layers, [])
    try:
        validate_graph(graph)
    except GraphError as err:
        where = f"line {sections[err.layer + 1].line}: " if err.layer is not None else ""
        raise BrainyoloError(path, f"{where}{err}") from None
    heads = [graph.layers[i] for i in graph.heads()]
    classes = {head.classes for head in heads}
    if len(classes) > 1:
        raise BrainyoloError(path, f"heads disagree on the number of classes: {sorted(classes)}")
    n_classes = classes.pop() if classes else 0
    if class_names is None:
        class_names = [f"class{i}" for i in range(n_classes)]
    elif len(class_names) != n_classes:
        raise BrainyoloError(path, f"{len(class_names)} class names for {n_classes} classes")
    graph.class_names = list(class_names)
    return graph


# --------------------------------------------------------------------------------------------
# graph layers -> sections (writer)
# --------------------------------------------------------------------------------------------

section_writer = Registry("Darknet section writer")


def _join(values) -> str:
    return ",".join(f"{float(v):g}" if isinstance(v, (float, np.floating)) else str(v)
                    for v in values)


@section_writer.register(Conv)
def _write_conv(layer: Conv, index: int, batch_normalize: bool) -> Section:
    options = {"batch_normalize": str(int(batch_normalize)), "filters": str(layer.filters),
               "size": str(layer.size), "stride": str(layer.stride), "pad": "0",
               "padding": str(layer.pad), "activation": layer.activation}
    return Section("convolutional", options)


@section_writer.register(MaxPool)
def _write_maxpool(layer: MaxPool, index: int, batch_normalize: bool) -> Section:
    return Section("maxpool", {"size": str(layer.size), "stride": str(layer.stride),
                               "padding": str(layer.pad)})


@section_writer.register(Upsample)
def _write_upsample(layer: Upsample, index: int, batch_normalize: bool) -> Section:
    return Section("upsample", {"stride": str(layer.stride)})


@section_writer.register(Route)
def _write_route(layer: Route, index: int, batch_normalize: bool) -> Section:
    return Section("route", {"layers": _join(layer.inputs)})


@section_writer.register(YoloHead)
def _write_yolo(layer: YoloHead, index: int, batch_normalize: bool) -> Section:
    return Section("yolo", {"mask": _join(layer.mask), "anchors": _join(layer.all_anchors.ravel()),
                            "classes": str(layer.classes), "num": str(len(layer.all_anchors))})


@section_writer.register(RegionHead)
def _write_region(layer: RegionHead, index: int, batch_normalize: bool) -> Section:
    return Section("region", {"anchors": _join(layer.anchors.ravel()),
                              "classes": str(layer.classes), "coords": str(layer.coords),
                              "num": str(len(layer.anchors)), "softmax": str(int(layer.softmax))})


def sections_from_graph(graph: Graph, batch_normalize: Sequence[bool] | None = None,
                        net_options: dict[str, str] | None = None) -> list[Section]:
    """Cfg sections describing ``graph`` (the inverse of :func:`graph_from_sections`).

    Parameters
    ----------
    batch_normalize : sequence of bool, optional
        Per convolution (in order), whether its weights file entry carries batch-norm parameters.
    net_options : dict, optional
        Extra ``[net]`` options (training hyper-parameters, say).
    """
    convs = [i for i, layer in enumerate(graph.layers) if isinstance(layer, Conv)]
    bn = dict(zip(convs, batch_normalize if batch_normalize is not None else [False] * len(convs),
                  strict=True))
    c, h, w = graph.input_shape
    net = {"batch": "1", "subdivisions": "1", "width": str(w), "height": str(h),
           "channels": str(c), **(net_options or {})}
    sections = [Section("net", net)]
    for index, layer in enumerate(graph.layers):
        implicit = _previous(index)
        if not isinstance(layer, Route) and layer.inputs != implicit:
            raise ValueError(f"layer {index} reads {layer.inputs}; Darknet layers read the "
                             "previous layer unless they are [route]")
        sections.append(section_writer(layer, index, bn.get(index, False)))
    return sections


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
            flags.append(bool(_Options(section, path).int("batch_normalize", 0)))
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



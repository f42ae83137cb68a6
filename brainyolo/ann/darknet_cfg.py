"""Darknet cfg files: sections, their reading into graph layers (one registered reader per section kind)
and the writing of a graph back into sections, exactly as Darknet reads them."""


from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainyolo.ann.graph import (
    INPUT,
    Conv,
    Graph,
    GraphError,
    MaxPool,
    RegionHead,
    Route,
    Upsample,
    YoloHead,
    validate_graph,
)
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


class SectionOptions:
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

section_read_rule = Registry("Darknet section reader")
"""Per section name (``convolutional``, ``maxpool``...), the function turning a section into a graph layer."""


def section_reader(*names: str):
    """Register the function turning a ``[name]`` section into a graph layer.

    The function receives the section's options and the layer's own index and returns the layer.
    """

    def decorate(function):
        for name in names:
            section_read_rule.register(name)(function)
        return function

    return decorate


def _previous(index: int) -> tuple[int, ...]:
    return (index - 1 if index > 0 else INPUT,)


@section_reader("convolutional", "conv")
def _read_conv(opts: SectionOptions, index: int) -> Conv:
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
def _read_maxpool(opts: SectionOptions, index: int) -> MaxPool:
    stride = opts.int("stride", 1)
    size = opts.int("size", stride)
    return MaxPool(_previous(index), size=size, stride=stride, pad=opts.int("padding", size - 1))


@section_reader("upsample")
def _read_upsample(opts: SectionOptions, index: int) -> Upsample:
    stride = opts.int("stride", 2)
    if stride < 1:
        opts.fail("only positive (up-sampling) strides are supported")
    return Upsample(_previous(index), stride=stride)


@section_reader("route")
def _read_route(opts: SectionOptions, index: int) -> Route:
    sources = tuple(i + index if i < 0 else i for i in opts.ints("layers"))
    if not sources or any(not 0 <= i < index for i in sources):
        opts.fail(f"layers={opts.text('layers')} must name earlier layers")
    return Route(sources)


@section_reader("yolo")
def _read_yolo(opts: SectionOptions, index: int) -> YoloHead:
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
def _read_region(opts: SectionOptions, index: int) -> RegionHead:
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
    net = SectionOptions(sections[0], path)
    input_shape = (net.int("channels"), net.int("height"), net.int("width"))
    layers = []
    for section in sections[1:]:
        reader = section_read_rule.rule(section.name) if section.name in section_read_rule.kinds() else None
        if reader is None:
            raise BrainyoloError(path, f"line {section.line}: section [{section.name}] is not "
                                       f"supported (supported: {', '.join(sorted(section_read_rule.kinds()))})")
        layers.append(reader(SectionOptions(section, path), len(layers)))
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

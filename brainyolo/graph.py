"""The network graph, independent of Darknet: one small dataclass per layer kind.

Activations are ``(channels, height, width)`` arrays. Every layer names the layers it reads by
index in :attr:`Graph.layers` (``INPUT`` = -1 is the network input), so Darknet's ``[route]``
indices map one to one onto graph indices.

Each pipeline step keeps a :class:`~brainyolo.registry.Registry` with one rule per layer kind:
shape inference lives here, the numpy forward in :mod:`brainyolo.reference`, head decoding in
:mod:`brainyolo.heads`, the normalization rule in :mod:`brainyolo.conversion`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from brainyolo.registry import Registry

INPUT = -1
"""Index standing for the network input in :attr:`Layer.inputs`."""

Shape = tuple[int, int, int]


@dataclass
class Layer:
    """Base of all layer kinds: which layers feed this one."""

    inputs: tuple[int, ...]

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass
class Conv(Layer):
    """Convolution with batch-norm folded into ``weight`` and ``bias``, then an activation.

    Parameters
    ----------
    filters, size, stride, pad : int
        Output channels, square kernel size, stride, zero padding in pixels on every side.
    activation : {"leaky", "linear"}
        ``leaky`` is max(x, alpha*x); ``linear`` is the identity (the heads' convolutions).
    alpha : float
        Leaky slope for negative inputs (0.1 in Darknet); 1.0 for ``linear``.
    weight : ndarray, shape (filters, in_channels, size, size), float32
    bias : ndarray, shape (filters,), float32
    """

    filters: int
    size: int
    stride: int
    pad: int
    activation: str
    alpha: float
    weight: np.ndarray | None = field(default=None, repr=False)
    bias: np.ndarray | None = field(default=None, repr=False)


@dataclass
class MaxPool(Layer):
    """Darknet max-pool: output ``(n + pad - size) // stride + 1``; window starts at ``-(pad // 2)``.

    Pixels outside the input never win (Darknet pads with -inf). ``size=2, stride=1, pad=1`` keeps
    the spatial size: the last row/column sees only itself and its one in-range neighbour.
    """

    size: int
    stride: int
    pad: int


@dataclass
class Upsample(Layer):
    """Nearest-neighbour upsampling by an integer factor."""

    stride: int


@dataclass
class Route(Layer):
    """Channel concatenation of the layers in ``inputs`` (a single input passes through)."""


@dataclass
class YoloHead(Layer):
    """Darknet v3 ``[yolo]``: logistic x, y, objectness and classes; anchors in input pixels.

    Parameters
    ----------
    classes : int
    anchors : ndarray, shape (len(mask), 2)
        The (width, height) of the anchors this head uses (already selected by ``mask``), pixels.
    mask : tuple of int
        Indices of those anchors in the cfg's full anchor list (kept for the Darknet writer).
    all_anchors : ndarray, shape (num, 2)
        The cfg's full anchor list.
    """

    classes: int
    mask: tuple[int, ...]
    all_anchors: np.ndarray = field(repr=False)

    @property
    def anchors(self) -> np.ndarray:
        return self.all_anchors[list(self.mask)]


@dataclass
class RegionHead(Layer):
    """Darknet v2 ``[region]``: logistic x, y, objectness; softmax classes; anchors in grid cells."""

    classes: int
    coords: int
    softmax: bool
    anchors: np.ndarray = field(repr=False)


HEAD_KINDS = (YoloHead, RegionHead)


@dataclass
class Graph:
    """A feed-forward network: the input shape, the layers in order, the class names.

    Attributes
    ----------
    input_shape : (channels, height, width)
    layers : list of Layer
    class_names : list of str
    """

    input_shape: Shape
    layers: list[Layer]
    class_names: list[str] = field(default_factory=list)

    def shapes(self) -> list[Shape]:
        """Output shape of every layer, by the registered shape rules."""
        shapes: list[Shape] = []
        for index, layer in enumerate(self.layers):
            inputs = [self.input_shape if i == INPUT else shapes[i] for i in layer.inputs]
            try:
                shapes.append(infer_shape(layer, inputs))
            except ValueError as err:
                raise ValueError(f"layer {index} ({layer.kind}): {err}") from None
        return shapes

    def heads(self) -> list[int]:
        """Indices of the detection head layers, in order."""
        return [i for i, layer in enumerate(self.layers) if isinstance(layer, HEAD_KINDS)]

    def consumers(self) -> list[list[int]]:
        """For every layer, the indices of the layers that read its output."""
        readers: list[list[int]] = [[] for _ in self.layers]
        for index, layer in enumerate(self.layers):
            for source in layer.inputs:
                if source != INPUT:
                    readers[source].append(index)
        return readers

    def replace(self, index: int, **changes) -> Graph:
        """A copy of the graph in which layer ``index`` has ``changes`` applied (others shared)."""
        layers = list(self.layers)
        layers[index] = dataclasses.replace(layers[index], **changes)
        return Graph(self.input_shape, layers, list(self.class_names))


infer_shape = Registry("shape inference")


def conv_output_size(n: int, size: int, stride: int, pad: int) -> int:
    """Output length of a convolution along one axis."""
    return (n + 2 * pad - size) // stride + 1


@infer_shape.register(Conv)
def _conv_shape(layer: Conv, inputs: list[Shape]) -> Shape:
    (c, h, w), = inputs
    if layer.weight is not None and layer.weight.shape != (layer.filters, c, layer.size, layer.size):
        raise ValueError(f"weight shape {layer.weight.shape} does not fit input channels {c}")
    out_h = conv_output_size(h, layer.size, layer.stride, layer.pad)
    out_w = conv_output_size(w, layer.size, layer.stride, layer.pad)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"input {h}x{w} is too small for a {layer.size}x{layer.size} kernel")
    return (layer.filters, out_h, out_w)


@infer_shape.register(MaxPool)
def _maxpool_shape(layer: MaxPool, inputs: list[Shape]) -> Shape:
    (c, h, w), = inputs
    return (c, (h + layer.pad - layer.size) // layer.stride + 1,
            (w + layer.pad - layer.size) // layer.stride + 1)


@infer_shape.register(Upsample)
def _upsample_shape(layer: Upsample, inputs: list[Shape]) -> Shape:
    (c, h, w), = inputs
    return (c, h * layer.stride, w * layer.stride)


@infer_shape.register(Route)
def _route_shape(layer: Route, inputs: list[Shape]) -> Shape:
    sizes = {shape[1:] for shape in inputs}
    if len(sizes) != 1:
        raise ValueError(f"route joins maps of different sizes {sorted(sizes)}")
    return (sum(shape[0] for shape in inputs), *inputs[0][1:])


@infer_shape.register(YoloHead)
def _yolo_shape(layer: YoloHead, inputs: list[Shape]) -> Shape:
    (c, h, w), = inputs
    expected = len(layer.mask) * (layer.classes + 5)
    if c != expected:
        raise ValueError(f"yolo head expects {expected} channels, gets {c}")
    return (c, h, w)


@infer_shape.register(RegionHead)
def _region_shape(layer: RegionHead, inputs: list[Shape]) -> Shape:
    (c, h, w), = inputs
    expected = len(layer.anchors) * (layer.classes + layer.coords + 1)
    if c != expected:
        raise ValueError(f"region head expects {expected} channels, gets {c}")
    return (c, h, w)

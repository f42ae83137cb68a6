"""The network graph, independent of Darknet: one small dataclass per layer kind.

Activations are ``(channels, height, width)`` arrays. Every layer names the layers it reads by
index in :attr:`Graph.layers` (``INPUT`` = -1 is the network input), so Darknet's ``[route]``
indices map one to one onto graph indices.

Each pipeline step keeps a :class:`~brainyolo.registry.Registry` with one rule per layer kind:
shape inference lives here, the numpy forward in :mod:`brainyolo.ann.reference`, head decoding in
:mod:`brainyolo.ann.heads`, the normalization rule in :mod:`brainyolo.convert.normalization`.
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
    activation : {"leaky", "linear", "spike"}
        ``leaky`` is max(x, alpha*x); ``linear`` is the identity (the heads' convolutions);
        ``spike``: the layer's output is the spikes of its neurons, a directly trained spiking
        network's layer (its neuron model and parameters are the model's :class:`SpikingSpec`).
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

    def branches(self) -> list[tuple[int, np.ndarray | None, int, int, int]]:
        """``(input layer, weight, size, stride, pad)`` of its one convolution (as :meth:`ConvAdd.branches`)."""
        return [(self.inputs[0], self.weight, self.size, self.stride, self.pad)]


@dataclass
class ConvAdd(Layer):
    """Two convolutions of two layers added into one layer's input: EMS-ResNet's membrane shortcut.

    ``inputs = (main, shortcut)``; the main branch is ``weight`` (``size``/``stride``/``pad``), the
    shortcut ``shortcut_weight`` (``shortcut_size``/...): both read spikes and add into the
    membrane of one group of neurons (no neurons of their own), batch-norm of both folded,
    ``bias`` their biases' sum. Both branches must give maps of the same shape.

    Parameters
    ----------
    activation : {"spike"}
        Only spiking layers add branches this way (a directly trained network).
    weight : ndarray, shape (filters, main_channels, size, size)
    shortcut_weight : ndarray, shape (filters, shortcut_channels, shortcut_size, shortcut_size)
    bias : ndarray, shape (filters,)
    """

    filters: int
    size: int
    stride: int
    pad: int
    shortcut_size: int
    shortcut_stride: int
    shortcut_pad: int
    activation: str = "spike"
    alpha: float = 1.0
    weight: np.ndarray | None = field(default=None, repr=False)
    shortcut_weight: np.ndarray | None = field(default=None, repr=False)
    bias: np.ndarray | None = field(default=None, repr=False)

    def branches(self) -> list[tuple[int, np.ndarray | None, int, int, int]]:
        """``(input layer, weight, size, stride, pad)`` of the main branch, then of the shortcut."""
        return [(self.inputs[0], self.weight, self.size, self.stride, self.pad),
                (self.inputs[1], self.shortcut_weight, self.shortcut_size, self.shortcut_stride,
                 self.shortcut_pad)]


CONV_KINDS = (Conv, ConvAdd)
"""Layers with learned weights and neurons of their own (the ones neuron parameters apply to)."""


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


@infer_shape.register(ConvAdd)
def _conv_add_shape(layer: ConvAdd, inputs: list[Shape]) -> Shape:
    shapes = []
    for (_, weight, size, stride, pad), (c, h, w) in zip(layer.branches(), inputs, strict=True):
        if weight is not None and weight.shape != (layer.filters, c, size, size):
            raise ValueError(f"weight shape {weight.shape} does not fit input channels {c}")
        out = (layer.filters, conv_output_size(h, size, stride, pad), conv_output_size(w, size, stride, pad))
        if min(out[1:]) < 1:
            raise ValueError(f"input {h}x{w} is too small for a {size}x{size} kernel")
        shapes.append(out)
    if shapes[0] != shapes[1]:
        raise ValueError(f"its branches give maps of different shapes {shapes[0]} and {shapes[1]}")
    return shapes[0]


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


# --------------------------------------------------------------------------------------------
# validation: every reader (Darknet cfg, model file) checks its graph here before it acts
# --------------------------------------------------------------------------------------------

MAX_INPUT_SIDE = 4096
"""Largest network input height or width."""

MAX_CHANNELS = 16384
"""Most channels (filters) a layer may have."""

MAX_KERNEL = 32
"""Largest convolution or max-pool window side."""

MAX_UPSAMPLE = 32
"""Largest up-sampling factor."""

MAX_LAYERS = 1000
"""Most layers in a graph."""

MAX_LAYER_VALUES = 1 << 26
"""Most activations (channels x height x width) in one layer."""

MAX_NETWORK_VALUES = 1 << 28
"""Most activations in all layers together (neurons of the spiking network)."""

class GraphError(ValueError):
    """A graph that brainyolo cannot use; ``layer`` is the offending layer's index (None: the input)."""

    def __init__(self, problem: str, layer: int | None = None):
        super().__init__(problem)
        self.layer = layer


check_layer = Registry("layer check")
"""Per layer kind: ``rule(layer, input_shapes)`` raises ``ValueError`` naming what is wrong."""


def _whole(layer, name: str, low: int, high: int) -> None:
    value = getattr(layer, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside {low}..{high}")


def _finite_array(value, name: str, shape: tuple | None = None, positive: bool = False) -> None:
    if not isinstance(value, np.ndarray) or not (np.issubdtype(value.dtype, np.floating)
                                                 or np.issubdtype(value.dtype, np.integer)):
        raise ValueError(f"{name} must be an array of numbers")
    if shape is not None and value.shape != shape:
        raise ValueError(f"{name} has shape {value.shape}, expected {shape}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} holds values that are not finite (NaN or infinite)")
    if positive and not np.all(value > 0):
        raise ValueError(f"{name} must be positive")


@check_layer.register(Conv)
def _check_conv(layer: Conv, inputs: list[Shape]) -> None:
    (c, _, _), = inputs
    _whole(layer, "filters", 1, MAX_CHANNELS)
    _whole(layer, "size", 1, MAX_KERNEL)
    _whole(layer, "stride", 1, MAX_KERNEL)
    _whole(layer, "pad", 0, layer.size)
    if layer.activation not in ("leaky", "linear", "spike"):
        raise ValueError(f"activation {layer.activation!r} is not leaky, linear or spike")
    if isinstance(layer.alpha, bool) or not isinstance(layer.alpha, (float, int, np.floating)) \
            or not 0 < layer.alpha <= 1:
        raise ValueError(f"alpha={layer.alpha!r} is not a slope in (0, 1]")
    if layer.weight is not None:
        _finite_array(layer.weight, "weight", (layer.filters, c, layer.size, layer.size))
    if layer.bias is not None:
        _finite_array(layer.bias, "bias", (layer.filters,))
    if (layer.weight is None) != (layer.bias is None):
        raise ValueError("has a weight without a bias, or a bias without a weight")


@check_layer.register(ConvAdd)
def _check_conv_add(layer: ConvAdd, inputs: list[Shape]) -> None:
    if len(inputs) != 2:
        raise ValueError(f"adds two branches (main, shortcut), not {len(inputs)}")
    _whole(layer, "filters", 1, MAX_CHANNELS)
    for prefix in ("", "shortcut_"):
        _whole(layer, prefix + "size", 1, MAX_KERNEL)
        _whole(layer, prefix + "stride", 1, MAX_KERNEL)
        _whole(layer, prefix + "pad", 0, getattr(layer, prefix + "size"))
    if layer.activation != "spike":
        raise ValueError(f"activation {layer.activation!r}: a membrane shortcut adds into spiking neurons (spike)")
    arrays = (layer.weight, layer.shortcut_weight, layer.bias)
    if any(a is None for a in arrays) and any(a is not None for a in arrays):
        raise ValueError("has some of weight, shortcut_weight and bias but not all")
    if layer.bias is not None:
        for (_, weight, size, _, _), (c, _, _), name in zip(layer.branches(), inputs, ("weight", "shortcut_weight"),
                                                            strict=True):
            _finite_array(weight, name, (layer.filters, c, size, size))
        _finite_array(layer.bias, "bias", (layer.filters,))


@check_layer.register(MaxPool)
def _check_maxpool(layer: MaxPool, inputs: list[Shape]) -> None:
    (_, h, w), = inputs
    _whole(layer, "size", 1, MAX_KERNEL)
    _whole(layer, "stride", 1, MAX_KERNEL)
    _whole(layer, "pad", 0, layer.size)
    if layer.size > min(h, w) + layer.pad:
        raise ValueError(f"a {layer.size}x{layer.size} window does not fit the {h}x{w} input (pad {layer.pad})")


@check_layer.register(Upsample)
def _check_upsample(layer: Upsample, inputs: list[Shape]) -> None:
    _whole(layer, "stride", 1, MAX_UPSAMPLE)


@check_layer.register(Route)
def _check_route(layer: Route, inputs: list[Shape]) -> None:
    if not inputs:
        raise ValueError("a route needs at least one input layer")


def _check_anchors(anchors, name: str) -> None:
    if not isinstance(anchors, np.ndarray) or anchors.ndim != 2 or anchors.shape[1] != 2 or len(anchors) == 0:
        raise ValueError(f"{name} must be (width, height) pairs")
    _finite_array(anchors, name, positive=True)


@check_layer.register(YoloHead)
def _check_yolo(layer: YoloHead, inputs: list[Shape]) -> None:
    _whole(layer, "classes", 1, MAX_CHANNELS)
    _check_anchors(layer.all_anchors, "anchors")
    if not layer.mask or any(isinstance(m, bool) or not isinstance(m, (int, np.integer))
                             or not 0 <= m < len(layer.all_anchors) for m in layer.mask):
        raise ValueError(f"mask {tuple(layer.mask)} does not pick from the {len(layer.all_anchors)} anchors")


@check_layer.register(RegionHead)
def _check_region(layer: RegionHead, inputs: list[Shape]) -> None:
    _whole(layer, "classes", 1, MAX_CHANNELS)
    _whole(layer, "coords", 4, 4)
    _check_anchors(layer.anchors, "anchors")


def validate_graph(graph: Graph) -> list[Shape]:
    """Check everything a reader must know before it acts on ``graph``; return the shapes.

    Input shape (3 channels, sides 1..:data:`MAX_INPUT_SIDE`), every layer's inputs (earlier
    layers), fields (types, ranges, finite arrays of the right shapes, by the :data:`check_layer`
    rule of its kind), shapes that fit together (:data:`infer_shape`), and sizes that bound memory
    and time (:data:`MAX_LAYER_VALUES`, :data:`MAX_NETWORK_VALUES`).

    Raises
    ------
    GraphError
        One line: ``layer N (Kind): problem`` or ``input shape ...``; ``.layer`` is N.
    """
    shape = tuple(graph.input_shape)
    if len(shape) != 3 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in shape):
        raise GraphError(f"input shape {graph.input_shape} is not (channels, height, width)")
    c, h, w = shape
    if c != 3 or not (1 <= h <= MAX_INPUT_SIDE and 1 <= w <= MAX_INPUT_SIDE):
        raise GraphError(f"input shape {c}x{h}x{w}: brainyolo reads RGB images (3 channels) of sides "
                         f"1..{MAX_INPUT_SIDE}")
    if not graph.layers or len(graph.layers) > MAX_LAYERS:
        raise GraphError(f"a network has 1..{MAX_LAYERS} layers, this one {len(graph.layers)}")
    shapes: list[Shape] = []
    total = 0
    for index, layer in enumerate(graph.layers):
        try:
            if not isinstance(layer, Layer) or not isinstance(layer.inputs, tuple) or any(
                    isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not INPUT <= i < index
                    for i in layer.inputs):
                raise ValueError(f"inputs {getattr(layer, 'inputs', None)} are not earlier layers")
            if len(layer.inputs) != 1 and not isinstance(layer, (Route, ConvAdd)):
                raise ValueError(f"reads {len(layer.inputs)} layers; only a route or a shortcut joins several")
            inputs = [graph.input_shape if i == INPUT else shapes[i] for i in layer.inputs]
            check_layer(layer, inputs)
            out = infer_shape(layer, inputs)
            if any(v < 1 for v in out):
                raise ValueError(f"its output {out} is empty")
            size = int(np.prod(out, dtype=np.int64))
            if size > MAX_LAYER_VALUES:
                raise ValueError(f"its output {out[0]}x{out[1]}x{out[2]} is larger than {MAX_LAYER_VALUES:,} values")
        except (ValueError, NotImplementedError) as err:
            raise GraphError(f"layer {index} ({type(layer).__name__}): {err}", index) from None
        total += size
        if total > MAX_NETWORK_VALUES:
            raise GraphError(f"the network has more than {MAX_NETWORK_VALUES:,} activations (at layer {index})",
                             index)
        shapes.append(out)
    return shapes

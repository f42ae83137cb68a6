"""The layer kinds of a spiking model imported from NIR, and the model: one small dataclass per kind.

A :class:`SpikingModel` is a chain: every layer reads the one before it (the first reads the input).
Activations have any shape (``(C, H, W)`` after a convolution, ``(N,)`` after a dense layer) and are
numbered in C order (row-major, as NIR and PyTorch flatten them).

Two kinds of layers:

* linear maps without neurons (:data:`LINEAR_KINDS`: ``Conv2d``, ``Dense``, ``SumPool2d``, ``AvgPool2d``,
  ``Flatten``, ``Scale``), each with a numpy :data:`forward_rule`; the simulation makes the linear layers
  between two neuron layers one connection (a lone ``Conv2d`` the weight-shared convolution, anything else
  their composition: :mod:`brainyolo.nir.connections`);
* neuron layers (:data:`NEURON_KINDS`: ``LIF``, ``IF``, ``CubaLIF``) with one value of each parameter per
  neuron (NIR's names and meaning; see docs/nir.md for the discretization).

Each step keeps a :class:`~brainyolo.registry.Registry` with one rule per kind: :data:`infer_shape` (which
also checks the layer's fields) and :data:`forward_rule` here, the NIR reader and writer in
:mod:`brainyolo.nir.nir_import` and :mod:`brainyolo.nir.nir_export`, the Brian2 neurons in
:mod:`brainyolo.nir.simulate`, the Brian2 connections in :mod:`brainyolo.nir.connections`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from brainyolo.registry import Registry

Shape = tuple[int, ...]

MAX_NEURONS = 1 << 22
"""Most neurons (or values) in one layer."""

MAX_CONNECTION_ENTRIES = 1 << 26
"""Most nonzero entries of the matrix of one composed connection (the simulation holds them as explicit synapses)."""


@dataclass
class Layer:
    """Base of all layer kinds: the NIR node's name (for messages and export)."""

    name: str

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass
class Conv2d(Layer):
    """2-D convolution of ``(C, H, W)``: ``weight (F, C / groups, kh, kw)``, ``bias (F,)``, zero padding."""

    weight: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


@dataclass
class Dense(Layer):
    """``y = weight @ x + bias`` of a flat input (NIR ``Affine``; ``Linear`` where ``bias`` is None)."""

    weight: np.ndarray = field(repr=False)
    bias: np.ndarray | None = field(default=None, repr=False)


@dataclass
class SumPool2d(Layer):
    """Sum over ``kernel`` windows of ``(C, H, W)`` (zero padding): spikes become counts."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)


@dataclass
class AvgPool2d(SumPool2d):
    """Mean over ``kernel`` windows (the sum divided by the window's size)."""


@dataclass
class Flatten(Layer):
    """Dimensions ``start_dim..end_dim`` of the (unbatched) input joined into one, C order."""

    start_dim: int = 0
    end_dim: int = -1


@dataclass
class Scale(Layer):
    """Every value multiplied by its ``scale`` (one per value, or broadcast)."""

    scale: np.ndarray = field(repr=False)


@dataclass
class LIF(Layer):
    """Leaky integrate-and-fire: ``tau dv/dt = (v_leak - v) + r I``; spike where ``v > v_threshold``, then
    ``v = v_reset``. Every parameter holds one value per neuron (times in seconds)."""

    tau: np.ndarray = field(repr=False)
    r: np.ndarray = field(repr=False)
    v_leak: np.ndarray = field(repr=False)
    v_threshold: np.ndarray = field(repr=False)
    v_reset: np.ndarray = field(repr=False)


@dataclass
class IF(Layer):
    """Integrate-and-fire: each step ``v += r I``; spike where ``v > v_threshold``, then ``v = v_reset``."""

    r: np.ndarray = field(repr=False)
    v_threshold: np.ndarray = field(repr=False)
    v_reset: np.ndarray = field(repr=False)


@dataclass
class CubaLIF(Layer):
    """Current-based LIF: ``tau_syn di/dt = -i + w_in I``, ``tau_mem dv/dt = (v_leak - v) + r i``; spike and
    reset as :class:`LIF`."""

    tau_syn: np.ndarray = field(repr=False)
    tau_mem: np.ndarray = field(repr=False)
    r: np.ndarray = field(repr=False)
    v_leak: np.ndarray = field(repr=False)
    v_threshold: np.ndarray = field(repr=False)
    v_reset: np.ndarray = field(repr=False)
    w_in: np.ndarray = field(repr=False)


LINEAR_KINDS = (Conv2d, Dense, SumPool2d, AvgPool2d, Flatten, Scale)
NEURON_KINDS = (LIF, IF, CubaLIF)
LAYER_CLASSES = {cls.__name__: cls for cls in (*LINEAR_KINDS, *NEURON_KINDS)}
POSITIVE = {"tau", "tau_syn", "tau_mem"}
"""Neuron parameters that must be positive."""


def neuron_parameters(layer: Layer) -> dict[str, np.ndarray]:
    """A neuron layer's parameters by name (its array fields)."""
    return {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer) if f.name != "name"}


@dataclass
class SpikingModel:
    """A spiking network imported from NIR.

    Attributes
    ----------
    input_shape : tuple of int
        Shape of one step's input spikes.
    layers : list of Layer
        In order; each reads the one before it.
    dt : float
        The length of one simulation step in the units of the neurons' time constants (seconds in NIR):
        a LIF's membrane moves by ``dt / tau`` of its drive per step.
    provenance : dict
        Where the model came from (file name, its sha256, the NIR version).
    """

    input_shape: Shape
    layers: list[Layer]
    dt: float = 1e-3
    provenance: dict = field(default_factory=dict)

    def shapes(self) -> list[Shape]:
        """Output shape of every layer (checked: :func:`validate_model`)."""
        return validate_model(self)

    def neuron_layers(self) -> list[int]:
        return [i for i, layer in enumerate(self.layers) if isinstance(layer, NEURON_KINDS)]


infer_shape = Registry("spiking model shape")
"""Per layer kind: ``rule(layer, input_shape) -> output shape``; raises ``ValueError`` naming a bad field."""

forward_rule = Registry("linear forward")
"""Per linear kind: ``rule(layer, x, bias) -> y`` for a batch ``x`` of shape ``(B, *input_shape)``, float64;
``bias=False`` leaves biases out (the linear part alone)."""


def _pair(value, name: str, low: int) -> tuple[int, int]:
    pair = tuple(int(v) for v in np.broadcast_to(np.asarray(value), (2,)))
    if any(v < low for v in pair):
        raise ValueError(f"{name} {pair} must be at least {low}")
    return pair


def _finite(value, name: str, shape: Shape | None = None) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} has shape {array.shape}, expected {tuple(shape)}")
    return array


def _spatial(shape: Shape, kind: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ValueError(f"a {kind} reads (channels, height, width), not shape {tuple(shape)}")
    return shape


def _window_out(n: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    return (n + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


@infer_shape.register(Conv2d)
def _conv_shape(layer: Conv2d, shape: Shape) -> Shape:
    c, h, w = _spatial(shape, "Conv2d")
    weight = _finite(layer.weight, "weight")
    if weight.ndim != 4 or layer.groups < 1 or c % layer.groups or weight.shape[0] % layer.groups \
            or weight.shape[1] != c // layer.groups:
        raise ValueError(f"weight {weight.shape} does not fit {c} input channels in {layer.groups} groups")
    _finite(layer.bias, "bias", (weight.shape[0],))
    stride, dilation = _pair(layer.stride, "stride", 1), _pair(layer.dilation, "dilation", 1)
    padding = _pair(layer.padding, "padding", 0)
    out = (weight.shape[0], *(_window_out(n, k, s, p, d) for n, k, s, p, d in
                              zip((h, w), weight.shape[2:], stride, padding, dilation, strict=True)))
    if min(out[1:]) < 1:
        raise ValueError(f"input {h}x{w} is too small for its {weight.shape[2]}x{weight.shape[3]} kernel")
    return out


@infer_shape.register(Dense)
def _dense_shape(layer: Dense, shape: Shape) -> Shape:
    weight = _finite(layer.weight, "weight")
    if len(shape) != 1 or weight.ndim != 2 or weight.shape[1] != shape[0]:
        raise ValueError(f"weight {weight.shape} does not fit input shape {tuple(shape)} (flatten it first)")
    if layer.bias is not None:
        _finite(layer.bias, "bias", (weight.shape[0],))
    return (weight.shape[0],)


@infer_shape.register(SumPool2d)
@infer_shape.register(AvgPool2d)
def _pool_shape(layer: SumPool2d, shape: Shape) -> Shape:
    c, h, w = _spatial(shape, layer.kind)
    kernel, stride = _pair(layer.kernel, "kernel", 1), _pair(layer.stride, "stride", 1)
    padding = _pair(layer.padding, "padding", 0)
    out = (c, *(_window_out(n, k, s, p) for n, k, s, p in zip((h, w), kernel, stride, padding, strict=True)))
    if min(out[1:]) < 1:
        raise ValueError(f"input {h}x{w} is too small for a {kernel[0]}x{kernel[1]} window")
    return out


def _flat_range(layer: Flatten, rank: int) -> tuple[int, int]:
    start = layer.start_dim + rank if layer.start_dim < 0 else layer.start_dim
    end = layer.end_dim + rank if layer.end_dim < 0 else layer.end_dim
    if not 0 <= start <= end < rank:
        raise ValueError(f"dimensions {layer.start_dim}..{layer.end_dim} are not in a shape of rank {rank}")
    return start, end


@infer_shape.register(Flatten)
def _flatten_shape(layer: Flatten, shape: Shape) -> Shape:
    start, end = _flat_range(layer, len(shape))
    return (*shape[:start], int(np.prod(shape[start:end + 1])), *shape[end + 1:])


@infer_shape.register(Scale)
def _scale_shape(layer: Scale, shape: Shape) -> Shape:
    scale = _finite(layer.scale, "scale")
    try:
        np.broadcast_to(scale, shape)
    except ValueError:
        raise ValueError(f"scale {scale.shape} does not fit shape {tuple(shape)}") from None
    return tuple(shape)


@infer_shape.register(LIF)
@infer_shape.register(IF)
@infer_shape.register(CubaLIF)
def _neuron_shape(layer, shape: Shape) -> Shape:
    for name, value in neuron_parameters(layer).items():
        array = _finite(value, name, shape)
        if name in POSITIVE and not np.all(array > 0):
            raise ValueError(f"{name} must be positive")
    return tuple(shape)


def _pad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))


@forward_rule.register(Conv2d)
def _conv_forward(layer: Conv2d, x: np.ndarray, bias: bool) -> np.ndarray:
    weight = np.asarray(layer.weight, np.float64)
    f, cg, kh, kw = weight.shape
    out_shape = infer_shape(layer, x.shape[1:])
    (sh, sw), (dh, dw) = _pair(layer.stride, "stride", 1), _pair(layer.dilation, "dilation", 1)
    padded = _pad(x, _pair(layer.padding, "padding", 0))
    out = np.zeros((len(x), *out_shape))
    fg = f // layer.groups
    for g in range(layer.groups):
        block = padded[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                window = block[:, :, i * dh:i * dh + sh * (out_shape[1] - 1) + 1:sh,
                               j * dw:j * dw + sw * (out_shape[2] - 1) + 1:sw]
                out[:, g * fg:(g + 1) * fg] += np.einsum("bchw,fc->bfhw", window, weight[g * fg:(g + 1) * fg, :, i, j])
    if bias:
        out += np.asarray(layer.bias, np.float64)[None, :, None, None]
    return out


@forward_rule.register(Dense)
def _dense_forward(layer: Dense, x: np.ndarray, bias: bool) -> np.ndarray:
    out = x.reshape(len(x), -1) @ np.asarray(layer.weight, np.float64).T
    if bias and layer.bias is not None:
        out += np.asarray(layer.bias, np.float64)
    return out


@forward_rule.register(SumPool2d)
@forward_rule.register(AvgPool2d)
def _pool_forward(layer: SumPool2d, x: np.ndarray, bias: bool) -> np.ndarray:
    out_shape = infer_shape(layer, x.shape[1:])
    (kh, kw), (sh, sw) = _pair(layer.kernel, "kernel", 1), _pair(layer.stride, "stride", 1)
    padded = _pad(x, _pair(layer.padding, "padding", 0))
    out = np.zeros((len(x), *out_shape))
    for i in range(kh):
        for j in range(kw):
            out += padded[:, :, i:i + sh * (out_shape[1] - 1) + 1:sh, j:j + sw * (out_shape[2] - 1) + 1:sw]
    return out / (kh * kw) if isinstance(layer, AvgPool2d) else out


@forward_rule.register(Flatten)
def _flatten_forward(layer: Flatten, x: np.ndarray, bias: bool) -> np.ndarray:
    return x.reshape(len(x), *infer_shape(layer, x.shape[1:]))


@forward_rule.register(Scale)
def _scale_forward(layer: Scale, x: np.ndarray, bias: bool) -> np.ndarray:
    return x * np.asarray(layer.scale, np.float64)


def validate_model(model: SpikingModel) -> list[Shape]:
    """Check a spiking model before anything uses it; return every layer's output shape.

    Raises
    ------
    ValueError
        One line: ``layer 'name' (Kind): problem`` or a problem of the input shape, ``dt`` or the whole.
    """
    shape = tuple(model.input_shape)
    if not 1 <= len(shape) <= 3 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                                       for v in shape) or int(np.prod(shape)) > MAX_NEURONS:
        raise ValueError(f"input shape {shape} is not 1 to 3 positive sizes of at most {MAX_NEURONS:,} values")
    if not (isinstance(model.dt, (float, int, np.floating)) and 0 < model.dt < np.inf):
        raise ValueError(f"dt {model.dt!r} is not a positive time step")
    if not model.layers or not model.neuron_layers():
        raise ValueError("the model has no neuron layer: nothing spikes")
    shapes: list[Shape] = []
    for layer in model.layers:
        try:
            if type(layer) not in LAYER_CLASSES.values():
                raise ValueError("is not a layer kind of a spiking model")
            shape = tuple(int(v) for v in infer_shape(layer, shape))
            if int(np.prod(shape)) > MAX_NEURONS:
                raise ValueError(f"its output {shape} is larger than {MAX_NEURONS:,} values")
        except (ValueError, TypeError, NotImplementedError) as err:
            raise ValueError(f"layer {getattr(layer, 'name', '?')!r} ({type(layer).__name__}): {err}") from None
        shapes.append(shape)
    names = [layer.name for layer in model.layers]
    if len(set(names)) != len(names):
        raise ValueError("two layers have the same name")
    return shapes

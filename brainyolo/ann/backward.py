"""numpy vector-Jacobian products of the ANN: how a change of the heads' maps pulls back to every layer.

:func:`backward` is :func:`brainyolo.ann.reference.forward` run backwards: given the captured outputs of one
image and a cotangent (a vector ``u``) on each head's map, it returns ``J_l^T u`` for every layer ``l``, where
``J_l`` is the Jacobian of the heads' maps with respect to layer ``l``'s output at that image (leaky slopes and
max-pool winners fixed by the forward pass). One rule per layer kind (:data:`vjp_rule`), as the forward pass
has; a kind without a rule is reported by name.
"""

from __future__ import annotations

import numpy as np

from brainyolo.ann.graph import INPUT, Conv, Graph, MaxPool, RegionHead, Route, Upsample, YoloHead
from brainyolo.registry import Registry

vjp_rule = Registry("vector-Jacobian product")
"""``rule(layer, inputs, output, cotangent) -> [cotangent of each input]`` per layer kind."""


def conv2d_transpose(cotangent: np.ndarray, weight: np.ndarray, stride: int, pad: int,
                     input_shape: tuple[int, int, int]) -> np.ndarray:
    """The vector-Jacobian product of :func:`~brainyolo.ann.reference.conv2d` with respect to its input:
    ``cotangent`` (F, out_h, out_w) pulled back to an input of ``input_shape`` (C, H, W)."""
    filters, channels, k, _ = weight.shape
    _, out_h, out_w = cotangent.shape
    _, height, width = input_shape
    columns = (weight.reshape(filters, -1).T.astype(cotangent.dtype, copy=False)
               @ cotangent.reshape(filters, -1)).reshape(channels, k, k, out_h, out_w)
    padded = np.zeros((channels, max(height + 2 * pad, (out_h - 1) * stride + k),
                       max(width + 2 * pad, (out_w - 1) * stride + k)), cotangent.dtype)
    for dy in range(k):
        for dx in range(k):
            padded[:, dy:dy + stride * (out_h - 1) + 1:stride, dx:dx + stride * (out_w - 1) + 1:stride] \
                += columns[:, dy, dx]
    return padded[:, pad:pad + height, pad:pad + width]


@vjp_rule.register(Conv)
def _conv_vjp(layer: Conv, inputs: list[np.ndarray], output: np.ndarray, cotangent: np.ndarray) -> list:
    if layer.activation == "leaky":  # max(x, alpha x) keeps the sign of x: its slope is 1 where the output is > 0
        cotangent = np.where(output > 0, cotangent, cotangent * layer.alpha)
    elif layer.activation != "linear":
        raise ValueError(f"no vector-Jacobian product for a {layer.activation!r} convolution")
    return [conv2d_transpose(cotangent, layer.weight, layer.stride, layer.pad, inputs[0].shape)]


@vjp_rule.register(MaxPool)
def _maxpool_vjp(layer: MaxPool, inputs: list[np.ndarray], output: np.ndarray, cotangent: np.ndarray) -> list:
    """Each window's cotangent goes to its winner (the first of equal maxima in the window's row-major order)."""
    x = inputs[0]
    channels, height, width = x.shape
    _, out_h, out_w = output.shape
    offset, size, stride = layer.pad // 2, layer.size, layer.stride
    full = (channels, max((out_h - 1) * stride + size, height + offset),
            max((out_w - 1) * stride + size, width + offset))
    padded = np.full(full, -np.inf, x.dtype)
    padded[:, offset:offset + height, offset:offset + width] = x
    pulled = np.zeros(full, cotangent.dtype)
    taken = np.zeros(output.shape, bool)
    for dy in range(size):
        for dx in range(size):
            rows = slice(dy, dy + stride * (out_h - 1) + 1, stride)
            cols = slice(dx, dx + stride * (out_w - 1) + 1, stride)
            wins = (padded[:, rows, cols] == output) & ~taken
            pulled[:, rows, cols] += np.where(wins, cotangent, 0)
            taken |= wins
    return [pulled[:, offset:offset + height, offset:offset + width]]


@vjp_rule.register(Upsample)
def _upsample_vjp(layer: Upsample, inputs, output, cotangent: np.ndarray) -> list:
    channels, height, width = inputs[0].shape
    s = layer.stride
    return [cotangent.reshape(channels, height, s, width, s).sum(axis=(2, 4))]


@vjp_rule.register(Route)
def _route_vjp(layer: Route, inputs: list[np.ndarray], output, cotangent: np.ndarray) -> list:
    ends = np.cumsum([x.shape[0] for x in inputs])[:-1]
    return np.split(cotangent, ends, axis=0)


@vjp_rule.register(YoloHead)
@vjp_rule.register(RegionHead)
def _head_vjp(layer, inputs, output, cotangent: np.ndarray) -> list:
    return [cotangent]  # a head's output is its input map


def backward(graph: Graph, outputs: list[np.ndarray], head_cotangents: dict[int, np.ndarray]) -> list:
    """Every layer's cotangent from cotangents on the heads.

    Parameters
    ----------
    graph : Graph
    outputs : list
        :func:`~brainyolo.ann.reference.forward`'s captured outputs (``capture=True``) of one image.
    head_cotangents : dict
        Head layer index -> an array of that head's map shape (a head left out contributes nothing).

    Returns
    -------
    list
        Per layer, the cotangent of its output (``None`` for a layer no head depends on).
    """
    cotangents: list[np.ndarray | None] = [None] * len(graph.layers)
    for head, cotangent in head_cotangents.items():
        if np.shape(cotangent) != np.shape(outputs[head]):
            raise ValueError(f"layer {head}: a cotangent of shape {np.shape(cotangent)} for a map of "
                             f"{np.shape(outputs[head])}")
        cotangents[head] = np.asarray(cotangent, np.float64)
    for index in range(len(graph.layers) - 1, -1, -1):
        cotangent, layer = cotangents[index], graph.layers[index]
        if cotangent is None:
            continue
        sources = list(layer.inputs)
        inputs = [None if i == INPUT else outputs[i] for i in sources]
        if INPUT in sources:  # the image's own cotangent is not needed
            if len(sources) > 1:
                raise ValueError(f"layer {index}: the image routed beside other layers")
            continue
        for source, pulled in zip(sources, vjp_rule(layer, inputs, outputs[index], cotangent), strict=True):
            cotangents[source] = pulled if cotangents[source] is None else cotangents[source] + pulled
    return cotangents

"""numpy reference forward pass of the ANN (batch-norm already folded into the graph).

Convolutions are im2col + one BLAS matrix product per layer; max-pools are element-wise maxima of
strided views. Activations are ``(C, H, W)`` arrays of ``dtype`` (float32 by default; float64 for
tests that need a tighter reference).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from brainyolo.ann.graph import (
    INPUT,
    Conv,
    Graph,
    MaxPool,
    RegionHead,
    Route,
    Upsample,
    YoloHead,
)
from brainyolo.registry import Registry

forward_rule = Registry("numpy forward")


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """Cross-correlation of ``x`` (C, H, W) with ``weight`` (F, C, k, k), plus ``bias``, zero-padded."""
    channels, height, width = x.shape
    filters, _, k, _ = weight.shape
    if pad:
        padded = np.zeros((channels, height + 2 * pad, width + 2 * pad), x.dtype)
        padded[:, pad:pad + height, pad:pad + width] = x
    else:
        padded = np.ascontiguousarray(x)
    out_h = (height + 2 * pad - k) // stride + 1
    out_w = (width + 2 * pad - k) // stride + 1
    if k == 1 and stride == 1:
        columns = padded.reshape(channels, -1)
    else:
        sc, sh, sw = padded.strides
        columns = as_strided(padded, (channels, k, k, out_h, out_w),
                             (sc, sh, sw, sh * stride, sw * stride)).reshape(channels * k * k, -1)
    out = weight.reshape(filters, -1).astype(x.dtype, copy=False) @ columns
    out += bias.astype(x.dtype, copy=False)[:, None]
    return out.reshape(filters, out_h, out_w)


def leaky(x: np.ndarray, alpha: float) -> np.ndarray:
    """max(x, alpha x) in place (alpha < 1)."""
    return np.maximum(x, x * x.dtype.type(alpha), out=x)


def maxpool2d(x: np.ndarray, size: int, stride: int, pad: int) -> np.ndarray:
    """Darknet max-pool; out-of-range pixels (padding) never win."""
    channels, height, width = x.shape
    out_h = (height + pad - size) // stride + 1
    out_w = (width + pad - size) // stride + 1
    offset = pad // 2
    need_h = (out_h - 1) * stride + size
    need_w = (out_w - 1) * stride + size
    if offset == 0 and need_h <= height and need_w <= width:
        padded = x
    else:
        padded = np.full((channels, max(need_h, height + offset), max(need_w, width + offset)),
                         -np.inf, x.dtype)
        padded[:, offset:offset + height, offset:offset + width] = x
    # separably: the maximum over the window's rows, then over its columns (2 x size passes, not size**2)
    rows = None
    for dy in range(size):
        view = padded[:, dy:dy + stride * (out_h - 1) + 1:stride, :need_w]
        rows = view.copy() if rows is None else np.maximum(rows, view, out=rows)
    out = None
    for dx in range(size):
        view = rows[:, :, dx:dx + stride * (out_w - 1) + 1:stride]
        out = view.copy() if out is None else np.maximum(out, view, out=out)
    return out


def upsample2d(x: np.ndarray, stride: int) -> np.ndarray:
    """Nearest-neighbour upsampling by ``stride``."""
    return np.repeat(np.repeat(x, stride, axis=1), stride, axis=2)


@forward_rule.register(Conv)
def _conv_forward(layer: Conv, inputs: list[np.ndarray]) -> np.ndarray:
    out = conv2d(inputs[0], layer.weight, layer.bias, layer.stride, layer.pad)
    if layer.activation == "spike":
        raise ValueError("a directly trained spiking layer has no ANN forward (simulate it)")
    return leaky(out, layer.alpha) if layer.activation == "leaky" else out


@forward_rule.register(MaxPool)
def _maxpool_forward(layer: MaxPool, inputs: list[np.ndarray]) -> np.ndarray:
    return maxpool2d(inputs[0], layer.size, layer.stride, layer.pad)


@forward_rule.register(Upsample)
def _upsample_forward(layer: Upsample, inputs: list[np.ndarray]) -> np.ndarray:
    return upsample2d(inputs[0], layer.stride)


@forward_rule.register(Route)
def _route_forward(layer: Route, inputs: list[np.ndarray]) -> np.ndarray:
    return inputs[0] if len(inputs) == 1 else np.concatenate(inputs, axis=0)


@forward_rule.register(YoloHead)
@forward_rule.register(RegionHead)
def _head_forward(layer, inputs: list[np.ndarray]) -> np.ndarray:
    # A head's "output" is its raw input map; decoding into boxes is brainyolo.ann.heads' job.
    return inputs[0]


def forward(graph: Graph, image: np.ndarray, capture: bool = False,
            dtype=np.float32, after=None, known: list | None = None, start: int = 0) -> list[np.ndarray | None]:
    """Run the ANN on one preprocessed image.

    Parameters
    ----------
    graph : Graph
    image : ndarray, shape ``graph.input_shape``
        Letterboxed image, RGB, values in [0, 1].
    capture : bool
        Keep every layer's output. Otherwise an output is dropped as soon as all its readers ran,
        and only the heads' outputs are returned.
    dtype : numpy dtype
        Arithmetic precision.
    after : callable, optional
        ``after(index, output) -> output``: replaces each layer's output before its readers see it
        (e.g. clipping it, as ``analysis/fast-and-frugal/rate_ceiling.py`` does).
    known, start : list, int, optional
        Layers before ``start`` are not computed: their outputs are ``known``'s (a captured forward of
        the same image), so a change from layer ``start`` on costs only the layers after it.

    Returns
    -------
    list
        One entry per layer: its output (every layer with ``capture``, else only the heads'),
        ``None`` where it was dropped.
    """
    image = np.asarray(image, dtype)
    if image.shape != tuple(graph.input_shape):
        raise ValueError(f"image shape {image.shape} != network input {tuple(graph.input_shape)}")
    keep = set(graph.heads())
    readers_left = [len(r) for r in graph.consumers()]
    outputs: list[np.ndarray | None] = [None] * len(graph.layers)
    if start:
        if known is None or len(known) != len(graph.layers) or not capture:
            raise ValueError("start > 0 needs the known outputs of every layer, and capture")
        outputs[:start] = known[:start]
    for index, layer in enumerate(graph.layers):
        if index < start:
            continue
        inputs = [image if i == INPUT else outputs[i] for i in layer.inputs]
        outputs[index] = forward_rule(layer, inputs)
        if after is not None:
            outputs[index] = after(index, outputs[index])
        if not capture:
            for source in layer.inputs:
                if source != INPUT:
                    readers_left[source] -= 1
                    if readers_left[source] == 0 and source not in keep:
                        outputs[source] = None
    return outputs


def head_maps(graph: Graph, image: np.ndarray, dtype=np.float32) -> list[np.ndarray]:
    """The raw maps entering each detection head, in head order."""
    outputs = forward(graph, image, dtype=dtype)
    return [outputs[i] for i in graph.heads()]

"""Data-based normalization of the ANN for rate coding (Diehl 2015, Rueckauer 2017, Spiking-YOLO).

Every layer's output gets a scale vector lambda (one value per channel):

* ``layer`` norm (Spiking-YOLO eq. 4): a convolution's lambda is the p-th percentile of all its
  activations, the same value for every channel;
* ``channel`` norm (Spiking-YOLO eq. 5, Algorithm 1): one percentile per output channel;
* ``channel-balanced`` (a run's choice, not a model's): the model's own lambda times its channel balance, a factor
  per output channel of each spiking convolution (``brainyolo convert`` measures it on the model's own normalized
  network: :func:`brainyolo.convert.balancing.channel_scales`), so each channel's spike stands for its own share of
  the layer's threshold (a model without one: its own lambda);
* max-pool and upsample pass lambda through unchanged per channel, route concatenates its inputs'
  lambdas, heads keep their input's; the network input (the raw image) has lambda 1.

A convolution reading lambda_in and producing lambda_out is rescaled as
``w~[j, i] = w[j, i] * lambda_in[i] / lambda_out[j]`` and ``b~[j] = b[j] / lambda_out[j]``, so the
normalized network's activations are the original ones divided by lambda (leaky-ReLU is positively
homogeneous). The leaky slope alpha is kept per layer: it becomes the signed neuron's imbalanced
threshold (negative threshold ``-Vth / alpha``).
"""

from __future__ import annotations

import numpy as np

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
from brainyolo.convert.calibration import Calibration
from brainyolo.registry import Registry

MODEL_NORMALIZATIONS = ("channel", "layer")
"""How a model's lambda is measured at conversion (a model file's own normalization)."""

NORMALIZATIONS = (*MODEL_NORMALIZATIONS, "channel-balanced")
"""How a run rescales the network: a model normalization, or ``channel-balanced`` (the model's own and its channel
balance: :meth:`~brainyolo.convert.model_file.ConvertedModel.lambdas`)."""

lambda_rule = Registry("lambda propagation")
normalize_rule = Registry("parameter normalization")


@lambda_rule.register(Conv)
def _conv_lambda(layer: Conv, index: int, inputs: list[np.ndarray], calibration: Calibration,
                 norm: str) -> np.ndarray:
    stats = calibration.layers[index]
    if norm == "channel":
        return np.asarray(stats.channel_percentile, np.float64)
    return np.full(layer.filters, stats.layer_percentile, np.float64)


@lambda_rule.register(MaxPool)
@lambda_rule.register(Upsample)
@lambda_rule.register(YoloHead)
@lambda_rule.register(RegionHead)
def _passthrough_lambda(layer, index, inputs, calibration, norm) -> np.ndarray:
    return inputs[0]


@lambda_rule.register(Route)
def _route_lambda(layer: Route, index, inputs, calibration, norm) -> np.ndarray:
    return np.concatenate(inputs)


def output_lambdas(graph: Graph, calibration: Calibration, norm: str,
                   scales: dict[int, np.ndarray] | None = None) -> list[np.ndarray]:
    """Per layer, the lambda vector (one value per output channel) under ``norm``.

    ``scales``: per convolution, a factor per output channel on its lambda (the channel balancing of
    :func:`brainyolo.convert.balancing.channel_scales`: a channel's spike then stands for ``scale`` times as much of
    its activation), passed on to the layers that read it as any lambda is."""
    if norm not in MODEL_NORMALIZATIONS:
        raise ValueError(f"normalization {norm!r} is not one of {MODEL_NORMALIZATIONS}")
    scales = scales or {}
    image_lambda = np.ones(graph.input_shape[0])
    lambdas: list[np.ndarray] = []
    for index, layer in enumerate(graph.layers):
        inputs = [image_lambda if i == INPUT else lambdas[i] for i in layer.inputs]
        lam = lambda_rule(layer, index, inputs, calibration, norm)
        lambdas.append(lam * np.asarray(scales[index], np.float64) if index in scales else lam)
    return lambdas


def channel_sources(graph: Graph) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer, per output channel: the convolution whose channel it carries (``-1``: the image) and that
    channel's index there (max-pools, upsamples and heads pass their input's on, a route concatenates them: the
    propagation of lambda)."""
    sources: list[tuple[np.ndarray, np.ndarray]] = []
    image = (np.full(graph.input_shape[0], -1), np.arange(graph.input_shape[0]))
    for index, layer in enumerate(graph.layers):
        inputs = [image if i == INPUT else sources[i] for i in layer.inputs]
        if isinstance(layer, Conv):
            sources.append((np.full(layer.filters, index), np.arange(layer.filters)))
        else:
            owners = lambda_rule(layer, index, [owner for owner, _ in inputs], None, "")
            channels = lambda_rule(layer, index, [channel for _, channel in inputs], None, "")
            sources.append((owners, channels))
    return sources


def input_lambdas(graph: Graph, lambdas: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Per layer, the lambda vectors of its inputs."""
    image_lambda = np.ones(graph.input_shape[0])
    return [[image_lambda if i == INPUT else lambdas[i] for i in layer.inputs]
            for layer in graph.layers]


@normalize_rule.register(Conv)
def _normalize_conv(layer: Conv, lambda_in: list[np.ndarray], lambda_out: np.ndarray) -> dict:
    (lam_in,) = lambda_in
    weight = layer.weight.astype(np.float64) * lam_in[None, :, None, None]
    weight /= lambda_out[:, None, None, None]
    bias = layer.bias.astype(np.float64) / lambda_out
    return {"weight": weight.astype(np.float32), "bias": bias.astype(np.float32)}


@normalize_rule.register(MaxPool)
@normalize_rule.register(Upsample)
@normalize_rule.register(Route)
@normalize_rule.register(YoloHead)
@normalize_rule.register(RegionHead)
def _nothing_to_normalize(layer, lambda_in, lambda_out) -> dict:
    return {}


def normalize_graph(graph: Graph, lambdas: list[np.ndarray]) -> Graph:
    """The graph with every layer's parameters rescaled for ``lambdas`` (see module docstring)."""
    for index, (layer, lam_in) in enumerate(zip(graph.layers, input_lambdas(graph, lambdas),
                                                strict=True)):
        changes = normalize_rule(layer, lam_in, lambdas[index])
        if changes:
            graph = graph.replace(index, **changes)
    return graph

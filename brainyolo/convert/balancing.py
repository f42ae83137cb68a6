"""Threshold balancing from the ANN alone: per-layer thresholds that spend synaptic events where they
buy accuracy.

After ``T`` steps a spiking layer with threshold ``v`` carries its activation on a grid of ``v / T``
(a spike stands for ``v`` of its input): the rounding error grows with ``v``, the spikes (and the
synaptic events they cause downstream) shrink with ``1 / v``. Layers differ in both: a spike of
layer 10 reaches 3·3·1024 targets through max-pool 11, one of layer 0 only 3·3·32, and an error in
a deep layer reaches the heads less diluted than one in the first. This module models a short run
of the holding tracking neuron (``if_signed_ibt_tracking``, ``hold_positive = 1``, V(0) = v/2) as
its ANN with every hidden convolution's output rounded to that grid (:func:`quantize`), and from it

* ``C_l``: the events per image layer ``l``'s spikes cause at threshold 1 (:func:`synaptic_events`;
  at threshold ``v`` they are ``C_l / v``), and
* ``e_l``: the detection error per squared grid step when only layer ``l`` is rounded
  (:func:`detection_error`),

and chooses the thresholds that minimize the modelled error ``sum_l e_l v_l^2`` for a given event
budget ``sum_l C_l / v_l`` (:func:`balance`): ``v_l ∝ (C_l / e_l)^(1/3)`` (Lagrange), clipped to
``[low, high]``. :func:`measure` finds ``C`` and ``e`` on tuning images; ``brainyolo balance`` writes the
result as a ``--params`` file.

The same rule within a layer (:func:`channel_scales`, ``brainyolo convert --balance-channels``): each output
channel's threshold relative to the layer's, ``r_c ∝ (C_c / e_c)^(1/3)``, with ``C_c`` the events its spikes cause
and ``e_c`` the squared weights that read it (how much its rounding moves the next layers), scaled so that the
layer's events stay the same. The scales act on the channels' lambdas, so the spiking network needs nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainyolo.ann.backward import backward
from brainyolo.ann.graph import INPUT, Conv, Graph, RegionHead
from brainyolo.ann.heads import sigmoid
from brainyolo.ann.reference import conv2d, forward
from brainyolo.convert.normalization import channel_sources
from brainyolo.convert.thresholds import BalancedThresholds
from brainyolo.registry import Registry


def quantize(values: np.ndarray, v_th: float, steps: int, burst: int = 1) -> np.ndarray:
    """The value a holding tracking neuron with V(0) = ``v_th``/2 carries after ``steps`` steps of a
    constant normalized input ``values``: the nearest multiple of ``v_th / steps`` (halves rounded
    away from zero, as the neuron does on both sides), at most ``burst`` spikes per step either way
    (``|value| <= burst * v_th``; a neuron file's ``burst``)."""
    counts = np.minimum(np.floor(np.abs(values) * (steps / v_th) + 0.5), burst * steps)
    return np.copysign(counts, values) * (v_th / steps)


def channel_owners(graph: Graph, hidden: list[int]) -> list[np.ndarray]:
    """Per layer, for each output channel, the hidden convolution whose threshold its spikes carry
    (max-pools and relays pass their input's on, a route concatenates them: the builder's own
    propagation, :func:`brainyolo.spiking.builder.spike_values`, of the layer index); -1 where none
    does (the image, the integrate-only output layers, heads)."""
    from brainyolo.spiking.network import spike_values

    return [np.rint(values).astype(int) for values in spike_values(graph, {i: float(i) for i in hidden}, -1.0)]


def synaptic_events(graph: Graph, outputs: list[np.ndarray], owners: list[np.ndarray],
                    thresholds: dict[int, float], steps: int) -> dict[int, float]:
    """Synaptic events of one image over ``steps`` steps, by the hidden layer whose spikes cause them.

    ``outputs`` are the (normalized, quantized or not) layer outputs of the image; a neuron of a
    convolution's input whose owner has threshold ``v`` makes ``|value| · steps / v`` net spikes, each
    reaching every filter at every output position whose window holds it (borders and strides
    counted exactly). Only convolutions' inputs count, as in the recordings' ``input_events``.
    """
    events = dict.fromkeys(thresholds, 0.0)
    for layer in graph.layers:
        if not isinstance(layer, Conv) or layer.inputs[0] == INPUT:
            continue
        source = layer.inputs[0]
        filters, _, k, _ = layer.weight.shape
        window = np.ones((1, 1, k, k))
        for owner in np.unique(owners[source]):
            if owner >= 0:
                spikes = np.abs(outputs[source][owners[source] == owner]).sum(axis=0) * steps / thresholds[int(owner)]
                reached = conv2d(spikes[None].astype(np.float64), window, np.zeros(1), layer.stride, layer.pad)
                events[int(owner)] += float(filters * reached.sum())
    return events


def _class_probabilities(logits: np.ndarray, softmax: bool) -> np.ndarray:
    """A head's class probabilities from its logits ``(anchors, classes, H, W)``: a ``[region]`` head's
    softmax over the classes, or each class's logistic (``[yolo]``, ``[region]`` without softmax)."""
    if not softmax:
        return sigmoid(logits)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def detection_error(reference: list[np.ndarray], maps: list[np.ndarray], anchors: list[int],
                    softmax: list[bool] | None = None) -> float:
    """How far YOLO head maps are from ``reference``, weighted as a detector reads them.

    Per anchor and cell: the squared change of the objectness probability, plus, weighted by the
    reference's objectness, those of the box offsets (sigmoids), the box sizes (log scale) and the
    class probabilities (``softmax[i]``: head ``i`` is a ``[region]`` head with softmax classes).
    Summed over cells and anchors of every head.
    """
    total = 0.0
    softmax = softmax or [False] * len(anchors)
    for ref, new, n, soft in zip(reference, maps, anchors, softmax, strict=True):
        p = np.asarray(ref, np.float64).reshape(n, -1, *ref.shape[1:])
        q = np.asarray(new, np.float64).reshape(n, -1, *new.shape[1:])
        objectness = sigmoid(p[:, 4])
        weighted = ((sigmoid(p[:, :2]) - sigmoid(q[:, :2])) ** 2).sum(axis=1) \
            + ((p[:, 2:4] - q[:, 2:4]) ** 2).sum(axis=1) \
            + ((_class_probabilities(p[:, 5:], soft) - _class_probabilities(q[:, 5:], soft)) ** 2).sum(axis=1)
        total += float(((objectness - sigmoid(q[:, 4])) ** 2 + objectness * weighted).sum())
    return total


def head_readers(graph: Graph) -> tuple[list[int], list[bool]]:
    """Per head of ``graph``: its anchors and whether its classes are a softmax (for :func:`detection_error`)."""
    heads = [graph.layers[h] for h in graph.heads()]
    return [len(h.anchors) for h in heads], [bool(isinstance(h, RegionHead) and h.softmax) for h in heads]


def balance(cost: dict[int, float], sensitivity: dict[int, float], budget: float,
            low: float = 1.0, high: float = 8.0) -> dict[int, float]:
    """Thresholds minimizing ``sum e_l v_l²`` subject to ``sum C_l / v_l = budget``, ``low <= v_l <= high``.

    Without the bounds the optimum is ``v_l = κ (C_l / e_l)^(1/3)`` (Lagrange: ``2 e_l v_l = μ C_l /
    v_l²``); with them, the same with every ``v_l`` clipped, ``κ`` found by bisection (the events
    fall monotonically as ``κ`` grows). A layer without measured error (``e_l = 0``) gets ``high``.

    Raises
    ------
    ValueError
        When the budget cannot be met inside the bounds, or an input is not positive.
    """
    layers = sorted(cost)
    c = np.array([cost[i] for i in layers], float)
    e = np.array([sensitivity[i] for i in layers], float)
    if budget <= 0 or np.any(c <= 0) or np.any(e < 0) or not 0 < low <= high:
        raise ValueError("costs and the budget must be positive, errors not negative, 0 < low <= high")
    ratio = np.where(e > 0, np.cbrt(c / np.where(e > 0, e, 1.0)), np.inf)

    def thresholds(kappa: float) -> np.ndarray:
        return np.clip(kappa * ratio, low, high)

    def events(kappa: float) -> float:
        return float(np.sum(c / thresholds(kappa)))

    if not np.sum(c) / high <= budget <= np.sum(c) / low:
        raise ValueError(f"an event budget of {budget:.4g} is outside what thresholds in [{low}, {high}] "
                         f"give ({np.sum(c) / high:.4g} … {np.sum(c) / low:.4g})")
    finite = ratio[np.isfinite(ratio)]
    lo_k, hi_k = (low / finite.max(), high / finite.min()) if finite.size else (1.0, 1.0)
    for _ in range(200):
        mid = 0.5 * (lo_k + hi_k)
        lo_k, hi_k = (mid, hi_k) if events(mid) > budget else (lo_k, mid)
    return {i: float(v) for i, v in zip(layers, thresholds(hi_k), strict=True)}


def detection_cotangents(reference: list[np.ndarray], anchors: list[int], softmax: list[bool],
                         rng: np.random.Generator) -> list[np.ndarray]:
    """A random cotangent per head map whose outer product is, on average, the Gauss-Newton matrix of
    :func:`detection_error` at ``reference``.

    :func:`detection_error` is the squared distance between the read-outs ``r`` (objectness, and weighted by the
    reference's objectness the box offsets, log sizes and class probabilities) of two maps. With ``z`` a random
    ±1 vector on the read-outs, ``u = J_r^T z`` has ``E[u u^T] = J_r^T J_r``: pulled back through the network
    (:func:`brainyolo.ann.backward.backward`), the square of a neuron's cotangent is on average how much the
    detection error grows per squared change of that neuron (the linearized error).
    """
    cotangents = []
    for ref, n, soft in zip(reference, anchors, softmax, strict=True):
        p = np.asarray(ref, np.float64).reshape(n, -1, *ref.shape[1:])
        z = rng.choice([-1.0, 1.0], size=p.shape)
        slope = sigmoid(p) * (1 - sigmoid(p))
        weight = np.sqrt(sigmoid(p[:, 4:5]))
        u = np.empty_like(p)
        u[:, 4] = slope[:, 4] * z[:, 4]
        u[:, :2] = weight * slope[:, :2] * z[:, :2]
        u[:, 2:4] = weight * z[:, 2:4]
        if soft:  # the softmax's Jacobian diag(s) - s s^T is symmetric
            s = _class_probabilities(p[:, 5:], True)
            sz = s * z[:, 5:]
            u[:, 5:] = weight * (sz - s * sz.sum(axis=1, keepdims=True))
        else:
            u[:, 5:] = weight * slope[:, 5:] * z[:, 5:]
        cotangents.append(u.reshape(ref.shape))
    return cotangents


channel_sensitivity = Registry("channel sensitivity")
"""How :func:`channel_scales` weighs a channel's rounding: ``rule(graph, lambdas, outputs, hidden, rng)`` -> per
hidden layer, per output channel, the error per squared grid step on one image (``outputs``: the normalized
ANN's captured outputs of it)."""


@channel_sensitivity.register("weights")
def _weight_sensitivity(graph: Graph, lambdas, outputs, hidden: list[int], rng) -> dict[int, np.ndarray]:
    """The squared weights of every convolution that reads the channel: the variance its rounding adds to their
    inputs (the same for every image)."""
    sensitivity = {i: np.zeros(graph.layers[i].filters) for i in hidden}
    sources = channel_sources(graph)
    for layer in graph.layers:
        if isinstance(layer, Conv) and layer.inputs[0] != INPUT:
            owner, channel = sources[layer.inputs[0]]
            squared = (np.asarray(layer.weight, np.float64) ** 2).sum(axis=(0, 2, 3))
            for i in hidden:
                np.add.at(sensitivity[i], channel[owner == i], squared[owner == i])
    return sensitivity


@channel_sensitivity.register("detection")
def _detection_sensitivity(graph: Graph, lambdas, outputs, hidden: list[int], rng,
                           samples: int = 4) -> dict[int, np.ndarray]:
    """The detection error's growth per squared change of the channel's neurons, summed over them
    (:func:`detection_cotangents` pulled back through the ANN, ``samples`` draws averaged): how much its
    rounding moves the detections, through every layer after it."""
    anchors, softmax = head_readers(graph)
    heads = graph.heads()
    feeding = [graph.layers[h].inputs[0] for h in heads]
    reference = [outputs[h] * np.asarray(lambdas[i], np.float64)[:, None, None]
                 for h, i in zip(heads, feeding, strict=True)]
    sensitivity = {i: np.zeros(graph.layers[i].filters) for i in hidden}
    for _ in range(samples):
        drawn = detection_cotangents(reference, anchors, softmax, rng)
        cotangents = backward(graph, outputs, {h: u * np.asarray(lambdas[i], np.float64)[:, None, None]
                                               for h, i, u in zip(heads, feeding, drawn, strict=True)})
        for i in hidden:
            if cotangents[i] is not None:
                sensitivity[i] += (cotangents[i] ** 2).sum(axis=(1, 2)) / samples
    return sensitivity


def channel_scales(graph: Graph, images, hidden: list[int], lambdas=None, sensitivity: str = "weights",
                   seed: int = 0) -> dict[int, np.ndarray]:
    """Per hidden convolution of the normalized ``graph``, each output channel's threshold relative to the layer's,
    from ``images`` (preprocessed CHW arrays, consumed once).

    For a channel ``c``: ``C_c``, the synaptic events its activation causes at threshold 1 (the summed ``|a|`` of
    the channel where a convolution reads it, times that convolution's filters and ``size² / stride²``; through
    max-pools, upsamples and routes as lambda goes), and ``e_c``, the error its rounding causes per squared grid
    step, by the rule ``sensitivity`` names (:data:`channel_sensitivity`: ``weights``, the squared weights that read
    it; ``detection``, the detection error through the rest of the network, which needs the ``lambdas`` of the
    output layers; its random draws come from ``seed``). Minimizing ``sum_c e_c r_c²`` at the layer's own events
    ``sum_c C_c / r_c = sum_c C_c`` gives ``r_c ∝ (C_c / e_c)^(1/3)``. A channel that causes no events or that
    nothing reads gets 1.
    """
    rule = channel_sensitivity.rule(sensitivity)
    if sensitivity == "detection" and lambdas is None:
        raise ValueError("the detection sensitivity reads the heads as the decoder does: it needs the lambdas")
    rng = np.random.default_rng(seed)
    sources = channel_sources(graph)
    readers = [(layer, *sources[layer.inputs[0]]) for layer in graph.layers  # (conv, owner, channel) of its input
               if isinstance(layer, Conv) and layer.inputs[0] != INPUT]
    cost = {i: np.zeros(graph.layers[i].filters) for i in hidden}
    error = {i: np.zeros(graph.layers[i].filters) for i in hidden}
    count = 0
    for image in images:
        outputs = forward(graph, np.asarray(image, np.float64), capture=True, dtype=np.float64)
        for layer, owner, channel in readers:
            reach = layer.filters * layer.size ** 2 / layer.stride ** 2
            spikes = np.abs(outputs[layer.inputs[0]]).sum(axis=(1, 2)) * reach
            for i in hidden:
                np.add.at(cost[i], channel[owner == i], spikes[owner == i])
        for i, e in rule(graph, lambdas, outputs, hidden, rng).items():
            error[i] += e
        count += 1
    if not count:
        raise ValueError("no images to measure on")
    scales = {}
    for i in hidden:
        c, e = cost[i], error[i]
        measured = (c > 0) & (e > 0)
        ratio = np.ones_like(c)
        ratio[measured] = np.cbrt(c[measured] / e[measured])
        if c.sum() > 0:
            ratio *= np.sum(c / ratio) / np.sum(c)
        scales[i] = ratio
    return scales


def rounded_forward(graph: Graph, lambdas, image: np.ndarray, thresholds: dict[int, float], steps: int,
                    known: list | None = None, burst: int = 1):
    """Every layer's output and the heads' maps (scaled back by the output layers' λ, as the decoder reads
    them) of the normalized ANN with layer ``l``'s output rounded by :func:`quantize` at ``thresholds[l]``
    (up to ``burst`` spikes a step).

    ``known``: this function's outputs for the same image without rounding; the layers before the first
    rounded one are then taken from it, not computed again."""

    def rounded(index, out):
        return quantize(out, thresholds[index], steps, burst) if index in thresholds else out

    start = min(thresholds) if known is not None and thresholds else 0
    outputs = forward(graph, np.asarray(image, np.float64), capture=True, dtype=np.float64, after=rounded,
                      known=known, start=start)
    feeding = [graph.layers[head].inputs[0] for head in graph.heads()]
    maps = [outputs[head] * np.asarray(lambdas[i], np.float64)[:, None, None]
            for head, i in zip(graph.heads(), feeding, strict=True)]
    return outputs, maps


@dataclass(frozen=True)
class Measurement:
    """Per hidden layer, mean over the images: ``cost`` (events at threshold 1) and ``error`` (detection
    error per squared grid step ``(v_th / steps)²`` with only that layer rounded at ``v_th``)."""

    steps: int
    v_th: float
    cost: dict[int, float]
    error: dict[int, float]
    count: int = 0
    """Images measured."""


def measure(graph: Graph, lambdas, images, steps: int, v_th: float, hidden: list[int]) -> Measurement:
    """:class:`Measurement` on ``images`` (an iterable of preprocessed CHW arrays, consumed once)."""
    owners = channel_owners(graph, hidden)
    anchors, softmax = head_readers(graph)
    cost, error, count = dict.fromkeys(hidden, 0.0), dict.fromkeys(hidden, 0.0), 0
    grid = (v_th / steps) ** 2
    for image in images:
        outputs, reference = rounded_forward(graph, lambdas, image, {}, steps)
        for layer, events in synaptic_events(graph, outputs, owners, dict.fromkeys(hidden, 1.0), steps).items():
            cost[layer] += events
        for layer in hidden:
            _, maps = rounded_forward(graph, lambdas, image, {layer: v_th}, steps, known=outputs)
            error[layer] += detection_error(reference, maps, anchors, softmax) / grid
        count += 1
    if not count:
        raise ValueError("no images to measure on")
    return Measurement(steps, v_th, {i: c / count for i, c in cost.items()}, {i: e / count for i, e in error.items()},
                       count)


def rounded_totals(graph: Graph, lambdas, images, thresholds: dict[int, float], steps: int,
                   burst: int = 1) -> tuple[float, float]:
    """Mean detection error and events per image with every layer of ``thresholds`` rounded at once, up to
    ``burst`` spikes a step (the check of the additive model ``sum e_l v_l²``)."""
    owners = channel_owners(graph, sorted(thresholds))
    anchors, softmax = head_readers(graph)
    error = events = 0.0
    count = 0
    for image in images:
        known, reference = rounded_forward(graph, lambdas, image, {}, steps)
        outputs, maps = rounded_forward(graph, lambdas, image, thresholds, steps, known=known, burst=burst)
        error += detection_error(reference, maps, anchors, softmax)
        events += sum(synaptic_events(graph, outputs, owners, thresholds, steps).values())
        count += 1
    return error / max(count, 1), events / max(count, 1)


@dataclass(frozen=True)
class BalanceSettings:
    """How :func:`balance_model` balances: the run length ``steps`` it models, the uniform ``base``
    threshold whose events are the budget's unit, the ``budget`` (a multiple of them), the bounds, and
    at most ``images`` calibration images (the first, by name)."""

    steps: int = 64
    base: float = 2.5
    budget: float = 0.85
    """Chosen on COCO train images that calibration and balancing do not see (analysis/presets/README.md):
    at 64 steps, 0.85 of the uniform threshold's events agreed with the ANN as well as 1.0 did, for 11 %
    fewer events."""
    low: float = 1.0
    high: float = 8.0
    images: int = 16
    channels: bool = True
    """Also balance the channels of each layer (:func:`channel_scales`; ``brainyolo convert --no-balance-channels``
    leaves them out); runs apply it with the normalization ``channel-balanced`` (the ``short`` preset's)."""


def balance_model(model, images, settings: BalanceSettings = BalanceSettings()):
    """Balanced thresholds of a converted model (:class:`~brainyolo.convert.thresholds.BalancedThresholds`) from
    ``images`` (preprocessed CHW arrays).

    A hidden layer whose spikes cause no events on these images (all its outputs zero) gets ``low``;
    one whose rounding does not change the heads gets ``high`` (:func:`balance`).
    """
    from brainyolo.spiking.builder import hidden_layers

    graph, lambdas = model.normalized_graph(), model.lambdas()
    hidden = hidden_layers(graph)
    images = list(images) if settings.channels else images
    measured = measure(graph, lambdas, images, settings.steps, settings.base, hidden)
    spending = {i: c for i, c in measured.cost.items() if c > 0}
    chosen = dict.fromkeys(hidden, settings.low)
    if spending:
        budget = settings.budget * sum(c / settings.base for c in spending.values())
        chosen.update(balance(spending, {i: measured.error[i] for i in spending}, budget, settings.low,
                              settings.high))
    scales = channel_scales(graph, images, hidden) if settings.channels else {}
    return BalancedThresholds({i: round(v, 6) for i, v in chosen.items()}, settings.steps, settings.base,
                              settings.budget, settings.low, settings.high, measured.count, scales)

"""The Brian2 connection between two neuron layers of a spiking model (or the input and the first): the
weight-shared convolution where a lone ``Conv2d`` fits it, else the composed ``Synapses``.

* **Neuron order.** A ``(C, H, W)`` layer's neurons (and the input's) are numbered position-major,
  channel-minor (:func:`neuron_order`), as brainyolo's detectors number theirs and as
  :class:`~brainyolo.spiking.connections.SharedConvolution` reads its source and writes its target; any
  other shape in C order. :mod:`brainyolo.nir.simulate` converts parameters, input spikes and recordings
  at the edges, so users see NIR's ``(C, H, W)`` order only.
* **Weight-shared** (:data:`connection_rule`, one rule per linear kind): a ``Conv2d`` that is the only linear
  layer between two neuron layers becomes one ``SharedConvolution`` holding only its kernel, adding into the
  target's input variable (``x``) — if its kernel is square, its stride and padding equal on both axes, its
  dilation 1 and its groups 1 (:func:`shared_convolution_misfit`). Its input of a step is summed in fixed
  point on the grid ``2**-input_shift`` (:func:`brainyolo.spiking.connections.input_shift`: 30 bits for the
  largest input a step may bring): each weight is rounded once to that grid, exactly where it lies on it
  (weights on a ``2**-k`` grid with ``k <= input_shift``, as the Norse reference network's ``2**-5``).
* **Composed** (everything else: pooling, flatten, dense, scale, a ``Conv2d`` that does not fit or is
  followed by another linear layer): the layers' linear map applied to every unit input
  (:func:`composed_synapses`, in blocks, keeping the nonzero entries) becomes one ``Synapses`` with one
  synapse per nonzero weight (at most :data:`~brainyolo.nir.layers.MAX_CONNECTION_ENTRIES`), adding ``w`` into
  ``x`` per spike in float64.

The biases, carried through the layers (:func:`carried_bias`), are the target's constant input ``I`` in
either case. Both kinds run in the target layer's scheduling slot before its neurons update, on the spikes
its source fired earlier in the same step: a spike crosses the whole network within its step.
"""

from __future__ import annotations

from dataclasses import dataclass

import brian2
import numpy as np

from brainyolo.nir.layers import MAX_CONNECTION_ENTRIES, Conv2d, Shape, forward_rule, infer_shape
from brainyolo.registry import Registry
from brainyolo.spiking import to_neuron_order
from brainyolo.spiking.connections import SharedConvolution

COMPOSE_BLOCK_ENTRIES = 1 << 22
"""Most values one block of unit inputs holds in any layer while :func:`composed_synapses` composes."""

MAX_COMPOSE_VALUES = 1 << 32
"""Most values :func:`composed_synapses` computes in all (every unit input through every layer): the dense
composition grows with the square of the neurons (16 x 32 x 32 through one convolution: 2.7e8, half a minute)."""


def neuron_order(shape: Shape) -> np.ndarray:
    """Per Brian2 neuron of a layer of ``shape``, the C-order (NIR) index of the value it holds.

    ``(C, H, W)``: position-major, channel-minor (neuron ``(y * W + x) * C + c``); any other shape: C order.
    """
    index = np.arange(int(np.prod(shape)))
    return to_neuron_order(index.reshape(shape)) if len(shape) == 3 else index


def to_neurons(values, shape: Shape) -> np.ndarray:
    """Values of a layer of ``shape`` (C order, any shape of as many values) -> flat, in neuron order."""
    return np.asarray(values).reshape(-1)[neuron_order(shape)]


def from_neurons(values: np.ndarray, shape: Shape) -> np.ndarray:
    """``(steps, n)`` in neuron order -> ``(steps, *shape)`` in NIR's C order."""
    values = np.asarray(values)
    out = np.empty_like(values)
    out[:, neuron_order(shape)] = values
    return out.reshape(len(values), *shape)


def _shapes(layers: list, shape: Shape) -> list[Shape]:
    shapes = [tuple(shape)]
    for layer in layers:
        shapes.append(tuple(infer_shape(layer, shapes[-1])))
    return shapes


def _named(layers: list) -> str:
    return "layers " + ", ".join(f"{layer.name!r} ({layer.kind})" for layer in layers)


def composed_synapses(layers: list, shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nonzero entries of the linear map of ``layers`` on an input of ``shape``: ``(pre, post, w)``.

    ``pre`` and ``post`` are C-order indices of the input and output values. The map is applied to blocks of
    unit inputs (at most :data:`COMPOSE_BLOCK_ENTRIES` values in any layer at a time); no layers: the identity.

    Raises
    ------
    ValueError
        The map has more than :data:`~brainyolo.nir.layers.MAX_CONNECTION_ENTRIES` nonzero entries, or composing
        it would compute more than :data:`MAX_COMPOSE_VALUES` values.
    """
    n = int(np.prod(shape))
    if not layers:
        return np.arange(n), np.arange(n), np.ones(n)
    shapes = _shapes(layers, shape)
    work = n * sum(int(np.prod(s)) for s in shapes[1:])
    if work > MAX_COMPOSE_VALUES:
        raise ValueError(f"{_named(layers)}: composing them into synapses would compute {work:.2g} values (more "
                         f"than {MAX_COMPOSE_VALUES:.2g}); a lone Conv2d that fits is weight-shared instead")
    block = max(1, COMPOSE_BLOCK_ENTRIES // max(int(np.prod(s)) for s in shapes))
    pre, post, weight, total = [], [], [], 0
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        basis = np.zeros((len(rows), n))
        basis[np.arange(len(rows)), rows] = 1.0
        basis = basis.reshape(len(rows), *shape)
        for layer in layers:
            basis = forward_rule(layer, basis, False)
        flat = basis.reshape(len(rows), -1)
        i, j = np.nonzero(flat)
        total += len(i)
        if total > MAX_CONNECTION_ENTRIES:
            raise ValueError(f"{_named(layers)}: their connection would hold more than {MAX_CONNECTION_ENTRIES:,} "
                             "synapses")
        pre.append(rows[i])
        post.append(j)
        weight.append(flat[i, j])
    return np.concatenate(pre), np.concatenate(post), np.concatenate(weight)


def carried_bias(layers: list, shape: Shape) -> np.ndarray:
    """The biases of ``layers`` carried through them (what a silent input of ``shape`` gives), flat, C order."""
    zero = np.zeros((1, *shape))
    for layer in layers:
        zero = forward_rule(layer, zero, True)
    return zero.reshape(-1)


def composed(layers: list, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """The linear map of ``layers`` as a dense matrix ``(n_in, n_out)`` (C order) and its bias (small maps)."""
    pre, post, weight = composed_synapses(layers, shape)
    bias = carried_bias(layers, shape)
    matrix = np.zeros((int(np.prod(shape)), len(bias)))
    matrix[pre, post] = weight
    return matrix, bias


def shared_convolution_misfit(layer: Conv2d) -> str | None:
    """Why ``layer`` cannot be a :class:`SharedConvolution` (which takes a square kernel, one stride and one
    padding for both axes, no dilation, no groups), or None where it can."""
    kh, kw = np.shape(layer.weight)[2:]
    checks = {f"kernel {kh}x{kw} is not square": kh == kw,
              f"stride {tuple(layer.stride)} differs between the axes": layer.stride[0] == layer.stride[1],
              f"padding {tuple(layer.padding)} differs between the axes": layer.padding[0] == layer.padding[1],
              f"dilation {tuple(layer.dilation)} is not 1": tuple(layer.dilation) == (1, 1),
              f"groups {layer.groups} is not 1": layer.groups == 1}
    return next((problem for problem, fits in checks.items() if not fits), None)


@dataclass
class Link:
    """The two ends of a connection and its place in the schedule.

    Attributes
    ----------
    source, target : brian2 groups
        The source's spikes drive the target (neurons in :func:`neuron_order`).
    in_shape : tuple of int
        The source layer's shape (NIR's).
    variable : str
        The target's variable the input adds into (its neuron file's ``input``, ``x``).
    order : int
        Scheduling slot ``("groups", order)``: after the source's threshold, before the target's update.
    tag : str
        Suffix of the connection's Brian2 name (``nir_shared{tag}``, ``nir_synapses{tag}``).
    """

    source: object
    target: object
    in_shape: Shape
    variable: str
    order: int
    tag: str


connection_rule = Registry("NIR weight-shared connection")
"""Per linear kind that has a weight-shared connection: ``rule(layer, link) -> the connection object``, or None
where the layer does not fit it (then :func:`composed_connection`)."""


@connection_rule.register(Conv2d)
def _shared_convolution(layer: Conv2d, link: Link):
    if shared_convolution_misfit(layer) is not None:
        return None
    return SharedConvolution(link.source, link.target, np.asarray(layer.weight, np.float64), link.in_shape,
                             stride=int(layer.stride[0]), pad=int(layer.padding[0]), signed=False, when="groups",
                             order=link.order, name=f"nir_shared{link.tag}", target_variable=link.variable)


def composed_connection(layers: list, link: Link):
    """``layers`` composed into one ``Synapses`` (one synapse per nonzero weight, ``variable_post += w`` per
    spike); None if no weight is nonzero."""
    pre, post, weight = composed_synapses(layers, link.in_shape)
    if not len(pre):
        return None
    to_source = np.argsort(neuron_order(link.in_shape))
    to_target = np.argsort(neuron_order(_shapes(layers, link.in_shape)[-1]))
    synapses = brian2.Synapses(link.source, link.target, "w : 1 (constant)", on_pre=f"{link.variable}_post += w",
                               clock=link.target.clock, name=f"nir_synapses{link.tag}")
    synapses.connect(i=to_source[pre], j=to_target[post])
    synapses.w = weight
    for part in [synapses, *synapses.contained_objects]:
        part.when, part.order = "groups", link.order
    return synapses


def connect(layers: list, link: Link, weight_shared: bool = True):
    """The connection of ``layers`` (the linear layers between two neuron layers) along ``link``: the
    :data:`connection_rule` of a lone layer where it has one that fits (and ``weight_shared``), else
    :func:`composed_connection`. None: no connection (no weight is nonzero)."""
    if weight_shared and len(layers) == 1 and type(layers[0]) in connection_rule.kinds():
        connection = connection_rule(layers[0], link)
        if connection is not None:
            return connection
    return composed_connection(layers, link)

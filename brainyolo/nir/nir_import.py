"""NIR graph -> :class:`~brainyolo.nir.layers.SpikingModel`: one rule per NIR node type (:data:`import_rule`).

The graph must be a chain from its one ``Input`` node to its one ``Output`` node (every node reads exactly
the node before it): the feed-forward networks snnTorch, Norse, Sinabs and spikingjelly export. A node
without a rule (``LI``, ``Threshold``, ``Delay``, a recurrent subgraph, ...) or with values brainyolo cannot
express is refused by name: ``node 'x' (Type): problem``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nir
import numpy as np

from brainyolo.io.atomic import sha256_of
from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.nir import layers as L
from brainyolo.registry import Registry

import_rule = Registry("NIR import")
"""Per NIR node class: ``rule(name, node, input_shape) -> list of layers`` (none for a node that only
passes its input on)."""


class NodeError(ValueError):
    """A node brainyolo cannot express; ``node`` is its name in the graph."""

    def __init__(self, node: str, kind: str, problem: str):
        super().__init__(f"node {node!r} ({kind}): {problem}")
        self.node = node


def _per_neuron(value, shape, default: float | None = None) -> np.ndarray:
    """``value`` (or ``default``) for every neuron of ``shape``, in the precision the file stores it (float32 or
    float64: the simulation computes dt / tau in it, as the framework that wrote the file does)."""
    array = np.asarray(default if value is None else value)
    dtype = array.dtype if array.dtype in (np.float32, np.float64) else np.float64
    return np.broadcast_to(array.astype(dtype), shape).copy()


def _padding(padding, kernel: tuple, dilation: tuple) -> tuple[int, int]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0)
        if padding == "same" and all((d * (k - 1)) % 2 == 0 for k, d in zip(kernel, dilation, strict=True)):
            return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
        raise ValueError(f"padding {padding!r} is not 'valid', or 'same' with an odd kernel")
    return tuple(int(v) for v in np.broadcast_to(np.asarray(padding), (2,)))


def _pair(value) -> tuple[int, int]:
    return tuple(int(v) for v in np.broadcast_to(np.asarray(value), (2,)))


@import_rule.register(nir.Conv2d)
def _conv(name: str, node: nir.Conv2d, shape) -> list:
    weight = np.asarray(node.weight)
    dilation = _pair(node.dilation)
    bias = np.zeros(weight.shape[0]) if node.bias is None else np.broadcast_to(node.bias, weight.shape[:1])
    return [L.Conv2d(name, weight.copy(), np.asarray(bias).copy(), _pair(node.stride),
                     _padding(node.padding, weight.shape[2:], dilation), dilation, int(node.groups))]


@import_rule.register(nir.Affine)
def _affine(name: str, node: nir.Affine, shape) -> list:
    return [L.Dense(name, np.asarray(node.weight).copy(), np.asarray(node.bias).copy())]


@import_rule.register(nir.Linear)
def _linear(name: str, node: nir.Linear, shape) -> list:
    return [L.Dense(name, np.asarray(node.weight).copy(), None)]


def _pool(cls):
    def rule(name: str, node, shape) -> list:
        return [cls(name, _pair(node.kernel_size), _pair(node.stride), _pair(node.padding))]
    return rule


import_rule.register(nir.SumPool2d)(_pool(L.SumPool2d))
import_rule.register(nir.AvgPool2d)(_pool(L.AvgPool2d))


@import_rule.register(nir.Flatten)
def _flatten(name: str, node: nir.Flatten, shape) -> list:
    return [L.Flatten(name, int(node.start_dim), int(node.end_dim))]


@import_rule.register(nir.Scale)
def _scale(name: str, node: nir.Scale, shape) -> list:
    return [L.Scale(name, np.asarray(node.scale, np.float64).copy())]


@import_rule.register(nir.LIF)
def _lif(name: str, node: nir.LIF, shape) -> list:
    return [L.LIF(name, _per_neuron(node.tau, shape), _per_neuron(node.r, shape), _per_neuron(node.v_leak, shape),
                  _per_neuron(node.v_threshold, shape), _per_neuron(node.v_reset, shape, 0.0))]


@import_rule.register(nir.IF)
def _if(name: str, node: nir.IF, shape) -> list:
    return [L.IF(name, _per_neuron(node.r, shape), _per_neuron(node.v_threshold, shape),
                 _per_neuron(node.v_reset, shape, 0.0))]


@import_rule.register(nir.CubaLIF)
def _cuba_lif(name: str, node: nir.CubaLIF, shape) -> list:
    return [L.CubaLIF(name, *(_per_neuron(getattr(node, key), shape) for key in ("tau_syn", "tau_mem", "r", "v_leak",
                                                                                   "v_threshold")),
                      _per_neuron(node.v_reset, shape, 0.0), _per_neuron(node.w_in, shape, 1.0))]


def _chain(graph: nir.NIRGraph) -> tuple[str, list[str]]:
    """The input node's name and the other nodes in order from it to the output node."""
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    inputs = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"the graph has {len(inputs)} Input nodes; brainyolo reads graphs with one")
    nexts: dict[str, list[str]] = {name: [] for name in graph.nodes}
    previous: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for source, target in graph.edges:
        for end in (source, target):
            if end not in graph.nodes:
                raise ValueError(f"edge {source!r} -> {target!r} names a node {end!r} the graph does not have")
        nexts[source].append(target)
        previous[target].append(source)
    order, name, seen = [], inputs[0], {inputs[0]}
    while not isinstance(graph.nodes[name], nir.Output):
        if len(nexts[name]) != 1:
            raise NodeError(name, kinds[name], f"feeds {len(nexts[name])} nodes; brainyolo reads chains (each node "
                                               "feeding the next)")
        name = nexts[name][0]
        if len(previous[name]) != 1 or name in seen:
            raise NodeError(name, kinds[name], f"reads {len(previous[name])} nodes; brainyolo reads chains (no "
                                               "branches, joins or recurrence)")
        seen.add(name)
        order.append(name)
    unused = sorted(set(graph.nodes) - seen)
    if unused:
        raise NodeError(unused[0], kinds[unused[0]], "is not on the path from the input to the output")
    return inputs[0], order[:-1]


def _input_shape(node: nir.Input) -> tuple[int, ...]:
    types = node.input_type
    shape = np.asarray(next(iter(types.values())) if isinstance(types, dict) and types else types)
    if shape.ndim != 1 or shape.dtype.kind not in "iuf" or not np.all(shape == np.round(shape)):
        raise ValueError(f"its input_type {types!r} is not a shape")
    return tuple(int(v) for v in shape)


def model_from_graph(graph: nir.NIRNode, dt: float = 1e-3, provenance: dict | None = None) -> L.SpikingModel:
    """The spiking model of a NIR graph (checked: every layer's fields and shapes).

    Parameters
    ----------
    graph : nir.NIRGraph
        A chain from one ``Input`` node to one ``Output`` node.
    dt : float
        One simulation step in the graph's time unit (seconds in NIR; Norse's ``from_nir`` default 1 ms).
    provenance : dict, optional
        Stored with the model (where it came from); the ``nir`` package's version is added.

    Raises
    ------
    ValueError
        One line naming the node that cannot be expressed: ``node 'x' (Type): problem``.
    """
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"the file holds one {type(graph).__name__} node, not a graph")
    input_name, order = _chain(graph)
    try:
        shape = _input_shape(graph.nodes[input_name])
    except ValueError as err:
        raise NodeError(input_name, "Input", str(err)) from None
    input_shape, layers = shape, []
    for name in order:
        node = graph.nodes[name]
        kind = type(node).__name__
        try:
            made = import_rule.rule(type(node))(name, node, shape)
        except NotImplementedError:
            raise NodeError(name, kind, "brainyolo has no equivalent (it reads Conv2d, Affine, Linear, SumPool2d, "
                                        "AvgPool2d, Flatten, Scale, IF, LIF and CubaLIF)") from None
        except (ValueError, TypeError, AttributeError) as err:
            raise NodeError(name, kind, one_line(err)) from None
        for layer in made:
            try:
                shape = tuple(L.infer_shape(layer, shape))
            except (ValueError, TypeError) as err:
                raise NodeError(name, kind, one_line(err)) from None
        layers += made
    model = L.SpikingModel(input_shape, layers, float(dt),
                           {"nir_version": _nir_version(), **(provenance or {})})
    L.validate_model(model)
    return model


def _nir_version() -> str:
    from importlib.metadata import version

    return version("nir")


def import_nir(source: str | os.PathLike | nir.NIRNode, dt: float = 1e-3) -> L.SpikingModel:
    """A brainyolo spiking model from a NIR file or graph (``brainyolo.import_nir``).

    Parameters
    ----------
    source : path or nir.NIRGraph
        A ``.nir`` file (read with ``nir.read``) or a graph in memory.
    dt : float
        One simulation step, in the graph's time unit (seconds): 1 ms as Norse's ``from_nir`` uses. Each
        step a ``LIF`` moves ``dt / tau`` of the way toward its drive; stored in the model (``model.dt``).

    Returns
    -------
    SpikingModel
        Checked (every layer's fields and shapes); write it with :func:`brainyolo.save_spiking_model`, run
        it with :func:`brainyolo.run_spiking_model`.

    Raises
    ------
    BrainyoloError
        One line naming the file and the node it cannot express (or why the file cannot be read).
    """
    if isinstance(source, nir.NIRNode):
        try:
            return model_from_graph(source, dt)
        except ValueError as err:
            raise BrainyoloError(None, one_line(err, 1000)) from None
    path = Path(source)
    if not path.is_file():
        raise BrainyoloError(path, "no such NIR file")
    try:
        graph = nir.read(path)
    except Exception as err:  # noqa: BLE001 - nir reports bad files as KeyError, OSError, ...
        raise BrainyoloError(path, f"not a readable NIR file: {one_line(err)}") from None
    try:
        return model_from_graph(graph, dt, {"source": path.name, "source_sha256": sha256_of(path)})
    except ValueError as err:
        raise BrainyoloError(path, one_line(err, 1000)) from None

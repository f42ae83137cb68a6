"""The built spiking network: its Brian2 objects per layer, and the per-run values of its inputs, parameters
and lesions (what a run of the compiled binary receives as ``run_args``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import brian2
import numpy as np

from brainyolo.ann.graph import INPUT, Conv, ConvAdd, Graph, MaxPool, RegionHead, Route, Upsample, YoloHead
from brainyolo.convert.model_file import ConvertedModel
from brainyolo.registry import Registry
from brainyolo.spiking import to_neuron_order
from brainyolo.spiking.connections import SharedConvolution, input_shift
from brainyolo.spiking.input_kinds import INPUT_KINDS
from brainyolo.spiking.input_rules import input_rule
from brainyolo.spiking.layer_models import (
    LESION,
    lesion_mask,
)
from brainyolo.spiking.neurons import (
    TIME_STEP_MS,
)
from brainyolo.spiking.parameters import INITIAL
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.synapses import COMMON_PARAMETERS

OUTPUT_MODES = ("vmem", "spikes")
CONNECTIVITIES = ("shared", "unrolled")
INPUT_MODES = tuple(INPUT_KINDS)


spike_value_rule = Registry("spike value")


@spike_value_rule.register(Conv)
@spike_value_rule.register(ConvAdd)
def _conv_spike_value(layer: Conv, index: int, inputs: list[np.ndarray], v_th: dict, default: float) -> np.ndarray:
    return np.broadcast_to(np.asarray(v_th.get(index, default), np.float64), (layer.filters,)).copy()


@spike_value_rule.register(MaxPool)
@spike_value_rule.register(Upsample)
@spike_value_rule.register(YoloHead)
@spike_value_rule.register(RegionHead)
def _passed_spike_value(layer, index: int, inputs: list[np.ndarray], v_th: dict, default: float) -> np.ndarray:
    return inputs[0]


@spike_value_rule.register(Route)
def _route_spike_value(layer: Route, index: int, inputs: list[np.ndarray], v_th: dict, default: float) -> np.ndarray:
    return np.concatenate(inputs)


def spike_values(graph: Graph, v_th: dict[int, float], default: float = 1.0) -> list[np.ndarray]:
    """Per layer, per output channel, the input one spike stands for (its spiking source's ``v_th``).

    Convolutions with threshold ``v_th[index]`` (else ``default``); max-pool, relays and heads pass
    their inputs' values on. Image spikes (Poisson input) stand for ``default``. (Any per-layer
    quantity that travels with the spikes propagates the same way: the switch step of two-phase
    thresholds, say.)
    """
    values: list[np.ndarray] = []
    for index, layer in enumerate(graph.layers):
        inputs = [np.full(graph.input_shape[0], default) if i == INPUT else values[i] for i in layer.inputs]
        values.append(spike_value_rule(layer, index, inputs, v_th, default))
    return values


def per_neuron(value, shape: tuple[int, int, int]):
    """A parameter value in a layer's neuron order: a number as it is; per channel ``(C,)`` or per neuron
    ``(C, H, W)`` as one value per neuron (position-major, channel-minor).

    >>> per_neuron(np.array([1.0, 2.0]), (2, 1, 3)).tolist()
    [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    """
    array = np.asarray(value)
    if array.ndim == 0:
        return value
    c, h, w = shape
    if array.shape == (c,):
        return np.tile(array, h * w)
    return to_neuron_order(array)


@dataclass
class LayerGroup:
    """The Brian2 objects of one graph layer."""

    group: object
    shape: tuple[int, int, int]
    connections: list = field(default_factory=list)
    fan_out: list = field(default_factory=list)  # per outgoing connection: fan-out per neuron (neuron order)
    own: bool = True  # False where the group is another layer's (single route, heads): it shares that
    _fan_out_total: tuple = field(default=(0, None, None), repr=False, compare=False)

    def fan_out_total(self) -> np.ndarray:
        """Every outgoing connection's fan-out per neuron, summed (int64, neuron order): the synaptic events one
        spike of each neuron causes. Kept until a connection is added."""
        return self._fan_out_sums()[0]

    def fan_out_per_position(self) -> np.ndarray | None:
        """:meth:`fan_out_total` per position, shape (H * W,), where every channel of a position has the same one
        (as convolutions, pools and upsampling connect, however they are built), else None (e.g. a user's own
        connectivity). Kept until a connection is added."""
        return self._fan_out_sums()[1]

    def _fan_out_sums(self) -> tuple[np.ndarray, np.ndarray | None]:
        count, total, per_position = self._fan_out_total
        if total is None or count != len(self.fan_out):
            total = np.zeros(int(np.prod(self.shape)), np.int64)
            for fan in self.fan_out:
                total += fan
            by_position = total.reshape(-1, self.shape[0])  # neuron order: position-major, channel-minor
            per_position = by_position[:, 0].copy()
            if not (by_position == per_position[:, None]).all():
                per_position = None
            self._fan_out_total = (len(self.fan_out), total, per_position)
        return total, per_position


@dataclass
class SpikingNetwork:
    """The built network and what is needed to feed it images and read it out."""

    model: ConvertedModel
    graph: Graph
    lambdas: list[np.ndarray]
    options: BuildOptions
    layers: dict[int, LayerGroup]
    output_layers: list[int]
    image_layers: list[int]  # convolutions whose current depends on the image
    inputs: list = field(default_factory=list)  # the input kind's own Brian2 objects (spike sources, ...)
    clock: object = None  # the time-step clock every object of the network runs on

    def objects(self) -> list:
        """Every Brian2 object of the network (groups and connections, once each)."""
        seen, objects = set(), []
        for layer in self.layers.values():
            for obj in [layer.group, *layer.connections]:
                if obj is not None and id(obj) not in seen:
                    seen.add(id(obj))
                    objects.append(obj)
        return objects + [obj for obj in self.inputs if obj not in objects]

    def own_layers(self) -> list[int]:
        return [i for i, layer in self.layers.items() if layer.own]

    def image_inputs(self, sample) -> dict:
        """Per-sample values of the input kind's variables: ``{VariableView or TimedArray: values}``.

        ``sample``: an image ``(C, H, W)`` for ``current`` and ``poisson``; per-bin pictures
        ``(bins, C, H, W)`` for ``frames``; ``(steps, neurons)`` of the input spikes for ``spikes``.
        """
        return input_rule.rule(self.options.input).values(self, sample)

    def lesion_inputs(self, silenced: dict | None = None) -> dict:
        """Per-run values of every spiking layer's :data:`LESION` switch: ``{VariableView: mask}``.

        ``silenced[layer]``: the channels to silence (ints), or single neurons as ``(channel, y, x)``
        tuples; every other neuron of the network fires. Empty without ``lesions`` in the build options.

        Raises
        ------
        ValueError
            A layer that is not one of the network's spiking layers, or a channel or neuron outside it.
        """
        silenced = dict(silenced or {})
        if not self.options.lesions:
            if any(silenced.values()):
                raise ValueError("this network was built without lesions (BuildOptions(lesions=True))")
            return {}
        inputs = {}
        for index in self.own_layers():
            group = self.layers[index].group
            if LESION in group.variables:
                chosen = silenced.pop(index, ())
                chosen = [chosen] if np.isscalar(chosen) or isinstance(chosen, tuple) and len(chosen) == 3 and \
                    all(np.isscalar(v) for v in chosen) else chosen
                inputs[getattr(group, LESION)] = lesion_mask(self.layers[index].shape, chosen, index)
        if silenced:
            raise ValueError(f"layer {sorted(silenced)[0]} has no spiking neurons to silence")
        return inputs

    def parameter_inputs(self, values: dict[int, dict[str, float]]) -> dict:
        """Per-run values of the neuron parameters: ``{VariableView: value}``.

        ``values`` (:func:`brainyolo.spiking.parameters.resolve`) gives every hidden layer's shared
        variables and ``v_init``, and every convolution's synapse parameters; the initial membrane
        becomes ``v_init * v_th`` (and a neuron file that declares ``v_init`` itself gets its value),
        every weight-shared convolution scales its input channels by their
        source layers' thresholds (a spike stands for ``v_th`` of its input) and by ``1 / release``
        of its target layer (a transmitted spike carries ``w / p``), and takes its target layer's
        ``delay``, ``release`` and ``seed`` (where they differ from the built defaults).
        """

        inputs = {}
        for index, layer_values in values.items():
            layer = self.layers[index]
            group = layer.group
            # per channel (C,) or per neuron (C, H, W): the group's neuron order
            neuron_values = {name: per_neuron(value, layer.shape) for name, value in layer_values.items()}
            for name, value in neuron_values.items():
                if name == INITIAL:
                    inputs[group.v] = value * neuron_values.get("v_th", 1.0)
                    if INITIAL in group.variables:  # a neuron file that reads its own V(0)
                        inputs[getattr(group, INITIAL)] = brian2.Quantity(value)
                elif name in COMMON_PARAMETERS:  # the connections into the layer hold them (built: the defaults)
                    value = np.asarray(layer_values[name])  # one per layer, or one per output channel
                    if np.all(value == COMMON_PARAMETERS[name]):
                        continue
                    for connection in layer.connections:
                        if isinstance(connection, SharedConvolution):
                            variable = connection.variables[name]
                            inputs[getattr(connection, name)] = np.broadcast_to(value, (variable.size,)).astype(
                                variable.dtype)
                else:
                    inputs[getattr(group, name)] = brian2.Quantity(value, dim=group.variables[name].dim)
        # a converted network's spike stands for its layer's threshold; a directly trained one's for 1
        meaning = {} if self.model.direct else values
        late = spike_values(self.graph, {i: v.get("v_th", 1.0) for i, v in meaning.items()})
        # two-phase neurons: before t_switch a spike stands for v_th_early
        early = spike_values(self.graph, {i: v.get("v_th_early", v.get("v_th", 1.0)) for i, v in meaning.items()})
        switch = spike_values(self.graph, {i: np.round(np.asarray(v.get("t_switch", 0.0)) / (TIME_STEP_MS * 1e-3))
                                           for i, v in values.items()}, default=0)
        for index, layer in self.layers.items():
            # with release probability p a transmitted spike carries w / p: the expected input is unchanged
            # (one p per layer: folded into each input channel's scale; one per output channel: release_gain)
            release = np.asarray(values.get(index, {}).get("release", 1.0), np.float64)
            gain = 1.0 / float(release) if release.ndim == 0 else 1.0
            output_gain = None if release.ndim == 0 else 1.0 / release
            for connection in layer.connections:
                if not isinstance(connection, SharedConvolution):
                    continue
                if output_gain is not None:
                    inputs[connection.release_gain] = output_gain.astype(connection.variables["release_gain"].dtype)
                source = connection.source_layer
                if source is None:  # input spikes (Poisson, events) stand for 1: only a release gain to set
                    if gain == 1.0 and output_gain is None:
                        continue
                    channels = connection.in_shape[0]
                    late_value = early_value = np.ones(channels)
                    switch_step = np.zeros(channels, np.int32)
                else:
                    late_value, early_value = late[source], early[source]
                    switch_step = switch[source].astype(np.int32)
                # the templates add units: a positive spike n of them, a negative spike one (event_spaces)
                unit = gain / connection.negative_divisions
                inputs[connection.scale] = late_value * unit
                inputs[connection.scale_early] = early_value * unit
                inputs[connection.switch_step] = switch_step
                largest = np.maximum(np.abs(late_value), np.abs(early_value)) * unit * (
                    1.0 if output_gain is None else float(output_gain.max()))
                inputs[connection.input_shift] = np.array(
                    [input_shift(connection.channel_sums, largest * connection.units_per_step)], np.int32)
        return inputs

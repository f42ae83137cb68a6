"""HDF5 model -> Brian2 network: one NeuronGroup and one connection object per layer.

One build rule per layer kind (:data:`build_rule`):

* ``Conv``: a group of the chosen neuron model (``Vth = 1`` and the layer's leaky slope ``alpha``
  when the model has those parameters), biases as a constant current ``I = b~``; a
  :class:`SharedConvolution` (or unrolled ``Synapses``) from the previous layer. A convolution
  reading the image gets the image's first convolution, computed once per image, as current.
  Convolutions feeding a head are the output layer: integrate-only neurons (Vmem read-out) or
  signed spiking neurons with ``alpha = 1`` and a net spike counter (spike-count read-out).
* ``ConvAdd`` (a directly trained network's membrane shortcut): one group of the hidden neuron
  model and two weight-shared convolutions into it, one from each input layer.
* ``MaxPool``: max-pool neurons and a :class:`SpikingMaxPool`.
* ``Upsample`` and multi-input ``Route``: relay neurons fed by an :class:`IndexRelay` (one per
  input); a single-input ``Route`` and the heads reuse their input's group.

A directly trained network (its model file's ``/spiking``) runs its own neuron file with its
trained parameters per layer and the ``same_step`` schedule (:func:`model_build_options`); its
spikes stand for 1 whatever the threshold (it was trained so).

One simulation time step is 1 ms of Brian2 time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import brian2
import numpy as np

from brainyolo.ann.graph import (
    CONV_KINDS,
    HEAD_KINDS,
    INPUT,
    Conv,
    ConvAdd,
    Graph,
    MaxPool,
    RegionHead,
    Route,
    Upsample,
    YoloHead,
)
from brainyolo.convert.model_file import ConvertedModel
from brainyolo.io.errors import BrainyoloError
from brainyolo.registry import Registry
from brainyolo.spiking import to_neuron_order
from brainyolo.spiking.clocks import time_step_clock
from brainyolo.spiking.connections import IndexRelay, SharedConvolution, SpikingMaxPool
from brainyolo.spiking.event_spaces import negative_divisions, spikes_per_step, weighted_spikes
from brainyolo.spiking.input_rules import input_rule
from brainyolo.spiking.layer_models import (
    hidden_neuron_model,
    layer_parameters,
    with_channel_parameters,
    with_lesions,
    with_net_counter,
    with_spike_counters,
)
from brainyolo.spiking.network import LayerGroup, SpikingNetwork, spike_values
from brainyolo.spiking.neurons import (
    NEGATIVE_EVENT,
    TIME_STEP_MS,
    NeuronModel,
    load_neuron_model,
    neuron_group,
    parameter_values,
)
from brainyolo.spiking.parameters import INITIAL, runtime_names, synapse_names
from brainyolo.spiking.same_step import same_step_schedule
from brainyolo.spiking.schedule import SYNAPSE_UPDATE, model_schedule
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.synapses import COMMON_PARAMETERS, SynapseModel, compose, load_synapse_model
from brainyolo.spiking.thresholder import fuse_thresholders
from brainyolo.spiking.unrolled import conv_fan_out, pool_fan_out, unrolled_conv_synapses

    # layer's fan_out list, so a connection from the route counts as events of the spiking layer


@dataclass
class _Context:
    net: SpikingNetwork
    shapes: list
    hidden: NeuronModel
    output: NeuronModel
    feeds_head: set
    synapse: SynapseModel = field(default_factory=lambda: SynapseModel("instant"))
    layer_hidden: dict = field(default_factory=dict)  # {layer: its own hidden model (composed, counted)}
    layer_output: dict = field(default_factory=dict)  # {layer: its own output model}
    layer_synapse: dict = field(default_factory=dict)  # {layer: its own synapse model}

    def neuron(self, index: int) -> NeuronModel:
        """Layer ``index``'s model: its own (``layer_neurons``, ``layer_synapses``) or the network's."""
        if index in self.feeds_head:
            return self.layer_output.get(index, self.output)
        return self.layer_hidden.get(index, self.hidden)

    def synapse_of(self, index: int) -> SynapseModel:
        return self.layer_synapse.get(index, self.synapse)


def layer_models(graph: Graph, options: BuildOptions) -> tuple[dict, dict]:
    """The per-layer neuron and synapse files of ``options`` loaded and checked: ``({hidden layer: NeuronModel},
    {convolution: SynapseModel})``.

    Raises
    ------
    BrainyoloError
        A layer that is not a hidden spiking convolution (neuron) or a convolution (synapse), a file's problem, or
        a route that would join layers of two negative grids (``negative_value``) or of two codes
        (``weighted_spikes``).
    """
    hidden = set(hidden_layers(graph))
    convolutions = hidden | set(output_layers(graph))
    for index, _ in options.layer_neurons:
        if index not in hidden:
            raise BrainyoloError(None, f"layer_neurons: layer {index} is not a hidden spiking convolution (those: "
                                       f"{', '.join(map(str, sorted(hidden)))})")
    for index, _ in options.layer_synapses:
        if index not in convolutions:
            raise BrainyoloError(None, f"layer_synapses: layer {index} is not a convolution (those: "
                                       f"{', '.join(map(str, sorted(convolutions)))})")
    neurons = {index: hidden_neuron_model(name) for index, name in options.layer_neurons}
    if neurons:
        _check_route_grids(graph, hidden_neuron_model(options.neuron), neurons)
    return neurons, {index: load_synapse_model(name) for index, name in options.layer_synapses}


def _check_route_grids(graph: Graph, neuron, own: dict) -> None:
    """Refuse a route that joins layers of different negative grids (``negative_value``) or of spikes weighted and
    not (``weighted_spikes``): its relay neurons pass their sources' spikes on in one grid and one code. ``neuron``:
    the network's neuron file, ``own``: the layers' own."""
    # the grid travels with the spikes as a spike's value does: spike_values carries each layer's n instead of its
    # v_th (the image input and the output layers, which feed no route's relays, count as n = 1, not weighted)
    hidden = hidden_layers(graph)
    divisions = {index: float(own.get(index, neuron).negative_divisions) for index in hidden}
    weighted = {index: float(own.get(index, neuron).weighted_spikes) for index in hidden}
    for index, (values, codes) in enumerate(zip(spike_values(graph, divisions, 1.0), spike_values(graph, weighted, 0.0),
                                                strict=True)):
        if not isinstance(graph.layers[index], Route):
            continue
        grids = sorted({int(v) for v in values})
        if len(grids) > 1:
            raise BrainyoloError(None, f"layer_neurons: route {index} joins layers whose negative spikes stand for "
                                       f"different fractions (1/{grids[0]} and 1/{grids[-1]} of a spike): the "
                                       "layers a route joins need neuron files of one negative_value")
        if len({int(v) for v in codes}) > 1:
            raise BrainyoloError(None, f"layer_neurons: route {index} joins layers that send weighted spikes and "
                                       "layers that do not: the layers a route joins need neuron files of one "
                                       "weighted_spikes")


build_rule = Registry("Brian2 build")


def hidden_layers(graph: Graph) -> list[int]:
    """The convolutions built of the hidden neuron model: all but those feeding a head."""
    feeds_head = {layer.inputs[0] for layer in graph.layers if isinstance(layer, HEAD_KINDS)}
    return [i for i, layer in enumerate(graph.layers) if isinstance(layer, CONV_KINDS) and i not in feeds_head]


def model_build_options(model: ConvertedModel, options: BuildOptions) -> BuildOptions:
    """The options ``model`` is built with.

    A converted network: ``options``. A directly trained one: its own neuron file (unless
    ``options`` name another than the default), the ``same_step`` schedule it was trained with,
    integrate-only output neurons (its heads read the membrane averaged over the steps).
    """
    if not model.direct:
        return options
    if options.output != "vmem":
        raise BrainyoloError(None, "a directly trained network reads its heads' membranes: decode vmem or "
                                   "vmem-late, not the spike count")
    if options.normalization not in (None, model.normalization):
        raise BrainyoloError(None, f"a directly trained network is not normalized (--norm {options.normalization} "
                                   "applies to converted ANNs)")
    neuron = model.spiking.neuron if options.neuron == BuildOptions.neuron else options.neuron
    return dataclasses.replace(options, neuron=neuron, schedule=model_schedule(model, options.schedule))


def output_layers(graph: Graph) -> list[int]:
    """The convolutions feeding a head (integrate-only or spike-counting output neurons)."""
    feeds_head = {layer.inputs[0] for layer in graph.layers if isinstance(layer, HEAD_KINDS)}
    return [i for i, layer in enumerate(graph.layers) if isinstance(layer, CONV_KINDS) and i in feeds_head]


def parameter_defaults(graph: Graph, model: NeuronModel,
                       trained: dict[int, dict[str, float]] | None = None,
                       synapse: SynapseModel | None = None, own_neurons: dict | None = None,
                       own_synapses: dict | None = None) -> dict[int, dict[str, float]]:
    """Every layer's runtime parameters as built.

    Hidden layers: ``v_th`` 1, ``alpha`` the layer's slope, the neuron file's values for its other
    shared variables and ``v_init`` (0 where it has none); the model file's own values where the neuron
    file has them (``trained``: a directly trained network's ``/spiking``, a converted one's balanced
    thresholds, :func:`brainyolo.spiking.simulate.model_values`). With a
    ``synapse`` model, every convolution (output layers too) also has the synapse's parameters: its
    file's values, ``delay`` 0, ``release`` 1, ``seed`` 0.
    """

    own_neurons, own_synapses = own_neurons or {}, own_synapses or {}

    def synaptic_defaults(index: int) -> dict:
        chosen = own_synapses.get(index, synapse)
        if chosen is None:
            return {}
        own = parameter_values(NeuronModel("synapse", "", parameters=chosen.parameters))
        values = {**COMMON_PARAMETERS, **own}
        return {name: float(np.asarray(values[name])) for name in synapse_names(chosen)}

    defaults = {}
    for index in hidden_layers(graph):
        neuron = own_neurons.get(index, model)
        file_values, names = parameter_values(neuron), runtime_names(neuron)
        built = layer_parameters(neuron, graph.layers[index].alpha)
        built.update({k: v for k, v in (trained or {}).get(index, {}).items() if k in names})
        values = {}
        for name in names:
            value = built.get(name, file_values.get(name, 0.0))
            values[name] = float(np.asarray(value))
        values.setdefault(INITIAL, 0.0)
        defaults[index] = {**values, **synaptic_defaults(index)}
    if synapse is not None:
        defaults.update({index: synaptic_defaults(index) for index in output_layers(graph)})
    return defaults


def _layer_group(ctx: _Context, model: NeuronModel, n: int, index: int, **parameters):
    """The layer's NeuronGroup; a signed one gets a :class:`SignedThresholder` if the options say so."""
    if ctx.net.options.lesions:
        model = with_lesions(model)
    if ctx.net.options.channel_parameters:
        model = with_channel_parameters(model)
    group = neuron_group(model, n, name=f"layer{index:02d}", clock=ctx.net.clock, **parameters)
    if ctx.net.options.fused_thresholds and model.spiking and model.signed and not model.refractory:
        fuse_thresholders(group)
    return group


def set_bias_current(group, bias: np.ndarray, shape: tuple[int, int, int]) -> None:
    """``I`` of a layer of ``shape`` (C, H, W): each channel's bias at every position (neurons are
    position-major, channel-minor), in ``I``'s own type. A float32 ``I`` given float64 values kept them
    as a float64 array in the C++ binary, loaded at every start and copied into ``I`` (a yolov3-tiny
    burst build: 49 of its 87 MB of static arrays); numpy's rounding to float32 is the copy's."""
    group.I = np.tile(np.asarray(bias, dtype=np.float64).astype(group.variables["I"].dtype), shape[1] * shape[2])


def add_synaptic_state(group, synapse: SynapseModel, input_variable: str = "v") -> None:
    """A synapse file's per-step update in a target group (made of :func:`brainyolo.spiking.synapses.compose`):
    add the charge to ``input_variable``, then advance the synaptic state by one exact step.

    It runs before the neurons' own update (slot ``before_groups``; in the ``same_step`` schedule
    after the layer's incoming connections, before its state update). ``instant``: nothing.
    """
    code = synapse.update_code()
    if code:
        group.run_regularly(code.replace("{input}", input_variable), when="before_groups",
                            name=f"{group.name}{SYNAPSE_UPDATE}")


def _source(ctx: _Context, index: int):
    return ctx.net.layers[index].group, ctx.shapes[index]


def _hidden_parameters(ctx: _Context, index: int, alpha: float) -> dict:
    """A hidden layer's build values: ``v_th``/``alpha``, and a directly trained layer's trained values."""
    model = ctx.neuron(index)
    values = layer_parameters(model, alpha)
    if ctx.net.model.direct:
        names = set(brian2.Equations(model.model).names)
        values.update({k: v for k, v in ctx.net.model.spiking.layers.get(index, {}).items() if k in names})
    return values


@build_rule.register(Conv)
def _build_conv(layer: Conv, index: int, ctx: _Context) -> None:
    is_output = index in ctx.feeds_head
    model = ctx.neuron(index)
    parameters = layer_parameters(model, 1.0) if is_output else _hidden_parameters(ctx, index, layer.alpha)
    shape = ctx.shapes[index]
    group = _layer_group(ctx, model, int(np.prod(shape)), index, **parameters)
    set_bias_current(group, layer.bias, shape)
    add_synaptic_state(group, ctx.synapse_of(index), model.input)
    ctx.net.layers[index] = LayerGroup(group, shape)
    if is_output:
        ctx.net.output_layers.append(index)
    (source_index,) = layer.inputs
    _connect(ctx, index, model, source_index, layer.weight, layer.size, layer.stride, layer.pad,
             f"conv{index:02d}")


def _connect(ctx: _Context, index: int, model: NeuronModel, source_index: int, weight: np.ndarray, size: int,
             stride: int, pad: int, name: str) -> None:
    """One convolution from layer ``source_index`` (or the image) into layer ``index``'s ``model.input``."""
    layer = ctx.net.graph.layers[index]
    group = ctx.net.layers[index].group
    if source_index == INPUT:
        if isinstance(layer, ConvAdd):
            raise BrainyoloError(None, f"layer {index} (ConvAdd): its branches read spiking layers, not the image")
        connected = input_rule.rule(ctx.net.options.input).connect(ctx, index, weight, stride, pad)
        if connected is None:  # a current: no connection object
            return
        source, in_shape, weight = connected
        source_layer = None
    else:
        source, in_shape = _source(ctx, source_index)
        source_layer = ctx.net.layers[source_index]
    if ctx.net.options.connectivity == "shared":
        connection = SharedConvolution(source, group, weight, in_shape, stride, pad, name=name,
                                       target_variable=ctx.synapse_of(index).target or model.input,
                                       max_delay=ctx.net.options.max_delay, scatter=ctx.net.options.scatter)
        connection.source_layer = None if source_index == INPUT else source_index
    else:
        if model.input != "v":
            raise BrainyoloError(model.source or model.name, f"input {model.input!r}: the unrolled connectivity "
                                                             "delivers into v only (use --connectivity shared)")
        synapse = ctx.synapse_of(index)
        if not synapse.instant or ctx.net.options.max_delay:
            raise BrainyoloError(synapse.source or None, "synapse files and delays need the weight-shared "
                                                         "convolution (--connectivity shared)")
        connection = unrolled_conv_synapses(source, group, weight, in_shape, stride, pad,
                                            signed=NEGATIVE_EVENT in getattr(source, "events", {}), name=name)
    ctx.net.layers[index].connections.append(connection)
    if source_layer is not None:  # (input spikes are not recorded, so not counted as events)
        source_layer.fan_out.append(to_neuron_order(conv_fan_out(in_shape, layer.filters, size, stride, pad)))


@build_rule.register(ConvAdd)
def _build_conv_add(layer: ConvAdd, index: int, ctx: _Context) -> None:
    if index in ctx.feeds_head:
        raise BrainyoloError(None, f"layer {index} (ConvAdd) feeds a head: a membrane shortcut adds into spiking "
                                   "neurons")
    shape = ctx.shapes[index]
    model = ctx.neuron(index)
    group = _layer_group(ctx, model, int(np.prod(shape)), index, **_hidden_parameters(ctx, index, layer.alpha))
    set_bias_current(group, layer.bias, shape)
    add_synaptic_state(group, ctx.synapse_of(index), model.input)
    ctx.net.layers[index] = LayerGroup(group, shape)
    for k, (source_index, weight, size, stride, pad) in enumerate(layer.branches()):
        _connect(ctx, index, model, source_index, weight, size, stride, pad,
                 f"conv{index:02d}" + ("" if k == 0 else "_shortcut"))


@build_rule.register(MaxPool)
def _build_maxpool(layer: MaxPool, index: int, ctx: _Context) -> None:
    (source_index,) = layer.inputs
    source, in_shape = _source(ctx, source_index)
    shape = ctx.shapes[index]
    # its source's spikes, units and code
    pool_model = load_neuron_model("maxpool", burst=spikes_per_step(source),
                                   negative_value=1 / negative_divisions(source),
                                   weighted_spikes=weighted_spikes(source))
    group = _layer_group(ctx, with_spike_counters(pool_model), int(np.prod(shape)), index)
    pool = SpikingMaxPool(source, group, in_shape, layer.size, layer.stride, layer.pad, name=f"pool{index:02d}")
    ctx.net.layers[index] = LayerGroup(group, shape, [pool])
    ctx.net.layers[source_index].fan_out.append(
        to_neuron_order(pool_fan_out(in_shape, layer.size, layer.stride, layer.pad)))


def _relay(ctx: _Context, index: int, sources: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
    """Relay neurons for layer ``index``; ``sources``: (layer, source neuron ids, target neuron ids)."""
    shape = ctx.shapes[index]
    burst = max(spikes_per_step(ctx.net.layers[source_index].group) for source_index, _, _ in sources)
    # one grid: layer_models refused a route of two before the build
    (divisions,) = {negative_divisions(ctx.net.layers[source_index].group) for source_index, _, _ in sources}
    (weighted,) = {weighted_spikes(ctx.net.layers[source_index].group) for source_index, _, _ in sources}  # (one code)
    # a relay passes on its sources' bursts, units and code
    relay_model = load_neuron_model("relay", burst=burst, negative_value=1 / divisions, weighted_spikes=weighted)
    group = _layer_group(ctx, with_spike_counters(relay_model), int(np.prod(shape)), index)
    connections = []
    for k, (source_index, pre, post) in enumerate(sources):
        source = ctx.net.layers[source_index].group
        connections.append(IndexRelay(source, group, pre, post, name=f"relay{index:02d}_{k}"))
        ctx.net.layers[source_index].fan_out.append(np.bincount(pre, minlength=len(source)))
    ctx.net.layers[index] = LayerGroup(group, shape, connections)


def _grid_index(shape, channel_offset=0, total_channels=None):
    """Neuron index of every (c, y, x) of ``shape`` in a layer with ``total_channels`` channels."""
    c, h, w = shape
    total = total_channels or c
    cc, yy, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return (yy * w + xx) * total + channel_offset + cc


@build_rule.register(Upsample)
def _build_upsample(layer: Upsample, index: int, ctx: _Context) -> None:
    (source_index,) = layer.inputs
    in_shape, shape = ctx.shapes[source_index], ctx.shapes[index]
    post = _grid_index(shape)
    pre = np.repeat(np.repeat(_grid_index(in_shape), layer.stride, axis=1), layer.stride, axis=2)
    _relay(ctx, index, [(source_index, pre.ravel(), post.ravel())])


@build_rule.register(Route)
def _build_route(layer: Route, index: int, ctx: _Context) -> None:
    if len(layer.inputs) == 1:  # the source's group under another name: its spikes, its fan-out
        source = ctx.net.layers[layer.inputs[0]]
        ctx.net.layers[index] = LayerGroup(source.group, source.shape, fan_out=source.fan_out, own=False)
        return
    shape, offset, sources = ctx.shapes[index], 0, []
    for source_index in layer.inputs:
        in_shape = ctx.shapes[source_index]
        sources.append((source_index, _grid_index(in_shape).ravel(),
                        _grid_index(in_shape, offset, shape[0]).ravel()))
        offset += in_shape[0]
    _relay(ctx, index, sources)


@build_rule.register(YoloHead)
@build_rule.register(RegionHead)
def _build_head(layer, index: int, ctx: _Context) -> None:
    source = ctx.net.layers[layer.inputs[0]]
    ctx.net.layers[index] = LayerGroup(source.group, source.shape, fan_out=source.fan_out, own=False)


def apply_inputs(values: dict) -> None:
    """Set per-run values on the runtime device (a standalone run passes them as ``run_args``)."""
    for key, value in values.items():
        if isinstance(key, brian2.SpikeGeneratorGroup):
            neurons, steps = value
            key.set_spikes(neurons, steps * TIME_STEP_MS * brian2.ms)
        elif isinstance(key, brian2.TimedArray):
            key.values[:] = np.asarray(value, key.values.dtype)
        else:
            key[:] = value


def build_network(model: ConvertedModel, options: BuildOptions | None = None) -> SpikingNetwork:
    """Build the Brian2 objects of ``model`` (in the active Brian2 device)."""
    options = BuildOptions() if options is None else options
    options = model_build_options(model, options)
    norm = options.normalization or model.normalization
    lambdas = model.lambdas(norm)
    graph = model.normalized_graph(norm)
    hidden = hidden_neuron_model(options.neuron)
    output = load_neuron_model("integrate") if options.output == "vmem" else with_net_counter(hidden)
    synapse = load_synapse_model(options.synapse)
    own_neurons, own_synapses = layer_models(model.graph, options)
    feeds_head = {layer.inputs[0] for layer in graph.layers if isinstance(layer, HEAD_KINDS)}

    def built(neuron: NeuronModel, index: int | None) -> NeuronModel:
        return with_spike_counters(compose(neuron, own_synapses.get(index, synapse)))

    layer_hidden = {i: built(own_neurons.get(i, hidden), i) for i in set(own_neurons) | set(own_synapses)
                    if i not in feeds_head}
    layer_output = {i: built(output, i) for i in own_synapses if i in feeds_head}
    hidden, output = built(hidden, None), built(output, None)
    net = SpikingNetwork(model, graph, lambdas, options, {}, [], [], clock=time_step_clock())
    ctx = _Context(net, graph.shapes(), hidden, output, feeds_head, synapse, layer_hidden, layer_output,
                   own_synapses)
    for index, layer in enumerate(graph.layers):
        build_rule(layer, index, ctx)
    if options.schedule == "same_step":
        same_step_schedule(net)
    return net

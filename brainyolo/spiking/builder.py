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
import gc
import warnings
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
from brainyolo.ann.reference import conv2d
from brainyolo.convert.model_file import ConvertedModel
from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.registry import Registry
from brainyolo.spiking import to_neuron_order
from brainyolo.spiking.clocks import time_step_clock
from brainyolo.spiking.connections import IndexRelay, SharedConvolution, SpikingMaxPool, input_shift
from brainyolo.spiking.event_encoding import GREY, polarity_kernel
from brainyolo.spiking.input_kinds import INPUT_KINDS
from brainyolo.spiking.neurons import (
    NEGATIVE_EVENT,
    TIME_STEP_MS,
    Event,
    NeuronModel,
    load_neuron_model,
    neuron_group,
    parameter_values,
)
from brainyolo.spiking.parameters import INITIAL, runtime_names, synapse_names
from brainyolo.spiking.schedule import SCHEDULES, model_schedule
from brainyolo.spiking.synapses import COMMON_PARAMETERS, SynapseModel, compose, load_synapse_model
from brainyolo.spiking.thresholder import SignedThresholder, fuse_thresholders
from brainyolo.spiking.unrolled import conv_fan_out, pool_fan_out, unrolled_conv_synapses

OUTPUT_MODES = ("vmem", "spikes")
CONNECTIVITIES = ("shared", "unrolled")
INPUT_MODES = tuple(INPUT_KINDS)


@dataclass(frozen=True)
class BuildOptions:
    """How the spiking network is built.

    Attributes
    ----------
    neuron : str
        Neuron model of the hidden layers: a name in ``equations/`` or a path.
    output : {"vmem", "spikes"}
        Output layer read-out.
    connectivity : {"shared", "unrolled"}
        Weight-shared convolution objects, or one Brian2 synapse per weight use (small networks).
    input : {"current", "poisson", "frames", "spikes"}
        How a sample reaches the first convolution (:mod:`brainyolo.spiking.input_kinds`): the image as a
        constant current or as Poisson spikes (rate = pixel value per step); event frames as a
        current per time bin; events as ON/OFF spikes at their own steps.
    bins : int
        ``frames`` and ``spikes``: time bins of the event window (EMS-YOLO's T); each input neuron of
        ``spikes`` fires at most once per bin (the event its pixel's frame keeps).
    bin_steps : int
        ``frames`` and ``spikes``: simulation steps per bin (a run has ``bins * bin_steps`` steps).
        A ``spikes`` input spike delivers its bin's frame value for the whole bin at once (weight
        ``bin_steps``): frames and spikes give the first layer the same total input, at other times.
    normalization : {"channel", "layer"} or None
        None: the model file's own.
    fused_thresholds : bool
        Test both events of a signed neuron in one pass (:class:`SignedThresholder`; the same
        events, one scan of ``v`` instead of two); False keeps Brian2's two thresholders.
    schedule : {"delayed", "same_step"}
        ``delayed`` (Brian2's slots: every layer's state update, then thresholds, then connections,
        then resets): a spike reaches the next layer's membrane in its step and can make it fire in
        the next, one step per spiking layer (Spiking-YOLO). ``same_step``: layer by layer in
        topological order, each layer's incoming connections, state update, threshold and reset
        before the next layer's (:func:`same_step_schedule`): a spike crosses the whole network
        within its step, as layer-by-layer SNN frameworks (spikingjelly, snnTorch) compute it.
    synapse : str
        Synapse model of every convolution's connections (:mod:`brainyolo.spiking.synapses`): a name in
        ``equations/synapses/`` or a path; ``instant`` (Spiking-YOLO's) adds a spike's weight to the
        membrane at once.
    max_delay : int
        Largest synaptic ``delay`` (steps) a run of the built network may set (the connections'
        ring buffers); 0: no delays.
    """

    neuron: str = "if_signed_ibt"
    output: str = "vmem"
    connectivity: str = "shared"
    input: str = "current"
    normalization: str | None = None
    fused_thresholds: bool = True
    schedule: str = "delayed"
    bins: int = 1
    bin_steps: int = 1
    synapse: str = "instant"
    max_delay: int = 0

    def __post_init__(self):
        for value, allowed in ((self.output, OUTPUT_MODES), (self.connectivity, CONNECTIVITIES),
                               (self.input, INPUT_MODES), (self.schedule, SCHEDULES)):
            if value not in allowed:
                raise ValueError(f"{value!r} is not one of {allowed}")
        if self.bins < 1 or self.bin_steps < 1:
            raise ValueError("bins and bin_steps are at least 1")
        if self.max_delay < 0:
            raise ValueError("max_delay is at least 0")


@dataclass
class LayerGroup:
    """The Brian2 objects of one graph layer."""

    group: object
    shape: tuple[int, int, int]
    connections: list = field(default_factory=list)
    fan_out: list = field(default_factory=list)  # per outgoing connection: fan-out per neuron (neuron order)
    own: bool = True  # False where the group is another layer's (single route, heads): it shares that
    # layer's fan_out list, so a connection from the route counts as events of the spiking layer


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
        from brainyolo.spiking.parameters import INITIAL
        from brainyolo.spiking.synapses import COMMON_PARAMETERS

        inputs = {}
        for index, layer_values in values.items():
            layer = self.layers[index]
            group = layer.group
            for name, value in layer_values.items():
                if name == INITIAL:
                    inputs[group.v] = value * layer_values.get("v_th", 1.0)
                    if INITIAL in group.variables:  # a neuron file that reads its own V(0)
                        inputs[getattr(group, INITIAL)] = brian2.Quantity(value)
                elif name in COMMON_PARAMETERS:  # the connections into the layer hold them (built: the defaults)
                    if value == COMMON_PARAMETERS[name]:
                        continue
                    for connection in layer.connections:
                        if isinstance(connection, SharedConvolution):
                            dtype = connection.variables[name].dtype
                            inputs[getattr(connection, name)] = np.array([value], dtype)
                else:
                    inputs[getattr(group, name)] = brian2.Quantity(value, dim=group.variables[name].dim)
        # a converted network's spike stands for its layer's threshold; a directly trained one's for 1
        meaning = {} if self.model.direct else values
        late = spike_values(self.graph, {i: v.get("v_th", 1.0) for i, v in meaning.items()})
        # two-phase neurons: before t_switch a spike stands for v_th_early
        early = spike_values(self.graph, {i: v.get("v_th_early", v.get("v_th", 1.0)) for i, v in meaning.items()})
        switch = spike_values(self.graph, {i: round(v.get("t_switch", 0.0) / (TIME_STEP_MS * 1e-3))
                                           for i, v in values.items()}, default=0)
        for index, layer in self.layers.items():
            # with release probability p a transmitted spike carries w / p: the expected input is unchanged
            gain = 1.0 / values.get(index, {}).get("release", 1.0)
            for connection in layer.connections:
                if not isinstance(connection, SharedConvolution):
                    continue
                source = connection.source_layer
                if source is None:  # input spikes (Poisson, events) stand for 1: only a release gain to set
                    if gain == 1.0:
                        continue
                    channels = connection.in_shape[0]
                    late_value = early_value = np.ones(channels)
                    switch_step = np.zeros(channels, np.int32)
                else:
                    late_value, early_value = late[source], early[source]
                    switch_step = switch[source].astype(np.int32)
                inputs[connection.scale] = late_value * gain
                inputs[connection.scale_early] = early_value * gain
                inputs[connection.switch_step] = switch_step
                largest = np.maximum(np.abs(late_value), np.abs(early_value)) * gain
                inputs[connection.input_shift] = np.array([input_shift(connection.channel_sums, largest)], np.int32)
        return inputs


@dataclass
class _Context:
    net: SpikingNetwork
    shapes: list
    hidden: NeuronModel
    output: NeuronModel
    feeds_head: set
    synapse: SynapseModel = field(default_factory=lambda: SynapseModel("instant"))


build_rule = Registry("Brian2 build")

spike_value_rule = Registry("spike value")
"""Per layer kind: what one spike of each output channel stands for, from its inputs' values."""


@spike_value_rule.register(Conv)
@spike_value_rule.register(ConvAdd)
def _conv_spike_value(layer: Conv, index: int, inputs: list[np.ndarray], v_th: dict, default: float) -> np.ndarray:
    return np.full(layer.filters, float(v_th.get(index, default)))


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
                       synapse: SynapseModel | None = None) -> dict[int, dict[str, float]]:
    """Every layer's runtime parameters as built.

    Hidden layers: ``v_th`` 1, ``alpha`` the layer's slope, the neuron file's values for its other
    shared variables and ``v_init`` (0 where it has none); the model file's own values where the neuron
    file has them (``trained``: a directly trained network's ``/spiking``, a converted one's balanced
    thresholds, :func:`brainyolo.spiking.simulate.model_values`). With a
    ``synapse`` model, every convolution (output layers too) also has the synapse's parameters: its
    file's values, ``delay`` 0, ``release`` 1, ``seed`` 0.
    """

    file_values, names = parameter_values(model), runtime_names(model)
    synaptic = {}
    if synapse is not None:
        own = parameter_values(NeuronModel("synapse", "", parameters=synapse.parameters))
        synapse_values = {**COMMON_PARAMETERS, **own}
        synaptic = {name: float(np.asarray(synapse_values[name])) for name in synapse_names(synapse)}
    defaults = {}
    for index in hidden_layers(graph):
        built = _parameters(model, graph.layers[index].alpha)
        built.update({k: v for k, v in (trained or {}).get(index, {}).items() if k in names})
        values = {}
        for name in names:
            value = built.get(name, file_values.get(name, 0.0))
            values[name] = float(np.asarray(value))
        values.setdefault(INITIAL, 0.0)
        defaults[index] = {**values, **synaptic}
    if synapse is not None:
        defaults.update({index: dict(synaptic) for index in output_layers(graph)})
    return defaults


def _parameters(model: NeuronModel, alpha: float) -> dict:
    names = set(model.parameters) | set(brian2.Equations(model.model).names)
    values = {}
    if "v_th" in names:
        values["v_th"] = 1.0
    if "alpha" in names:
        values["alpha"] = alpha
    return values


def with_net_counter(model: NeuronModel) -> NeuronModel:
    """``model`` plus ``net_count``: +1 on each spike, -1 on each negative spike."""
    events = dict(model.events)
    if NEGATIVE_EVENT in events:
        neg = events[NEGATIVE_EVENT]
        events[NEGATIVE_EVENT] = Event(neg.condition, (neg.reset + "\n" if neg.reset else "") + "net_count -= 1")
    return dataclasses.replace(model, model=model.model + "\nnet_count : 1\n",
                               reset=(model.reset + "\n" if model.reset else "") + "net_count += 1",
                               events=events)


SPIKE_COUNTERS = ("positive_count", "negative_count")
"""Per-neuron counters of +1 spikes and of -1 spikes that every spiking group gets."""


def with_spike_counters(model: NeuronModel) -> NeuronModel:
    """``model`` plus :data:`SPIKE_COUNTERS`, incremented by its resets.

    Counting in the resets costs one increment per spike inside Brian2's (OpenMP-parallel)
    reset code, where a ``SpikeMonitor(record=False)`` per layer would be a second, serial pass.
    """
    if not model.spiking:
        return model
    clash = set(SPIKE_COUNTERS) & set(brian2.Equations(model.model).names)
    if clash:
        raise BrainyoloError(model.source or model.name,
                             f"variable name {sorted(clash)[0]!r} is reserved for brainyolo's spike counters")
    positive, negative = SPIKE_COUNTERS
    events = dict(model.events)
    if NEGATIVE_EVENT in events:
        neg = events[NEGATIVE_EVENT]
        events[NEGATIVE_EVENT] = Event(neg.condition, (neg.reset + "\n" if neg.reset else "") + f"{negative} += 1")
    return dataclasses.replace(model, model=model.model + f"\n{positive} : integer\n{negative} : integer\n",
                               reset=(model.reset + "\n" if model.reset else "") + f"{positive} += 1",
                               events=events)


HIDDEN_VARIABLES = ("v", "I")
"""Variables a hidden-layer neuron model must have: the membrane (recorded) and the bias current."""


def hidden_neuron_model(name_or_path) -> NeuronModel:
    """A neuron model fit for the hidden layers, checked by Brian2 itself before any work.

    Beyond :func:`~brainyolo.spiking.neurons.load_neuron_model`'s checks: the model spikes, has the
    variables :data:`HIDDEN_VARIABLES`, and Brian2 accepts its equations, threshold, events and
    resets (with the spike counters and the net counter brainyolo adds) in a two-neuron group run
    for one step on the numpy target. Brian2's own error, whatever it is, becomes one line naming
    the file. The trial runs once per file content.

    Raises
    ------
    BrainyoloError
    """
    model = load_neuron_model(name_or_path)
    where = model.source or model.name
    if not model.spiking:
        raise BrainyoloError(where, "has no 'threshold': a hidden-layer neuron must spike")
    _brian2_trial(model)
    return model


_TRIED: set = set()


def _brian2_trial(model: NeuronModel) -> None:
    from brian2.utils.logger import catch_logs

    key = (model.model, model.threshold, model.reset, tuple(model.events.items()), tuple(model.parameters.items()))
    if key in _TRIED:
        return
    where = model.source or model.name
    try:
        equations = brian2.Equations(model.model)
    except Exception as err:  # noqa: BLE001 - Brian2's parser raises many kinds
        raise BrainyoloError(where, f"model: Brian2 cannot read the equations: {_brian2_problem(err)}") from None
    missing = [name for name in HIDDEN_VARIABLES if name not in equations.names]
    if missing:
        raise BrainyoloError(where, f"model: a hidden-layer neuron needs the variables {list(HIDDEN_VARIABLES)}; "
                                    f"{missing[0]!r} is missing")
    if model.input not in equations.names:
        raise BrainyoloError(where, f"input: {model.input!r} is not a variable of the model")
    trial = with_spike_counters(with_net_counter(model))
    if not isinstance(brian2.get_device(), brian2.devices.RuntimeDevice):
        return  # a standalone device is being set up: the build itself reports any error
    previous, problem = brian2.prefs.codegen.target, None
    # Brian2's warnings (also of objects collected after a failure) and numpy's stay quiet
    with catch_logs(), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            brian2.prefs.codegen.target = "numpy"
            group = neuron_group(trial, 2, name="brainyolo_neuron_check*", **_parameters(model, 0.1))
            network = brian2.Network(group)
            if model.signed and not model.refractory:
                fuse_thresholders(group)
            network.run(TIME_STEP_MS * brian2.ms, namespace={})
            _TRIED.add(key)
        except BrainyoloError as err:
            problem = err.problem
        except Exception as err:  # noqa: BLE001 - whatever Brian2 rejects is a problem of the file
            problem = f"Brian2 rejects the model: {_brian2_problem(err)}"
        finally:
            brian2.prefs.codegen.target = previous
            group = network = None
            gc.collect()
    if problem is not None:
        raise BrainyoloError(where, problem)


def _brian2_problem(err: Exception) -> str:
    """Brian2's error in one line (a ``BrianObjectException`` by the error it wraps)."""
    cause = err.__cause__ or err.__context__
    return one_line(cause if type(err).__name__ == "BrianObjectException" and cause is not None else err)


def _layer_group(ctx: _Context, model: NeuronModel, n: int, index: int, **parameters):
    """The layer's NeuronGroup; a signed one gets a :class:`SignedThresholder` if the options say so."""
    group = neuron_group(model, n, name=f"layer{index:02d}", clock=ctx.net.clock, **parameters)
    if ctx.net.options.fused_thresholds and model.spiking and model.signed and not model.refractory:
        fuse_thresholders(group)
    return group


SYNAPSE_UPDATE = "_synapse"
"""Name suffix of a layer's synaptic-state update (a ``run_regularly`` of its group)."""


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
    values = _parameters(ctx.hidden, alpha)
    if ctx.net.model.direct:
        names = set(brian2.Equations(ctx.hidden.model).names)
        values.update({k: v for k, v in ctx.net.model.spiking.layers.get(index, {}).items() if k in names})
    return values


@build_rule.register(Conv)
def _build_conv(layer: Conv, index: int, ctx: _Context) -> None:
    is_output = index in ctx.feeds_head
    model = ctx.output if is_output else ctx.hidden
    parameters = _parameters(model, 1.0) if is_output else _hidden_parameters(ctx, index, layer.alpha)
    shape = ctx.shapes[index]
    group = _layer_group(ctx, model, int(np.prod(shape)), index, **parameters)
    group.I = np.tile(layer.bias.astype(np.float64), shape[1] * shape[2])
    add_synaptic_state(group, ctx.synapse, model.input)
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
                                       target_variable=ctx.synapse.target or model.input,
                                       max_delay=ctx.net.options.max_delay)
        connection.source_layer = None if source_index == INPUT else source_index
    else:
        if model.input != "v":
            raise BrainyoloError(model.source or model.name, f"input {model.input!r}: the unrolled connectivity "
                                                             "delivers into v only (use --connectivity shared)")
        if not ctx.synapse.instant or ctx.net.options.max_delay:
            raise BrainyoloError(ctx.synapse.source or None, "synapse files and delays need the weight-shared "
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
    group = _layer_group(ctx, ctx.hidden, int(np.prod(shape)), index, **_hidden_parameters(ctx, index, layer.alpha))
    group.I = np.tile(layer.bias.astype(np.float64), shape[1] * shape[2])
    add_synaptic_state(group, ctx.synapse, ctx.hidden.input)
    ctx.net.layers[index] = LayerGroup(group, shape)
    for k, (source_index, weight, size, stride, pad) in enumerate(layer.branches()):
        _connect(ctx, index, ctx.hidden, source_index, weight, size, stride, pad,
                 f"conv{index:02d}" + ("" if k == 0 else "_shortcut"))


@build_rule.register(MaxPool)
def _build_maxpool(layer: MaxPool, index: int, ctx: _Context) -> None:
    (source_index,) = layer.inputs
    source, in_shape = _source(ctx, source_index)
    shape = ctx.shapes[index]
    group = _layer_group(ctx, with_spike_counters(load_neuron_model("maxpool")), int(np.prod(shape)), index)
    pool = SpikingMaxPool(source, group, in_shape, layer.size, layer.stride, layer.pad, name=f"pool{index:02d}")
    ctx.net.layers[index] = LayerGroup(group, shape, [pool])
    ctx.net.layers[source_index].fan_out.append(
        to_neuron_order(pool_fan_out(in_shape, layer.size, layer.stride, layer.pad)))


def _relay(ctx: _Context, index: int, sources: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
    """Relay neurons for layer ``index``; ``sources``: (layer, source neuron ids, target neuron ids)."""
    shape = ctx.shapes[index]
    group = _layer_group(ctx, with_spike_counters(load_neuron_model("relay")), int(np.prod(shape)), index)
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


# --- input kinds: one rule each (brainyolo.spiking.input_kinds) -------------------------------------------------

input_rule = Registry("input build")
"""Per input kind (:data:`brainyolo.spiking.input_kinds.INPUT_KINDS`), an object with ``connect(ctx, index,
weight, stride, pad)`` (None for a current, else the source group, its shape and the weight the connection
carries) and ``values(net, sample)`` (the per-run values of its variables)."""


def register_input(name: str):
    """Class decorator: an instance of the class is the build rule of input kind ``name``."""
    def decorate(cls):
        input_rule.register(name)(cls())
        return cls
    return decorate


def input_conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """:func:`~brainyolo.ann.reference.conv2d` with BLAS on one thread: the network's input currents.

    A multi-threaded BLAS sums the products in another order (OpenBLAS 0.3.34, float32: up to 1e-5
    apart at 2 threads), which moved a spike at the threshold's edge between a 2-core process and a
    Dask worker (one BLAS thread): the currents a network receives must not depend on the machine.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return conv2d(x, weight, bias, stride, pad)


def _first_layer_current(layer, pictures: np.ndarray) -> np.ndarray:
    """The first convolution of each picture ``(..., C, H, W)`` in neuron order, ``(..., neurons)``."""
    flat = pictures.reshape(-1, *pictures.shape[-3:])
    return np.stack([to_neuron_order(input_conv2d(p, layer.weight, layer.bias, layer.stride, layer.pad))
                     for p in flat]).reshape(*pictures.shape[:-3], -1)


@register_input("current")
class _CurrentInput:
    def connect(self, ctx, index, weight, stride, pad):
        ctx.net.image_layers.append(index)
        return None

    def values(self, net, image):
        return {net.layers[i].group.I: _first_layer_current(net.graph.layers[i], np.asarray(image))
                for i in net.image_layers}


@register_input("poisson")
class _PoissonInput:
    def connect(self, ctx, index, weight, stride, pad):
        in_shape = ctx.net.model.graph.input_shape
        source = brian2.PoissonGroup(int(np.prod(in_shape)), rates=0 * brian2.Hz, clock=ctx.net.clock,
                                     name="image_poisson")
        ctx.net.inputs.append(source)
        return source, in_shape, weight

    def values(self, net, image):
        (source,) = net.inputs
        return {source.rates: to_neuron_order(np.clip(image, 0, 1)) * 1000.0 * brian2.Hz}


@register_input("frames")
class _FramesInput:
    """Bin ``b``'s first convolution is the layer's current ``I`` during its ``bin_steps`` steps: a
    ``TimedArray`` of one row per bin (set per run, like any run argument), read at each step's start."""

    def connect(self, ctx, index, weight, stride, pad):
        options, group = ctx.net.options, ctx.net.layers[index].group
        ctx.net.image_layers.append(index)
        frames = brian2.TimedArray(np.zeros((options.bins, len(group))),
                                   dt=options.bin_steps * TIME_STEP_MS * brian2.ms, name=f"frame_current{index:02d}")
        group.namespace["frame_current"] = frames
        updater = group.run_regularly("I = frame_current(t, i)", when="start", order=-1,
                                      name=f"layer{index:02d}_frames")
        group.contained_objects.remove(updater)  # scheduled with the inputs, before any layer
        ctx.net.inputs.append(updater)
        return None

    def values(self, net, frames):
        frames = np.asarray(frames, np.float64)
        if frames.shape[0] != net.options.bins:
            raise ValueError(f"{frames.shape[0]} pictures for {net.options.bins} bins")
        return {net.layers[i].group.namespace["frame_current"]: _first_layer_current(net.graph.layers[i], frames)
                for i in net.image_layers}


SPIKE_SLOT = "spike_step_{}"
"""The ``spikes`` input's standalone player: variable ``k`` holds a neuron's spike step in bin ``k`` (-1: none)."""


@register_input("spikes")
class _SpikesInput:
    """2 x H x W neurons (neuron ``(y * W + x) * 2 + p``, channel 0 OFF, 1 ON) into the first convolution,
    rewritten for ON/OFF maps (:func:`~brainyolo.spiking.event_encoding.polarity_kernel`, times ``bin_steps``); the
    first layer's current is the first convolution of an all-grey picture (the frames' constant part).

    On the runtime device the source is Brian2's ``SpikeGeneratorGroup`` (``set_spikes`` per run). A
    standalone binary fixes a ``SpikeGeneratorGroup``'s spikes when it is built, so there the source is
    a player ``NeuronGroup`` whose neuron fires at the steps held in its :data:`SPIKE_SLOT` variables
    (one per bin, set per run): the same spikes (tested against the ``SpikeGeneratorGroup``).
    """

    def connect(self, ctx, index, weight, stride, pad):

        options, layer = ctx.net.options, ctx.net.graph.layers[index]
        channels, height, width = ctx.net.model.graph.input_shape
        kernel, _ = polarity_kernel(weight, layer.bias)
        grey = np.full((channels, height, width), GREY / 255.0)
        ctx.net.layers[index].group.I = to_neuron_order(input_conv2d(grey, weight, layer.bias, stride, pad))
        n = 2 * height * width
        if isinstance(brian2.get_device(), brian2.devices.RuntimeDevice):
            source = brian2.SpikeGeneratorGroup(n, [], [] * brian2.ms, clock=ctx.net.clock, name="input_events")
        else:
            slots = [SPIKE_SLOT.format(k) for k in range(options.bins)]
            source = brian2.NeuronGroup(n, "\n".join(f"{s} : integer (constant)" for s in slots),
                                        threshold=" or ".join(f"{s} == t_in_timesteps" for s in slots), reset="",
                                        clock=ctx.net.clock, name="input_events")
            for s in slots:
                setattr(source, s, -1)
        ctx.net.inputs.append(source)
        return source, (2, height, width), kernel * options.bin_steps

    def values(self, net, spikes):
        steps, neurons = (np.asarray(a, np.int64) for a in spikes)
        (source,) = net.inputs
        if isinstance(source, brian2.SpikeGeneratorGroup):
            return {source: (neurons, steps)}
        slots = np.full((net.options.bins, len(source)), -1, np.int32)
        bins = steps // net.options.bin_steps
        if np.any(bins >= net.options.bins) or np.any(steps < 0):
            raise ValueError("input spike steps outside the run")
        if len(np.unique(bins * len(source) + neurons)) != len(neurons):
            raise ValueError("an input neuron spikes twice in one bin")
        slots[bins, neurons] = steps
        return {getattr(source, SPIKE_SLOT.format(k)): slots[k] for k in range(net.options.bins)}


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


def build_network(model: ConvertedModel, options: BuildOptions = BuildOptions()) -> SpikingNetwork:
    """Build the Brian2 objects of ``model`` (in the active Brian2 device)."""
    options = model_build_options(model, options)
    norm = options.normalization or model.normalization
    lambdas = model.lambdas(norm)
    graph = model.normalized_graph(norm)
    hidden = hidden_neuron_model(options.neuron)
    output = load_neuron_model("integrate") if options.output == "vmem" else with_net_counter(hidden)
    synapse = load_synapse_model(options.synapse)
    hidden, output = (with_spike_counters(compose(m, synapse)) for m in (hidden, output))
    net = SpikingNetwork(model, graph, lambdas, options, {}, [], [], clock=time_step_clock())
    feeds_head = {layer.inputs[0] for layer in graph.layers if isinstance(layer, HEAD_KINDS)}
    ctx = _Context(net, graph.shapes(), hidden, output, feeds_head, synapse)
    for index, layer in enumerate(graph.layers):
        build_rule(layer, index, ctx)
    if options.schedule == "same_step":
        same_step_schedule(net)
    return net


_STAGES = {"connection": 0, "synapse": 1, "update": 2, "threshold": 3, "reset": 4}
"""Within one layer of the ``same_step`` schedule: incoming connections, synaptic state, state update,
threshold, reset."""


def _stage(obj) -> int:
    from brian2.groups.neurongroup import Resetter, StateUpdater, Thresholder


    if isinstance(obj, StateUpdater):
        return _STAGES["update"]
    if isinstance(obj, (Thresholder, SignedThresholder)):  # (the fused one also updates the state first)
        return _STAGES["threshold"]
    if isinstance(obj, Resetter):
        return _STAGES["reset"]
    if obj.name.endswith(SYNAPSE_UPDATE):
        return _STAGES["synapse"]
    return _STAGES["update"]  # anything else a group runs every step (e.g. run_regularly)


def same_step_schedule(net: SpikingNetwork) -> None:
    """Run every layer's objects in one scheduling slot, layer by layer in graph (topological) order.

    Graph order is topological (a layer reads only earlier layers), so when layer ``l``'s
    connections run, the spikes of their sources in this step are already in the event spaces.
    The input kind's objects (spike sources, per-bin currents) come first. Monitors are not part of
    the network: the recorder, made afterwards, puts its checkpoint stores and event monitors at the
    end of a step (order 1000, after everything) and each sampled spike monitor right after its
    layer's (rescheduled) thresholder.
    """
    slot, stride = "groups", len(_STAGES)
    for source in net.inputs:
        for obj in [source, *source.contained_objects]:
            obj.when, obj.order = slot, -stride
    for index, layer in net.layers.items():
        if not layer.own:
            continue
        base = index * stride
        for connection in layer.connections:
            for obj in [connection, *getattr(connection, "contained_objects", [])]:
                obj.when, obj.order = slot, base + _STAGES["connection"]
        for obj in layer.group.contained_objects:
            obj.when, obj.order = slot, base + _stage(obj)

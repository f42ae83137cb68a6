"""The Brian2 network of a :class:`~brainyolo.nir.layers.SpikingModel`, run on input spikes (runtime numpy or
C++ standalone), with every neuron layer's spikes and any state variables recorded.

* Every neuron layer is one ``NeuronGroup`` of its neuron file (:data:`neuron_rule`: ``equations/nir_lif.toml``,
  ``nir_if.toml``, ``nir_cubalif.toml``) with its parameters per neuron. A ``(C, H, W)`` layer's neurons (and the
  input's) are numbered position-major, channel-minor, as brainyolo's detectors number theirs
  (:func:`~brainyolo.nir.connections.neuron_order`); parameters, input spikes, recorded spikes and states are
  converted at the edges: a :class:`SpikingRun` holds them in NIR's ``(C, H, W)`` order.
* The linear layers between two neuron layers (or between the input and the first) become one connection
  (:func:`~brainyolo.nir.connections.connect`): a lone ``Conv2d`` that fits it the weight-shared convolution
  (``SharedConvolution``, holding only the kernel), anything else one ``Synapses`` of their composed map adding
  ``w`` into the target's ``x`` per spike. Their biases, carried through them, are the target's constant input
  ``I``. A spike crosses the whole network within its step, as in PyTorch: each layer's connection, update,
  threshold and reset run in layer order in one scheduling slot.
* One step is ``dt`` of the model (the neurons' ``dt / tau``) and 1 ms of Brian2 time.

Linear layers after the last neuron layer (a read-out without neurons) are not simulated: apply their
``forward_rule`` to the recorded spikes.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field

import brian2
import numpy as np

from brainyolo.nir.connections import Link, carried_bias, connect, from_neurons, neuron_order, to_neurons
from brainyolo.nir.layers import IF, LIF, NEURON_KINDS, CubaLIF, Shape, SpikingModel
from brainyolo.registry import Registry
from brainyolo.spiking.device import back_to_runtime
from brainyolo.spiking.neurons import TIME_STEP_MS, load_neuron_model, neuron_group

DEVICES = ("runtime", "cpp_standalone")

neuron_rule = Registry("NIR neurons")
"""Per neuron kind: ``rule(layer, dt) -> (neuron file, {variable: one value per neuron})``."""


def _dt_over(tau: np.ndarray, dt: float) -> np.ndarray:
    """``dt / tau`` as PyTorch frameworks compute it, ``dt * (1 / tau)``, in the precision of ``tau``."""
    tau = np.asarray(tau)
    return (tau.dtype.type(dt) * (tau.dtype.type(1) / tau)).astype(np.float64)


@neuron_rule.register(LIF)
def _lif(layer: LIF, dt: float) -> tuple[str, dict]:
    return "nir_lif", {"dt_tau": _dt_over(layer.tau, dt), "r": layer.r, "v_leak": layer.v_leak,
                       "v_threshold": layer.v_threshold, "v_reset": layer.v_reset}


@neuron_rule.register(IF)
def _if(layer: IF, dt: float) -> tuple[str, dict]:
    return "nir_if", {"r": layer.r, "v_threshold": layer.v_threshold, "v_reset": layer.v_reset}


@neuron_rule.register(CubaLIF)
def _cuba_lif(layer: CubaLIF, dt: float) -> tuple[str, dict]:
    return "nir_cubalif", {"dt_tau_syn": _dt_over(layer.tau_syn, dt), "dt_tau_mem": _dt_over(layer.tau_mem, dt),
                           "r": layer.r, "w_in": layer.w_in, "v_leak": layer.v_leak,
                           "v_threshold": layer.v_threshold, "v_reset": layer.v_reset}


@dataclass
class SpikingRun:
    """One run: per neuron layer (by name) its spikes ``(steps, *shape)`` (uint8), and the recorded states.

    Attributes
    ----------
    spikes : {layer name: ndarray (steps, *shape)}
    states : {layer name: {variable: ndarray (steps, *shape)}}
        Values at the end of every step (after threshold and reset).
    """

    spikes: dict[str, np.ndarray]
    states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def counts(self) -> dict[str, np.ndarray]:
        """Spikes per neuron over the run, per layer."""
        return {name: spikes.sum(0, dtype=np.int64) for name, spikes in self.spikes.items()}


def build(model: SpikingModel, record: dict[str, list[str]] | None = None, weight_shared: bool = True):
    """The Brian2 objects of ``model`` (in the active device): ``(input, objects, spike monitors, state monitors)``.

    ``record``: per neuron layer name, the state variables to record at the end of every step.
    ``weight_shared``: connect a lone ``Conv2d`` with the weight-shared convolution where it fits (False: every
    connection composed ``Synapses``; see :mod:`brainyolo.nir.connections`).
    """
    record = _checked_record(model, record)
    shapes = model.shapes()
    clock = brian2.Clock(dt=TIME_STEP_MS * brian2.ms, name="nir_clock")
    source = brian2.SpikeGeneratorGroup(int(np.prod(model.input_shape)), [], [] * brian2.ms, clock=clock,
                                        when="groups", order=-1, name="nir_input")
    objects, spike_monitors, state_monitors = [source], {}, {}
    previous, source_shape, pending = source, tuple(model.input_shape), []
    for index, layer in enumerate(model.layers):
        if not isinstance(layer, NEURON_KINDS):
            pending.append(layer)
            continue
        group = _neuron_layer(layer, index, shapes[index], model.dt, clock)
        group.I = to_neurons(carried_bias(pending, source_shape), shapes[index])
        link = Link(previous, group, source_shape, load_neuron_model(neuron_rule(layer, model.dt)[0]).input,
                    10 * (index + 1), f"{index:02d}")
        connection = connect(pending, link, weight_shared)
        objects.extend([group] if connection is None else [connection, group])
        spike_monitors[layer.name] = brian2.SpikeMonitor(group, when="end", name=f"nir_spikes{index:02d}")
        if layer.name in record:
            state_monitors[layer.name] = brian2.StateMonitor(group, record.pop(layer.name), record=True, when="end",
                                                             name=f"nir_states{index:02d}")
        previous, source_shape, pending = group, shapes[index], []
    return source, objects, spike_monitors, state_monitors


def _checked_record(model: SpikingModel, record: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """``record`` checked before any Brian2 object is made (one variable name may stand for its list):
    every key a neuron layer's name, every variable one of its neuron file's."""
    layers = {model.layers[i].name: model.layers[i] for i in model.neuron_layers()}
    checked = {}
    for name, variables in dict(record or {}).items():
        if name not in layers:
            raise ValueError(f"record: {name!r} is not a neuron layer of the model (its neuron layers: "
                             f"{', '.join(layers) or 'none'})")
        variables = [variables] if isinstance(variables, str) else list(variables)
        known = brian2.Equations(load_neuron_model(neuron_rule(layers[name], model.dt)[0]).model).names
        for variable in variables:
            if variable not in known:
                raise ValueError(f"record: layer {name!r} ({layers[name].kind}) has no variable {variable!r} "
                                 f"(it has {', '.join(sorted(known))})")
        checked[name] = variables
    return checked


def _neuron_layer(layer, index: int, shape: Shape, dt: float, clock):
    """The ``NeuronGroup`` of neuron layer ``index`` (parameters in neuron order), scheduled in its slot: update,
    threshold, reset at ``10 * (index + 1)`` + 2, 3, 4 (its connection runs at + 0)."""
    from brian2.groups.neurongroup import Resetter, Thresholder

    name, parameters = neuron_rule(layer, dt)
    group = neuron_group(load_neuron_model(name), int(np.prod(shape)), name=f"nir_layer{index:02d}", clock=clock,
                         **{k: to_neurons(np.asarray(v, np.float64), shape) for k, v in parameters.items()})
    base = 10 * (index + 1)
    for part in group.contained_objects:
        stage = 3 if isinstance(part, Thresholder) else 4 if isinstance(part, Resetter) else 2
        part.when, part.order = "groups", base + stage
    return group


@contextlib.contextmanager
def _device(device: str):
    if device not in DEVICES:
        raise ValueError(f"device {device!r} is not one of {', '.join(DEVICES)}")
    saved = brian2.prefs.core.default_float_dtype, brian2.prefs.codegen.target
    brian2.prefs.core.default_float_dtype, brian2.prefs.codegen.target = np.float64, "numpy"
    try:
        if device == "runtime":
            brian2.set_device("runtime")
            yield None
        else:
            with tempfile.TemporaryDirectory(prefix="brainyolo-nir-") as directory:
                brian2.set_device("cpp_standalone", directory=directory, build_on_run=True, with_output=False)
                try:
                    yield directory
                finally:
                    back_to_runtime()
    finally:
        brian2.prefs.core.default_float_dtype, brian2.prefs.codegen.target = saved


def run_spiking_model(model: SpikingModel, input_spikes: np.ndarray, device: str = "runtime",
                      record: dict[str, list[str]] | None = None, weight_shared: bool = True) -> SpikingRun:
    """Simulate ``model`` on ``input_spikes`` in Brian2 (``brainyolo.run_spiking_model``).

    Parameters
    ----------
    model : SpikingModel
        From :func:`brainyolo.import_nir` or :func:`brainyolo.read_spiking_model`.
    input_spikes : ndarray, shape (steps, *model.input_shape)
        1 where an input neuron spikes in a step, else 0 (integers or booleans), in NIR's ``(C, H, W)`` order.
    device : {"runtime", "cpp_standalone"}
        ``runtime`` (default): Brian2's numpy code generation, in this process. ``cpp_standalone``: the same
        network compiled to C++ and run in a temporary folder (removed afterwards), built anew on every call
        (a compiler is needed; tens of seconds of build for a small network).
    record : {neuron layer name: [variable, ...]}, optional
        State variables to record per neuron layer, at the end of every step (after threshold and reset):
        ``v`` (every neuron kind), ``i_syn`` (``CubaLIF``). A name that is not a neuron layer, or a variable
        its neuron file lacks, raises ``ValueError``.
    weight_shared : bool
        Connect a lone ``Conv2d`` with the weight-shared convolution where it fits (default); False composes
        every connection into explicit ``Synapses`` (:mod:`brainyolo.nir.connections`). Both fire the same
        spikes where the weights lie on the convolution's fixed-point grid.

    Returns
    -------
    SpikingRun
        ``spikes[layer]``: ``(steps, *shape)`` uint8 for every neuron layer; ``states[layer][variable]``:
        ``(steps, *shape)`` float64 for what ``record`` named; ``counts()``: spikes per neuron, ``shape``.
        All in NIR's order. Linear layers after the last neuron layer are not simulated.

    Raises
    ------
    ValueError
        Input spikes of another shape, not integers or booleans, other than 0 and 1, or no steps; a bad
        ``record``; an unknown ``device``.
    """
    spikes = np.asarray(input_spikes)
    expected = f"(steps, {', '.join(map(str, model.input_shape))})"
    if spikes.ndim < 1 or spikes.shape[1:] != tuple(model.input_shape):
        raise ValueError(f"input spikes of shape {spikes.shape}: expected {expected}")
    if spikes.dtype.kind not in "biu":
        raise ValueError(f"input spikes of dtype {spikes.dtype}: expected 0 and 1 as integers or booleans "
                         "(.astype(np.uint8))")
    steps = len(spikes)
    if steps == 0:
        raise ValueError(f"input spikes of shape {spikes.shape}: no steps to run")
    flat = spikes.reshape(steps, -1).astype(np.int64)
    if np.any((flat != 0) & (flat != 1)):
        raise ValueError("input spikes: 0 or 1 per neuron and step")
    with _device(device):
        brian2.start_scope()
        source, objects, spike_monitors, state_monitors = build(model, record, weight_shared)
        step, neuron = np.nonzero(flat[:, neuron_order(model.input_shape)])
        source.set_spikes(neuron, step * TIME_STEP_MS * brian2.ms)
        network = brian2.Network(*objects, *spike_monitors.values(), *state_monitors.values())
        network.run(steps * TIME_STEP_MS * brian2.ms)
        shapes = dict(zip((layer.name for layer in model.layers), model.shapes(), strict=True))
        result = SpikingRun({name: _spike_array(monitor, steps, shapes[name])
                             for name, monitor in spike_monitors.items()})
        for name, monitor in state_monitors.items():
            result.states[name] = {variable: from_neurons(np.asarray(getattr(monitor, variable)).T, shapes[name])
                                   for variable in monitor.record_variables}
    return result


def _spike_array(monitor, steps: int, shape: Shape) -> np.ndarray:
    array = np.zeros((steps, int(np.prod(shape))), np.uint8)
    times = np.rint(np.asarray(monitor.t / brian2.ms) / TIME_STEP_MS).astype(np.int64)
    array[times, neuron_order(shape)[np.asarray(monitor.i)]] = 1
    return array.reshape(steps, *shape)

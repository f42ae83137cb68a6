"""Per-layer neuron parameters for one run of a compiled network: set, read, checked, resolved.

A neuron file's *shared* variables (``v_th : 1 (shared, constant)``, ``alpha``, a leak ``tau``) and
its initial membrane ``v_init`` (a fraction of ``v_th``) can take another value in every layer,
for every run of the compiled binary (Brian2's ``run_args``): a parameter sweep needs one
compilation. Settings come from the command line (``--set LAYER.NAME=VALUE``, repeatable) and
from files (``--params FILE.toml``)::

    [all]          # every hidden spiking layer
    v_init = 0.5
    [3]            # layer 3 (graph index, as in the cfg's layer numbering)
    v_th = 0.8
    [12]
    v_th = "1.2"
    tau = "20*ms"

Later settings override earlier ones; a layer's own table overrides ``[all]``. Values are numbers
or text in :mod:`brainyolo.io.quantities`' grammar (units as in the neuron file).

Thresholds keep the network's meaning: a spike of a layer with threshold ``v_th`` stands for
``v_th`` of its input, so the connections out of it deliver ``±v_th·w`` (a per-input-channel
scale of each weight-shared convolution, passed to the binary too; max-pool and relay layers pass
their sources' values on). Rate quantization changes, the computed function does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from brainyolo.io.atomic import atomic_path, read_toml
from brainyolo.io.errors import BrainyoloError
from brainyolo.io.quantities import parse_quantity
from brainyolo.spiking.neurons import TIME_STEP_MS, load_neuron_model
from brainyolo.spiking.synapses import COMMON_PARAMETERS

INITIAL = "v_init"
"""The initial membrane, as a fraction of ``v_th`` (0: Spiking-YOLO's V(0) = 0)."""

RUN_LENGTH = "t_run"
"""The run's length (its steps times the time step): a neuron file that declares this shared parameter reads it
(e.g. to stay quiet for a fraction of the run, or to settle in its last step). The simulator sets it in every run
from ``--steps``; it is not a setting."""

ALL = "all"
"""The selector of every layer that has the parameter (``*`` is the same): the hidden spiking layers for
a neuron parameter, every convolution for a synapse parameter (``delay``, ``tau_syn``, ...)."""

_SETTING = re.compile(r"\s*(all|\*|\d+)\.([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*\Z")

POSITIVE = ("v_th", "alpha", "tau", "tau_syn", "release", "E_exc")
"""Parameters that must be positive."""

NEGATIVE = ("E_inh",)
"""Parameters that must be negative (an inhibitory reversal potential, below rest)."""

NON_NEGATIVE = ("t_ref", "sigma", "delay", "seed", "v_th_early", "t_switch")
"""Parameters that must not be negative."""

WHOLE = ("delay", "seed")
"""Parameters that are whole numbers (steps, a random stream)."""

PER_CHANNEL_SYNAPSE = ("delay", "release")
"""Synapse parameters a run may set per channel of the target layer (the connections into it: one value per
output channel)."""

FRACTION = ("quiet",)
"""Parameters that are a fraction of the run: at least 0 and below 1."""

CARRIED = ("v_th", "v_th_early", "t_switch")
"""Parameters a spike carries to the next layer (one value per source channel of a convolution's scale):
per channel, not per neuron."""


@dataclass(frozen=True)
class ParameterSettings:
    """Parameter settings in the order given: ``(selector, name, value)``, selector ``"all"`` or a layer index.

    Values are floats, or Brian2 quantities where units were given (``tau = "20*ms"``); a plain
    number for a parameter with units is taken in SI units (seconds).
    """

    entries: tuple[tuple[str, str, float], ...] = ()

    def __add__(self, other: ParameterSettings) -> ParameterSettings:
        return ParameterSettings(self.entries + other.entries)

    def for_layer(self, index: int) -> dict[str, float]:
        """This layer's settings: ``[all]`` first, its own after (the later of two equal keys wins)."""
        values = {name: value for selector, name, value in self.entries if selector == ALL}
        values.update({name: value for selector, name, value in self.entries if selector == str(index)})
        return values

    def layers(self) -> set[int]:
        """The layer indices named explicitly."""
        return {int(selector) for selector, _, _ in self.entries if selector != ALL}

    def as_dict(self) -> dict[str, dict[str, float]]:
        """``{selector: {name: value}}``, as written to ``params.toml`` and recordings."""
        out: dict[str, dict[str, float]] = {}
        for selector, name, value in self.entries:
            out.setdefault(selector, {})[name] = value
        return out


def _value(text, where: str, source):
    """A number, or a Brian2 quantity (units are checked against the neuron file when resolved)."""
    try:
        value = parse_quantity(text)
    except ValueError as err:
        raise BrainyoloError(source, f"{where}: {err}") from None
    import brian2
    from brian2.units.fundamentalunits import DIMENSIONLESS

    return value if brian2.get_dimensions(value) is not DIMENSIONLESS else float(np.asarray(value))


def parse_setting(text: str) -> ParameterSettings:
    """One ``--set LAYER.NAME=VALUE`` (``LAYER`` a layer index or ``all``)."""
    match = _SETTING.match(text)
    if match is None:
        raise BrainyoloError(None, f"--set {text!r}: expected LAYER.NAME=VALUE, LAYER a layer index or 'all' "
                                   "(e.g. 3.v_th=0.8, all.v_init=0.5)")
    selector, name, value = match.groups()
    selector = ALL if selector == "*" else selector
    return ParameterSettings(((selector, name, _value(value, f"--set {text!r}", None)),))


def largest_delay(settings: ParameterSettings) -> int:
    """The largest synaptic ``delay`` the settings ask for (0 without any): the ring a build needs."""
    delays = [float(np.asarray(value)) for _, name, value in settings.entries if name == "delay"]
    return int(max([0.0, *[d for d in delays if np.isfinite(d) and 0 <= d < 1e6]]))


def read_parameter_file(path) -> ParameterSettings:
    """Settings from a ``--params`` TOML file (tables ``[all]`` and ``[LAYER]``)."""
    return parameter_tables(read_toml(path, "parameter file", 64 * 1024), path)


def parameter_tables(data: dict, path) -> ParameterSettings:
    """Settings from the tables ``[all]`` and ``[LAYER]`` of a TOML file's ``data`` (errors name ``path``)."""
    entries = []
    for selector, table in data.items():
        if not isinstance(table, dict):
            raise BrainyoloError(path, f"{selector} must be a table ([all] or [LAYER]) of NAME = VALUE entries")
        if selector not in (ALL, "*") and not selector.isdigit():
            raise BrainyoloError(path, f"[{selector}]: tables are [all] or [LAYER] with a layer index")
        selector = ALL if selector == "*" else selector
        for name, value in table.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise BrainyoloError(path, f"[{selector}] {name!r} is not a parameter name")
            entries.append((selector if selector == ALL else str(int(selector)), name,
                            _value(value, f"[{selector}] {name}", path)))
    return ParameterSettings(tuple(entries))


def write_parameter_file(path, settings: ParameterSettings, header: str = "") -> None:
    """``settings`` as a ``--params`` file (atomically)."""

    lines = [f"# {line}" for line in header.splitlines()]
    for selector, values in settings.as_dict().items():
        lines += ["", f"[{selector}]"] + [f"{name} = {_toml_value(value)}" for name, value in values.items()]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines).lstrip("\n") + "\n")


def _toml_value(value) -> str:
    """A setting as TOML: a float as a number, a quantity (or its text) as a string in the grammar."""
    if isinstance(value, (int, float)):
        return repr(float(value))
    text = value if isinstance(value, str) else repr(value)
    return '"' + text.replace('"', "") + '"'


def runtime_names(model) -> dict[str, object]:
    """The parameters of a neuron model that a run may change: name -> Brian2 dimensions.

    Its shared variables (``(shared)`` in the equations) and :data:`INITIAL`.
    """
    from brian2.units.fundamentalunits import DIMENSIONLESS

    names = shared_names(model.model)
    names[INITIAL] = DIMENSIONLESS
    return names


def reads_run_length(neuron) -> bool:
    """Whether a neuron file (a name or a path) reads :data:`RUN_LENGTH`: a network of it is read at the run's end."""
    return RUN_LENGTH in shared_names(load_neuron_model(neuron).model)


def shared_names(equations_text: str) -> dict[str, object]:
    """The shared parameters of Brian2 equations: name -> dimensions."""
    import brian2
    from brian2.equations.equations import PARAMETER

    equations = brian2.Equations(equations_text)
    return {name: equations[name].dim for name in equations.names
            if equations[name].type == PARAMETER and "shared" in equations[name].flags}


def synapse_names(synapse) -> dict[str, object]:
    """The run parameters of a synapse model: its shared parameters and every synapse's ``delay``,
    ``release``, ``seed`` (:data:`brainyolo.spiking.synapses.COMMON_PARAMETERS`)."""
    from brian2.units.fundamentalunits import DIMENSIONLESS


    names = shared_names(synapse.model) if synapse.model.strip() else {}
    return {**names, **{name: DIMENSIONLESS for name in COMMON_PARAMETERS}}


def resolve(settings: ParameterSettings, model, layers: list[int], defaults: dict[int, dict[str, float]],
            source=None, synapse=None, outputs: list[int] = (), max_delay: int = 0,
            shapes: dict[int, tuple[int, int, int]] | None = None, channel_parameters: bool = False,
            own_neurons: dict | None = None, own_synapses: dict | None = None,
            run_steps: int | None = None) -> dict[int, dict[str, float]]:
    """Every layer's full parameter values: ``defaults`` (the built network's) with ``settings`` applied.

    Parameters
    ----------
    model : NeuronModel
        The hidden layers' neuron model: what may be set.
    layers : list of int
        The hidden spiking convolutions: they take the neuron's and the synapse's parameters.
    defaults : {layer: {name: value}}
        Each layer's values as built (``v_th``, ``alpha``, ..., ``v_init``, the synapse's).
    synapse : SynapseModel or None
        The connections' synapse model (None: no synapse parameters).
    outputs : list of int
        The output layers: they take the synapse's parameters only.
    max_delay : int
        The largest ``delay`` the built network allows.
    shapes : {layer: (C, H, W)} or None
        The hidden layers' shapes: ``delay`` and ``release`` (:data:`PER_CHANNEL_SYNAPSE`) may be arrays of one
        value per channel ``(C,)``; None: one value per layer.
    channel_parameters : bool
        The network is built with ``channel_parameters``: a neuron parameter may be an array too, one value per
        channel ``(C,)`` or per neuron ``(C, H, W)`` (per channel only for :data:`CARRIED`).
    own_neurons, own_synapses : {layer: model}, optional
        Layers built of their own neuron or synapse model (``layer_neurons``, ``layer_synapses``): they take
        that model's parameters.
    run_steps : int, optional
        The run's steps: :data:`RUN_LENGTH` (in seconds) in every layer whose neuron declares it.

    Raises
    ------
    BrainyoloError
        A layer that takes no settings, a name no layer (or not the named layer) has, a value with
        other units, out of range (:data:`POSITIVE`, :data:`NON_NEGATIVE`, :data:`WHOLE`, ``release`` at
        most 1, ``delay`` at most ``max_delay``) or not finite.
    """
    import brian2
    from brian2.units.fundamentalunits import DIMENSIONLESS

    own_neurons, own_synapses = own_neurons or {}, own_synapses or {}

    def neuron_of(index: int):
        return own_neurons.get(index, model)

    def synapse_of(index: int):
        return own_synapses.get(index, synapse)

    def synaptic_names(index: int) -> dict:
        return synapse_names(synapse_of(index)) if synapse_of(index) is not None else {}

    neuron_names = {index: runtime_names(neuron_of(index)) for index in layers}
    names = {index: {**neuron_names[index], **synaptic_names(index)} for index in layers}
    names.update({index: synaptic_names(index) for index in outputs})
    unknown_layers = sorted(settings.layers() - set(names))
    if unknown_layers:
        raise BrainyoloError(source, f"layer {unknown_layers[0]} takes no neuron parameters (hidden spiking "
                                     f"layers: {', '.join(map(str, layers))})")
    every = {name: dim for known in names.values() for name, dim in known.items()}
    for selector, name, _ in settings.entries:
        if name == RUN_LENGTH:
            raise BrainyoloError(source, f"{RUN_LENGTH} is the run's length: --steps sets it, not a parameter")
        known = every if selector == ALL else names[int(selector)]
        if name not in known:
            index = None if selector == ALL else int(selector)
            neuron_model = model if index is None else neuron_of(index)
            synapse_model = synapse if index is None else synapse_of(index)
            what = f"the neuron model {neuron_model.name}" + (
                f" or the synapse model {synapse_model.name}" if synapse_model else "")
            where = "" if selector == ALL or int(selector) in layers else f" (layer {selector} is an output layer: " \
                                                                          "synapse parameters only)"
            raise BrainyoloError(source, f"{name!r} is not a parameter of {what} that a run can set{where} "
                                         f"(run parameters: {', '.join(sorted(set(known) - {RUN_LENGTH}))})")
    resolved = {}
    for index in [*layers, *outputs]:
        values = dict(defaults[index])
        for name, value in settings.for_layer(index).items():
            if name not in names[index]:
                continue  # an [all] setting of a parameter this layer does not have
            if brian2.get_dimensions(value) is not names[index][name] and not (
                    brian2.get_dimensions(value) is DIMENSIONLESS and names[index][name] is not DIMENSIONLESS):
                raise BrainyoloError(source, f"layer {index}: {name} = {value} does not have the units of {name} "
                                             f"({names[index][name]})")
            value = _layer_value(value, name, index, neuron_names.get(index, {}), shapes, channel_parameters,
                                 source)
            problem = _range_problem(name, value, max_delay)
            if problem:
                shown = f"{value:g}" if np.ndim(value) == 0 else "(per channel)"
                raise BrainyoloError(source, f"layer {index}: {name} = {shown} {problem}")
            values[name] = value
        if run_steps is not None and RUN_LENGTH in neuron_names.get(index, {}):
            values[RUN_LENGTH] = run_steps * TIME_STEP_MS * 1e-3
        resolved[index] = values
    return resolved


def _layer_value(value, name: str, index: int, neuron_names: dict, shapes: dict | None, channel_parameters: bool,
                 source):
    """A setting as a float, or (per channel or neuron) as a float array of a checked shape."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return float(array)
    if shapes is None or index not in shapes:
        raise BrainyoloError(source, f"layer {index}: {name} has one value per layer (values per channel: the "
                                     "hidden layers')")
    if name in neuron_names and not channel_parameters:
        raise BrainyoloError(source, f"layer {index}: {name} has one value per layer (values per channel need a "
                                     "network built with channel_parameters)")
    if name not in neuron_names and name not in PER_CHANNEL_SYNAPSE:
        raise BrainyoloError(source, f"layer {index}: {name} is a synapse parameter: one value per layer "
                                     f"(per channel: {', '.join(PER_CHANNEL_SYNAPSE)})")
    c, h, w = shapes[index]
    per_channel = name in CARRIED or name in PER_CHANNEL_SYNAPSE
    allowed = [(c,)] if per_channel else [(c,), (c, h, w)]
    if array.shape not in allowed:
        what = "channels" if per_channel else "channels, or channels, y, x"
        raise BrainyoloError(source, f"layer {index}: {name} takes an array of shape "
                                     f"{' or '.join(map(str, allowed))} ({what}), not {array.shape}")
    return array


def _range_problem(name: str, value, max_delay: int) -> str | None:
    value = np.asarray(value)
    if not np.all(np.isfinite(value)):
        return "must be finite"
    if name in POSITIVE and np.any(value <= 0):
        return "must be finite and positive"
    if name in NON_NEGATIVE and np.any(value < 0):
        return "must not be negative"
    if name in NEGATIVE and np.any(value >= 0):
        return "must be negative"
    if name in FRACTION and np.any((value < 0) | (value >= 1)):
        return "is a fraction of the run: at least 0 and below 1"
    if name in WHOLE and np.any(value != np.round(value)):
        return "must be a whole number"
    if name == "release" and np.any(value > 1):
        return "is a probability: at most 1"
    if name == "seed" and np.any(value >= 2**31):
        return "must be below 2**31"
    if name == "delay" and np.any(value > max_delay):
        return (f"is longer than the built network's largest delay ({max_delay} steps: --max-delay, a run "
                "file's delays, or the Python API's max_delay=, set it)")
    return None

"""Synapse models read from ``equations/synapses/*.toml``: what a spike does to its target neurons.

A synapse file states, as Brian2 equation strings, the synaptic state every target neuron holds and
where a spike's weight goes; the weight-shared convolutions deliver into it. ``instant`` (the
default, Spiking-YOLO's) has no state: a spike adds its weight to the membrane at once. A synapse
with state (``exponential``, ``alpha``) declares::

    model = '''
    dI_syn/dt = -I_syn / tau_syn : 1        # linear ODEs: integrated exactly (Brian2's 'exact')
    tau_syn : second (shared, constant)     # shared parameters: set per layer and per run
    '''
    target = "I_syn"                        # a spike's weight is added here
    charge = "I_syn * (1 - exp(-dt / tau_syn))"   # what the membrane receives per step

Units: ``I_syn`` holds charge, the current is ``I_syn / tau_syn``; ``charge`` is the exact integral
of that current over one step, so one spike of weight ``w`` delivers ``w`` to the membrane in all
(a geometric series: the network computes the same function, later). Once per step, before the
neurons' own update, every target neuron adds ``charge`` to its input variable (the neuron file's
``input``, ``v`` for the signed IF neurons) and then advances the synaptic state by one exact step:
``I_syn(t) = w * exp(-t / tau_syn)`` at every step after the spike. As ``tau_syn -> 0`` this is the
instant synapse, step for step.

Every synapse file also has, without declaring them, the parameters :data:`COMMON_PARAMETERS`:
``delay`` (an axonal delay in steps: spikes into the layer arrive that many steps late, a ring
buffer inside the connection, exact), ``release`` (the probability that a synapse transmits a spike,
decided per synapse and spike by a counter-based hash of the run's ``seed``, the step and both
neurons: reproducible, the same with any number of threads; a transmitted spike carries ``w / p``,
so the expected input is the network's and release adds only variance) and ``seed``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from brainyolo.io.atomic import read_toml
from brainyolo.io.errors import BrainyoloError
from brainyolo.io.quantities import parse_quantity
from brainyolo.spiking.neurons import (
    _IDENTIFIER,
    MAX_FILE_BYTES,
    _text,
    equation_folders,
    find_model_file,
    parameter_table,
)

DEFAULT_SYNAPSE = "instant"

COMMON_PARAMETERS = {"delay": 0.0, "release": 1.0, "seed": 0.0}
"""Parameters every synapse file has (dimensionless; ``delay`` a whole number of steps, ``release`` in
(0, 1], ``seed`` a whole number): the connections into a layer read them per run."""

_KEYS = {"description", "model", "target", "charge", "parameters"}

MAX_STATE_VARIABLES = 4
"""Most differential equations a synapse file may declare."""


def synapse_folders() -> list[Path]:
    """Where synapse models are looked up by name: ``equations/synapses`` of each neuron folder."""

    folders = []
    if os.environ.get("BRAINYOLO_EQUATIONS"):
        folders.append(Path(os.environ["BRAINYOLO_EQUATIONS"]) / "synapses")
    folders += [folder / "synapses" for folder in equation_folders()]
    folders.append(Path(sys.prefix) / "share" / "brainyolo" / "equations" / "synapses")
    return list(dict.fromkeys(f for f in folders if f.is_dir()))


@dataclass(frozen=True)
class SynapseModel:
    """A synapse model as read from its file.

    Attributes
    ----------
    model : str
        Brian2 equations of the synaptic state (empty for ``instant``): linear differential
        equations and ``(shared, constant)`` parameters.
    target : str or None
        The variable a spike's weight adds to; None: the neuron's input variable (instant).
    charge : str or None
        Expression of the synaptic state: what the membrane receives per step.
    parameters : dict
        Defaults of the model's parameters (text in :mod:`brainyolo.io.quantities`' grammar).
    """

    name: str
    model: str = ""
    target: str | None = None
    charge: str | None = None
    description: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def instant(self) -> bool:
        return self.target is None

    def update_code(self) -> str:
        """Brian2 statements run once per step in every target neuron: deliver ``charge``, advance the state.

        The state's exact one-step solution comes from Brian2's linear ('exact') state updater.
        """
        import brian2
        from brian2.stateupdaters.exact import linear

        if self.instant:
            return ""
        return f"{{input}} += {self.charge}\n" + linear(brian2.Equations(self.model))


def load_synapse_model(name_or_path: str | os.PathLike) -> SynapseModel:
    """Read a synapse model by name (``equations/synapses/NAME.toml``) or by path, checked.

    Brian2 checks the equations here (they must be linear, deterministic and have an exact solution),
    so that a bad file is one error line naming it, before anything is built.

    Raises
    ------
    BrainyoloError
    """
    import brian2

    path = find_model_file(name_or_path, synapse_folders(), "synapse model")
    data = read_toml(path, "synapse model", MAX_FILE_BYTES)
    unknown = set(data) - _KEYS
    if unknown:
        raise BrainyoloError(path, f"unknown keys {sorted(unknown)} (allowed: {sorted(_KEYS)})")
    model = _text(data, "model", path) or ""
    target, charge = data.get("target"), _text(data, "charge", path)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise BrainyoloError(path, "entry 'description' must be text")
    parameters = parameter_table(data, path)
    for name, value in parameters.items():
        try:
            parse_quantity(value)
        except ValueError as err:
            raise BrainyoloError(path, f"parameter {name} = {value!r} is not a quantity: {err}") from None
    clash = set(parameters) & set(COMMON_PARAMETERS)
    if clash:
        raise BrainyoloError(path, f"parameter {sorted(clash)[0]!r} is every synapse's own (delay, release, seed)")
    synapse = SynapseModel(path.stem, model, target, charge, description, parameters, str(path))
    if not model.strip():
        if target is not None or charge is not None:
            raise BrainyoloError(path, "'target' and 'charge' need a 'model' holding them")
        return synapse
    if not isinstance(target, str) or charge is None:
        raise BrainyoloError(path, "a synapse with a 'model' needs 'target' (the variable a spike adds to) and "
                                   "'charge' (what the membrane receives per step)")
    if not _IDENTIFIER.match(target):
        raise BrainyoloError(path, "entry 'target' must name a variable of the model (e.g. \"I_syn\")")
    try:
        equations = brian2.Equations(model)
    except Exception as err:  # noqa: BLE001 - Brian2's parser raises many kinds
        raise BrainyoloError(path, f"model: Brian2 cannot read the equations: {err}") from None
    if len(equations.diff_eq_names) > MAX_STATE_VARIABLES:
        raise BrainyoloError(path, f"model: more than {MAX_STATE_VARIABLES} synaptic state variables (their exact "
                                   "solution is a symbolic matrix exponential)")
    if target not in equations.diff_eq_names:
        raise BrainyoloError(path, f"target {target!r} is not a differential equation's variable of the model")
    if equations.stochastic_variables:
        raise BrainyoloError(path, "model: synaptic state equations must be deterministic")
    missing = [name for name in equations.names if name not in equations.diff_eq_names
               and "shared" not in equations[name].flags]
    if missing:
        raise BrainyoloError(path, f"model: {missing[0]!r} must be a differential equation's variable or a "
                                   "(shared, constant) parameter")
    undefined = [name for name in equations.names if name not in equations.diff_eq_names and name not in parameters]
    if undefined:
        raise BrainyoloError(path, f"parameter {undefined[0]!r} has no value in [parameters]")
    try:
        synapse.update_code()
    except Exception as err:  # noqa: BLE001 - Brian2's exact solver reports unsupported systems
        raise BrainyoloError(path, f"model: no exact solution (linear, constant coefficients needed): {err}") \
            from None
    return synapse


def compose(neuron, synapse: SynapseModel):
    """The neuron model of a layer whose incoming synapses are ``synapse``.

    The synaptic state variables become plain variables of the neuron (their exact one-step update
    runs as :meth:`SynapseModel.update_code`, not in the neuron's own integration method) and the
    synapse's shared parameters join the neuron's (defaults included): a layer's ``tau_syn`` is then
    a run parameter like its ``v_th``. ``instant``: the neuron unchanged.

    Raises
    ------
    BrainyoloError
        A synaptic variable that the neuron model already has.
    """
    import dataclasses

    import brian2
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_unit

    if synapse.instant:
        return neuron
    equations = brian2.Equations(synapse.model)
    taken = set(brian2.Equations(neuron.model).names) | set(neuron.parameters)
    clash = sorted(set(equations.names) & taken)
    if clash:
        raise BrainyoloError(synapse.source or synapse.name,
                             f"variable {clash[0]!r} is also a variable of the neuron model {neuron.name}")
    lines = []
    for name in equations.names:
        eq = equations[name]
        if eq.dim is not DIMENSIONLESS:
            if name in equations.diff_eq_names:
                raise BrainyoloError(synapse.source or synapse.name,
                                     f"synaptic variable {name!r} must be dimensionless (normalized units)")
        if name in equations.diff_eq_names or eq.dim is DIMENSIONLESS:
            unit = "1"
        else:
            unit = repr(get_unit(eq.dim))
        flags = f" ({', '.join(eq.flags)})" if eq.flags and name not in equations.diff_eq_names else ""
        lines.append(f"{name} : {unit}{flags}")
    return dataclasses.replace(neuron, model=neuron.model.rstrip("\n") + "\n" + "\n".join(lines) + "\n",
                               parameters={**neuron.parameters, **synapse.parameters})

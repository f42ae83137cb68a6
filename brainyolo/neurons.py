"""Neuron models read from ``equations/*.toml`` and turned into Brian2 ``NeuronGroup`` objects.

A model file holds Brian2 equation strings, the threshold and reset of the (positive) spike, extra
events with their own condition and reset (the signed neuron's ``negative_spike``) and parameter
defaults with units, all as text a scientist can read and copy. A model is loaded by name (a file
in the project's ``equations/`` folder) or by path (a user's own edited copy)::

    model = load_neuron_model("if_signed_ibt")
    group = neuron_group(model, 100, v_th=1.0)

Downstream connections add ``+w`` on ``spike`` and ``-w`` on ``negative_spike``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from brainyolo.errors import BrainyoloError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NEGATIVE_EVENT = "negative_spike"
"""Name of the signed neurons' custom Brian2 event."""

TIME_STEP_MS = 1.0
"""One simulation time step, in ms (the ``dt`` of every group brainyolo builds)."""

_KEYS = {"description", "model", "threshold", "reset", "events", "parameters"}


def equation_folders() -> list[Path]:
    """Where models are looked up by name: ``$BRAINYOLO_EQUATIONS``, the checkout, the install."""
    folders = []
    if os.environ.get("BRAINYOLO_EQUATIONS"):
        folders.append(Path(os.environ["BRAINYOLO_EQUATIONS"]))
    folders.append(Path(__file__).resolve().parents[1] / "equations")
    folders.append(Path(sys.prefix) / "share" / "brainyolo" / "equations")
    return [f for f in folders if f.is_dir()]


def available_neuron_models() -> list[str]:
    """Names of the models found in :func:`equation_folders`."""
    return sorted({p.stem for folder in equation_folders() for p in folder.glob("*.toml")})


@dataclass(frozen=True)
class Event:
    """A custom Brian2 event: its condition and the reset run when it happens."""

    condition: str
    reset: str = ""


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model as read from its file (all entries are Brian2 strings)."""

    name: str
    model: str
    threshold: str | None = None
    reset: str | None = None
    description: str = ""
    events: dict[str, Event] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def spiking(self) -> bool:
        """Whether the neuron emits (positive) spikes at all."""
        return self.threshold is not None

    @property
    def signed(self) -> bool:
        """Whether the neuron emits negative spikes."""
        return NEGATIVE_EVENT in self.events


def load_neuron_model(name_or_path: str | os.PathLike) -> NeuronModel:
    """Read a neuron model by name (``equations/NAME.toml``) or by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and os.sep not in str(name_or_path):
        found = [f / f"{name_or_path}.toml" for f in equation_folders() if (f / f"{name_or_path}.toml").exists()]
        if not found:
            raise BrainyoloError(name_or_path, "no such neuron model (known: "
                                               f"{', '.join(available_neuron_models())})")
        path = found[0]
    try:
        data = tomllib.loads(path.read_text())
    except OSError as err:
        raise BrainyoloError(path, f"cannot read neuron model: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise BrainyoloError(path, f"not valid TOML: {err}") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise BrainyoloError(path, f"unknown keys {sorted(unknown)} (allowed: {sorted(_KEYS)})")
    if not isinstance(data.get("model"), str):
        raise BrainyoloError(path, "missing text entry 'model'")
    for key in ("threshold", "reset"):
        if key in data and not isinstance(data[key], str):
            raise BrainyoloError(path, f"entry '{key}' must be text")
    if "reset" in data and "threshold" not in data:
        raise BrainyoloError(path, "a 'reset' needs a 'threshold'")
    try:
        events = {name: Event(str(spec["condition"]), str(spec.get("reset", "")))
                  for name, spec in data.get("events", {}).items()}
    except (KeyError, TypeError, AttributeError):
        raise BrainyoloError(path, "every [events.NAME] needs a 'condition'") from None
    return NeuronModel(path.stem, data["model"], data.get("threshold"), data.get("reset"),
                       str(data.get("description", "")), events,
                       {k: str(v) for k, v in data.get("parameters", {}).items()}, str(path))


def _unit_namespace() -> dict:
    import brian2
    from brian2.units.fundamentalunits import Quantity, Unit

    return {k: v for k, v in vars(brian2).items() if isinstance(v, (Unit, Quantity))}


def parameter_values(model: NeuronModel, **overrides) -> dict:
    """The model's parameters evaluated with Brian2 units, ``overrides`` applied."""
    namespace = _unit_namespace()
    values = {}
    for name, text in model.parameters.items():
        try:
            values[name] = eval(text, {"__builtins__": {}}, namespace)  # noqa: S307 - units only
        except Exception as err:  # noqa: BLE001 - report any bad expression with its file
            raise BrainyoloError(model.source or model.name,
                                 f"parameter {name} = {text!r} is not a quantity: {err}") from None
    values.update(overrides)
    return values


def neuron_group(model: NeuronModel, n: int, name: str | None = None, method: str = "euler", clock=None,
                 **parameters):
    """A Brian2 ``NeuronGroup`` of ``n`` neurons of ``model``.

    Parameters that are variables of the model (``v_th : 1 (shared, constant)``) are set on the
    group; the others (``t_step``) become the group's namespace. Extra events get their reset with
    ``run_on_event``. The group's clock ticks once per time step (:data:`TIME_STEP_MS`): ``clock``
    if given (a network's shared clock), else a clock of its own.
    """
    import brian2

    values = parameter_values(model, **parameters)
    events = {event: spec.condition for event, spec in model.events.items()}
    equations = brian2.Equations(model.model)
    namespace = {k: v for k, v in values.items() if k not in equations.names}
    group = brian2.NeuronGroup(n, equations, threshold=model.threshold, reset=model.reset,
                               events=events, method=method, namespace=namespace,
                               name=name or "neurongroup*",
                               **({"clock": clock} if clock is not None else {"dt": TIME_STEP_MS * brian2.ms}))
    for event, spec in model.events.items():
        if spec.reset:
            group.run_on_event(event, spec.reset)
    for key, value in values.items():
        if key in equations.names:
            setattr(group, key, value)
    return group

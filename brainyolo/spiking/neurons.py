"""Neuron models read from ``equations/*.toml`` and turned into Brian2 ``NeuronGroup`` objects.

A model file holds Brian2 equation strings, the threshold and reset of the (positive) spike, extra
events with their own condition and reset (the signed neuron's ``negative_spike``) and parameter
defaults with units, all as text a scientist can read and copy. A model is loaded by name (a file
in the project's ``equations/`` folder) or by path (a user's own edited copy)::

    model = load_neuron_model("if_signed_ibt")
    group = neuron_group(model, 100, v_th=1.0)

Downstream connections add ``+w`` on ``spike`` and ``-w`` on ``negative_spike`` (``-w`` times the file's
``negative_value``, below) into the model's ``input`` variable (``v`` unless the file names another, e.g. a per-step
input ``x``).

Two optional entries state a discrete-time neuron exactly, as training frameworks define it
(``equations/lif_direct.toml``: spikingjelly's LIF step):

* ``update``: statements run once per step where Brian2 integrates the equations (slot
  ``groups``, after any differential equation's state update, before the threshold);
* ``input``: the variable connections add their spikes' weights into.

``refractory`` (optional) is Brian2's refractory period, an expression of the model's parameters
(``equations/if_signed_ibt_refractory.toml``: ``"t_ref + t_step"``).

``burst`` (optional, default 1) lets a neuron send up to that many spikes of one sign in one step (burst
spikes, Li and Zeng 2022): its threshold (the negative event's condition) reads ``level``, the neuron sends as many
spikes as levels hold, and they travel as binary-weighted Brian2 events (``spike``, ``spike_x2``, ``spike_x4``,
...): see :mod:`brainyolo.spiking.bursts` (``equations/if_signed_ibt_tracking_burst.toml``).

``weighted_spikes`` (optional, default false; needs ``burst``) counts each of a burst's binary-weighted events as one
synaptic event instead of as many as the spikes it carries (weighted spikes, Kim, Park, Na and Yoon,
Neurocomputing 311, 2018): a neuron that sends k spikes in one step costs as many events as k has ones in binary, each
delivering its weight times 2**b (a shift). The dynamics are the burst's; only what an event costs changes, and the
layer's recordings keep the events it sent beside its spikes (``positive_events``, ``negative_events``).

``negative_value`` (optional) is what one negative spike stands for, as a fraction ``1 / n`` of what a positive
spike stands for (``n`` = 1, 2, 4, ... :data:`MAX_NEGATIVE_DIVISIONS`): the negative side of a signed neuron on a grid
``n`` times as fine, each of its spikes still one synaptic event. The model reads it by that name (e.g. its reset
``q -= negative_value``); connections add ``n`` units per positive spike and one per negative spike, with a unit of
``v_th / n`` (:func:`brainyolo.spiking.event_spaces.event_spaces`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from brainyolo.io.atomic import read_toml
from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.io.quantities import parse_quantity
from brainyolo.spiking.bursts import (
    LEVEL,
    MAX_BURST,
    digit_events,
    is_spike_event,
    spike_events,
    subexpressions,
    with_level,
)

NEGATIVE_EVENT = "negative_spike"
"""Name of the signed neurons' custom Brian2 event."""

TIME_STEP_MS = 1.0
"""One simulation time step, in ms (the ``dt`` of every group brainyolo builds)."""

_KEYS = {"description", "model", "threshold", "reset", "events", "parameters", "update", "input", "refractory",
         "burst", "negative_value",
         "weighted_spikes"}

MAX_NEGATIVE_DIVISIONS = 16
"""The finest negative grid a neuron file may declare: ``negative_value = 1/16``."""
NEGATIVE_DIVISIONS = frozenset(2 ** k for k in range(MAX_NEGATIVE_DIVISIONS.bit_length()))
"""The ``n`` a neuron file's ``negative_value = 1/n`` may take: 1, 2, 4, ... :data:`MAX_NEGATIVE_DIVISIONS`."""


def equation_folders() -> list[Path]:
    """Where models are looked up by name: ``$BRAINYOLO_EQUATIONS``, the checkout, the install."""
    folders = []
    if os.environ.get("BRAINYOLO_EQUATIONS"):
        folders.append(Path(os.environ["BRAINYOLO_EQUATIONS"]))
    folders.append(Path(__file__).resolve().parents[2] / "equations")
    folders.append(Path(sys.prefix) / "share" / "brainyolo" / "equations")
    return [f for f in folders if f.is_dir()]


def model_names(folders: list[Path]) -> list[str]:
    """Names of the model files (``NAME.toml``) that ``folders`` hold, sorted."""
    return sorted({p.stem for folder in folders for p in folder.glob("*.toml")})


def available_neuron_models() -> list[str]:
    """Names of the models found in :func:`equation_folders`."""
    return model_names(equation_folders())


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
    update: str | None = None
    input: str = "v"
    refractory: str | None = None
    burst: int = 1
    levels: dict[str, str] = field(default_factory=dict)
    """A burst's conditions as the file wrote them, reading ``level``, by the event they make binary-weighted events
    of (``spike``, ``negative_spike``): what a fused thresholder searches
    (:func:`~brainyolo.spiking.bursts.burst_search`) instead of the events' own conditions, which sum the levels.
    Whatever changes a burst model's conditions changes these the same way
    (:func:`~brainyolo.spiking.layer_models.with_lesions`)."""
    weighted_spikes: bool = False
    """Whether each binary-weighted event of a burst is one synaptic event (else: one per spike it carries)."""
    negative_value: float | None = None
    """What a negative spike stands for, as a fraction of a positive one (``1 / n``); None: the file declares none
    (1, and the name is not defined for its equations)."""

    @property
    def negative_divisions(self) -> int:
        """``n``: negative spikes per positive spike's worth (1 unless the file declares ``negative_value``)."""
        return 1 if self.negative_value is None else round(1 / self.negative_value)

    @property
    def spiking(self) -> bool:
        """Whether the neuron emits (positive) spikes at all."""
        return self.threshold is not None

    @property
    def signed(self) -> bool:
        """Whether the neuron emits negative spikes."""
        return NEGATIVE_EVENT in self.events

    @property
    def spike_events(self) -> list[tuple[str, int]]:
        """The events that carry spikes, with the signed number of spikes each carries (:func:`spike_events`)."""
        return spike_events((["spike"] if self.spiking else []) + list(self.events))


MAX_FILE_BYTES = 64 * 1024
"""Largest neuron file read."""

MAX_STATEMENT = 4000
"""Longest equation, condition or reset text, in characters."""

MAX_LITERAL_EXPONENT = 64
"""Largest literal exponent in an equation string (sympy evaluates integer powers exactly)."""

_FOREIGN = re.compile(r"[\"'\[\]{}\\;`@$]|__|\blambda\b|\bimport\b|[A-Za-z_)]\s*\.\s*[A-Za-z_]")
"""Text that is no part of a Brian2 statement: quotes, brackets, dunders, attributes, lambda, import."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_statement(text: str, where: str) -> None:
    """Refuse a Brian2 statement that could hang its symbolic parser.

    Brian2 parses equations with sympy, which evaluates powers of integer literals exactly:
    ``9**9**9`` would never finish. An exponent must be a number of magnitude at most
    :data:`MAX_LITERAL_EXPONENT`, a name, or parentheses without a power inside, and powers do not chain.

    Raises
    ------
    ValueError
        Naming ``where`` and the problem.
    """
    if len(text) > MAX_STATEMENT:
        raise ValueError(f"{where} is longer than {MAX_STATEMENT} characters")
    if any(not (c.isprintable() or c in "\n\t\r") for c in text):
        raise ValueError(f"{where} holds control characters")
    # Brian2's statements need none of these; refusing them keeps Python-object tricks out of its parser
    foreign = _FOREIGN.search(text)
    if foreign:
        raise ValueError(f"{where}: {foreign.group(0).strip()!r} has no place in a Brian2 equation")
    tokens = re.findall(r"\*\*|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|[A-Za-z_]\w*|\S", text)
    for i, token in enumerate(tokens):
        if token != "**":
            continue
        j = i + 1
        while j < len(tokens) and tokens[j] in "+-":
            j += 1
        if j >= len(tokens):
            continue  # Brian2 reports the syntax error
        exponent, after = tokens[j], j + 1
        if exponent == "(":
            depth = 0
            for k in range(j, len(tokens)):
                depth += {"(": 1, ")": -1}.get(tokens[k], 0)
                if tokens[k] == "**":
                    raise ValueError(f"{where}: a power inside an exponent is not allowed")
                if (tokens[k][0].isdigit() or tokens[k][0] == ".") and float(tokens[k]) > MAX_LITERAL_EXPONENT:
                    raise ValueError(f"{where}: exponent {tokens[k]} is larger than {MAX_LITERAL_EXPONENT}")
                if depth == 0:
                    after = k + 1
                    break
        elif exponent[0].isdigit() or exponent[0] == ".":
            if float(exponent) > MAX_LITERAL_EXPONENT:
                raise ValueError(f"{where}: exponent {exponent} is larger than {MAX_LITERAL_EXPONENT}")
        if after < len(tokens) and tokens[after] == "**":
            raise ValueError(f"{where}: chained powers (a**b**c) are not allowed")


def _text(data: dict, key: str, path, where: str | None = None) -> str | None:
    if key not in data:
        return None
    value = data[key]
    where = where or f"entry '{key}'"
    if not isinstance(value, str):
        raise BrainyoloError(path, f"{where} must be text")
    try:
        check_statement(value, where)
    except ValueError as err:
        raise BrainyoloError(path, str(err)) from None
    return value


def find_model_file(name_or_path: str | os.PathLike, folders: list[Path], kind: str) -> Path:
    """A model file by path, or by name (``NAME.toml`` in the first of ``folders`` that has it).

    Raises
    ------
    BrainyoloError
        No such name, with the names ``folders`` hold.
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or os.sep in str(name_or_path):
        return path
    found = [f / f"{name_or_path}.toml" for f in folders if (f / f"{name_or_path}.toml").exists()]
    if not found:
        raise BrainyoloError(name_or_path, f"no such {kind} (known: {', '.join(model_names(folders))})")
    return found[0]


def parameter_table(data: dict, path) -> dict[str, str]:
    """A model file's ``[parameters]``: identifier names, numbers or text values (as text; parsed later).

    Raises
    ------
    BrainyoloError
    """
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict):
        raise BrainyoloError(path, "'parameters' must be a table of NAME = \"VALUE\" entries")
    for name, value in parameters.items():
        if not _IDENTIFIER.match(name):
            raise BrainyoloError(path, f"parameter name {name!r} is not an identifier")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise BrainyoloError(path, f"parameter {name} must be a number or text such as \"50*ms\"")
    return {k: str(v) for k, v in parameters.items()}


def burst_events(model: NeuronModel, burst: int) -> NeuronModel:
    """``model`` (as written, its threshold and negative condition read :data:`~brainyolo.spiking.bursts.LEVEL`)
    sending up to ``burst`` spikes of each sign per step, as binary-weighted events
    (:func:`~brainyolo.spiking.bursts.digit_events`: ``spike``, ``spike_x2``, ...).

    >>> m = burst_events(NeuronModel("m", "v : 1", "v >= level", "v -= 1"), 2)
    >>> m.threshold
    '(v >= (1)) and int((int(v >= (1)) + int(v >= (2)))) % 2 == 1'
    >>> m.events["spike_x2"]
    Event(condition='(v >= (1)) and int(((int(v >= (1)) + int(v >= (2)))) / 2) % 2 == 1', reset='v -= 2 * (1)')
    """
    if not 1 <= burst <= MAX_BURST:
        raise ValueError(f"burst must be 1 to {MAX_BURST}, not {burst}")
    if burst == 1:
        events = {name: Event(with_level(e.condition, 1), with_level(e.reset, 1)) for name, e in model.events.items()}
        return dataclasses.replace(model, threshold=with_level(model.threshold, 1), reset=with_level(model.reset, 1),
                                   events=events, burst=1)
    if model.threshold is None:
        raise ValueError("a burst needs a 'threshold'")
    if model.refractory:
        raise ValueError("a burst cannot be refractory (Brian2's refractoriness would hold back some of its events)")
    definitions = subexpressions(model.model)
    positive = digit_events("spike", model.threshold, model.reset, burst, "the reset", definitions)
    events = {name: e for name, e in model.events.items() if name != NEGATIVE_EVENT}
    if NEGATIVE_EVENT in model.events:
        negative = model.events[NEGATIVE_EVENT]
        positive.update(digit_events(NEGATIVE_EVENT, negative.condition, negative.reset, burst,
                                        f"[events.{NEGATIVE_EVENT}] reset", definitions))
    spike = positive.pop("spike")
    events.update({name: Event(*pair) for name, pair in positive.items()})
    levels = {"spike": model.threshold}
    if NEGATIVE_EVENT in model.events:
        levels[NEGATIVE_EVENT] = model.events[NEGATIVE_EVENT].condition
    return dataclasses.replace(model, threshold=spike[0], reset=spike[1] or None, events=events, burst=burst,
                               levels=levels)


def negative_value_of(value, path) -> float:
    """A neuron file's ``negative_value``: ``1 / n`` for ``n`` a power of two up to :data:`MAX_NEGATIVE_DIVISIONS`."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1
    divisions = round(1 / value) if ok else 0
    if not (ok and divisions in NEGATIVE_DIVISIONS and abs(value * divisions - 1) < 1e-9):
        raise BrainyoloError(path, f"entry 'negative_value' must be 1/n for n = 1, 2, 4, ... "
                                   f"{MAX_NEGATIVE_DIVISIONS} (e.g. 0.5), not {one_line(repr(value), 40)}")
    return 1.0 / divisions  # exact in binary floating point: units add up exactly


def load_neuron_model(name_or_path: str | os.PathLike, burst: int | None = None,
                      negative_value: float | None = None, weighted_spikes: bool | None = None) -> NeuronModel:
    """Read a neuron model by name (``equations/NAME.toml``) or by path.

    Every entry is checked for its type and every parameter value parsed
    (:func:`brainyolo.io.quantities.parse_quantity`) before the model is returned; Brian2 itself
    checks the equations when a group is made (:func:`brainyolo.spiking.layer_models.hidden_neuron_model`
    does so at load for the models used as hidden layers). ``burst`` replaces the file's own
    ``burst`` (the structural relay and pool neurons follow their sources' bursts), ``negative_value`` the file's
    own ``negative_value`` where it declares one (they follow their sources' negative grid too), ``weighted_spikes``
    the file's own ``weighted_spikes`` (they follow their sources' code too).
    """
    path = find_model_file(name_or_path, equation_folders(), "neuron model")
    data = read_toml(path, "neuron model", MAX_FILE_BYTES)
    unknown = set(data) - _KEYS
    if unknown:
        raise BrainyoloError(path, f"unknown keys {sorted(unknown)} (allowed: {sorted(_KEYS)})")
    if not isinstance(data.get("model"), str):
        raise BrainyoloError(path, "missing text entry 'model'")
    model_text = _text(data, "model", path)
    threshold, reset = _text(data, "threshold", path), _text(data, "reset", path)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise BrainyoloError(path, "entry 'description' must be text")
    if reset is not None and threshold is None:
        raise BrainyoloError(path, "a 'reset' needs a 'threshold'")
    if threshold is not None and not threshold.strip():
        raise BrainyoloError(path, "entry 'threshold' is empty")
    events = {}
    tables = data.get("events", {})
    if not isinstance(tables, dict):
        raise BrainyoloError(path, "'events' must be a table of [events.NAME] tables")
    for name, spec in tables.items():
        if not isinstance(spec, dict) or "condition" not in spec:
            raise BrainyoloError(path, f"[events.{name}] needs a 'condition'")
        if not _IDENTIFIER.match(name) or name == "spike" or (is_spike_event(name) and name != NEGATIVE_EVENT):
            raise BrainyoloError(path, f"[events.{name}]: the event name must be an identifier other than 'spike' "
                                       "and a burst's event names (spike_x2, negative_spike_x2, ...)")
        extra = set(spec) - {"condition", "reset"}
        if extra:
            raise BrainyoloError(path, f"[events.{name}] has unknown keys {sorted(extra)} (allowed: condition, reset)")
        condition = _text(spec, "condition", path, f"[events.{name}] condition")
        if not condition.strip():
            raise BrainyoloError(path, f"[events.{name}] condition is empty")
        events[name] = Event(condition, _text(spec, "reset", path, f"[events.{name}] reset") or "")
    parameters = parameter_table(data, path)
    update = _text(data, "update", path)
    if update is not None and not update.strip():
        raise BrainyoloError(path, "entry 'update' is empty")
    target = data.get("input", "v")
    if not isinstance(target, str) or not _IDENTIFIER.match(target):
        raise BrainyoloError(path, "entry 'input' must name a variable of the model (e.g. \"x\")")
    refractory = _text(data, "refractory", path)
    if refractory is not None and (threshold is None or not refractory.strip()):
        raise BrainyoloError(path, "entry 'refractory' needs a 'threshold' and a period (e.g. \"t_ref + t_step\")")
    model = NeuronModel(path.stem, model_text, threshold, reset, description, events, parameters, str(path), update,
                        target, refractory)
    written = data.get("burst", 1)
    if isinstance(written, bool) or not isinstance(written, int) or not 1 <= written <= MAX_BURST:
        raise BrainyoloError(path, f"entry 'burst' must be a whole number from 1 to {MAX_BURST} (spikes per step)")
    if LEVEL in _defined_names(model_text):
        raise BrainyoloError(path, f"the name {LEVEL!r} is the burst level: the model cannot define it")
    if ("burst" in _defined_names(model_text) or "burst" in parameters) and (burst or written) > 1:
        raise BrainyoloError(path, "the name 'burst' is the file's entry (spikes per step): a burst's model cannot "
                                   "define it")
    if "negative_value" in data:
        declared = negative_value_of(data["negative_value"], path)
        if "negative_value" in _defined_names(model_text) or "negative_value" in parameters:
            raise BrainyoloError(path, "the name 'negative_value' is the file's entry: the model cannot define it")
        texts = [threshold, reset, *(text for event in events.values() for text in (event.condition, event.reset))]
        if NEGATIVE_EVENT not in events or not any(re.search(r"\bnegative_value\b", t or "") for t in texts):
            raise BrainyoloError(path, "entry 'negative_value' needs a negative_spike event and conditions or resets "
                                       "that read it (e.g. reset = \"q -= negative_value\")")
        model = dataclasses.replace(model, negative_value=declared if negative_value is None else
                                    negative_value_of(negative_value, path))
    elif negative_value is not None and negative_value != 1:
        raise BrainyoloError(path, f"its sources' negative spikes stand for {negative_value:g} of a spike, but the "
                                   "file declares no 'negative_value' to count them by")
    weighted = data.get("weighted_spikes", False)
    if not isinstance(weighted, bool):
        raise BrainyoloError(path, "entry 'weighted_spikes' must be true or false")
    if weighted and written < 2:
        raise BrainyoloError(path, "entry 'weighted_spikes' weighs a burst's events: it needs 'burst' of 2 or more")
    if weighted and ("weighted_spikes" in _defined_names(model_text) or "weighted_spikes" in parameters):
        raise BrainyoloError(path, "the name 'weighted_spikes' is the file's entry: the model cannot define it")
    try:
        model = burst_events(model, written if burst is None else int(burst))
    except ValueError as err:
        raise BrainyoloError(path, str(err)) from None
    model = dataclasses.replace(model, weighted_spikes=weighted if weighted_spikes is None else bool(weighted_spikes))
    parameter_values(model)  # every value parses, or one error naming it
    return model


def _defined_names(model_text: str) -> set[str]:
    """The names a model's equations define (the left-hand side of each line), without Brian2."""
    names = set()
    for line in model_text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"(?:d([A-Za-z_]\w*)/dt|([A-Za-z_]\w*))\s*[=:]", line)
        if match:
            names.add(match.group(1) or match.group(2))
    return names


def parameter_values(model: NeuronModel, **overrides) -> dict:
    """The model's parameters as numbers or Brian2 quantities, ``overrides`` applied.

    Values are read by :func:`brainyolo.io.quantities.parse_quantity` (a small grammar: numbers,
    Brian2 unit names, ``+ - * / **`` and parentheses); file content is never evaluated as code.
    """
    values = {}
    for name, text in model.parameters.items():
        try:
            values[name] = parse_quantity(text)
        except ValueError as err:
            raise BrainyoloError(model.source or model.name,
                                 f"parameter {name} = {one_line(repr(text), 60)} is not a quantity: {err}") from None
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
    if model.burst > 1:
        namespace["burst"] = model.burst  # the most spikes of one sign a step: what connections size their sums for
    if model.negative_value is not None:
        namespace["negative_value"] = model.negative_value  # what connections read as the negative spikes' unit
    if model.weighted_spikes:
        namespace["weighted_spikes"] = 1  # what connections read: one synaptic event per binary-weighted event
    group = brian2.NeuronGroup(n, equations, threshold=model.threshold, reset=model.reset,
                               refractory=model.refractory or False,
                               events=events, method=method, namespace=namespace,
                               name=name or "neurongroup*",
                               **({"clock": clock} if clock is not None else {"dt": TIME_STEP_MS * brian2.ms}))
    for event, spec in model.events.items():
        if spec.reset:
            group.run_on_event(event, spec.reset)
    group.add_attribute("burst_levels")
    group.burst_levels = (model.burst, dict(model.levels))  # what a fused thresholder searches
    if model.update:
        # where the state updater runs, after it (a discrete neuron's whole step)
        group.run_regularly(model.update, when="groups", order=1, name=f"{group.name}_update")
    for key, value in values.items():
        if key in equations.names:
            setattr(group, key, value)
    return group

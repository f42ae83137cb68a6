"""One pass over the neurons for every event of a signed neuron.

Brian2 gives every event of a ``NeuronGroup`` its own ``Thresholder``: a signed layer scans all
its neurons twice per step, once for ``spike`` (``v >= v_th``) and once for ``negative_spike``
(``v <= -v_th/alpha``), and a burst neuron once more per binary-weighted event (``spike_x2``, ...).
:class:`SignedThresholder` evaluates all these conditions in the same pass and fills every event
space, in ascending neuron order as Brian2's own thresholder does. The conditions are read from the
group (that is, from the neuron's equation file), at the same point of the step (the ``thresholds``
slot, before any synapse or reset changes ``v``), so the events are exactly those of the separate
thresholders. Templates: ``signed_threshold`` in
``templates/cpp_standalone`` (OpenMP: one contiguous chunk of neurons per thread, conditions
gathered 64 neurons at a time into bit masks) and ``templates/numpy``.

In C++, the same pass can also run the events' resets (:func:`fuse_resets`): each reset is applied to
the neurons of a block of 64 right after their conditions, while their state is still in the core's
cache, instead of by one ``Resetter`` per event in the ``resets`` slot, which reads the state of every
neuron that fired once more. This moves the resets before whatever runs between the two slots
(connections, relays), so it is done only where nothing runs there that touches a variable the resets
read or write: the numbers are exactly those of Brian2's own resetters. For yolov3-tiny in the
``delayed`` schedule with IBT neurons (whose resets change ``v``): the first layer (its input is a current)
and every max-pool layer (its connection writes ``m``, its resets ``count``); with the tracking neuron (its
resets change ``q`` and ``last``) every layer but the relays; in the ``same_step`` schedule every signed layer.

A burst's events (``spike_x2``, ...) each test one binary digit of the neuron's count of levels, which the group's
own conditions sum level by level; this pass finds the count once per neuron by binary search over the levels
(:func:`burst_searches`: 10 conditions for a burst of 512, the same count where a level's condition holds whenever a
higher level's does).

A condition common to every event, ahead of the rest (``firing > 0 and ...``) and reading only shared state
(:func:`common_gate`), is also tested once per step in C++: while it is false, the pass runs the state update
alone and leaves every event space empty. The late neuron (``if_signed_ibt_tracking_late``) is quiet for most of
a run, so its quiet steps cost a state update instead of all its burst's conditions.
"""

from __future__ import annotations

import ast
import functools

import numpy as np
from brian2.core.functions import DEFAULT_CONSTANTS, DEFAULT_FUNCTIONS
from brian2.core.variables import Subexpression, Variables
from brian2.devices.cpp_standalone.codeobject import CPPStandaloneCodeObject
from brian2.groups.group import CodeRunner
from brian2.groups.neurongroup import Resetter
from brian2.utils.stringtools import get_identifiers

from brainyolo.spiking.bursts import burst_search, digit_condition, with_level
from brainyolo.spiking.device import code_object_class_for_current_device
from brainyolo.spiking.neurons import NEGATIVE_EVENT, spike_events


class SignedThresholder(CodeRunner):
    """Thresholder of a group's ``spike`` and ``negative_event`` events (and a burst's weighted events) in one code
    object.

    Parameters
    ----------
    group : NeuronGroup
        A group with a threshold, the event ``negative_event`` and no refractoriness.
    negative_event : str
        Name of the second event (default :data:`brainyolo.spiking.neurons.NEGATIVE_EVENT`).
    state_update : bool
        Also run the group's state update in this pass (the caller removes the group's own
        ``StateUpdater`` from the network; :func:`fuse_thresholders` does).
    """

    def __init__(self, group, negative_event: str = NEGATIVE_EVENT, state_update: bool = False,
                 when: str = "thresholds"):
        if "spike" not in group.events or negative_event not in group.events:
            raise ValueError(f"group {group.name} needs a threshold and the event {negative_event!r}")
        if group._refractory is not False:
            raise ValueError(f"group {group.name} is refractory: keep Brian2's own thresholders")
        if state_update and group.equations.stochastic_variables:
            raise ValueError(f"group {group.name} has stochastic equations: keep its own state updater")
        self.negative_event = negative_event
        self.state_update = state_update
        self.fused_resets: list[str] = []  # events whose resets this pass runs, in Brian2's order (fuse_resets)
        # spike first, the negative event second, then the burst events of either
        others = [name for name, _ in spike_events(group.events) if name not in ("spike", negative_event)]
        self.fused_events = ["spike", negative_event, *others]
        self.variables = Variables(self)
        for k in range(len(self.fused_events)):
            self.variables.add_auxiliary_variable(f"_cond_{k}", dtype=bool)
        self.searches = burst_searches(group, negative_event)
        for statements, _ in self.searches.values():
            for name, _ in statements:
                self.variables.add_auxiliary_variable(name, dtype=np.int32)
        self.variables.add_auxiliary_variable("_gate", dtype=bool, scalar=True)
        spaces = [f"_{event}space" for event in self.fused_events]
        CodeRunner.__init__(
            self, group, "signed_threshold", code="", clock=group.clock, when=when, order=group.order,
            name=f"{group.name}_signed_thresholder", needed_variables=spaces,
            template_kwds={"eventspace_variables": [group.variables[space] for space in spaces], "resets": [],
                           "gated": False, "state_update": state_update},
            codeobj_class=code_object_class_for_current_device())

    def update_abstract_code(self, run_namespace):
        """Code blocks: ``condition`` (the state update, then every event's condition), ``reset_k``
        (the reset of the ``k``-th of :attr:`fused_resets`), and where the events share a gate
        (:func:`common_gate`) ``gate`` (``_gate``, the gate) and ``update`` (the state update alone); all
        but ``condition`` C++ only: the numpy template has none."""
        cpp = issubclass(self.codeobj_class, CPPStandaloneCodeObject)
        if self.fused_resets and not cpp:
            raise NotImplementedError(f"{self.name}: resets run in the thresholder's pass in C++ standalone only")
        searched = [f"{name} = {expression}" for statements, _ in self.searches.values()
                    for name, expression in statements]  # a burst's counts, then every event's condition
        conditions = "\n".join(searched + [f"_cond_{k} = {self._condition(event)}"
                                           for k, event in enumerate(self.fused_events)])
        update = ""
        if self.state_update:
            updater = self.group.state_updater
            updater.update_abstract_code(run_namespace)
            update = updater.abstract_code
            conditions = f"{update}\n{conditions}"
        code = {"condition": conditions}
        gate = common_gate(self.group, [self.group.events[event] for event in self.fused_events]) if cpp else None
        self.template_kwds["gated"] = gate is not None
        if gate is not None:
            code["gate"] = f"_gate = {gate}"
            if self.state_update:
                code["update"] = update
        for k, event in enumerate(self.fused_resets):
            code[f"reset_{k}"] = self.group.event_codes[event]
        # the template runs reset k on the neurons of event space resets[k]
        self.template_kwds["resets"] = [self.fused_events.index(event) for event in self.fused_resets]
        self.abstract_code = code


    def _condition(self, event: str) -> str:
        """``event``'s condition: the group's, or where it is a burst's binary-weighted event, its digit of the count
        :attr:`searches` found."""
        value = dict(spike_events(self.group.events)).get(event)
        base = None if value is None else "spike" if value > 0 else self.negative_event
        if base not in self.searches:
            return self.group.events[event]
        _, count = self.searches[base]
        return digit_condition(with_level(self.group.burst_levels[1][base], 1), count, abs(value))


def burst_searches(group, negative_event: str = NEGATIVE_EVENT) -> dict[str, tuple[list, str]]:
    """How a fused thresholder finds ``group``'s burst counts: ``log2(burst)`` conditions per neuron where the group's
    own conditions sum ``burst`` of them.

    Returns
    -------
    dict
        Per event a burst makes binary-weighted events of (``spike``, ``negative_event``), the statements that find
        its count by binary search and the name that holds it (:func:`~brainyolo.spiking.bursts.burst_search`, from
        the group's ``burst_levels``, which :func:`~brainyolo.spiking.neurons.neuron_group` sets). Empty for a group
        without bursts.
    """
    burst, levels = getattr(group, "burst_levels", None) or (1, {})
    if burst < 2:
        return {}
    return {event: burst_search(event, condition, burst) for event, condition in levels.items()
            if event in ("spike", negative_event)}


def common_gate(group, conditions: list[str]) -> str | None:
    """The first term of ``conditions`` (``G`` of ``G and ...``) where every condition starts with the same one and
    it reads only what is the same for every neuron of ``group`` during a step: its shared variables and
    subexpressions (no differential equation's), constants and stateless functions (not ``rand()``); None otherwise.

    >>> from brian2 import NeuronGroup
    >>> group = NeuronGroup(2, "v : 1\\nopen : 1 (shared)")
    >>> common_gate(group, ["open > 0 and v > 1", "open > 0 and v < -1"])
    'open > 0'
    >>> common_gate(group, ["v > 0 and open > 0", "v > 0 and open < 0"]) is None  # v is each neuron's own
    True
    >>> common_gate(group, ["(open > 0 and v > 1) and v < 3", "open > 0 and v < -1"])
    'open > 0'
    """
    firsts = {_first_term(condition) for condition in conditions}
    if len(firsts) != 1 or None in firsts:
        return None
    gate, = firsts
    for name in get_identifiers(gate):
        var = group.variables.get(name)
        if var is not None:
            if not getattr(var, "scalar", False) or name in group.equations.diff_eq_names:
                return None
        elif name in DEFAULT_FUNCTIONS:
            if not DEFAULT_FUNCTIONS[name].stateless:
                return None
        elif name not in DEFAULT_CONSTANTS and name not in ("True", "False"):
            return None  # a name of the run's namespace: resolved there, possibly per neuron
    return gate


@functools.lru_cache(maxsize=128)
def _first_term(condition: str) -> str | None:
    """``G`` of a condition ``G and ...`` (of ``(G and A) and B`` too), as Python writes its syntax tree (spacing and
    redundant parentheses gone); None for a condition of another form. Cached: a burst's conditions run to tens of
    kilobytes each, the same text in every layer of a network, and parsing them took half of a short network's
    construction."""
    try:
        tree = ast.parse(condition.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And)):
        return None
    while isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And):
        tree = tree.values[0]  # (G and A) and B starts with G too (a burst's events)
    return ast.unparse(tree)


def fuse_thresholders(group, negative_event: str = NEGATIVE_EVENT) -> SignedThresholder:
    """Replace ``group``'s thresholders (``spike``, ``negative_event`` and their burst events) by one
    :class:`SignedThresholder`; every event keeps its name, space and reset.

    A deterministic state update moves into the same pass (the group's ``StateUpdater`` leaves
    the network; ``group.state_updater`` stays for inspection).
    """
    updater = getattr(group, "state_updater", None)
    state_update = (updater is not None and updater in group.contained_objects
                    and len(group.equations.diff_eq_names) > 0 and not group.equations.stochastic_variables)
    fused = SignedThresholder(group, negative_event, state_update=state_update)
    for event in fused.fused_events:
        group.contained_objects.remove(group.thresholder[event])
        group.thresholder[event] = fused
    if state_update:
        group.contained_objects.remove(updater)
    group.contained_objects.append(fused)
    return fused


def _changeable(variables) -> list:
    """The variables among ``variables`` that a run may change (constants and read-only ones aside)."""
    return [var for var in variables if not getattr(var, "read_only", True) and not getattr(var, "constant", False)]


def _touched_variables(obj) -> list:
    """The variables a code runner may read or write: its own and its group's, constants aside."""
    found = []
    for holder in (obj, getattr(obj, "group", None)):
        variables = getattr(holder, "variables", None)
        if variables is not None:
            found += _changeable(variables.values())
    return found


def _reset_variables(thresholder, events) -> list | None:
    """The changeable variables the resets of ``events`` read or write; None where they cannot move: a reset that
    is not a string or reads a subexpression, or a variable of the resets that is not the neuron's own (shared, or
    indexed otherwise) or that the group also holds under another name through another index."""
    group = thresholder.group
    found = []
    for event in events:
        code = group.event_codes.get(event)
        if not isinstance(code, str):
            return None
        names = get_identifiers(code) & set(group.variables)
        if any(isinstance(group.variables[name], Subexpression) for name in names):
            return None
        for name in names:
            var = group.variables[name]
            if _changeable([var]):
                if getattr(var, "scalar", False) or group.variables.indices[name] != "_idx":
                    return None
                found.append(var)
    # the conditions (and the state update) must read every neuron's own state only: a variable the resets change,
    # read under another name through another index (a link into the group itself), would see the resets of other
    # blocks and threads already applied
    if any(any(var is mine for mine in found) and group.variables.indices[name] != "_idx"
           for name, var in group.variables.items()):
        return None
    return found


def _all_objects(objects) -> list:
    found, stack, seen = [], list(objects), set()
    while stack:
        obj = stack.pop()
        if id(obj) not in seen:
            seen.add(id(obj))
            found.append(obj)
            stack.extend(getattr(obj, "contained_objects", []))
    return found


def _schedule_key(obj, schedule) -> tuple:
    """Where Brian2 runs ``obj`` in a step (:attr:`brian2.Network.sorted_objects`: slot, order, name)."""
    slots = {when: 1 + 3 * i for i, when in enumerate(schedule)}
    slots.update({f"before_{when}": 3 * i for i, when in enumerate(schedule)})
    slots.update({f"after_{when}": 2 + 3 * i for i, when in enumerate(schedule)})
    return slots[obj.when], obj.order, obj.name


def fuse_resets(objects, schedule=None) -> list:
    """Move the resets of every :class:`SignedThresholder` among ``objects`` (and the objects they contain) into its
    pass, wherever that gives exactly Brian2's numbers; C++ standalone only.

    A group's resets can run right after its conditions when no code runner scheduled between its
    thresholder and its last resetter (in Brian2's order: slot, order, name) may read or write a variable
    that the resets read or write (constants aside), and every such variable is one per neuron. The
    resetters leave the group's ``contained_objects`` (``group.resetter`` keeps them for inspection) and
    the thresholder runs them in Brian2's order (slot, order, name: the threshold's own reset in ``resets``, the
    other events' in ``after_resets``).

    Parameters
    ----------
    objects : list
        Every object of the run (the network, its monitors, a user's own objects).
    schedule : list of str, optional
        The network's schedule (default: Brian2's).

    Returns
    -------
    list
        The groups whose resets were moved.
    """
    import brian2

    schedule = list(schedule or brian2.prefs.core.network.default_schedule)
    runners = [obj for obj in _all_objects(objects) if isinstance(obj, CodeRunner)]
    moved = []
    for thresholder in runners:
        if not isinstance(thresholder, SignedThresholder) or thresholder.fused_resets:
            continue
        group = thresholder.group
        resetters = sorted((obj for obj in group.contained_objects
                            if isinstance(obj, Resetter) and obj.event in thresholder.fused_events),
                           key=lambda obj: _schedule_key(obj, schedule))
        touched = _reset_variables(thresholder, [resetter.event for resetter in resetters]) if resetters else None
        if touched is None:
            continue
        first = _schedule_key(thresholder, schedule)
        last = _schedule_key(resetters[-1], schedule)
        if _schedule_key(resetters[0], schedule) <= first:  # a resetter before the thresholder (a schedule of one's)
            continue
        between = [obj for obj in runners if obj is not thresholder and obj not in resetters
                   and first < _schedule_key(obj, schedule) < last]
        if any(var is mine for obj in between for var in _touched_variables(obj) for mine in touched):
            continue
        thresholder.fused_resets = [resetter.event for resetter in resetters]
        for resetter in resetters:
            group.contained_objects.remove(resetter)
        moved.append(group)
    return moved

"""One pass over the neurons for every event of a signed neuron.

Brian2 gives every event of a ``NeuronGroup`` its own ``Thresholder``: a signed layer scans all
its neurons twice per step, once for ``spike`` (``v >= v_th``) and once for ``negative_spike``
(``v <= -v_th/alpha``), and a burst neuron once more per level (``spike_2``, ...).
:class:`SignedThresholder` evaluates all these conditions in the same pass and fills every event
space, in ascending neuron order as Brian2's own thresholder does. The conditions are read from the
group (that is, from the neuron's equation file), at the same point of the step (the ``thresholds``
slot, before any synapse or reset changes ``v``), so the events are exactly those of the separate
thresholders. Templates: ``signed_threshold`` in
``templates/cpp_standalone`` (OpenMP: one contiguous chunk of neurons per thread, conditions
gathered 64 neurons at a time into bit masks) and ``templates/numpy``.
"""

from __future__ import annotations

from brian2.core.variables import Variables
from brian2.groups.group import CodeRunner

from brainyolo.spiking.device import code_object_class_for_current_device
from brainyolo.spiking.neurons import NEGATIVE_EVENT, spike_events


class SignedThresholder(CodeRunner):
    """Thresholder of a group's ``spike`` and ``negative_event`` events (and their burst levels) in one code object.

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
        # spike first, the negative event second, then the burst levels of either
        others = [name for name, _ in spike_events(group.events) if name not in ("spike", negative_event)]
        self.fused_events = ["spike", negative_event, *others]
        self.variables = Variables(self)
        for k in range(len(self.fused_events)):
            self.variables.add_auxiliary_variable(f"_cond_{k}", dtype=bool)
        spaces = [f"_{event}space" for event in self.fused_events]
        CodeRunner.__init__(
            self, group, "signed_threshold", code="", clock=group.clock, when=when, order=group.order,
            name=f"{group.name}_signed_thresholder", needed_variables=spaces,
            template_kwds={"eventspace_variables": [group.variables[space] for space in spaces]},
            codeobj_class=code_object_class_for_current_device())

    def update_abstract_code(self, run_namespace):
        conditions = "\n".join(f"_cond_{k} = {self.group.events[event]}" for k, event in enumerate(self.fused_events))
        if self.state_update:
            updater = self.group.state_updater
            updater.update_abstract_code(run_namespace)
            conditions = f"{updater.abstract_code}\n{conditions}"
        self.abstract_code = conditions


def fuse_thresholders(group, negative_event: str = NEGATIVE_EVENT) -> SignedThresholder:
    """Replace ``group``'s thresholders (``spike``, ``negative_event`` and their burst levels) by one
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

"""A layer's spikes of a run, every burst event and both signs in one code object.

:class:`LayerEventRecord` reads all the event spaces a group's spikes leave in a step (``spike``,
``negative_spike`` and a burst's binary-weighted events of either: :func:`~brainyolo.spiking.event_spaces.event_spaces`)
at the end of the step and appends

* the number of +1 and of -1 spikes of the whole layer (``population_positive``, ``population_negative``:
  one entry per step; a burst's event of ``k`` spikes counts ``k``), and
* every spike of a contiguous block of sampled neurons: its row in the block, its step (counted from 1)
  and its sign (``sample_neuron``, ``sample_step``, ``sample_sign``; a burst of ``k`` is ``k`` entries).

What Brian2's ``PopulationRateMonitor`` and an ``EventMonitor`` of the block record for each event space, in
one object per layer instead of two per event space: a neuron with bursts of up to 8 has 8 event spaces
(16 when each burst level was an event of its own, before 0.10), and every code object is a C++ file to compile
(an embedded detector's network with bursts of 8 then: 512 monitors, most of its build). Templates
``layer_event_record`` in ``templates/cpp_standalone`` and ``templates/numpy``.
"""

from __future__ import annotations

import numpy as np
from brian2.core.names import Nameable
from brian2.core.variables import Variables
from brian2.groups.group import CodeRunner, Group

from brainyolo.spiking.device import code_object_class_for_current_device
from brainyolo.spiking.event_spaces import event_spaces

RECORDED = ("population_positive", "population_negative", "sample_neuron", "sample_step", "sample_sign")
"""The record's dynamic arrays (int32)."""


class LayerEventRecord(Group, CodeRunner):
    """Population counts per step and the spikes of sampled neurons, of every event space of ``group``.

    Parameters
    ----------
    group : NeuronGroup
        A spiking group (its ``spike`` event, signed or not, with or without burst events).
    sample : slice
        The sampled neurons, a contiguous block of ``group`` (``slice(0, 0)``: none).
    name : str
        The Brian2 object's name (its arrays are named after it).

    Attributes
    ----------
    source : NeuronGroup
        ``group``.
    sample : slice
        The sampled block, ``slice(start, stop)``.
    spaces : list of (str, str, int)
        The event spaces read, each with the sign of its spikes (``'+'``, ``'-'``) and how many an event carries.
    population_positive, population_negative : int32 arrays, one entry per step
    sample_neuron, sample_step, sample_sign : int32 arrays, one entry per sampled spike
    """

    add_to_magic_network = True
    invalidates_magic_network = True

    def __init__(self, group, sample: slice, name: str = "layereventrecord*"):
        spaces = event_spaces(group)
        start, stop = sample.start or 0, len(group) if sample.stop is None else sample.stop
        if sample.step not in (None, 1) or not 0 <= start <= stop <= len(group):
            raise ValueError(f"the sample {sample} is not a block of the group's {len(group)} neurons")
        # (CodeRunner makes ``self.group`` the record itself: the neuron group is ``source``)
        self.source, self.sample, self.spaces = group, slice(start, stop), spaces
        Nameable.__init__(self, name=name)
        self.variables = Variables(self)
        needed = ["t_in_timesteps", "_sample_start", "_sample_stop"]
        for space, *_ in spaces:
            self.variables.add_reference(space, group, space)
            needed.append(space)
        for recorded in RECORDED:
            self.variables.add_dynamic_array(recorded, size=0, dtype=np.int32, read_only=True)
            needed.append(recorded)
        self.variables.add_constant("_sample_start", start)
        self.variables.add_constant("_sample_stop", stop)
        self.variables.add_constant("N", 1)
        self.variables.create_clock_variables(group.clock)
        # at the end of the step every event space of the step is filled (thresholders run before it)
        CodeRunner.__init__(self, group=self, code="", template="layer_event_record", name=None,
                            clock=group.clock, when="end", order=999, needed_variables=needed,
                            template_kwds={"event_spaces": spaces},
                            codeobj_class=code_object_class_for_current_device())
        self.add_dependency(group)
        self._enable_group_attributes()

    def values(self, name: str) -> np.ndarray:
        """A copy of the recorded array ``name`` (one of :data:`RECORDED`) after a run, int32.

        (A copy: in runtime mode the value is a view of Brian2's dynamic array, whose memory goes with it.)
        """
        return np.array(self.variables[name].get_value(), np.int32, copy=True)

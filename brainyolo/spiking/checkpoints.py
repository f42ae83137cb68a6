"""The output layers' state at a run's checkpoints, copied by the binary only at those steps.

:class:`CheckpointStore` holds ``slots`` copies of some variables of a group and the step of each
slot (``checkpoint_k``: a per-run value, -1 for an unused slot). At the end of step ``s`` (the last
operation of the step) every slot whose ``checkpoint_k == s`` receives a copy: a step that is no
checkpoint costs a comparison per slot, not a pass over the layer (templates ``checkpoint_store``).
"""

from __future__ import annotations

import numpy as np
from brian2.core.names import Nameable
from brian2.core.variables import Variables
from brian2.groups.group import CodeRunner, Group

from brainyolo.spiking.device import code_object_class_for_current_device


class CheckpointStore(Group, CodeRunner):
    """Copies of ``variables`` of ``group`` at up to ``slots`` chosen steps of a run.

    Parameters
    ----------
    group : NeuronGroup
    variables : list of str
        Dimensionless variables of ``group``; slot ``k`` of ``x`` is the store's ``x_k``, of the
        same type (the copy is exact).
    slots : int
    name : str

    Attributes
    ----------
    checkpoint_k : int
        The step (1-based: after ``checkpoint_k`` steps) slot ``k`` is copied at; -1: never.
    """

    add_to_magic_network = True
    invalidates_magic_network = True

    def __init__(self, group, variables: list[str], slots: int, name: str = "checkpointstore*"):
        for variable in variables:
            if variable not in group.variables:
                raise ValueError(f"the group has no variable {variable!r}")
            if not group.variables[variable].dim.is_dimensionless:
                raise ValueError(f"output variable {variable} has units: checkpoints copy dimensionless values")
        self.group, self.stored, self.slots = group, list(variables), int(slots)
        Nameable.__init__(self, name=name)
        self.variables = Variables(self)
        needed = ["t_in_timesteps"]
        for k in range(self.slots):
            self.variables.add_array(f"checkpoint_{k}", size=1, dtype=np.int32, values=np.full(1, -1, np.int32))
            needed.append(f"checkpoint_{k}")
        for variable in self.stored:
            self.variables.add_reference(f"_source_{variable}", group, variable)
            needed.append(f"_source_{variable}")
            dtype = group.variables[variable].dtype
            for k in range(self.slots):
                self.variables.add_array(f"{variable}_{k}", size=len(group), dtype=dtype)
                needed.append(f"{variable}_{k}")
        self.variables.add_constant("_n", len(group))
        self.variables.add_constant("N", 1)
        self.variables.create_clock_variables(group.clock)
        needed.append("_n")
        # the last of a step's operations: what a step leaves is what the checkpoint sees
        CodeRunner.__init__(self, group=self, code="", template="checkpoint_store", name=None,
                            clock=group.clock, when="end", order=1000, needed_variables=needed,
                            template_kwds={"slots": self.slots, "stored": self.stored},
                            codeobj_class=code_object_class_for_current_device())
        self.add_dependency(group)
        self._enable_group_attributes()

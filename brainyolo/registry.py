"""Rule registries (the Nengo ``Builder.register`` pattern): one mechanism for every kind of thing.

A :class:`Registry` maps a *kind* to the rule that implements one step for it. A kind is a graph layer
class (shape inference, checks, the numpy forward pass, normalization, the Brian2 build, Darknet
writing) or a name (input kinds, read-outs)::

    infer_shape = Registry("shape inference")

    @infer_shape.register(Conv)
    def _conv_shape(layer, input_shapes): ...

    readout_rule = Registry("read-out")
    readout_rule.register("vmem")(ReadOut(...))

Adding a kind means one registered rule per step, never a special case threaded through other modules;
a missing rule is reported by name instead of failing deep inside the step. Neuron, synapse and preset
files are kinds as files: the folders they are looked up in are their registries
(:func:`brainyolo.spiking.neurons.equation_folders`). ``tests/test_kinds.py`` checks that every
registered kind is built, documented and tested.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable


def kind_name(kind: Hashable) -> str:
    """A kind as error messages and docs name it: a class by its name, anything else as itself."""
    return kind.__name__ if isinstance(kind, type) else str(kind)


class Registry:
    """Maps a kind (a layer class, or a name) to the rule implementing one pipeline step for it.

    Parameters
    ----------
    step : str
        Human-readable name of the step, used in error messages.
    """

    def __init__(self, step: str):
        self.step = step
        self._rules: dict[Hashable, object] = {}

    def register(self, kind: Hashable) -> Callable[[object], object]:
        """Decorator registering ``rule`` (a function, or any object) as this step's rule for ``kind``."""

        def decorate(rule):
            if kind in self._rules:
                raise ValueError(f"{self.step}: a rule for {kind_name(kind)} is already registered")
            self._rules[kind] = rule
            return rule

        return decorate

    def rule(self, kind: Hashable):
        """The rule registered for ``kind``; ``NotImplementedError`` if there is none."""
        try:
            return self._rules[kind]
        except KeyError:
            raise NotImplementedError(f"no {self.step} rule for kind {kind_name(kind)}") from None

    def __call__(self, layer, *args, **kwargs):
        """Apply the rule for ``type(layer)`` to ``layer`` and the other arguments (layer registries)."""
        return self.rule(type(layer))(layer, *args, **kwargs)

    def kinds(self) -> tuple:
        """The kinds that have a rule, in the order they were registered."""
        return tuple(self._rules)

"""Per-layer-kind rule registries (the Nengo ``Builder.register`` pattern).

Each pipeline step keeps one :class:`Registry` and registers one rule per graph layer kind::

    infer_shape = Registry("shape inference")

    @infer_shape.register(Conv)
    def _conv_shape(layer, input_shapes): ...

so that adding a layer kind means adding one dataclass and one small function per step, and a
missing rule is reported by name instead of failing deep inside the step.
"""

from __future__ import annotations

from collections.abc import Callable


class Registry:
    """Maps a layer class to the function implementing one pipeline step for it.

    Parameters
    ----------
    step : str
        Human-readable name of the step, used in error messages.
    """

    def __init__(self, step: str):
        self.step = step
        self._rules: dict[type, Callable] = {}

    def register(self, kind: type) -> Callable[[Callable], Callable]:
        """Decorator registering ``function`` as this step's rule for layers of class ``kind``."""

        def decorate(function: Callable) -> Callable:
            if kind in self._rules:
                raise ValueError(f"{self.step}: a rule for {kind.__name__} is already registered")
            self._rules[kind] = function
            return function

        return decorate

    def rule(self, kind: type) -> Callable:
        """The rule registered for ``kind``; ``NotImplementedError`` if there is none."""
        try:
            return self._rules[kind]
        except KeyError:
            raise NotImplementedError(f"no {self.step} rule for layer kind {kind.__name__}") from None

    def __call__(self, layer, *args, **kwargs):
        """Apply the rule for ``type(layer)`` to ``layer`` and the other arguments."""
        return self.rule(type(layer))(layer, *args, **kwargs)

    def kinds(self) -> tuple[type, ...]:
        """The layer classes that have a rule."""
        return tuple(self._rules)

"""What a connection reads from its source group's events: the event spaces that carry spikes, how many spikes
each carries and how many units it adds, and the most one neuron adds in a step.

A positive spike of a neuron stands for its threshold; with a neuron file's ``negative_value = 1 / n`` a negative
spike stands for ``1 / n`` of it. Connections add in units of ``v_th / n``: ``n`` per positive spike, one per negative
spike, times the spikes an event carries (a burst's binary-weighted events: :mod:`brainyolo.spiking.bursts`). Every
template that reads a source's events (convolutions, the max-pool, relays, records) takes the list
:func:`event_spaces` gives.

What an event costs: one synaptic event per target for each spike it carries, or one per target whatever it carries
where the source sends weighted spikes (a neuron file's ``weighted_spikes``: :mod:`brainyolo.spiking.neurons`).
"""

from __future__ import annotations

from brainyolo.spiking.neurons import spike_events


def negative_divisions(source) -> int:
    """``n``: how many of ``source``'s negative spikes make one positive spike's worth (the ``negative_value`` ``1 / n``
    of its namespace, which :func:`~brainyolo.spiking.neurons.neuron_group` sets from the neuron file; else 1)."""
    namespace = getattr(source, "namespace", None) or {}
    return round(1 / float(namespace["negative_value"])) if "negative_value" in namespace else 1


def weighted_spikes(source) -> bool:
    """Whether ``source`` sends weighted spikes: each of its events one synaptic event per target (the
    ``weighted_spikes`` of its namespace, which :func:`~brainyolo.spiking.neurons.neuron_group` sets)."""
    namespace = getattr(source, "namespace", None) or {}
    return bool(namespace.get("weighted_spikes", 0))


def event_spaces(source, signed: bool = True) -> list[tuple[str, str, int, int, int]]:
    """The event spaces a connection reads from ``source``: the sign of their spikes, how many spikes each event
    carries (what the counters count), how many units it adds (for the templates) and how many synaptic events it
    costs per target (its spikes; 1 where ``source`` sends weighted spikes: :func:`weighted_spikes`).

    One per spike-carrying event (:func:`~brainyolo.spiking.neurons.spike_events`): ``spike``,
    ``negative_spike`` unless ``signed`` is false, and a burst's binary-weighted events of either. A unit is
    ``1 / n`` of a positive spike's value (:func:`negative_divisions`): a positive spike adds ``n`` units, a
    negative spike one.

    >>> import brian2
    >>> event_spaces(brian2.NeuronGroup(1, "v : 1", threshold="v > 1", events={"negative_spike": "v < -1"}))
    [('_spikespace', '+', 1, 1, 1), ('_negative_spikespace', '-', 1, 1, 1)]
    >>> event_spaces(brian2.NeuronGroup(1, "v : 1", threshold="v > 1", events={"negative_spike_x2": "v < -1"},
    ...                                 namespace={"negative_value": 0.5}))
    [('_spikespace', '+', 1, 2, 1), ('_negative_spike_x2space', '-', 2, 2, 2)]
    """
    events = spike_events(getattr(source, "events", None) or ["spike"])
    n, weighted = negative_divisions(source), weighted_spikes(source)
    return [(f"_{event}space", "+" if value > 0 else "-", abs(value), abs(value) * (n if value > 0 else 1),
             1 if weighted else abs(value))
            for event, value in events if signed or value > 0]


def spikes_per_step(source, spaces: list[tuple[str, str, int, int, int]] | None = None) -> int:
    """The most spikes of one sign a neuron of ``source`` sends in one step: its burst (the ``burst`` of its
    namespace, which :func:`~brainyolo.spiking.neurons.neuron_group` sets), or else what its events
    (``spaces``, default all of ``source``'s) can carry together."""
    spaces = event_spaces(source) if spaces is None else spaces
    carried = max(1, max(sum(spikes for _, sign, spikes, *_ in spaces if sign == s) for s in "+-"))
    burst = getattr(source, "namespace", None) or {}
    return min(carried, int(burst["burst"])) if "burst" in burst else carried


def units_per_step(source, spaces: list[tuple[str, str, int, int, int]] | None = None) -> int:
    """The most units (:func:`event_spaces`) one neuron of ``source`` adds in one step, of either sign: what a
    connection sizes its fixed-point sums for."""
    return spikes_per_step(source, spaces) * negative_divisions(source)


def read_event_spaces(owner, source, spaces) -> list[str]:
    """Add a reference to each of ``source``'s event ``spaces`` (the same name on both sides) to ``owner``."""
    for name, *_ in spaces:
        owner.variables.add_reference(name, source, name)
    return [name for name, *_ in spaces]

"""The counters every spiking layer keeps, and what a recorded layer's spikes cost.

Numpy only: readers of recordings (energy, analysis) use it without loading Brian2.
"""

from __future__ import annotations

import numpy as np

SPIKE_COUNTERS = ("positive_count", "negative_count")
"""Per neuron, the spikes it sent of each sign (a burst of k: k)."""

EVENT_COUNTERS = ("positive_events", "negative_events")
"""Per neuron of a layer that sends weighted spikes, the events it sent of each sign (a burst of k: one per binary
digit of k that is one); each is one synaptic event per target."""


def spikes_sent(layer: dict) -> np.ndarray:
    """Each neuron's spikes of either sign in a recorded layer (int64, the layer's shape).

    >>> spikes_sent({"positive_count": np.array([5, 0]), "negative_count": np.array([0, 3])}).tolist()
    [5, 3]
    """
    positive, negative = SPIKE_COUNTERS
    return layer[positive].astype(np.int64) + layer[negative]


def sends_weighted_spikes(layer: dict) -> bool:
    """Whether a recorded layer sent weighted spikes (it holds :data:`EVENT_COUNTERS`)."""
    return EVENT_COUNTERS[0] in layer


def cost_per_target(layer: dict) -> np.ndarray:
    """What each neuron of a recorded layer (``positive_count``, ``negative_count`` and, where it sent weighted
    spikes, :data:`EVENT_COUNTERS`) cost per target: its events where it sent weighted spikes, else its spikes
    (int64, the layer's shape).

    >>> layer = {"positive_count": np.array([5, 0]), "negative_count": np.array([0, 3])}
    >>> cost_per_target(layer).tolist()
    [5, 3]
    >>> cost_per_target({**layer, "positive_events": np.array([2, 0]), "negative_events": np.array([0, 2])}).tolist()
    [2, 2]
    """
    if not sends_weighted_spikes(layer):
        return spikes_sent(layer)
    positive, negative = EVENT_COUNTERS
    return layer[positive].astype(np.int64) + layer[negative]

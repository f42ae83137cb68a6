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


STORED_COUNT_TYPES = ((63, np.int8), (16383, np.int16))
"""The narrower types a recordings file stores per-neuron counts in (:func:`stored_counts`), each with the largest
count it holds: the sum or the difference of any two such counts is of the type too. Anything more (three counts
summed, products) can wrap in the stored type: readers widen first (:func:`read_counts`, or ``astype``). (A 50-step run
counts at most 50 spikes of a sign per neuron where no neuron bursts.)"""
COMPACT_COUNT = STORED_COUNT_TYPES[-1][0]
"""The largest count a recordings file stores in fewer bits than int32."""


def stored_counts(counts: np.ndarray) -> np.ndarray:
    """Per-neuron counts as a recordings file stores them: in the narrowest of :data:`STORED_COUNT_TYPES` that
    holds every one (a yolov3-tiny image's 64 MB of int32 counts at 50 steps: 16 MB of int8, compressed and
    checksummed in half the time of int16), else as they are.

    >>> [stored_counts(np.array([0, n], np.int32)).dtype.name for n in (63, 64, 16383, 16384)]
    ['int8', 'int16', 'int16', 'int32']
    """
    counts = np.asarray(counts)
    if counts.dtype.kind in "iu" and (counts.size == 0 or counts.min() >= 0):
        largest = counts.max() if counts.size else 0
        for bound, kind in STORED_COUNT_TYPES:
            if largest <= bound:  # cast in memory order, then laid out (C, H, W) in the narrow type: a run's
                narrow = counts.astype(kind, order="K")  # counts are a view of neuron order (H, W, C)
                return narrow if narrow.flags.c_contiguous else narrow.copy(order="C")
    return counts if counts.flags.c_contiguous else counts.copy(order="C")


COUNT_RESOLUTIONS = ("neurons", "channels")
"""What a recordings file keeps of a layer's counters: every neuron's, shape (C, H, W), or their sums per channel,
shape (C,) (:func:`channel_counts`; tens of kilobytes per yolov3-tiny image against megabytes)."""


def channel_counts(counts: np.ndarray) -> np.ndarray:
    """A layer's per-neuron counts, shape (C, H, W), summed per channel: shape (C,), int64.

    >>> channel_counts(np.arange(8, dtype=np.int32).reshape(2, 2, 2)).tolist()
    [6, 22]
    """
    counts = np.asarray(counts)
    if counts.ndim != 3:
        raise ValueError(f"per-neuron counts have shape (C, H, W), not {counts.shape}")
    return counts.sum(axis=(1, 2), dtype=np.int64)


def read_counts(counts: np.ndarray) -> np.ndarray:
    """Counts read from a recordings file: per neuron (int8, int16 or int32) as int32, what a run's own counters are;
    sums per channel (int64) as they are.

    >>> read_counts(np.array([3], np.int16)).dtype.name, read_counts(np.array([2**40], np.int64)).tolist()
    ('int32', [1099511627776])
    """
    counts = np.asarray(counts)
    return counts.astype(np.int64 if counts.dtype.itemsize > 4 else np.int32)


def cost_terms(layer: dict, every_spike: bool = False) -> tuple[np.ndarray, ...]:
    """The counters of a recorded layer whose sum is what each neuron cost per target (:func:`cost_per_target`): its
    events of each sign where it sent weighted spikes, else its spikes of each sign; ``every_spike``: its spikes
    however it sent them (:func:`spikes_sent`). As recorded (any integer type, the layer's shape)."""
    names = EVENT_COUNTERS if not every_spike and sends_weighted_spikes(layer) else SPIKE_COUNTERS
    return tuple(layer[name] for name in names)


def spikes_sent(layer: dict) -> np.ndarray:
    """Each neuron's spikes of either sign in a recorded layer (int64, the layer's shape).

    >>> spikes_sent({"positive_count": np.array([5, 0]), "negative_count": np.array([0, 3])}).tolist()
    [5, 3]
    """
    positive, negative = cost_terms(layer, every_spike=True)
    return positive.astype(np.int64) + negative


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
    positive, negative = cost_terms(layer)
    return positive.astype(np.int64) + negative

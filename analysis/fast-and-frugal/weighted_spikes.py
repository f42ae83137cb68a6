"""Weighted spikes (Kim, Park, Na and Yoon, "Deep neural networks with weighted spikes", Neurocomputing 311, 2018):
a neuron that owes k spikes sends one event per binary digit of k, the event of digit b carrying 2**b spikes, so a
count costs its number of ones (popcount) in synaptic events instead of k. On the rounded ANN with the negative side
on its grid (negative_grid.py's; one firing step, at most BURST spikes a step, counted as in the spiking network):
per M:FACTOR pair the agreement with the ANN's detections (score >= 0.25) of REALIZATIONS roundings, their mean, and
the events per image (x the ANN's MACs) counted both ways: one per spike, and one per weighted spike.

    python analysis/fast-and-frugal/weighted_spikes.py MODEL.h5 STEPS BURST M:FACTOR[,M:FACTOR...] REALIZATIONS IMAGE...
"""

from __future__ import annotations

import sys

import numpy as np
from negative_grid import signed_runs, spike_count_events


def popcount(counts: np.ndarray) -> np.ndarray:
    """The number of ones in the binary digits of each whole number in ``counts`` (>= 0)."""
    counts = np.rint(counts).astype(np.int64)
    ones = np.zeros_like(counts)
    while counts.any():
        ones += counts & 1
        counts >>= 1
    return ones


def weighted(outputs: list, grid: dict[int, float], owners: list, steps: int) -> list:
    """``outputs`` with each neuron's value replaced by its popcount of spikes in spike values (so that
    :func:`synaptic_events` counts one event per weighted spike)."""
    replaced = []
    for o, owner in zip(outputs, owners, strict=True):
        if o is None:
            replaced.append(None)
            continue
        unit = np.zeros(o.shape)
        for own in np.unique(owner):
            if own >= 0:
                unit[owner == own] = grid[int(own)] / steps
        spikes = np.divide(np.abs(o), unit, out=np.zeros(o.shape), where=unit > 0)
        replaced.append(popcount(spikes) * unit)
    return replaced


def weighted_events(graph, side, owners, grid, steps) -> float:
    """The synaptic events of one side's rounded outputs, one per weighted spike."""
    return spike_count_events(graph, weighted(side, grid, owners, steps), owners, grid, steps)


def main(model_path: str, steps: str, burst: str, pairs: str, count: str, *images: str) -> None:
    counters = {"spikes": spike_count_events, "weighted": weighted_events}
    for negative, factor, found_ap, events in signed_runs(model_path, int(steps), int(burst), pairs, int(count), images,
                                                          counters):
        cells = " ".join(f"{a:.3f}" for a in found_ap)
        print(f"M {negative:g}, factor {factor:g}: agreement {cells}; mean {found_ap.mean():.3f}; events/image "
              f"{events['spikes']:.2f}x MACs as spikes, {events['weighted']:.2f}x as weighted spikes", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 7:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

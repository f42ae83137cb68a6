"""analysis/fast-and-frugal/weighted_spikes.py: the rounded ANN's events counted one per weighted spike. Oracles: the
binary digits of hand-picked counts, and the study on the reduced yolov3-tiny, where a weighted spike never costs more
than the spikes it carries and a count of several digits costs less."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import analysis_script

pytestmark = pytest.mark.codegen_independent


@pytest.fixture
def study(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "analysis" / "fast-and-frugal"))
    return analysis_script("weighted_spikes")


def test_popcount_is_the_number_of_binary_ones(study):
    counts = np.array([0, 1, 2, 3, 5, 7, 8, 255, 256, 300])
    np.testing.assert_array_equal(study.popcount(counts), [bin(int(c)).count("1") for c in counts])


def test_a_layer_in_weighted_spikes_is_its_digits_in_spike_values(study):
    """A layer of two channels owned by hidden layers 0 (grid 1 / 4) and 2 (grid 2 / 4): 5 spikes of 0.25 (1.25) cost
    2 weighted spikes, 7 spikes of 0.5 (3.5) cost 3; a neuron no hidden layer owns costs nothing."""
    outputs = [np.array([[[1.25]], [[-3.5]], [[9.0]]])]
    owners = [np.array([[[0]], [[2]], [[-1]]])]
    (replaced,) = study.weighted(outputs, {0: 1.0, 2: 2.0}, owners, 4)
    np.testing.assert_allclose(replaced.ravel(), [2 * 0.25, 3 * 0.5, 0.0])


def test_the_study_counts_fewer_events_as_weighted_spikes(study, tiny_converted, capsys):
    """(The reduced network's events are a small fraction of yolov3-tiny's MACs, so the totals are compared before they
    are printed.)"""
    model_path, images = tiny_converted
    counters = {"spikes": study.spike_count_events, "weighted": study.weighted_events}
    runs = list(study.signed_runs(str(model_path), 16, 64, "1:0.25,0.5:0.5", 1, list(map(str, images)), counters))
    assert [(negative, factor) for negative, factor, *_ in runs] == [(1.0, 0.25), (0.5, 0.5)]
    for *_, agreement, events in runs:
        assert 0 <= agreement[0] <= 1 and 0 < events["weighted"] < events["spikes"]
    study.main(str(model_path), "16", "64", "1:0.25", "1", *map(str, images))
    assert re.fullmatch(r"M 1, factor 0.25: agreement [0-9.]+; mean [0-9.]+; events/image [0-9.]+x MACs as spikes, "
                        r"[0-9.]+x as weighted spikes", capsys.readouterr().out.strip())

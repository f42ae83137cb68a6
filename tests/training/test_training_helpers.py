"""The parts of training, direct training and the demo that need neither torch nor a long run, against
the shipped files and hand-computed cases (the training itself runs in the training environment)."""

from __future__ import annotations

import dataclasses
import runpy
import sys

import numpy as np
import pytest

from brainyolo.convert.model_file import load_model
from brainyolo.data.embedded import model_file
from brainyolo.experiments.demo import _map_table
from brainyolo.training import ann as training
from brainyolo.training import direct_graph as direct
from brainyolo.training import yolo_training

pytestmark = pytest.mark.codegen_independent


def _architecture(layer) -> dict:
    """A layer's fields without its trained arrays (weights and biases)."""
    return {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer)
            if "weight" not in f.name and "bias" not in f.name}


def test_direct_graph_is_the_shipped_directly_trained_detectors_architecture():
    model = load_model(model_file("embedded-direct"))
    head = model.graph.layers[8]
    built = direct.direct_graph(head.all_anchors, model.graph.class_names)
    assert built.input_shape == model.graph.input_shape
    assert len(built.layers) == len(model.graph.layers)
    for ours, shipped in zip(built.layers, model.graph.layers, strict=True):
        assert type(ours) is type(shipped)
        mine, theirs = _architecture(ours), _architecture(shipped)
        assert mine.keys() == theirs.keys()
        for key in mine:
            np.testing.assert_array_equal(mine[key], theirs[key], err_msg=key)
    assert direct.spiking_layers(built) == sorted(model.spiking.layers) == [0, 1, 2, 3, 4, 5, 6, 9]


def test_kmeans_anchors_finds_two_obvious_clusters_sorted_by_area():
    small = np.array([[10, 10], [11, 9], [9, 11], [10, 10]])
    large = np.array([[50, 80], [52, 78], [48, 82]])
    anchors = yolo_training.kmeans_anchors(np.concatenate([large, small]), 2, seed=3)
    # each cluster's median (w, h), the smaller area first
    np.testing.assert_array_equal(anchors, [[10, 10], [50, 80]])


def test_mean_pictures_and_event_truths_by_hand():
    frames = np.array([[[[0, 255]], [[255, 255]]]], np.uint8)  # one sample, two bins of a 1x2 picture
    np.testing.assert_allclose(training.mean_pictures(frames), [[[0.5, 1.0]]])
    labels = [np.array([[2, 0.5, 0.25, 0.2, 0.1]]), np.zeros((0, 5))]
    first, second = yolo_training.event_truths(labels, (96, 64))
    assert (first.file_name, second.file_name) == ("event0", "event1")
    np.testing.assert_allclose(first.boxes, [[0.4, 0.2, 0.2, 0.1]])  # centre - size / 2, then the size
    assert first.classes.tolist() == [2] and second.boxes.shape == (0, 4)


def test_the_demo_table_gives_each_step_as_a_fraction_of_the_ann():
    lines = _map_table({"8": {"mAP50": 0.25}, "16": {"mAP50": 0.5}}, {"mAP50": 0.5})
    assert lines == ["  steps   mAP@0.5   of ANN", "      8   0.2500    50.0%", "     16   0.5000   100.0%"]
    assert _map_table({"8": {"mAP50": 0.1}}, {"mAP50": 0.0})[1].endswith("-")


def test_python_m_brainyolo_is_the_cli(monkeypatch, capsys):
    from brainyolo import __version__

    monkeypatch.setattr(sys, "argv", ["brainyolo", "--version"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_module("brainyolo", run_name="__main__")
    assert stop.value.code in (0, None)
    assert __version__ in capsys.readouterr().out

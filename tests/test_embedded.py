"""The embedded default detector: committed Darknet files, accurate on freshly generated scenes."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from brainyolo import darknet, scenes
from brainyolo.evaluation import coco_map, read_yolo_labels
from brainyolo.pipeline import ann_detections

pytestmark = pytest.mark.codegen_independent

FRESH_SEED = 424242  # neither the training seed nor the training report's evaluation seed


def test_embedded_detector_files_and_training_report():
    data = resources.files("brainyolo").joinpath("data")
    model = darknet.load_darknet(data / "tiny-yolov3.cfg", data / "tiny-yolov3.weights", data / "scenes.names")
    kinds = [layer.kind for layer in model.graph.layers]
    assert {"Conv", "MaxPool", "Route", "Upsample", "YoloHead"} <= set(kinds) and kinds.count("YoloHead") == 2
    assert any(layer.kind == "MaxPool" and layer.stride == 1 for layer in model.graph.layers)
    assert model.graph.class_names == scenes.CLASS_NAMES
    assert (data / "tiny-yolov3.weights").stat().st_size < 2_000_000  # small enough to commit
    report = json.loads(data.joinpath("training.json").read_text())
    assert report["eval"]["mAP50"] >= 0.8


def test_embedded_detector_ann_map_on_fresh_scenes(tmp_path):
    """ANN mAP@0.5 >= 0.8 on scenes it has never seen (the issue's bar)."""
    data = resources.files("brainyolo").joinpath("data")
    model = darknet.load_darknet(data / "tiny-yolov3.cfg", data / "tiny-yolov3.weights", data / "scenes.names")
    paths = scenes.write_scenes(tmp_path, 100, FRESH_SEED)
    truths = read_yolo_labels(paths, tmp_path / "labels", len(scenes.CLASS_NAMES))
    records = []
    for path, detections in ann_detections(model.folded_graph(), paths):
        records += detections.records(path.name, scenes.CLASS_NAMES)
    assert coco_map(truths, records, len(scenes.CLASS_NAMES))["mAP50"] >= 0.8


def test_the_name_embedded_is_the_detector_converted_as_the_demo_does_once(tmp_path, monkeypatch):
    import numpy as np

    from brainyolo.embedded import CALIBRATION_SCENES, model_file
    from brainyolo.modelfile import load_model

    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path))
    path = model_file("embedded")
    stamp = path.stat().st_mtime_ns
    assert model_file("embedded") == path and path.stat().st_mtime_ns == stamp  # converted once, reused
    assert path.parent == tmp_path / "models"
    model = load_model(path)
    assert not model.direct and model.normalization == "channel" and model.calibration.images == CALIBRATION_SCENES
    data = resources.files("brainyolo").joinpath("data")
    ann = darknet.load_darknet(data / "tiny-yolov3.cfg", data / "tiny-yolov3.weights", data / "scenes.names")
    for ours, theirs in zip(model.graph.layers, ann.folded_graph().layers, strict=True):
        if getattr(theirs, "weight", None) is not None:
            np.testing.assert_array_equal(ours.weight, theirs.weight)
    assert str(model_file("some/model.h5")) == "some/model.h5"

"""The shipped detectors: committed files, accurate on freshly generated scenes.

The scenes are generated here with :data:`FRESH_SEED`, a seed no training or evaluation run used, and
every detector is evaluated through ``brainyolo evaluate`` as a user runs it; the floors sit below what
was measured on these scenes (noted at each). The committed training reports must agree with what the
shipped weights do on them.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest
from conftest import run_cli

from brainyolo.ann import darknet
from brainyolo.data import scenes

pytestmark = pytest.mark.codegen_independent

FRESH_SEED = 9091
"""Seed of the scenes the detectors are judged on: not the training seed (7), the training reports'
evaluation seed (1000003) or the demo's (2020, 2021)."""

FRESH_SCENES = 32

REPORT_AGREEMENT = 0.1
"""How far a training report's mAP@0.5 (200 scenes) may be from the one measured here (32 scenes)."""


def report(name: str) -> dict:
    return json.loads(resources.files("brainyolo").joinpath("data").joinpath(name).read_text())


@pytest.fixture(scope="module")
def fresh_scenes(tmp_path_factory):
    """:data:`FRESH_SCENES` generated scenes (images/, labels/)."""
    folder = tmp_path_factory.mktemp("fresh-scenes")
    scenes.write_scenes(folder, FRESH_SCENES, FRESH_SEED)
    return folder


@pytest.fixture(scope="module")
def fresh_event_scenes(tmp_path_factory):
    """:data:`FRESH_SCENES` generated event scenes (Gen1 pairs)."""
    from brainyolo.data.moving_scenes import write_event_scenes

    folder = tmp_path_factory.mktemp("fresh-event-scenes")
    write_event_scenes(folder, FRESH_SCENES, FRESH_SEED)
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One BRAINYOLO_CACHE for the module: each shipped ANN is converted once."""
    return tmp_path_factory.mktemp("cache")


def evaluate(argv: list[str], out) -> dict:
    """``brainyolo evaluate ARGV -o OUT -q``: its metrics.json."""
    code, _, stderr = run_cli(["evaluate", *argv, "-q", "-o", str(out)], seconds=300)
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == FRESH_SCENES
    return metrics


def test_embedded_detector_files():
    data = resources.files("brainyolo").joinpath("data")
    model = darknet.load_darknet(data / "tiny-yolov3.cfg", data / "tiny-yolov3.weights", data / "scenes.names")
    kinds = [layer.kind for layer in model.graph.layers]
    assert {"Conv", "MaxPool", "Route", "Upsample", "YoloHead"} <= set(kinds) and kinds.count("YoloHead") == 2
    assert any(layer.kind == "MaxPool" and layer.stride == 1 for layer in model.graph.layers)
    assert model.graph.class_names == scenes.CLASS_NAMES
    assert (data / "tiny-yolov3.weights").stat().st_size < 2_000_000  # small enough to commit
    for name in ("training.json", "training-direct.json", "training-events.json", "training-direct-events.json"):
        assert FRESH_SEED not in (report(name)["seed"], report(name)["eval"]["seed"]), name


def test_embedded_detector_ann_map_on_fresh_scenes(fresh_scenes, cache, tmp_path, monkeypatch):
    """The shipped ANN (``embedded``) on scenes it has never seen: mAP@0.5 0.881 measured on these 32
    scenes; the issue's bar is 0.8."""
    monkeypatch.setenv("BRAINYOLO_CACHE", str(cache))
    metrics = evaluate(["embedded", "--images", str(fresh_scenes / "images"), "--labels",
                        str(fresh_scenes / "labels")], tmp_path / "out")
    assert metrics["ann"]["mAP50"] >= 0.8
    assert abs(metrics["ann"]["mAP50"] - report("training.json")["eval"]["mAP50"]) < REPORT_AGREEMENT


def test_the_name_embedded_is_the_detector_converted_as_the_demo_does_once(tmp_path, monkeypatch):
    import numpy as np

    from brainyolo.convert.model_file import load_model
    from brainyolo.data.embedded import CALIBRATION_SCENES, model_file

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


@pytest.mark.long
def test_the_shipped_directly_trained_detector(fresh_scenes, cache, tmp_path, monkeypatch):
    """embedded-direct: a schema-2 model file with membrane shortcuts, trained at T = 4; in Brian2 (numpy
    runtime) it detects fresh scenes at T = 4: mAP@0.5 0.843 measured on these 32 scenes."""
    from brainyolo.convert.model_file import load_model
    from brainyolo.data.embedded import model_file

    monkeypatch.setenv("BRAINYOLO_CACHE", str(cache))
    path = model_file("embedded-direct")
    assert path.stat().st_size < 2_000_000  # small enough to commit
    model = load_model(path)
    assert model.direct and model.spiking.time_steps == 4 and model.spiking.neuron == "lif_direct"
    assert [layer.kind for layer in model.graph.layers].count("ConvAdd") == 3
    assert model.graph.class_names == scenes.CLASS_NAMES
    assert report("training-direct.json")["time_steps"] == 4
    metrics = evaluate(["embedded-direct", "--images", str(fresh_scenes / "images"), "--labels",
                        str(fresh_scenes / "labels"), "--mode", "snn", "--steps", "4", "--device", "runtime"],
                       tmp_path / "out")
    assert metrics["snn"]["4"]["mAP50"] >= 0.75
    assert abs(metrics["snn"]["4"]["mAP50"] - report("training-direct.json")["eval"]["mAP50"]) < REPORT_AGREEMENT


@pytest.mark.long
def test_the_shipped_directly_trained_event_detector(fresh_event_scenes, cache, tmp_path, monkeypatch):
    """embedded-direct-events (trained on EMS frames, T = 5) detects fresh event scenes in Brian2 (numpy
    runtime) through ``--events frames``: mAP@0.5 0.809 measured on these 32 scenes."""
    from brainyolo.convert.model_file import load_model
    from brainyolo.data.embedded import model_file

    monkeypatch.setenv("BRAINYOLO_CACHE", str(cache))
    path = model_file("embedded-direct-events")
    assert path.stat().st_size < 2_000_000
    model = load_model(path)
    assert model.direct and model.spiking.time_steps == 5 and model.provenance["input"] == "events"
    assert report("training-direct-events.json")["time_steps"] == 5
    metrics = evaluate(["embedded-direct-events", "--images", str(fresh_event_scenes), "--events", "frames",
                        "--mode", "snn", "--steps", "5", "--device", "runtime"], tmp_path / "out")
    assert metrics["snn"]["5"]["mAP50"] >= 0.7
    assert abs(metrics["snn"]["5"]["mAP50"] - report("training-direct-events.json")["eval"]["mAP50"]) \
        < REPORT_AGREEMENT


@pytest.mark.long
def test_the_shipped_event_ann(fresh_event_scenes, cache, tmp_path, monkeypatch):
    """embedded-events is the event ANN converted with event calibration; as an ANN on the mean EMS frames
    of fresh event scenes: mAP@0.5 0.601 measured on these 32 scenes (the weak one of the four)."""
    from brainyolo.convert.model_file import load_model
    from brainyolo.data.embedded import CALIBRATION_SCENES, model_file

    monkeypatch.setenv("BRAINYOLO_CACHE", str(cache))
    converted = load_model(model_file("embedded-events"))
    assert converted.calibration.images == CALIBRATION_SCENES and "event scenes" in converted.provenance[
        "calibration_source"]
    metrics = evaluate(["embedded-events", "--images", str(fresh_event_scenes), "--events", "frames"],
                       tmp_path / "out")
    assert metrics["ann"]["mAP50"] >= 0.5
    assert abs(metrics["ann"]["mAP50"] - report("training-events.json")["eval"]["mAP50"]) < REPORT_AGREEMENT

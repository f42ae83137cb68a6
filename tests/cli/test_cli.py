"""The command line: happy paths, and bad input -> one error line naming the file, exit 2, no output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import pytest
from conftest import TRAIN, VAL, write_images

from brainyolo.cli import main

pytestmark = pytest.mark.codegen_independent


def run_cli(*args, cwd=None):
    """The installed command in a subprocess: (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "brainyolo", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return proc.returncode, proc.stdout, proc.stderr


def test_help_lists_subcommands():
    code, out, _ = run_cli("--help")
    assert code == 0
    for command in ("convert", "detect", "evaluate", "demo", "benchmark"):
        assert command in out


@pytest.fixture
def calib(tmp_path):
    return write_images(tmp_path / "calib", 3)[0].parent


def test_convert_detect_evaluate_happy_path(tmp_path, tiny_model, calib):
    cfg, weights = tiny_model
    model = tmp_path / "m.h5"
    assert main(["convert", "--cfg", str(cfg), "--weights", str(weights), "--calib", str(calib),
                 "--calib-count", "2", "--norm", "layer", "--percentile", "99", "-o", str(model), "-q"]) == 0
    with h5py.File(model) as f:
        assert f.attrs["normalization"] == "layer" and f["calibration"].attrs["images"] == 2
        assert f["provenance"].attrs["calibration_first_image"] == "img000.png"
    out = tmp_path / "det"
    images = sorted(calib.iterdir())
    assert main(["detect", str(model), *map(str, images), "--threshold", "0.3", "-o", str(out), "-q"]) == 0
    records = json.loads((out / "detections.json").read_text())
    assert all(set(r) == {"file_name", "category_id", "category_name", "bbox", "score"} for r in records)
    assert all(r["score"] > 0.3 and r["category_name"] in "abc" for r in records)
    assert len(list(out.glob("*_ann.png"))) == 3
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "img000.txt").write_text("0 0.5 0.5 0.4 0.4\n2 0.2 0.3 0.1 0.1")
    ev = tmp_path / "ev"
    assert main(["evaluate", str(model), "--images", str(calib), "--labels", str(labels), "-o", str(ev),
                 "-q"]) == 0
    metrics = json.loads((ev / "metrics.json").read_text())
    assert 0 <= metrics["ann"]["mAP50"] <= 1 and metrics["ann"]["objects"] == 2


def _assert_clean_failure(result, path_text, problem, leftovers):
    code, out, err = result
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("brainyolo: error: "), err
    assert path_text in lines[0] and problem in lines[0], lines[0]
    for leftover in leftovers:
        assert not leftover.exists(), f"{leftover} left behind"
    parent = leftovers[0].parent
    assert not [p for p in parent.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


def test_truncated_weights(tmp_path, tiny_model, calib):
    cfg, weights = tiny_model
    bad = tmp_path / "bad.weights"
    bad.write_bytes(weights.read_bytes()[:-40])
    out = tmp_path / "m.h5"
    _assert_clean_failure(run_cli("convert", "--cfg", cfg, "--weights", bad, "--calib", calib, "-o", out),
                          "bad.weights", "expected", [out])


def test_oversized_weights(tmp_path, tiny_model, calib):
    cfg, weights = tiny_model
    bad = tmp_path / "big.weights"
    bad.write_bytes(weights.read_bytes() + b"\0" * 8)
    out = tmp_path / "m.h5"
    _assert_clean_failure(run_cli("convert", "--cfg", cfg, "--weights", bad, "--calib", calib, "-o", out),
                          "big.weights", "found", [out])


@pytest.mark.parametrize("edit, problem", [(("[maxpool]", "[reorg3d]"), "is not supported"),
                                           (("filters=8\n", ""), "missing required key 'filters'")])
def test_bad_cfg(tmp_path, tiny_model, calib, edit, problem):
    cfg, weights = tiny_model
    bad = tmp_path / "bad.cfg"
    bad.write_text(cfg.read_text().replace(*edit, 1))
    out = tmp_path / "m.h5"
    _assert_clean_failure(run_cli("convert", "--cfg", bad, "--weights", weights, "--calib", calib, "-o", out),
                          "bad.cfg", problem, [out])


def test_unreadable_calibration_image(tmp_path, tiny_model, calib):
    cfg, weights = tiny_model
    (calib / "zz_broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "m.h5"
    _assert_clean_failure(run_cli("convert", "--cfg", cfg, "--weights", weights, "--calib", calib, "-o", out),
                          "zz_broken.jpg", "cannot read image", [out])


def test_empty_calibration_folder(tmp_path, tiny_model):
    cfg, weights = tiny_model
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "m.h5"
    _assert_clean_failure(run_cli("convert", "--cfg", cfg, "--weights", weights, "--calib", empty, "-o", out),
                          "empty", "holds no images", [out])


@pytest.mark.parametrize("value", ["0", "100.5", "-3", "abc"])
def test_percentile_outside_range(tmp_path, tiny_model, calib, value):
    cfg, weights = tiny_model
    out = tmp_path / "m.h5"
    code, _, err = run_cli("convert", "--cfg", cfg, "--weights", weights, "--calib", calib,
                           "--percentile", value, "-o", out)
    assert code == 2 and "--percentile" in err and not out.exists()
    assert err.strip().splitlines()[-1].startswith("brainyolo convert: error:")


def test_wrong_model_version_and_unreadable_image(tmp_path, tiny_model, calib):
    cfg, weights = tiny_model
    model = tmp_path / "m.h5"
    assert main(["convert", "--cfg", str(cfg), "--weights", str(weights), "--calib", str(calib),
                 "-o", str(model), "-q"]) == 0
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG garbage")
    out = tmp_path / "det"
    _assert_clean_failure(run_cli("detect", model, sorted(calib.iterdir())[0], broken, "-o", out),
                          "broken.png", "cannot read image", [out])
    with h5py.File(model, "r+") as f:
        f.attrs["schema_version"] = 99
    _assert_clean_failure(run_cli("detect", model, sorted(calib.iterdir())[0], "-o", out),
                          "m.h5", "schema version 99", [out])


def test_missing_input_file(tmp_path):
    out = tmp_path / "det"
    _assert_clean_failure(run_cli("detect", tmp_path / "nope.h5", "x.jpg", "-o", out), "nope.h5",
                          "no such", [out])


@pytest.mark.long
@pytest.mark.standalone_only
def test_demo_end_to_end(tmp_path):
    """The README's main job: embedded detector -> C++ standalone SNN with the fast and the paper presets ->
    decoded detections near the ANN, the fast one in far fewer steps and events."""
    out = tmp_path / "demo"
    code, stdout, err = run_cli("demo", "-o", out, "-q")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["layers"] == 21 and report["images"] == 8
    assert report["ann"]["mAP50"] >= 0.8
    fast, paper = report["snn"], report["paper"]
    assert (fast["preset"], fast["thresholds"], paper["preset"], paper["thresholds"]) == (
        "fast", "balanced", "paper", "uniform")
    for run in (fast, paper):
        assert run["device"] == "cpp_standalone" and run["synaptic_events"] > 0
    assert list(fast["mAP50_per_step"]) == ["8", "16", "25", "32", "50", "64"]
    assert list(paper["mAP50_per_step"]) == ["25", "50", "100", "200", "300"]
    assert fast["fraction_of_ann_mAP50"] >= FAST_DEMO_FRACTION
    assert fast["synaptic_events_per_image"] < paper["synaptic_events_per_image"]
    assert paper["mAP50_per_step"]["300"] >= paper["mAP50_per_step"]["25"]
    for name in ("model.h5", "run/recordings.h5", "run/run_info.json", "run_paper/recordings.h5", "detections.json",
                 "detections_ann.json", "map_vs_steps.png", "report.txt", "scene0000_ann_vs_snn.png",
                 "checkpoints/detections_t8.json"):
        assert (out / name).exists(), name
    assert json.loads((out / "detections.json").read_text()) == json.loads(
        (out / "checkpoints" / "detections_t64.json").read_text())
    assert "of ANN" in stdout and "preset paper" in stdout


FAST_DEMO_FRACTION = 0.95
"""The demo's fast run at its 64 steps, as a fraction of the ANN's mAP@0.5 on the 8 demo scenes."""


@pytest.mark.shared
@pytest.mark.long
def test_evaluate_real_yolov3_tiny_on_128_coco_images(tmp_path):
    """ANN mAP@0.5 of yolov3-tiny on the 128 val images; the independent OpenCV pipeline gives 0.292."""
    from conftest import YOLOV3_TINY

    model = tmp_path / "y3.h5"
    assert main(["convert", "--cfg", str(YOLOV3_TINY / "yolov3-tiny.cfg"), "--weights",
                 str(YOLOV3_TINY / "yolov3-tiny.weights"), "--calib", str(TRAIN / "images"),
                 "--calib-count", "4", "-o", str(model), "-q"]) == 0
    out = tmp_path / "ev"
    assert main(["evaluate", str(model), "--images", str(VAL / "images"), "--labels", str(VAL / "labels"),
                 "-o", str(out), "-q"]) == 0
    ann = json.loads((out / "metrics.json").read_text())["ann"]
    assert ann["images"] == 128
    assert ann["mAP50"] == pytest.approx(0.292, abs=0.005)
    assert ann["mAP"] == pytest.approx(0.167, abs=0.01)


COCO_SPELLINGS = {"motorcycle": "motorbike", "airplane": "aeroplane", "couch": "sofa", "potted plant": "pottedplant",
                  "dining table": "diningtable", "tv": "tvmonitor"}
"""The COCO category names that coco.names spells otherwise, written out by hand."""


@pytest.mark.shared
def test_coco_json_ground_truth_maps_names():
    """COCO instances JSON (ids 1..90, other spellings) maps onto coco.names classes. On all 128 train images
    every non-crowd annotation is one box of its class, as a literal loop over the JSON finds them: the
    motorcycles (5, in 4 images) are class ``motorbike`` on exactly their own boxes, and the boxes stay
    COCO's ``[x, y, w, h]`` pixels (image 73 checked by hand)."""
    from pathlib import Path

    from PIL import Image

    from brainyolo.ann.letterbox import list_images
    from brainyolo.readout.evaluation import read_coco_instances

    names = (TRAIN.parent.parent / "models/yolov3-tiny/coco.names").read_text().splitlines()
    paths = list_images(TRAIN / "images")
    assert len(paths) == 128 and len(names) == 80
    truths = read_coco_instances(paths, TRAIN / "instances_train2017_first128.json", names)
    assert [t.file_name for t in truths] == [p.name for p in paths]

    data = json.loads((TRAIN / "instances_train2017_first128.json").read_text())
    categories = {c["id"]: c["name"] for c in data["categories"]}
    file_of = {i["id"]: Path(i["file_name"]).name for i in data["images"]}
    expected = {p.name: [] for p in paths}
    motorcycles = {p.name: [] for p in paths}
    for annotation in data["annotations"]:
        if annotation["iscrowd"]:
            continue
        name = categories[annotation["category_id"]]
        box = tuple(annotation["bbox"])
        expected[file_of[annotation["image_id"]]].append((names.index(COCO_SPELLINGS.get(name, name)), box))
        if name == "motorcycle":
            motorcycles[file_of[annotation["image_id"]]].append(box)
    got = {t.file_name: sorted(zip(t.classes.tolist(), map(tuple, t.boxes.tolist()), strict=True)) for t in truths}
    assert got == {file: sorted(boxes) for file, boxes in expected.items()}
    total = sum(len(t.classes) for t in truths)
    assert total == sum(not a["iscrowd"] for a in data["annotations"]) == len(data["annotations"]) - 10 > 0

    motorbike = names.index("motorbike")
    assert motorbike == 3  # person, bicycle, car, motorbike
    assert sum(map(len, motorcycles.values())) == 5 and sum(map(bool, motorcycles.values())) == 4
    for truth in truths:
        mine = sorted(map(tuple, truth.boxes[truth.classes == motorbike].tolist()))
        assert mine == sorted(motorcycles[truth.file_name]), truth.file_name

    truth = next(t for t in truths if t.file_name == "000000000073.jpg")
    with Image.open(TRAIN / "images" / "000000000073.jpg") as image:
        assert (truth.width, truth.height) == image.size == (565, 640)
    assert truth.classes.tolist() == [3, 3]
    assert truth.boxes.tolist() == [[13.0, 22.75, 535.98, 609.67], [1.66, 3.32, 268.6, 271.91]]
    assert 13.0 + 535.98 <= 565 and 22.75 + 609.67 <= 640  # x + w, y + h inside the 565 x 640 image


def test_simulate_runtime_and_bad_input(tmp_path, tiny_model, calib):
    cfg, weights = tiny_model
    model = tmp_path / "m.h5"
    assert main(["convert", "--cfg", str(cfg), "--weights", str(weights), "--calib", str(calib), "-o", str(model),
                 "-q"]) == 0
    image = sorted(calib.iterdir())[0]
    run = tmp_path / "run"
    assert main(["simulate", str(model), str(image), "--steps", "12", "--checkpoints", "4,8", "--device", "runtime",
                 "--output", "spikes", "-o", str(run), "-q"]) == 0
    info = json.loads((run / "run_info.json").read_text())
    assert info["checkpoints"] == [4, 8, 12] and info["output"] == "spikes" and info["device"] == "runtime"
    with h5py.File(run / "recordings.h5") as f:
        assert set(f["images/0000/output/12"]) == {"v", "net_count"}
    bad_neuron = tmp_path / "broken_neuron.toml"
    bad_neuron.write_text("model = [\n")
    out = tmp_path / "run2"
    _assert_clean_failure(run_cli("simulate", model, image, "--steps", "5", "--device", "runtime", "--neuron",
                                  bad_neuron, "-o", out), "broken_neuron.toml", "not valid TOML", [out])
    code, _, err = run_cli("simulate", model, image, "--steps", "5", "--checkpoints", "9", "-o", out)
    assert code == 2 and "checkpoint 9 is beyond 5 steps" in err and not out.exists()


def test_cache_lists_and_removes_unused_builds_but_never_a_locked_one(tmp_path, monkeypatch, capsys):
    import fcntl
    import time

    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path))
    monkeypatch.delenv("BRAINYOLO_OBJECT_CACHE", raising=False)  # the default: $BRAINYOLO_CACHE/objects
    builds = tmp_path / "builds"
    old = time.time() - 3 * 86400
    for name, size, used in (("old", 3000, old), ("recent", 1000, time.time()), ("busy", 2000, old - 60)):
        (builds / name / "code_objects").mkdir(parents=True)
        (builds / name / "main").write_bytes(b"x" * size)
        (builds / name / "code_objects" / "a.o").write_bytes(b"y" * size)
        for path in (builds / name / "main", builds / name):
            os.utime(path, (used, used))
    objects = tmp_path / "objects"  # the object cache: an entry used 3 days ago, one just now
    for key, used in (("ab" + "0" * 62, old), ("cd" + "1" * 62, time.time())):
        entry = objects / key[:2] / key
        entry.mkdir(parents=True)
        (entry / "object.o").write_bytes(b"o" * 2**19)
        (entry / "object.d").write_text("code_objects/a.o: code_objects/a.cpp\n")
        os.utime(entry, (used, used))
    assert main(["cache"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed[:3]] == ["busy", "old", "recent"]  # least recently used first
    assert listed[-2].startswith("3 builds, 0.0 MiB")
    assert listed[-1] == f"2 compiled files, 1.0 MiB in {objects}"
    (builds / "old" / "results" / "killed").mkdir(parents=True)  # a killed run's 2 MiB of results
    (builds / "old" / "results" / "killed" / "v").write_bytes(b"k" * 2**21)
    for path in (builds / "old", builds / "old" / "results"):  # the killed run was the last use
        os.utime(path, (old, old))
    assert main(["cache"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == "removed 2.0 MiB of results folders left by killed runs"
    assert not list((builds / "old" / "results").iterdir())
    # results folders in a build that stays: one of a killed run, one of a run in progress
    for name in ("killed", "running"):
        (builds / "recent" / "results" / name).mkdir(parents=True)
        (builds / "recent" / "results" / name / "v").write_bytes(b"z" * 5000)
    with open(builds / "busy.lock", "a+") as lock, open(builds / "recent/results/running.claim", "a+") as claim:
        fcntl.flock(lock, fcntl.LOCK_SH)  # a run of the busy build holds its lock
        fcntl.flock(claim, fcntl.LOCK_EX)  # the running run holds its claim
        assert main(["cache", "--older-than", "1"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in builds.iterdir() if p.is_dir()) == ["busy", "recent"]
    assert sorted(p.name for p in (builds / "recent/results").iterdir()) == ["running", "running.claim"]
    assert "removed old" in out and "kept (in use) busy" in out and "1 builds removed" in out
    assert f"1 compiled files removed, 0.5 MiB freed from {objects}" in out
    assert [p.name for p in objects.glob("*/*")] == ["cd" + "1" * 62]
    assert main(["cache", "--clear"]) == 0
    assert not [p for p in builds.iterdir() if p.is_dir()] and not list(objects.glob("*/*"))
    with pytest.raises(SystemExit):
        main(["cache", "--older-than", "-1"])


def test_scenes_command_writes_the_generators_scenes(tmp_path):
    from importlib import resources

    from brainyolo.ann.letterbox import list_images
    from brainyolo.data import scenes
    from brainyolo.readout.evaluation import read_ground_truth

    code, out, err = run_cli("scenes", "--count", 3, "--seed", 11, "-o", tmp_path / "s")
    assert code == 0, err
    reference = scenes.write_scenes(tmp_path / "ref", 3, 11)  # the generator the demo and training use
    for path in reference:
        assert (tmp_path / "s" / "images" / path.name).read_bytes() == path.read_bytes()
        label = path.parent.parent / "labels" / f"{path.stem}.txt"
        assert (tmp_path / "s" / "labels" / label.name).read_text() == label.read_text()
    names = (tmp_path / "s" / "classes.names").read_text().split()
    assert names == resources.files("brainyolo").joinpath("data/scenes.names").read_text().split()
    images = list_images(tmp_path / "s" / "images")
    truths = read_ground_truth(images, names, labels=tmp_path / "s" / "labels")  # usable as --images/--labels
    assert len(truths) == 3
    # a folder with other scenes is refused, nothing written
    before = sorted(p.name for p in (tmp_path / "s" / "images").iterdir())
    code, out, err = run_cli("scenes", "--count", 5, "--seed", 12, "-o", tmp_path / "s")
    assert code == 2 and err.count("\n") == 1 and "is not an empty folder" in err and str(tmp_path / "s") in err
    assert sorted(p.name for p in (tmp_path / "s" / "images").iterdir()) == before

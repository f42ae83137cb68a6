"""VOC-style AP (VOC07 11-point and all-point) against hand-computed cases; VOC XML reading."""

from __future__ import annotations

import numpy as np
import pytest

from brainyolo.io.errors import BrainyoloError
from brainyolo.readout.evaluation import GroundTruth, read_voc_annotations, voc_average_precision, voc_map

pytestmark = pytest.mark.codegen_independent


def _det(name, cls, box, score):
    return {"file_name": name, "category_id": cls, "bbox": box, "score": score}


def test_voc_map_by_hand():
    truths = [GroundTruth("a.jpg", 100, 100, np.array([[0, 0, 10, 10], [20, 20, 10, 10], [40, 40, 10, 10.]]),
                          np.array([0, 0, 0]), np.array([False, True, False])),
              GroundTruth("b.jpg", 100, 100, np.array([[5, 5, 20, 20.]]), np.array([1]), np.array([False]))]
    detections = [_det("a.jpg", 0, [0, 0, 10, 10], 0.9),     # TP
                  _det("a.jpg", 0, [0, 0, 10, 10], 0.8),     # duplicate: FP
                  _det("a.jpg", 0, [20, 20, 10, 10], 0.7),   # on a difficult object: ignored
                  _det("a.jpg", 0, [70, 70, 5, 5], 0.6),     # FP
                  _det("a.jpg", 0, [41, 40, 10, 10], 0.5),   # IoU 0.82: TP
                  _det("b.jpg", 2, [5, 5, 20, 20], 0.9)]     # a class with no objects: not in the mean
    # class 0: TP FP FP TP over 2 objects -> recall .5 .5 .5 1, precision 1 .5 .33 .5
    result = voc_map(truths, detections, 3)
    assert result["AP_voc_per_class"] == {0: 0.75, 1: 0.0}
    assert result["AP_voc07_per_class"][0] == pytest.approx((6 * 1 + 5 * 0.5) / 11, abs=1e-6)
    assert result["mAP_voc"] == pytest.approx(0.375)
    assert result["mAP_voc07"] == pytest.approx((6 + 2.5) / 11 / 2)


def test_average_precision_shapes():
    recall, precision = np.array([0.2, 0.4, 0.4, 0.8]), np.array([1.0, 1.0, 0.66, 0.8])
    # all-point: envelope 1 up to 0.4, then 0.8 up to 0.8 -> 0.4 * 1 + 0.4 * 0.8
    assert voc_average_precision(recall, precision, False) == pytest.approx(0.72)
    # 11-point: t = 0..0.4 -> 1 (5 points), 0.5..0.8 -> 0.8 (4 points), 0.9, 1.0 -> 0
    assert voc_average_precision(recall, precision, True) == pytest.approx((5 + 3.2) / 11)


def test_read_voc_annotations(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "x.xml").write_text(
        "<annotation><size><width>50</width><height>40</height><depth>3</depth></size>"
        "<object><name>dog</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>10</xmax><ymax>20</ymax></bndbox></object>"
        "<object><name>unicorn</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>"
        "</bndbox></object>"
        "<object><name>pottedplant</name><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>7</xmax><ymax>8</ymax>"
        "</bndbox></object></annotation>")
    (truth,) = read_voc_annotations([tmp_path / "x.jpg"], tmp_path / "ann", ["cat", "dog", "pottedplant"])
    assert (truth.width, truth.height) == (50, 40)
    np.testing.assert_array_equal(truth.boxes, [[0, 1, 10, 19], [4, 5, 3, 3]])
    assert truth.classes.tolist() == [1, 2] and truth.difficult.tolist() == [True, False]
    (tmp_path / "ann" / "y.xml").write_text("<annotation><size><width>5</width></size>")
    with pytest.raises(BrainyoloError, match="y.xml: not a VOC annotation"):
        read_voc_annotations([tmp_path / "y.jpg"], tmp_path / "ann", ["cat"])
    with pytest.raises(BrainyoloError, match="z.xml: cannot read"):
        read_voc_annotations([tmp_path / "z.jpg"], tmp_path / "ann", ["cat"])


def _four_images():
    truths = [GroundTruth(f"im{i}.png", 100, 100, np.array([[10.0, 10.0, 40.0, 40.0]]), np.array([0]))
              for i in range(4)]
    hit = [{"file_name": f"im{i}.png", "category_id": 0, "bbox": [10.0, 10.0, 40.0, 40.0], "score": 0.9}
           for i in range(4)]
    return truths, hit


def test_paired_bootstrap_by_hand():
    from brainyolo.readout.evaluation import paired_bootstrap

    truths, hit = _four_images()
    # B finds the objects of images 0 and 1 only: recall 1/2 at precision 1 -> COCO's 101-point AP 51/101
    result = paired_bootstrap(truths, hit, hit[:2], n_classes=2, resamples=60, seed=3)
    assert result["difference"] == pytest.approx(1 - 51 / 101)
    # every resample: B can only lose; all four images of one kind drawn gives 0 (P = 1/8), never above 1
    assert 0 <= result["low"] < result["difference"] < result["high"] <= 1
    same = paired_bootstrap(truths, hit, list(hit), n_classes=2, resamples=10)
    assert (same["difference"], same["low"], same["high"]) == (0, 0, 0)


def test_compare_command(tmp_path, capsys, tiny_converted):
    import json

    from brainyolo.cli import main
    from brainyolo.experiments.experiment import configuration_records

    truths, hit = _four_images()
    run = tmp_path / "run"
    for i, record in enumerate(hit):
        (run / "cfg" / "snn_images").mkdir(parents=True, exist_ok=True)
        image = {"file_name": record["file_name"], "detections": {"10": [record] if i < 2 else [], "20": [record]}}
        (run / "cfg" / "snn_images" / f"im{i}.json").write_text(json.dumps(image))
    (run / "detections_ann.json").write_text(json.dumps(hit))
    assert configuration_records(run, "cfg@10")[1] == hit[:2]
    with pytest.raises(BrainyoloError, match="has no checkpoint 30"):
        configuration_records(run, "cfg@30")
    with pytest.raises(BrainyoloError, match="CONFIG@STEP"):
        configuration_records(run, "cfg")
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for t in truths:
        Image.new("RGB", (100, 100)).save(tmp_path / "images" / t.file_name)
        (tmp_path / "labels" / t.file_name.replace(".png", ".txt")).write_text("0 0.3 0.3 0.4 0.4\n")
    model = tiny_converted[0]  # (only its class names: three, two without objects here)
    assert main(["compare", str(run), "ANN", "cfg@10", "--images", str(tmp_path / "images"), "--labels",
                 str(tmp_path / "labels"), "--model", str(model), "--resamples", "20"]) == 0
    out = capsys.readouterr().out
    assert f"mAP@0.5 {1 - 51 / 101:+.4f}" in out and "20 paired bootstrap resamples of 4 images" in out


def _full_pycocotools(truths, detections, n_classes):
    """pycocotools as its documentation runs it (every area range and detection limit, summarize's 12 numbers):
    ``(mAP@[.5:.95], mAP@0.5)``."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ids = {t.file_name: k + 1 for k, t in enumerate(truths)}
    annotations = [{"id": n + 1, "image_id": ids[t.file_name], "category_id": int(c) + 1,
                    "bbox": [float(v) for v in b], "area": float(b[2] * b[3]), "iscrowd": 0}
                   for n, (t, b, c) in enumerate((t, b, c) for t in truths
                                                 for b, c in zip(t.boxes, t.classes, strict=True))]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": i, "width": 640, "height": 480} for i in ids.values()],
                      "categories": [{"id": c + 1} for c in range(n_classes)], "annotations": annotations}
        gt.createIndex()
        dt = gt.loadRes([{"image_id": ids[d["file_name"]], "category_id": d["category_id"] + 1, "bbox": d["bbox"],
                          "score": d["score"]} for d in detections])
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats[0], evaluator.stats[1]


@pytest.mark.parametrize("seed", range(6))
def test_coco_map_equals_pycocotools_full_summary(seed):
    """coco_map matches only objects of every area up to 100 detections per image and class: its two numbers are
    exactly those of pycocotools' full run (random scenes: objects small to large, near and far detections, more than
    100 detections of one class in an image, a class without objects)."""
    from brainyolo.readout.evaluation import coco_map

    rng = np.random.default_rng(seed)
    n_classes, truths, detections = 4, [], []
    for k in range(5):
        count = int(rng.integers(0, 7))
        sizes = rng.choice([8, 20, 40, 90, 200], size=(count, 2)) * rng.uniform(0.8, 1.2, (count, 2))
        corners = rng.uniform(0, 400, (count, 2))
        boxes = np.concatenate([corners, sizes], axis=1)
        classes = rng.integers(0, n_classes - 1, count)
        truths.append(GroundTruth(f"{k}.jpg", 640, 480, boxes, classes))
        for box, cls in zip(boxes, classes, strict=True):  # near misses and hits
            for _ in range(int(rng.integers(0, 4))):
                jitter = box + rng.normal(0, 0.15, 4) * box[[2, 3, 2, 3]]
                detections.append(_det(f"{k}.jpg", int(cls), [float(v) for v in np.abs(jitter)],
                                       float(rng.uniform(0, 1))))
        crowded = int(rng.integers(0, n_classes - 1))  # over 100 detections of one class in the first images
        for _ in range(250 if k < 2 else int(rng.choice([3, 130]))):  # background
            box = [float(v) for v in np.concatenate([rng.uniform(0, 400, 2), rng.uniform(5, 150, 2)])]
            cls = crowded if k < 2 and rng.uniform() < 0.8 else int(rng.integers(0, n_classes))
            detections.append(_det(f"{k}.jpg", cls, box, float(rng.uniform(0, 1))))
    ours = coco_map(truths, detections, n_classes)
    assert (ours["mAP"], ours["mAP50"]) == _full_pycocotools(truths, detections, n_classes)
    assert 0 < ours["mAP"] < ours["mAP50"] < 1

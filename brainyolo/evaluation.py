"""Ground truth readers and mAP with pycocotools.

Ground truth comes either as YOLO txt labels (``class cx cy w h`` normalized, one file per image,
same stem) or as a COCO instances JSON, whose category ids are mapped onto the model's classes
through their names (Darknet's coco.names spells a few of them differently).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainyolo.errors import BrainyoloError

# COCO category name -> Darknet coco.names spelling.
NAME_ALIASES = {"motorcycle": "motorbike", "airplane": "aeroplane", "couch": "sofa",
                "potted plant": "pottedplant", "dining table": "diningtable", "tv": "tvmonitor"}


@dataclass
class GroundTruth:
    """Objects in one image: ``boxes`` ``[x, y, w, h]`` in pixels, ``classes`` model indices."""

    file_name: str
    width: int
    height: int
    boxes: np.ndarray
    classes: np.ndarray


def read_yolo_labels(image_paths, labels_dir: str | os.PathLike, n_classes: int) -> list[GroundTruth]:
    """One :class:`GroundTruth` per image from ``LABELS/<stem>.txt`` (missing file: no objects)."""
    from PIL import Image

    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise BrainyoloError(labels_dir, "labels folder does not exist")
    truths = []
    for image_path in image_paths:
        try:
            with Image.open(image_path) as image:
                width, height = image.size
        except OSError as err:
            raise BrainyoloError(image_path, f"cannot read image: {err}") from None
        label = labels_dir / (Path(image_path).stem + ".txt")
        rows = np.zeros((0, 5))
        if label.exists():
            try:
                rows = np.loadtxt(label, ndmin=2)
            except ValueError as err:
                raise BrainyoloError(label, f"not 'class cx cy w h' rows: {err}") from None
            if rows.size and (rows.shape[1] != 5 or rows[:, 0].min() < 0
                              or rows[:, 0].max() >= n_classes):
                raise BrainyoloError(label, f"expected rows 'class cx cy w h' with 0 <= class < "
                                            f"{n_classes}")
        rows = rows.reshape(-1, 5)
        boxes = np.stack([(rows[:, 1] - rows[:, 3] / 2) * width, (rows[:, 2] - rows[:, 4] / 2) *
                          height, rows[:, 3] * width, rows[:, 4] * height], axis=1)
        truths.append(GroundTruth(Path(image_path).name, width, height, boxes,
                                  rows[:, 0].astype(np.int64)))
    return truths


def _canonical(name: str) -> str:
    name = NAME_ALIASES.get(name, name)
    return name.replace(" ", "").lower()


def read_coco_instances(image_paths, json_path: str | os.PathLike,
                        class_names: list[str]) -> list[GroundTruth]:
    """One :class:`GroundTruth` per image from a COCO instances JSON (crowd boxes skipped)."""
    try:
        data = json.loads(Path(json_path).read_text())
        categories = {c["id"]: c["name"] for c in data["categories"]}
        images = {Path(i["file_name"]).name: i for i in data["images"]}
        annotations = data["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BrainyoloError(json_path, f"not a COCO instances file: {err}") from None
    index_of = {_canonical(n): i for i, n in enumerate(class_names)}
    mapping = {cid: index_of.get(_canonical(name)) for cid, name in categories.items()}
    unmapped = sorted(name for cid, name in categories.items() if mapping[cid] is None)
    if len(unmapped) == len(categories):
        raise BrainyoloError(json_path, "none of its categories matches a model class name")
    by_image: dict[int, list] = {}
    for ann in annotations:
        if not ann.get("iscrowd", 0) and mapping.get(ann["category_id"]) is not None:
            by_image.setdefault(ann["image_id"], []).append(ann)
    truths = []
    for image_path in image_paths:
        info = images.get(Path(image_path).name)
        if info is None:
            raise BrainyoloError(json_path, f"has no entry for image {Path(image_path).name}")
        anns = by_image.get(info["id"], [])
        boxes = np.asarray([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
        classes = np.asarray([mapping[a["category_id"]] for a in anns], np.int64)
        truths.append(GroundTruth(Path(image_path).name, int(info["width"]), int(info["height"]),
                                  boxes, classes))
    return truths


def coco_map(truths: list[GroundTruth], detections: list[dict], n_classes: int) -> dict:
    """mAP@0.5 and mAP@[.5:.95] (COCO, 101-point, up to 100 detections per image) by pycocotools.

    ``detections`` are records as written to detections.json (file_name, category_id, bbox, score).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    image_ids = {t.file_name: i + 1 for i, t in enumerate(truths)}
    gt = {"images": [{"id": image_ids[t.file_name], "file_name": t.file_name, "width": t.width,
                      "height": t.height} for t in truths],
          "categories": [{"id": c + 1, "name": str(c)} for c in range(n_classes)],
          "annotations": []}
    for t in truths:
        for box, cls in zip(t.boxes, t.classes, strict=True):
            gt["annotations"].append({"id": len(gt["annotations"]) + 1,
                                      "image_id": image_ids[t.file_name],
                                      "category_id": int(cls) + 1, "bbox": [float(v) for v in box],
                                      "area": float(box[2] * box[3]), "iscrowd": 0})
    results = [{"image_id": image_ids[d["file_name"]], "category_id": d["category_id"] + 1,
                "bbox": d["bbox"], "score": d["score"]}
               for d in detections if d["file_name"] in image_ids]
    if not results or not gt["annotations"]:
        return {"mAP50": 0.0, "mAP": 0.0, "images": len(truths),
                "objects": len(gt["annotations"]), "detections": len(results)}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {"mAP50": float(evaluator.stats[1]), "mAP": float(evaluator.stats[0]),
            "images": len(truths), "objects": len(gt["annotations"]), "detections": len(results)}

"""Ground truth readers and mAP with pycocotools.

Ground truth comes either as YOLO txt labels (``class cx cy w h`` normalized, one file per image,
same stem) or as a COCO instances JSON, whose category ids are mapped onto the model's classes
through their names (Darknet's coco.names spells a few of them differently).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainyolo.io.errors import BrainyoloError, one_line

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
    difficult: np.ndarray | None = None  # VOC's "difficult" flags (ignored by VOC AP), else None


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
        except Exception as err:  # noqa: BLE001 - Pillow raises many kinds on damaged files
            raise BrainyoloError(image_path, f"cannot read image: {one_line(err)}") from None
        label = labels_dir / (Path(image_path).stem + ".txt")
        rows = np.zeros((0, 5))
        if label.exists():
            try:
                rows = np.loadtxt(label, ndmin=2)
            except ValueError as err:
                raise BrainyoloError(label, f"not 'class cx cy w h' rows: {err}") from None
            if rows.size and (rows.shape[1] != 5 or not np.all(np.isfinite(rows)) or rows[:, 0].min() < 0
                              or rows[:, 0].max() >= n_classes or np.any(rows[:, 0] != np.round(rows[:, 0]))):
                raise BrainyoloError(label, f"expected rows 'class cx cy w h' of finite numbers with a whole "
                                            f"class 0 <= class < {n_classes}")
        rows = rows.reshape(-1, 5)
        boxes = np.stack([(rows[:, 1] - rows[:, 3] / 2) * width, (rows[:, 2] - rows[:, 4] / 2) *
                          height, rows[:, 3] * width, rows[:, 4] * height], axis=1)
        truths.append(_checked(GroundTruth(Path(image_path).name, width, height, boxes,
                                           rows[:, 0].astype(np.int64)), label))
    return truths


def _canonical(name: str) -> str:
    name = NAME_ALIASES.get(name, name)
    return name.replace(" ", "").lower()


def read_coco_instances(image_paths, json_path: str | os.PathLike,
                        class_names: list[str]) -> list[GroundTruth]:
    """One :class:`GroundTruth` per image from a COCO instances JSON (crowd boxes skipped)."""
    try:
        data = json.loads(Path(json_path).read_bytes())
        categories = {c["id"]: c["name"] for c in data["categories"]}
        images = {Path(i["file_name"]).name: i for i in data["images"]}
        annotations = data["annotations"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        raise BrainyoloError(json_path, f"not a COCO instances file: {one_line(err)}") from None
    index_of = {_canonical(n): i for i, n in enumerate(class_names)}
    mapping = {cid: index_of.get(_canonical(name)) for cid, name in categories.items()}
    unmapped = sorted(name for cid, name in categories.items() if mapping[cid] is None)
    if len(unmapped) == len(categories):
        raise BrainyoloError(json_path, "none of its categories matches a model class name")
    try:
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
            truths.append(_checked(GroundTruth(Path(image_path).name, int(info["width"]), int(info["height"]),
                                               boxes, classes), json_path))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise BrainyoloError(json_path, f"not a COCO instances file: {one_line(err)}") from None
    return truths


def _checked(truth: GroundTruth, source) -> GroundTruth:
    """``truth`` if its image size is positive and its boxes finite, else one error naming ``source``."""
    if truth.width < 1 or truth.height < 1 or not np.all(np.isfinite(truth.boxes)):
        raise BrainyoloError(source, f"image {truth.file_name}: size {truth.width}x{truth.height} or a box "
                                     "is not a positive, finite number")
    return truth


def read_voc_annotations(image_paths, folder: str | os.PathLike, class_names: list[str]) -> list[GroundTruth]:
    """One :class:`GroundTruth` per image from Pascal VOC XML files ``FOLDER/<stem>.xml``.

    Boxes are VOC's 1-based inclusive pixel corners turned into ``[xmin - 1, ymin - 1, w, h]``;
    objects of classes the model does not know are skipped; ``difficult`` flags are kept.
    """
    import xml.etree.ElementTree as ElementTree

    folder = Path(folder)
    if not folder.is_dir():
        raise BrainyoloError(folder, "VOC annotations folder does not exist")
    index_of = {_canonical(n): i for i, n in enumerate(class_names)}
    truths = []
    for image_path in image_paths:
        xml = folder / (Path(image_path).stem + ".xml")
        try:
            root = ElementTree.parse(xml).getroot()
            size = root.find("size")
            width, height = int(size.findtext("width")), int(size.findtext("height"))
            boxes, classes, difficult = [], [], []
            for obj in root.iter("object"):
                cls = index_of.get(_canonical(obj.findtext("name", "")))
                if cls is None:
                    continue
                bb = obj.find("bndbox")
                x0, y0, x1, y1 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
                boxes.append([x0 - 1, y0 - 1, x1 - x0 + 1, y1 - y0 + 1])
                classes.append(cls)
                difficult.append(int(obj.findtext("difficult", "0") or 0) == 1)
        except OSError as err:
            raise BrainyoloError(xml, f"cannot read VOC annotation: {err.strerror or err}") from None
        except (ElementTree.ParseError, AttributeError, TypeError, ValueError) as err:
            raise BrainyoloError(xml, f"not a VOC annotation (size, object/name, bndbox): {err}") from None
        truths.append(_checked(GroundTruth(Path(image_path).name, width, height,
                                           np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(classes, np.int64),
                                           np.asarray(difficult, bool)), xml))
    return truths


def _box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``[x, y, w, h]`` box with many (continuous coordinates)."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter)


def voc_average_precision(recall: np.ndarray, precision: np.ndarray, eleven_point: bool) -> float:
    """VOC AP from a precision-recall curve: VOC2007's 11-point or the all-point (VOC2010+) area."""
    if eleven_point:
        return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0
                              for t in np.linspace(0, 1, 11)]))
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # precision envelope
    changes = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[changes + 1] - r[changes]) * p[changes + 1]))


def voc_map(truths: list[GroundTruth], detections: list[dict], n_classes: int, iou: float = 0.5) -> dict:
    """Pascal VOC mAP at IoU ``iou``: VOC2007 11-point and all-point, per class and mean.

    Detections are matched greedily by descending score to the best-overlapping unmatched object;
    matches to ``difficult`` objects count neither way; classes without objects are left out of the mean.
    """
    by_image = {t.file_name: t for t in truths}
    ap07, ap_all = {}, {}
    for cls in range(n_classes):
        objects = {name: (t.boxes[t.classes == cls],
                          (t.difficult[t.classes == cls] if t.difficult is not None
                           else np.zeros(int((t.classes == cls).sum()), bool)))
                   for name, t in by_image.items()}
        positives = sum(int((~d).sum()) for _, d in objects.values())
        if positives == 0:
            continue
        dets = sorted((d for d in detections if d["category_id"] == cls and d["file_name"] in by_image),
                      key=lambda d: -d["score"])
        used = {name: np.zeros(len(b), bool) for name, (b, _) in objects.items()}
        tp, fp = [], []
        for d in dets:
            boxes, difficult = objects[d["file_name"]]
            overlaps = _box_iou(np.asarray(d["bbox"], np.float64), boxes) if len(boxes) else np.zeros(0)
            best = int(np.argmax(overlaps)) if len(overlaps) else -1
            if best >= 0 and overlaps[best] >= iou:
                if difficult[best]:
                    continue
                if not used[d["file_name"]][best]:
                    used[d["file_name"]][best] = True
                    tp.append(1)
                    fp.append(0)
                    continue
            tp.append(0)
            fp.append(1)
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        recall = tp / positives if len(tp) else np.zeros(0)
        precision = tp / np.maximum(tp + fp, np.finfo(float).eps) if len(tp) else np.zeros(0)
        ap07[cls] = voc_average_precision(recall, precision, True) if len(tp) else 0.0
        ap_all[cls] = voc_average_precision(recall, precision, False) if len(tp) else 0.0
    return {"mAP_voc07": float(np.mean(list(ap07.values()))) if ap07 else 0.0,
            "mAP_voc": float(np.mean(list(ap_all.values()))) if ap_all else 0.0,
            "AP_voc07_per_class": {int(k): round(v, 6) for k, v in ap07.items()},
            "AP_voc_per_class": {int(k): round(v, 6) for k, v in ap_all.items()}}


COCO_ALL_AREAS = (0.0, 1e5 ** 2)
"""pycocotools' area range "all"."""
COCO_MAX_DETECTIONS = 100
"""The detections per image COCO's mAP counts (pycocotools' largest ``maxDets``)."""


def _mean_defined(precision: np.ndarray) -> float:
    """pycocotools' summary of a precision array: the mean of its defined entries (> -1), -1 where none is."""
    defined = precision[precision > -1]
    return float(np.mean(defined)) if defined.size else -1.0


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
        # only what the two numbers read: objects of every area, up to 100 detections per image (summarize's other
        # ten numbers take 3 more area ranges and 2 more detection limits: 4x the matching, 12x the accumulation)
        evaluator.params.areaRng, evaluator.params.areaRngLbl = [list(COCO_ALL_AREAS)], ["all"]
        evaluator.params.maxDets = [COCO_MAX_DETECTIONS]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][:, :, :, 0, 0]  # (IoU thresholds, recalls, classes)
    at_half = precision[np.flatnonzero(evaluator.params.iouThrs == 0.5)]
    return {"mAP50": _mean_defined(at_half), "mAP": _mean_defined(precision),
            "images": len(truths), "objects": len(gt["annotations"]), "detections": len(results)}


def read_ground_truth(image_paths, class_names: list[str], labels=None, coco=None, voc=None) -> list[GroundTruth]:
    """Ground truth from whichever source is given: YOLO labels folder, COCO JSON or VOC XML folder."""
    if labels:
        return read_yolo_labels(image_paths, labels, len(class_names))
    if coco:
        return read_coco_instances(image_paths, coco, class_names)
    return read_voc_annotations(image_paths, voc, class_names)


def score(truths: list[GroundTruth], detections: list[dict], n_classes: int, voc: bool = False) -> dict:
    """COCO mAP (pycocotools), plus VOC07 and all-point AP with ``voc``."""
    metrics = coco_map(truths, detections, n_classes)
    if voc:
        metrics.update(voc_map(truths, detections, n_classes))
    return metrics


def paired_bootstrap(truths: list[GroundTruth], detections_a: list[dict], detections_b: list[dict], n_classes: int,
                     resamples: int = 200, seed: int = 0, metric: str = "mAP50") -> dict:
    """How far apart two detectors' mAP on the same images is, beyond the images' sampling noise.

    Images are drawn with replacement (``resamples`` times, the same draw for both detectors: a
    paired bootstrap); a copy of an image drawn twice counts as two images. Returns ``difference``
    (``metric`` of a minus b on the images as given), ``low`` and ``high`` (the 2.5 and 97.5
    percentiles of the resampled differences) and ``resamples``. An interval that holds 0: the two
    differ by no more than the choice of images explains.
    """
    rng = np.random.default_rng(seed)
    by_image = [{t.file_name: [] for t in truths} for _ in range(2)]
    for side, detections in zip(by_image, (detections_a, detections_b), strict=True):
        for d in detections:
            if d["file_name"] in side:
                side[d["file_name"]].append(d)

    def metric_of(indices) -> tuple[float, float]:
        drawn = [dataclasses.replace(truths[i], file_name=f"{k}/{truths[i].file_name}") for k, i in enumerate(indices)]
        values = []
        for side in by_image:
            records = [{**d, "file_name": f"{k}/{d['file_name']}"} for k, i in enumerate(indices)
                       for d in side[truths[i].file_name]]
            values.append(coco_map(drawn, records, n_classes)[metric])
        return values[0], values[1]

    a, b = metric_of(range(len(truths)))
    differences = [np.subtract(*metric_of(rng.integers(len(truths), size=len(truths)))) for _ in range(resamples)]
    low, high = np.percentile(differences, [2.5, 97.5])
    return {"difference": a - b, "low": float(low), "high": float(high), "resamples": resamples}

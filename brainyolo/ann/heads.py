"""YOLO head decoding and class-wise non-maximum suppression, as Darknet does them.

A head map ``(n_anchors * (5 + classes), H, W)`` becomes candidate boxes ``(x, y, w, h)`` (centre
and size, relative to the network input) and per-class scores ``objectness * class probability``;
only the cells whose objectness exceeds the score threshold are decoded (no other cell can score above it).
Boxes are then moved from the letterboxed input back to original image pixels, candidates with a
score above the threshold are kept per class, and greedy NMS per class removes overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainyolo.ann.graph import Graph, RegionHead, YoloHead
from brainyolo.ann.letterbox import Letterbox
from brainyolo.registry import Registry

EVAL_THRESHOLD = 0.005
"""Score threshold for evaluation (Darknet's ``validate``)."""
NMS_IOU = 0.45

decode_rule = Registry("head decoding")
"""A head kind's decoding: ``rule(layer, head_map, network_size, threshold=None) -> (boxes, scores)``, boxes ``(K,
4)`` (centre and size relative to the network input) and scores ``(K, classes)`` of the cells that can hold a score
above ``threshold`` (every cell, anchor-major, where None), in anchor-major order."""


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


OBJECTNESS = 4
"""The entry of an anchor's objectness logit (after x, y, w, h)."""


def _kept_cells(layer, head_map: np.ndarray, scale: tuple[int, int], threshold: float | None):
    """The boxes of the cells of a head map worth decoding, their objectness and their class entries:
    ``(boxes (K, 4), objectness (K,), class logits (K, classes))``, float64, in anchor-major order (anchor, row,
    column); an anchor's width and height are divided by ``scale`` (width, height).

    With a ``threshold``, a cell is kept where its objectness (the logistic of entry :data:`OBJECTNESS`) exceeds it:
    each class score of a cell is its objectness times a probability of at most 1 (a product that rounds to at most
    the objectness), so no score of a cell left out exceeds the threshold. ``None``: every cell.
    """
    anchors = layer.anchors.astype(np.float64)
    channels, height, width = head_map.shape
    p = head_map.reshape(len(anchors), channels // len(anchors), height, width)
    objectness = sigmoid(p[:, OBJECTNESS].astype(np.float64))
    if threshold is None:
        anchor, row, column = (a.ravel() for a in np.indices(objectness.shape))
    else:
        anchor, row, column = np.nonzero(objectness > threshold)
    kept = p[anchor, :, row, column].astype(np.float64)
    x = (column + sigmoid(kept[:, 0])) / width
    y = (row + sigmoid(kept[:, 1])) / height
    w = np.exp(kept[:, 2]) * anchors[anchor, 0] / scale[0]
    h = np.exp(kept[:, 3]) * anchors[anchor, 1] / scale[1]
    return np.stack([x, y, w, h], axis=1), objectness[anchor, row, column], kept[:, OBJECTNESS + 1:]


@decode_rule.register(YoloHead)
def _decode_yolo(layer: YoloHead, head_map: np.ndarray, network_size: tuple[int, int],
                 threshold: float | None = None):
    boxes, objectness, logits = _kept_cells(layer, head_map, network_size, threshold)
    return boxes, objectness[:, None] * sigmoid(logits)


@decode_rule.register(RegionHead)
def _decode_region(layer: RegionHead, head_map: np.ndarray, network_size: tuple[int, int],
                   threshold: float | None = None):
    _, height, width = head_map.shape
    boxes, objectness, logits = _kept_cells(layer, head_map, (width, height), threshold)  # anchors in grid cells
    if layer.softmax:
        e = np.exp(logits.T - logits.max(axis=1))  # (C, K)
        total = e[0].copy()
        for class_terms in e[1:]:  # in class order, whatever K is (numpy's own sum pairs contiguous terms)
            total += class_terms
        probs = (e / total).T
    else:
        probs = sigmoid(logits)
    return boxes, objectness[:, None] * probs


def undo_letterbox(boxes: np.ndarray, box: Letterbox) -> np.ndarray:
    """Centre-size boxes relative to the network input -> relative to the original image."""
    (net_w, net_h), (new_w, new_h) = box.network_size, box.scaled_size
    out = boxes.copy()
    out[:, 0] = (boxes[:, 0] - (net_w - new_w) / 2.0 / net_w) / (new_w / net_w)
    out[:, 1] = (boxes[:, 1] - (net_h - new_h) / 2.0 / net_h) / (new_h / net_h)
    out[:, 2] = boxes[:, 2] * net_w / new_w
    out[:, 3] = boxes[:, 3] * net_h / new_h
    return out


def pairwise_iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """IoU of every centre-size box in ``first`` (K, 4) with every one in ``second`` (N, 4): (K, N), 0 where
    the union is empty."""
    a, b = first[:, None, :], second[None, :, :]
    left = np.maximum(a[..., 0] - a[..., 2] / 2, b[..., 0] - b[..., 2] / 2)
    right = np.minimum(a[..., 0] + a[..., 2] / 2, b[..., 0] + b[..., 2] / 2)
    top = np.maximum(a[..., 1] - a[..., 3] / 2, b[..., 1] - b[..., 3] / 2)
    bottom = np.minimum(a[..., 1] + a[..., 3] / 2, b[..., 1] + b[..., 3] / 2)
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


NMS_BLOCK = 64
"""Boxes whose overlaps :func:`nms` computes at once (a block of rows of the IoU matrix)."""


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Greedy NMS (Darknet's order: by score, stable); indices of the kept boxes.

    Each box, best first, is kept unless a kept box overlaps it by more than ``iou``. The overlaps come a block
    of :data:`NMS_BLOCK` boxes at a time (with every later box), for a block with a box still alive.
    """
    order = np.argsort(-scores, kind="stable")
    ranked = boxes[order]
    alive = np.ones(len(order), bool)
    keep = []
    for start in range(0, len(order), NMS_BLOCK):
        if not alive[start:start + NMS_BLOCK].any():
            continue
        overlaps = pairwise_iou(ranked[start:start + NMS_BLOCK], ranked[start:])  # row r: box start + r
        for rank in range(start, min(start + NMS_BLOCK, len(order))):
            if alive[rank]:
                keep.append(order[rank])
                alive[rank + 1:] &= overlaps[rank - start, rank - start + 1:] <= iou
    return np.asarray(keep, dtype=np.int64)


@dataclass
class Detections:
    """Detections in one image.

    Attributes
    ----------
    boxes : ndarray, shape (N, 4)
        ``[x, y, w, h]``: top-left corner and size in original image pixels, clipped to the image.
    scores : ndarray, shape (N,)
    classes : ndarray, shape (N,), int
        0-based model class indices.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def records(self, file_name: str, class_names: list[str]) -> list[dict]:
        """JSON-ready dicts: file_name, category_id, category_name, bbox, score."""
        return [{"file_name": file_name, "category_id": int(c), "category_name": class_names[c],
                 "bbox": [round(float(v), 3) for v in b], "score": round(float(s), 6)}
                for b, s, c in zip(self.boxes, self.scores, self.classes, strict=True)]


def detect_from_heads(graph: Graph, maps: list[np.ndarray], box: Letterbox,
                      threshold: float = EVAL_THRESHOLD, nms_iou: float = NMS_IOU) -> Detections:
    """Decode the heads' maps into detections in original image pixels.

    Every (box, class) whose score exceeds ``threshold`` is a candidate (one box may carry several
    classes, as in Darknet); NMS runs per class; results are sorted by descending score.
    """
    decoded = [decode_rule(graph.layers[i], m, box.network_size, threshold)
               for i, m in zip(graph.heads(), maps, strict=True)]
    boxes = undo_letterbox(np.concatenate([b for b, _ in decoded]), box)
    scores = np.concatenate([s for _, s in decoded])
    out_boxes, out_scores, out_classes = [], [], []
    candidate_classes, candidates = np.nonzero(scores.T > threshold)  # by class, then by box
    for first, last in _runs(candidate_classes):
        cls, mine = candidate_classes[first], candidates[first:last]
        kept = mine[nms(boxes[mine], scores[mine, cls], nms_iou)]
        out_boxes.append(boxes[kept])
        out_scores.append(scores[kept, cls])
        out_classes.append(np.full(len(kept), cls))
    if not out_scores:
        return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    boxes, scores, classes = (np.concatenate(a) for a in (out_boxes, out_scores, out_classes))
    order = np.argsort(-scores, kind="stable")
    return Detections(to_pixels(boxes[order], box.image_size), scores[order], classes[order])


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` of each run of equal values in a sorted array (last exclusive).

    >>> _runs(np.array([2, 2, 5, 7, 7, 7]))
    [(0, 2), (2, 3), (3, 6)]
    """
    if not len(values):
        return []
    edges = [0, *(np.flatnonzero(np.diff(values)) + 1).tolist(), len(values)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def to_pixels(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Relative centre-size boxes -> ``[x, y, w, h]`` in pixels, clipped to the image."""
    width, height = image_size
    x0 = np.clip((boxes[:, 0] - boxes[:, 2] / 2) * width, 0, width)
    x1 = np.clip((boxes[:, 0] + boxes[:, 2] / 2) * width, 0, width)
    y0 = np.clip((boxes[:, 1] - boxes[:, 3] / 2) * height, 0, height)
    y1 = np.clip((boxes[:, 1] + boxes[:, 3] / 2) * height, 0, height)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)

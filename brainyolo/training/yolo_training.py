"""What training a YOLO detector needs here, as an ANN or directly as an SNN: the generated scenes
letterboxed, k-means anchors, the YOLOv3 loss, and sets of event scenes with their mAP.

PyTorch is passed in (``torch``) by the training modules; nothing here imports it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from brainyolo.ann.graph import Graph
from brainyolo.ann.heads import detect_from_heads
from brainyolo.ann.letterbox import Letterbox, letterbox
from brainyolo.data import scenes
from brainyolo.data.moving_scenes import event_training_set
from brainyolo.io.atomic import atomic_path
from brainyolo.pipeline import EVAL_THRESHOLD
from brainyolo.readout.evaluation import GroundTruth, coco_map

TRAIN_SEED = 7


EVAL_SEED = 1_000_003


IGNORE_IOU = 0.5


def letterboxed_scenes(count: int, seed: int, network_size: tuple[int, int]):
    """``count`` scenes as network inputs: images (N, 3, H, W) uint8 and boxes in input pixels.

    Returns
    -------
    images : ndarray, uint8 (values x 255 of the letterboxed float image)
    labels : list of ndarray (n, 5): class, centre x, centre y, width, height (input pixels)
    """
    rng = np.random.default_rng(seed)
    net_w, net_h = network_size
    images = np.empty((count, 3, net_h, net_w), np.uint8)
    labels = []
    for i in range(count):
        scene = scenes.make_scene(rng)
        chw, box = letterbox(np.asarray(scene.image, np.float32) / 255.0, net_w, net_h)
        images[i] = np.clip(np.rint(chw * 255), 0, 255).astype(np.uint8)
        (new_w, new_h), (left, top) = box.scaled_size, box.offset
        sx, sy = new_w / box.image_size[0], new_h / box.image_size[1]
        b = scene.boxes
        labels.append(np.column_stack([scene.classes, left + (b[:, 0] + b[:, 2] / 2) * sx,
                                       top + (b[:, 1] + b[:, 3] / 2) * sy, b[:, 2] * sx,
                                       b[:, 3] * sy]).astype(np.float32))
    return images, labels


def kmeans_anchors(sizes: np.ndarray, k: int, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """``k`` anchor (w, h) by k-means with distance 1 - IoU (boxes aligned at a corner), by area."""
    rng = np.random.default_rng(seed)
    centres = sizes[rng.choice(len(sizes), k, replace=False)].astype(np.float64)
    for _ in range(iterations):
        inter = np.minimum(sizes[:, None, 0], centres[None, :, 0]) * np.minimum(sizes[:, None, 1],
                                                                                 centres[None, :, 1])
        iou = inter / (sizes[:, 0:1] * sizes[:, 1:2] + (centres[:, 0] * centres[:, 1])[None] - inter)
        nearest = iou.argmax(axis=1)
        new = np.array([np.median(sizes[nearest == j], axis=0) if (nearest == j).any() else centres[j]
                        for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    return centres[np.argsort(centres[:, 0] * centres[:, 1])]


def _box_iou(a, b, torch):
    """IoU of centre-size boxes a (n, 4) and b (m, 4) -> (n, m)."""
    a0, a1 = a[:, None, :2] - a[:, None, 2:] / 2, a[:, None, :2] + a[:, None, 2:] / 2
    b0, b1 = b[None, :, :2] - b[None, :, 2:] / 2, b[None, :, :2] + b[None, :, 2:] / 2
    wh = (torch.minimum(a1, b1) - torch.maximum(a0, b0)).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (a[:, None, 2] * a[:, None, 3] + b[None, :, 2] * b[None, :, 3] - inter)


def yolo_loss(head_maps, labels, heads, network_size, torch):
    """YOLOv3 loss summed over the batch's images, divided by the batch size."""
    functional = torch.nn.functional
    net_w, net_h = network_size
    all_anchors = torch.as_tensor(heads[0].all_anchors, dtype=torch.float32)
    batch = head_maps[0].shape[0]
    total = head_maps[0].new_zeros(())
    for head, raw in zip(heads, head_maps, strict=True):
        n_a, n_c = len(head.mask), head.classes
        _, _, height, width = raw.shape
        p = raw.view(batch, n_a, 5 + n_c, height, width).permute(0, 1, 3, 4, 2)  # b, a, y, x, k
        anchors = all_anchors[list(head.mask)]
        obj_target = torch.zeros(p.shape[:4])
        obj_mask = torch.ones(p.shape[:4], dtype=torch.bool)
        # ignore: predictions already overlapping an object well are not pushed to "no object"
        with torch.no_grad():
            gy, gx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
            pred = torch.stack([(torch.sigmoid(p[..., 0]) + gx) / width * net_w,
                                (torch.sigmoid(p[..., 1]) + gy) / height * net_h,
                                torch.exp(p[..., 2].clamp(max=8)) * anchors[None, :, 0, None, None],
                                torch.exp(p[..., 3].clamp(max=8)) * anchors[None, :, 1, None, None]], dim=-1)
            for b, lab in enumerate(labels):
                if len(lab):
                    iou = _box_iou(pred[b].reshape(-1, 4), torch.as_tensor(lab[:, 1:]), torch)
                    obj_mask[b] &= ~(iou.max(dim=1).values > IGNORE_IOU).view(n_a, height, width)
        positives = []
        for b, lab in enumerate(labels):
            for cls, cx, cy, w, h in lab:
                inter = torch.minimum(all_anchors[:, 0], torch.tensor(w)) * torch.minimum(all_anchors[:, 1],
                                                                                         torch.tensor(h))
                best = int(torch.argmax(inter / (w * h + all_anchors[:, 0] * all_anchors[:, 1] - inter)))
                if best not in head.mask:
                    continue
                a = head.mask.index(best)
                fx, fy = cx / net_w * width, cy / net_h * height
                i, j = min(int(fx), width - 1), min(int(fy), height - 1)
                positives.append((b, a, j, i, fx - i, fy - j, math.log(w / float(anchors[a, 0])),
                                  math.log(h / float(anchors[a, 1])), int(cls), 2.0 - w * h / (net_w * net_h)))
        if positives:
            t = torch.tensor([q[:4] for q in positives], dtype=torch.long)
            values = torch.tensor([q[4:8] + q[9:] for q in positives], dtype=torch.float32)
            classes = torch.tensor([q[8] for q in positives], dtype=torch.long)
            sel = p[t[:, 0], t[:, 1], t[:, 2], t[:, 3]]
            scale = values[:, 4]
            total = total + (scale[:, None] * functional.binary_cross_entropy_with_logits(
                sel[:, :2], values[:, :2], reduction="none")).sum()
            total = total + (scale[:, None] * 0.5 * (sel[:, 2:4] - values[:, 2:4]) ** 2).sum()
            cls_target = functional.one_hot(classes, n_c).float()
            total = total + functional.binary_cross_entropy_with_logits(sel[:, 5:], cls_target, reduction="sum")
            obj_target[t[:, 0], t[:, 1], t[:, 2], t[:, 3]] = 1.0
            obj_mask[t[:, 0], t[:, 1], t[:, 2], t[:, 3]] = True
        total = total + functional.binary_cross_entropy_with_logits(p[..., 4][obj_mask], obj_target[obj_mask],
                                                                    reduction="sum")
    return total / batch


def event_truths(labels: list[np.ndarray], size: tuple[int, int]) -> list:
    """Ground truth of an :func:`~brainyolo.data.moving_scenes.event_training_set` (sample ``i`` named ``event{i}``)."""

    return [GroundTruth(f"event{i}", *size, np.column_stack([lab[:, 1] - lab[:, 3] / 2, lab[:, 2] - lab[:, 4] / 2,
                                                            lab[:, 3], lab[:, 4]]).reshape(-1, 4),
                        lab[:, 0].astype(np.int64)) for i, lab in enumerate(labels)]


def event_set_map(graph: Graph, count: int, seed: int, bins: int, head_maps_of) -> dict:
    """COCO-style mAP on ``count`` fresh event scenes (:func:`~brainyolo.data.moving_scenes.event_training_set`):
    ``head_maps_of(frames)`` gives the head maps of one scene's EMS frames ``(1, bins, H, W)`` uint8."""

    _, height, width = graph.input_shape
    frames, labels = event_training_set(count, seed, bins=bins)
    box, records = Letterbox((width, height), (width, height)), []
    for i in range(count):
        maps = head_maps_of(frames[i:i + 1])
        records += detect_from_heads(graph, maps, box, EVAL_THRESHOLD).records(f"event{i}", scenes.CLASS_NAMES)
    return coco_map(event_truths(labels, (width, height)), records, len(scenes.CLASS_NAMES))


def save_event_set(path: Path, count: int, seed: int, bins: int, processes: int = 1) -> None:
    """Generate ``count`` event scenes (:func:`~brainyolo.data.moving_scenes.event_training_set`) into
    ``path`` (npz)."""

    frames, labels = event_training_set(count, seed, bins=bins, processes=processes)
    rows = np.concatenate([np.column_stack([np.full(len(lab), i), lab]) for i, lab in enumerate(labels)])
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, frames=frames, labels=rows)


def load_event_set(path: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """A training set written by :func:`save_event_set` (frames, labels)."""
    with np.load(path) as data:
        frames, rows = data["frames"], data["labels"]
    labels = [rows[rows[:, 0] == i, 1:] for i in range(len(frames))]
    return frames, labels

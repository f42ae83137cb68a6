"""A seeded generator of synthetic scenes: shapes of several classes on cluttered backgrounds.

It gives the project pictures of its own (for the demo, calibration and tests) with exact labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASS_NAMES = ["rectangle", "ellipse", "triangle", "cross"]

MAX_OVERLAP_IOU = 0.35
"""Objects are placed so that no two boxes overlap by more than this IoU (occluded, not hidden)."""


@dataclass
class Scene:
    """A picture and its objects: ``boxes`` ``[x, y, w, h]`` in pixels, ``classes`` indices."""

    image: Image.Image
    boxes: np.ndarray
    classes: np.ndarray


def _iou(a, b) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    iw = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    ih = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def _draw_object(draw: ImageDraw.ImageDraw, cls: int, box, colour) -> None:
    x0, y0, w, h = box
    x1, y1 = x0 + w, y0 + h
    if cls == 0:
        draw.rectangle([x0, y0, x1, y1], fill=colour)
    elif cls == 1:
        draw.ellipse([x0, y0, x1, y1], fill=colour)
    elif cls == 2:
        draw.polygon([(x0 + w / 2, y0), (x0, y1), (x1, y1)], fill=colour)
    else:  # a plus sign, arms a third of the box wide
        draw.rectangle([x0 + w / 3, y0, x1 - w / 3, y1], fill=colour)
        draw.rectangle([x0, y0 + h / 3, x1, y1 - h / 3], fill=colour)


def noisy_gradient(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A background: a random colour with a horizontal colour gradient and pixel noise."""
    gradient = np.linspace(0, 1, width)[None, :, None] * rng.uniform(-60, 60, 3)
    base = rng.uniform(60, 190, 3) + gradient + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def place_box(rng: np.random.Generator, width: int, height: int, boxes: list, side_range: tuple[float, float]
              ) -> tuple[float, float, float, float] | None:
    """A box (x, y, w, h) of side ``side_range`` x the shorter image side and aspect 0.6-1.6, overlapping
    ``boxes`` by at most :data:`MAX_OVERLAP_IOU`; None after 20 tries."""
    for _attempt in range(20):
        side = float(rng.uniform(*side_range) * min(width, height))
        aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
        w, h = min(side * np.sqrt(aspect), width - 1), min(side / np.sqrt(aspect), height - 1)
        box = (float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h)), w, h)
        if all(_iou(box, other) <= MAX_OVERLAP_IOU for other in boxes):
            return box
    return None


def make_scene(rng: np.random.Generator, size: tuple[int, int] = (128, 96),
               max_objects: int = 5) -> Scene:
    """One scene: a noisy gradient background, clutter strokes and dots, 1..max_objects shapes.

    Shapes vary in class, colour, scale (12-50 % of the shorter side), aspect ratio (0.6-1.6) and
    position; they may overlap (box IoU up to :data:`MAX_OVERLAP_IOU`); each box is the shape's
    full extent, occluded or not.
    """
    width, height = size
    image = noisy_gradient(rng, width, height)
    background = np.asarray(image, np.float64).reshape(-1, 3).mean(axis=0)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 7)):  # clutter: strokes and small dots
        points = [tuple(int(v) for v in rng.uniform(0, (width, height))) for _ in range(3)]
        draw.line(points, fill=tuple(int(v) for v in rng.uniform(0, 255, 3)), width=int(rng.integers(1, 3)))
        x, y = rng.uniform(0, (width, height))
        r = rng.uniform(1, 3)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.uniform(0, 255, 3)))
    boxes, classes = [], []
    for _ in range(rng.integers(1, max_objects + 1)):
        box = place_box(rng, width, height, boxes, (0.12, 0.5))
        if box is None:
            continue
        colour = rng.uniform(0, 255, 3)
        while np.abs(colour - background).sum() < 120:  # visible against the background
            colour = rng.uniform(0, 255, 3)
        cls = int(rng.integers(len(CLASS_NAMES)))
        _draw_object(draw, cls, box, tuple(int(v) for v in colour))
        boxes.append(box)
        classes.append(cls)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    return Scene(image, np.asarray(boxes).reshape(-1, 4), np.asarray(classes, np.int64))


def write_scenes(folder, count: int, seed: int, size: tuple[int, int] = (128, 96)) -> list:
    """Write ``count`` scenes as PNG plus YOLO txt labels (``labels/``); return the image paths."""
    from pathlib import Path

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        scene = make_scene(rng, size)
        path = folder / "images" / f"scene{i:04d}.png"
        scene.image.save(path)
        w, h = size
        rows = [f"{c} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}"
                for c, (x, y, bw, bh) in zip(scene.classes, scene.boxes, strict=True)]
        (folder / "labels" / f"scene{i:04d}.txt").write_text("\n".join(rows) + "\n")
        paths.append(path)
    return paths

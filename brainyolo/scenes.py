"""A seeded generator of synthetic scenes: shapes of several classes on cluttered backgrounds.

It gives the project pictures of its own (for the demo, calibration and tests) with exact labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASS_NAMES = ["square", "disc", "triangle"]


@dataclass
class Scene:
    """A picture and its objects: ``boxes`` ``[x, y, w, h]`` in pixels, ``classes`` indices."""

    image: Image.Image
    boxes: np.ndarray
    classes: np.ndarray


def make_scene(rng: np.random.Generator, size: tuple[int, int] = (128, 96),
               max_objects: int = 4) -> Scene:
    """One scene: a noisy gradient background, clutter strokes, 1..max_objects shapes."""
    width, height = size
    gradient = np.linspace(0, 1, width)[None, :, None] * rng.uniform(-60, 60, 3)
    base = rng.uniform(60, 190, 3) + gradient + rng.normal(0, 12, (height, width, 3))
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 6)):  # clutter
        points = [tuple(int(v) for v in rng.uniform(0, (width, height))) for _ in range(3)]
        draw.line(points, fill=tuple(int(v) for v in rng.uniform(0, 255, 3)), width=int(rng.integers(1, 3)))
    boxes, classes = [], []
    for _ in range(rng.integers(1, max_objects + 1)):
        side = float(rng.uniform(0.12, 0.45) * min(width, height))
        x0, y0 = rng.uniform(0, width - side), rng.uniform(0, height - side)
        cls = int(rng.integers(len(CLASS_NAMES)))
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        shape = [x0, y0, x0 + side, y0 + side]
        if cls == 0:
            draw.rectangle(shape, fill=colour)
        elif cls == 1:
            draw.ellipse(shape, fill=colour)
        else:
            draw.polygon([(x0 + side / 2, y0), (x0, y0 + side), (x0 + side, y0 + side)], fill=colour)
        boxes.append([x0, y0, side, side])
        classes.append(cls)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    return Scene(image, np.asarray(boxes), np.asarray(classes, np.int64))


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

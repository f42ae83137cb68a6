"""Annotated pictures: detections drawn on the original image."""

from __future__ import annotations

import colorsys
import os

from PIL import Image, ImageDraw, ImageFont

from brainyolo.ann.heads import Detections

MIN_SIDE = 384
"""Pictures whose longer side is shorter than this are enlarged by an integer factor."""


def class_colour(index: int) -> tuple[int, int, int]:
    """A stable, well-separated colour per class (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((index * 0.618033988749895) % 1.0, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_detections(image_path: str | os.PathLike, detections: Detections, class_names: list[str],
                    out_path: str | os.PathLike, min_score: float = 0.25, title: str = "") -> None:
    """Save ``image_path`` (or a PIL image) with the detections scoring at least ``min_score`` drawn on it."""
    if isinstance(image_path, Image.Image):
        image = image_path.convert("RGB")
    else:
        with Image.open(image_path) as source:
            image = source.convert("RGB")
    zoom = max(1, -(-MIN_SIDE // max(image.size)))  # small pictures are enlarged so labels stay legible
    if zoom > 1:
        image = image.resize((image.width * zoom, image.height * zoom), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    width = max(2, round(max(image.size) / 300))
    for box, score, cls in zip(detections.boxes, detections.scores, detections.classes,
                               strict=True):
        if score < min_score:
            continue
        x, y, w, h = (float(v) * zoom for v in box)
        colour = class_colour(int(cls))
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        label = f"{class_names[cls]} {score:.2f}"
        left, top, right, bottom = draw.textbbox((x, y), label, font=font)
        top_y = max(0.0, y - (bottom - top) - 4)
        draw.rectangle([x, top_y, x + (right - left) + 4, top_y + (bottom - top) + 4], fill=colour)
        draw.text((x + 2, top_y + 2), label, fill=(0, 0, 0), font=font)
    if title:
        draw.text((4, 4), title, fill=(255, 255, 255), font=font, stroke_width=2,
                  stroke_fill=(0, 0, 0))
    image.save(out_path)


def side_by_side(pictures: list[str | os.PathLike], out_path: str | os.PathLike, gap: int = 6) -> None:
    """Save ``pictures`` (files of the same height or not) next to each other, left to right."""
    images = []
    for path in pictures:
        with Image.open(path) as source:
            images.append(source.convert("RGB"))
    height = max(im.height for im in images)
    canvas = Image.new("RGB", (sum(im.width for im in images) + gap * (len(images) - 1), height), (255, 255, 255))
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width + gap
    canvas.save(out_path)

"""Annotated pictures: detections drawn on the original image, and pictures side by side.

The pictures are composed in memory (:func:`annotated`, :func:`side_by_side`) and written once as PNG
(:func:`save_picture`): a detection's ANN-against-SNN picture is one file written, not three written and two read.
"""

from __future__ import annotations

import colorsys
import os

from PIL import Image, ImageDraw, ImageFont

from brainyolo.ann.heads import Detections

MIN_SIDE = 384
"""Pictures whose longer side is shorter than this are enlarged by an integer factor."""

PNG_COMPRESSION = 1
"""zlib level of the PNG files written (lossless at any level; other formats ignore it): on COCO photos level 1
writes faster than Pillow's default 6 for files of about the same size."""

Picture = Image.Image | str | os.PathLike
"""An image in memory, or an image file."""


def class_colour(index: int) -> tuple[int, int, int]:
    """A stable, well-separated colour per class (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((index * 0.618033988749895) % 1.0, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def as_rgb(picture: Picture) -> Image.Image:
    """``picture`` as a new RGB image in memory (a file is read and closed; an image in memory is copied)."""
    if isinstance(picture, Image.Image):
        return picture.convert("RGB")
    with Image.open(picture) as source:
        return source.convert("RGB")


def annotated(picture: Picture, detections: Detections, class_names: list[str], min_score: float = 0.25,
              title: str = "") -> Image.Image:
    """``picture`` with the detections scoring at least ``min_score`` drawn on it (a new image; pictures whose
    longer side is under :data:`MIN_SIDE` are enlarged by an integer factor first, so labels stay legible)."""
    image = as_rgb(picture)
    zoom = max(1, -(-MIN_SIDE // max(image.size)))
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
    return image


def save_picture(image: Image.Image, out_path: str | os.PathLike) -> None:
    """Write ``image`` in the format its file name says (a PNG file at zlib level :data:`PNG_COMPRESSION`)."""
    image.save(out_path, compress_level=PNG_COMPRESSION)


def draw_detections(picture: Picture, detections: Detections, class_names: list[str],
                    out_path: str | os.PathLike, min_score: float = 0.25, title: str = "") -> None:
    """Write ``picture`` with the detections scoring at least ``min_score`` drawn on it (:func:`annotated`)."""
    save_picture(annotated(picture, detections, class_names, min_score, title), out_path)


def side_by_side(pictures: list[Picture], out_path: str | os.PathLike | None = None,
                 gap: int = 6) -> Image.Image:
    """``pictures`` (of the same height or not) next to each other, left to right, top-aligned on white, ``gap``
    pixels apart; written to ``out_path`` when given. Returns the composed image."""
    images = [p if isinstance(p, Image.Image) else as_rgb(p) for p in pictures]  # pasting converts, no copy needed
    height = max(im.height for im in images)
    canvas = Image.new("RGB", (sum(im.width for im in images) + gap * (len(images) - 1), height), (255, 255, 255))
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width + gap
    if out_path is not None:
        save_picture(canvas, out_path)
    return canvas

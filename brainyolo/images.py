"""Image loading and Darknet's letterbox preprocessing.

Darknet resizes with its own separable bilinear filter that maps the corner pixels onto each
other (``scale = (in - 1) / (out - 1)``), keeps the aspect ratio, and pads with grey 0.5; this
module reproduces that exactly so that the numpy reference sees what Darknet sees.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from brainyolo.errors import BrainyoloError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as float32 RGB ``(H, W, 3)`` in [0, 1] (grey and RGBA are converted)."""
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        reason = "not a readable image" if isinstance(err, UnidentifiedImageError) else str(err)
        raise BrainyoloError(path, f"cannot read image: {reason}") from None
    return rgb / np.float32(255.0)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (by suffix), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BrainyoloError(folder, "not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def darknet_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Darknet's ``resize_image`` of an ``(H, W, C)`` float32 image, arithmetic as in C.

    Horizontal pass: output column ``c`` samples ``c * (in_w - 1) / (out_w - 1)`` bilinearly; the
    last column copies the last input column. Vertical pass likewise, except that Darknet gives
    the last row only its ``(1 - dy)`` term (with ``dy`` as float32 rounding leaves it).
    """
    in_h, in_w = image.shape[:2]
    image = image.astype(np.float32, copy=False)

    def sample_points(n_in: int, n_out: int):
        if n_out == 1:
            return np.full(1, n_in - 1), np.zeros(1, np.float32)
        scale = np.float32(n_in - 1) / np.float32(n_out - 1)
        position = np.arange(n_out, dtype=np.float32) * scale
        low = position.astype(np.int64)
        return low, position - low.astype(np.float32)

    one = np.float32(1)
    x0, dx = sample_points(in_w, width)
    x0[-1], dx[-1] = in_w - 1, 0  # Darknet: the last column (or a 1-wide input) is copied
    if in_w == 1:
        x0[:], dx[:] = 0, 0
    x1 = np.minimum(x0 + 1, in_w - 1)
    part = image[:, x0] * (one - dx)[None, :, None] + image[:, x1] * dx[None, :, None]
    y0, dy = sample_points(in_h, height)
    y0 = np.minimum(y0, in_h - 1)
    low_weight = one - dy
    high_weight = dy.copy()
    high_weight[-1] = 0  # Darknet skips the second term on the last row ...
    if in_h == 1:
        high_weight[:] = 0  # ... and on every row of a 1-high input
    y1 = np.minimum(y0 + 1, in_h - 1)
    return part[y0] * low_weight[:, None, None] + part[y1] * high_weight[:, None, None]


@dataclass(frozen=True)
class Letterbox:
    """Where an image of ``image_size`` landed inside the network input.

    Attributes
    ----------
    image_size : (width, height) of the original image
    network_size : (width, height) of the network input
    scaled_size : (width, height) of the resized image inside the input
    """

    image_size: tuple[int, int]
    network_size: tuple[int, int]

    @property
    def scaled_size(self) -> tuple[int, int]:
        (w, h), (net_w, net_h) = self.image_size, self.network_size
        if net_w / w < net_h / h:
            return net_w, (h * net_w) // w
        return (w * net_h) // h, net_h

    @property
    def offset(self) -> tuple[int, int]:
        (net_w, net_h), (new_w, new_h) = self.network_size, self.scaled_size
        return (net_w - new_w) // 2, (net_h - new_h) // 2


def letterbox(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, Letterbox]:
    """Darknet ``letterbox_image``: resize keeping the aspect ratio, pad with 0.5.

    Returns
    -------
    chw : ndarray, shape (C, height, width), float32
    box : Letterbox
        Geometry needed to map detections back to original pixels.
    """
    box = Letterbox((image.shape[1], image.shape[0]), (width, height))
    new_w, new_h = box.scaled_size
    left, top = box.offset
    canvas = np.full((height, width, image.shape[2]), 0.5, np.float32)
    canvas[top:top + new_h, left:left + new_w] = darknet_resize(image, new_w, new_h)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)), box


def iterate_letterboxed(paths, width: int, height: int) -> Iterator[tuple[Path, np.ndarray, Letterbox]]:
    """Stream ``(path, chw, letterbox)`` one image at a time from disk."""
    for path in paths:
        chw, box = letterbox(load_image(path), width, height)
        yield Path(path), chw, box

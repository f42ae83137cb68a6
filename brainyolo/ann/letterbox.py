"""Image loading and Darknet's letterbox preprocessing.

Darknet resizes with its own separable bilinear filter that maps the corner pixels onto each
other (``scale = (in - 1) / (out - 1)``), keeps the aspect ratio, and pads with grey 0.5; this
module reproduces that exactly so that the numpy reference sees what Darknet sees.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from brainyolo.io.errors import BrainyoloError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


MAX_IMAGE_PIXELS = 64_000_000
"""Largest image (width x height) read: a bigger one is refused before it is decoded."""

_SIXTEEN_BIT = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0, "I": 65535.0}
"""Single-channel integer modes and the value that stands for white (PIL opens 16-bit PNGs so)."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as float32 RGB ``(H, W, 3)`` in [0, 1].

    Grey, palette and RGBA images are converted; 16-bit grey images keep their full range
    (divided by 65535, not clipped to 8 bits); float images are clipped to [0, 1]. An image of
    more than :data:`MAX_IMAGE_PIXELS` pixels, or one that cannot be decoded whole, is refused
    with one :class:`BrainyoloError` naming the file.
    """
    try:
        with warnings.catch_warnings():  # no stray warning line: the size check below says it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise BrainyoloError(path, f"{width}x{height} pixels is more than the {MAX_IMAGE_PIXELS:,} "
                                           "brainyolo reads (a decompression bomb?)")
            if image.mode in _SIXTEEN_BIT:
                grey = np.asarray(image, dtype=np.float32) / np.float32(_SIXTEEN_BIT[image.mode])
                rgb = np.repeat(np.clip(grey, 0, 1)[:, :, None], 3, axis=2)
            elif image.mode == "F":
                grey = np.asarray(image, dtype=np.float32)
                if not np.all(np.isfinite(grey)):
                    raise BrainyoloError(path, "holds pixel values that are not finite numbers")
                rgb = np.repeat(np.clip(grey, 0, 1)[:, :, None], 3, axis=2)
            else:  # (the bytes divided in float32 as they are converted: one pass)
                pixels = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
                rgb = np.divide(pixels, np.float32(255.0), dtype=np.float32)
    except BrainyoloError:
        raise
    except UnidentifiedImageError:
        raise BrainyoloError(path, "cannot read image: not a readable image") from None
    except Image.DecompressionBombError:
        raise BrainyoloError(path, "cannot read image: too many pixels (a decompression bomb?)") from None
    except MemoryError:
        raise BrainyoloError(path, "cannot read image: too large for memory") from None
    except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many kinds on damaged data
        reason = " ".join(str(err).split()) or type(err).__name__
        raise BrainyoloError(path, f"cannot read image: {reason} (damaged or truncated?)") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise BrainyoloError(path, f"cannot read image: unexpected pixel layout {rgb.shape}")
    return np.ascontiguousarray(rgb, dtype=np.float32)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (by suffix), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BrainyoloError(folder, "not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


@dataclass(frozen=True)
class _ResizeWeights:
    """Darknet's bilinear sample points and weights of one resize (:func:`_resize_weights`)."""

    x0: np.ndarray
    x1: np.ndarray
    left: np.ndarray  # (1 - dx): the weight of column x0
    right: np.ndarray  # dx
    y0: np.ndarray
    y1: np.ndarray
    low: np.ndarray  # (1 - dy): the weight of row y0
    high: np.ndarray  # dy, 0 on the last row


def _resize_weights(in_w: int, in_h: int, width: int, height: int) -> _ResizeWeights:
    """The sample points and float32 weights of Darknet's ``resize_image`` from ``in_w x in_h`` to
    ``width x height`` (:func:`darknet_resize`)."""

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
    y0, dy = sample_points(in_h, height)
    y0 = np.minimum(y0, in_h - 1)
    high = dy.copy()
    high[-1] = 0  # Darknet skips the second term on the last row ...
    if in_h == 1:
        high[:] = 0  # ... and on every row of a 1-high input
    return _ResizeWeights(x0, x1, one - dx, dx, y0, np.minimum(y0 + 1, in_h - 1), one - dy, high)


def darknet_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Darknet's ``resize_image`` of an ``(H, W, C)`` float32 image, arithmetic as in C.

    Horizontal pass: output column ``c`` samples ``c * (in_w - 1) / (out_w - 1)`` bilinearly; the
    last column copies the last input column. Vertical pass likewise, except that Darknet gives
    the last row only its ``(1 - dy)`` term (with ``dy`` as float32 rounding leaves it).
    """
    planes = np.ascontiguousarray(image.astype(np.float32, copy=False).transpose(2, 0, 1))
    return np.ascontiguousarray(_resized_planes(planes, width, height).transpose(1, 2, 0))


def _resized_planes(planes: np.ndarray, width: int, height: int, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`darknet_resize` of float32 ``(C, H, W)`` planes, into ``out`` (``(C, height, width)``) where given."""
    w = _resize_weights(planes.shape[2], planes.shape[1], width, height)
    part = planes[:, :, w.x0] * w.left
    part += planes[:, :, w.x1] * w.right
    out = np.multiply(part[:, w.y0], w.low[:, None], out=out)
    out += part[:, w.y1] * w.high[:, None]
    return out


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
        if net_w / w < net_h / h:  # (at least one pixel: a 1000x1 picture still has a row)
            return net_w, max(1, (h * net_w) // w)
        return max(1, (w * net_h) // h), net_h

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
    planes = np.ascontiguousarray(image.astype(np.float32, copy=False).transpose(2, 0, 1))
    canvas = np.full((image.shape[2], height, width), 0.5, np.float32)
    _resized_planes(planes, new_w, new_h, out=canvas[:, top:top + new_h, left:left + new_w])  # (written in place)
    return canvas, box


def iterate_letterboxed(paths, width: int, height: int) -> Iterator[tuple[Path, np.ndarray, Letterbox]]:
    """Stream ``(path, chw, letterbox)`` one image at a time from disk."""
    for path in paths:
        chw, box = letterbox(load_image(path), width, height)
        yield Path(path), chw, box

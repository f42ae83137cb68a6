"""Stimuli a detector is shown in one run (front-end objects: numpy only, no Brian2).

A run's sample is an image file (a path), or one of these::

    from brainyolo.stimuli import EventStream, Image, ImageSequence, PoissonRates

    Image("scene.png")                                   # a photo (the same as the path itself)
    Image(pixels, occlusion=mask)                        # an (H, W, 3) array; True pixels of mask covered grey
    ImageSequence([frame0, frame1, ...])                 # one picture per time bin: an object moving
    PoissonRates(rates)                                  # the network input's (C, H, W) spike probabilities per step
    EventStream(events, width=64, height=64, t_end_us=250_000)   # DVS events (t, x, y, p) before t_end_us

Which stimulus suits which input kind (``input=`` of the detector's build) is checked before a run:
``Image`` for ``current``, ``poisson`` and ``frames`` (the same picture in every bin); ``ImageSequence`` for
``frames``; ``PoissonRates`` for ``poisson``; ``EventStream`` for ``frames`` and ``spikes`` with event
settings. Each kind's rule, in :mod:`brainyolo.spiking.stimulus_rules`, turns it into the network's input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainyolo.ann.letterbox import load_image

GREY = 0.5
"""The value covered pixels take (Darknet's letterbox grey)."""


def pixels_of(source) -> np.ndarray:
    """An image as float ``(H, W, 3)`` in [0, 1]: a file (read as the pipeline reads photos), or an array
    ``(H, W)`` or ``(H, W, 3)``, integers (0..255) or floats (0..1).

    Raises
    ------
    ValueError
        An array of another shape, or float values outside [0, 1] or not finite.
    """
    if isinstance(source, (str, os.PathLike)):
        return load_image(source)
    array = np.asarray(source)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise ValueError(f"an image array is (H, W) or (H, W, 3), not {array.shape}")
    if array.dtype.kind in "iu":  # 0..255, as an 8-bit picture
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError("an integer image's pixels lie in 0..255")
        return array.astype(np.float32) / 255.0
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError("a float image's pixels lie in [0, 1]")
    return array


@dataclass(frozen=True, eq=False)
class Image:
    """A still picture: a file or an array (see :func:`pixels_of`), letterboxed to the network's input.

    Parameters
    ----------
    source : path or array
    occlusion : array of bool, optional
        ``(H, W)`` of the image: the pixels that are covered (they take :data:`GREY`).
    name : str
        What detections call it (default: the file's name, or ``image``).
    """

    source: object
    occlusion: np.ndarray | None = None
    name: str = ""

    def __post_init__(self):
        if not self.name:
            name = Path(self.source).name if isinstance(self.source, (str, os.PathLike)) else "image"
            object.__setattr__(self, "name", name)

    def pixels(self) -> np.ndarray:
        """The picture ``(H, W, 3)`` in [0, 1] with its occlusion applied."""
        pixels = pixels_of(self.source)
        if self.occlusion is not None:
            mask = np.asarray(self.occlusion, bool)
            if mask.shape != pixels.shape[:2]:
                raise ValueError(f"the occlusion mask {mask.shape} is not the image's {pixels.shape[:2]}")
            pixels = np.where(mask[:, :, None], np.float32(GREY), pixels)
        return pixels


def occlusion_box(shape: tuple[int, int], left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """An occlusion mask of an image of ``shape`` (H, W): the rectangle ``[left, right) x [top, bottom)``.

    >>> occlusion_box((3, 4), 1, 0, 3, 2).astype(int)
    array([[0, 1, 1, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]])
    """
    mask = np.zeros(shape, bool)
    mask[max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)] = True
    return mask


@dataclass(frozen=True, eq=False)
class ImageSequence:
    """One picture per time bin (the ``frames`` input: ``bins`` pictures of ``bin_steps`` steps each).

    ``images``: paths, arrays or :class:`Image` (with their occlusions), all of one size.
    """

    images: tuple = field(default_factory=tuple)
    name: str = "sequence"

    def __post_init__(self):
        object.__setattr__(self, "images", tuple(i if isinstance(i, Image) else Image(i) for i in self.images))
        if not self.images:
            raise ValueError("an image sequence holds at least one image")


@dataclass(frozen=True, eq=False)
class PoissonRates:
    """Poisson input spikes (the ``poisson`` input): ``rates`` ``(C, H, W)`` of the network's input, each
    input neuron's probability of a spike per step, in [0, 1]."""

    rates: np.ndarray
    name: str = "rates"


@dataclass(frozen=True, eq=False)
class EventStream:
    """Events of an event camera, as a Gen1 recording holds them: a structured array with fields ``t``
    (microseconds), ``x``, ``y`` and ``p`` (0 OFF, 1 ON), sorted by time, of a ``width`` x ``height``
    sensor. A run reads the window before ``t_end_us`` (the detector's event settings: window and bins)."""

    events: np.ndarray
    width: int
    height: int
    t_end_us: int
    name: str = "events"


STIMULI = (Image, ImageSequence, PoissonRates, EventStream)

__all__ = ["GREY", "Image", "ImageSequence", "PoissonRates", "EventStream", "STIMULI", "occlusion_box", "pixels_of"]

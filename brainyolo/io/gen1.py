"""Prophesee Gen1 automotive dataset files: ``NAME_td.dat`` events and ``NAME_bbox.npy`` boxes.

``_td.dat`` (Prophesee DAT, "Event2D"): text header lines, each starting with ``%`` and ending with a
newline (among them ``% Width W`` and ``% Height H``), then two bytes (event type 0 = Event2D, event
size 8), then one 8-byte little-endian word per event: the low 32 bits are the timestamp in
microseconds, the high 32 bits pack x (bits 0-13), y (bits 14-27) and polarity (bits 28-31).

``_bbox.npy``: a structured array of :data:`BBOX_DTYPE` (ts in us, x, y, w, h in pixels of the
sensor, class_id, confidence, track_id), one row per box at its annotation time.

Writing is done here (:func:`write_td`, :func:`write_bbox`); events are read by expelliarmus (a
maintained DAT decoder) after :func:`read_td` has checked what expelliarmus would not: the header,
the byte count, coordinates inside the sensor, polarities 0/1, timestamps that never decrease.
Every problem is one :class:`~brainyolo.io.errors.BrainyoloError` naming the file.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import numpy as np

from brainyolo.data.dvs import EVENT_DTYPE
from brainyolo.io.atomic import atomic_path
from brainyolo.io.errors import BrainyoloError

BBOX_DTYPE = np.dtype([("ts", "<u8"), ("x", "<f4"), ("y", "<f4"), ("w", "<f4"), ("h", "<f4"),
                       ("class_id", "u1"), ("confidence", "<f4"), ("track_id", "<u4")])
"""Gen1's box array (the dataset's ``_bbox.npy`` files)."""

EVENT_TYPE, EVENT_SIZE = 0, 8
MAX_HEADER_BYTES = 64 * 1024
MAX_EVENTS = 1 << 31
MAX_SIDE = 1 << 14  # 14 bits of x and of y


def write_td(path: str | os.PathLike, events: np.ndarray, width: int, height: int, date: str = "") -> None:
    """Write ``events`` (:data:`~brainyolo.data.dvs.EVENT_DTYPE`) as a Prophesee DAT file (atomically)."""
    events = np.asarray(events)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError(f"a {width}x{height} sensor does not fit the DAT format's 14-bit coordinates")
    if len(events) and (events["x"].min() < 0 or events["x"].max() >= width or events["y"].min() < 0
                        or events["y"].max() >= height or events["t"].min() < 0 or events["t"].max() >= 2**32
                        or np.any(np.diff(events["t"]) < 0) or not np.isin(events["p"], (0, 1)).all()):
        raise ValueError("events must lie inside the sensor, with polarity 0/1 and times in 0..2**32 us, sorted")
    header = (f"% Data file containing Event2D events.\n% Version 2\n% Date {date or '1970-01-01 00:00:00'}\n"
              f"% Height {height}\n% Width {width}\n").encode("ascii")
    words = (events["t"].astype(np.uint64)
             | (events["x"].astype(np.uint64) << np.uint64(32))
             | (events["y"].astype(np.uint64) << np.uint64(46))
             | (events["p"].astype(np.uint64) << np.uint64(60)))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(header)
        f.write(bytes([EVENT_TYPE, EVENT_SIZE]))
        f.write(words.astype("<u8").tobytes())


def write_bbox(path: str | os.PathLike, boxes: np.ndarray) -> None:
    """Write a :data:`BBOX_DTYPE` array as ``NAME_bbox.npy`` (atomically)."""
    boxes = np.asarray(boxes, BBOX_DTYPE)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, boxes, allow_pickle=False)


def read_header(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(width, height, first event byte)`` of a DAT file, checked; :class:`BrainyoloError` otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(MAX_HEADER_BYTES + 2)
    except FileNotFoundError:
        raise BrainyoloError(path, "no such event file") from None
    except IsADirectoryError:
        raise BrainyoloError(path, "is a folder, not an event file") from None
    fields, offset = {}, 0
    while offset < len(head) and head[offset:offset + 1] == b"%":
        end = head.find(b"\n", offset)
        if end < 0:
            raise BrainyoloError(path, "bad header: a '%' line without its end (truncated, or not a DAT file)")
        line = head[offset + 1:end].decode("ascii", "replace").strip()
        match = re.fullmatch(r"(\w+)\s+(.*)", line)
        if match:
            fields[match.group(1).lower()] = match.group(2).strip()
        offset = end + 1
    if offset == 0:
        raise BrainyoloError(path, "bad header: a Prophesee DAT file starts with '%' header lines")
    try:
        width, height = int(fields["width"]), int(fields["height"])
    except (KeyError, ValueError):
        raise BrainyoloError(path, "bad header: no '% Width N' and '% Height N' lines") from None
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise BrainyoloError(path, f"bad header: sensor {width}x{height} is not 1..{MAX_SIDE} on each side")
    if len(head) < offset + 2:
        raise BrainyoloError(path, "truncated: the header ends without the event type and size bytes")
    event_type, event_size = head[offset], head[offset + 1]
    if event_type != EVENT_TYPE or event_size != EVENT_SIZE:
        raise BrainyoloError(path, f"event type {event_type} of size {event_size}: brainyolo reads Event2D "
                                   f"(type {EVENT_TYPE}, {EVENT_SIZE} bytes)")
    return width, height, offset + 2


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (output of C code) for the duration."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def read_td(path: str | os.PathLike) -> tuple[np.ndarray, int, int]:
    """Events of a ``_td.dat`` file (:data:`EVENT_DTYPE`), its sensor width and height.

    The header and byte count are checked here, the events decoded by expelliarmus, then their
    coordinates, polarities and times checked.
    """
    from expelliarmus import Wizard

    path = Path(path)
    width, height, start = read_header(path)
    size = path.stat().st_size - start
    if size % EVENT_SIZE:
        raise BrainyoloError(path, f"truncated: {size} bytes of events is not a whole number of "
                                   f"{EVENT_SIZE}-byte events")
    if size // EVENT_SIZE > MAX_EVENTS:
        raise BrainyoloError(path, f"holds more than {MAX_EVENTS:,} events")
    if size == 0:
        return np.zeros(0, EVENT_DTYPE), width, height
    with _quiet_stderr():  # expelliarmus warns on stderr (C level) about time order; brainyolo reports it below
        raw = Wizard(encoding="dat").read(path)
    if len(raw) != size // EVENT_SIZE:
        raise BrainyoloError(path, f"expelliarmus decoded {len(raw)} events where the file holds "
                                   f"{size // EVENT_SIZE}")
    events = np.zeros(len(raw), EVENT_DTYPE)
    for name in EVENT_DTYPE.names:
        events[name] = raw[name]
    if events["x"].max() >= width or events["y"].max() >= height or events["x"].min() < 0 or events["y"].min() < 0:
        bad = int(np.argmax((events["x"] >= width) | (events["y"] >= height) | (events["x"] < 0)
                            | (events["y"] < 0)))
        raise BrainyoloError(path, f"event {bad} at ({events['x'][bad]}, {events['y'][bad]}) is outside the "
                                   f"{width}x{height} sensor")
    if not np.isin(events["p"], (0, 1)).all():
        raise BrainyoloError(path, "polarities must be 0 (OFF) or 1 (ON)")
    if np.any(np.diff(events["t"]) < 0) or events["t"].max() >= 2**32:
        # (expelliarmus reads a decreasing 32-bit timestamp as a wrap past 2**32 us: Gen1 recordings never wrap)
        raise BrainyoloError(path, "timestamps go backwards")
    return events, width, height


def read_bbox(path: str | os.PathLike, width: int | None = None, height: int | None = None) -> np.ndarray:
    """Boxes of a ``_bbox.npy`` file (:data:`BBOX_DTYPE`), checked (inside the sensor when its size is given)."""
    path = Path(path)
    try:
        boxes = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise BrainyoloError(path, "no such box file") from None
    except Exception as err:  # noqa: BLE001 - numpy's header parser raises many kinds (ValueError, TokenError, ...)
        raise BrainyoloError(path, f"not a readable .npy box array ({type(err).__name__})") from None
    if boxes.dtype.names is None or set(BBOX_DTYPE.names) - set(boxes.dtype.names) or boxes.ndim != 1:
        raise BrainyoloError(path, f"not Gen1 boxes: a 1-D structured array with fields {', '.join(BBOX_DTYPE.names)}")
    boxes = boxes[list(BBOX_DTYPE.names)].astype(BBOX_DTYPE)
    values = np.stack([boxes[k].astype(np.float64) for k in ("x", "y", "w", "h")], axis=1) if len(boxes) else None
    if values is not None:
        if not np.all(np.isfinite(values)) or np.any(values[:, 2:] <= 0):
            raise BrainyoloError(path, "boxes need finite coordinates and positive width and height")
        if width is not None and (np.any(values[:, 0] + values[:, 2] <= 0) or np.any(values[:, 0] >= width)
                                  or np.any(values[:, 1] + values[:, 3] <= 0) or np.any(values[:, 1] >= height)):
            raise BrainyoloError(path, f"a box lies outside the {width}x{height} sensor")
    return boxes


def box_file(td: str | os.PathLike) -> Path:
    """The ``NAME_bbox.npy`` beside a ``NAME_td.dat``; a missing one (or another name) is an error."""
    td = Path(td)
    if not td.name.endswith("_td.dat"):
        raise BrainyoloError(td, "is not a Gen1 event file (NAME_td.dat)")
    bbox = td.with_name(td.name[:-len("_td.dat")] + "_bbox.npy")
    if not bbox.exists():
        raise BrainyoloError(td, f"has no box file {bbox.name} beside it")
    return bbox


def pairs(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """The ``(NAME_td.dat, NAME_bbox.npy)`` pairs of a folder, by name; a ``_td.dat`` without its boxes is an error."""
    return [(td, box_file(td)) for td in sorted(Path(folder).glob("*_td.dat"))]

"""Generated event scenes: the shapes of :mod:`brainyolo.data.scenes` moving, seen by an emulated event camera.

Each scene is a static cluttered background (as the still scenes) with 1..5 shapes that translate,
grow or shrink and pass in front of each other (drawn in a fixed depth order, so nearer shapes
occlude farther ones), rendered at 1 kHz with 4x4 supersampling (sub-pixel motion stays smooth),
turned into luminance and fed to the DVS emulator (:mod:`brainyolo.data.dvs`). Boxes are given at the
annotation times (default 250 ms, Gen1's window length): every shape's full extent then, clipped to
the sensor, kept if at least a quarter of it is inside.

:func:`write_event_scenes` writes Gen1's layout: ``sceneNNNN_td.dat`` and ``sceneNNNN_bbox.npy``
(:mod:`brainyolo.io.gen1`), plus ``classes.names``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from brainyolo.data import dvs
from brainyolo.data.scenes import CLASS_NAMES, _draw_object, noisy_gradient, place_box
from brainyolo.io import gen1
from brainyolo.spiking.event_encoding import ems_frames

SENSOR = (96, 96)
"""Sensor width and height: the embedded detectors' input (events map one to one onto the input)."""

SUPERSAMPLE = 4
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class Motion:
    """One shape: class, colour, box at t = 0 (x, y, w, h; pixels), velocity (px/s), scale rate (1/s)."""

    cls: int
    colour: tuple[int, int, int]
    box: tuple[float, float, float, float]
    velocity: tuple[float, float]
    growth: float

    def box_at(self, t_s: float) -> tuple[float, float, float, float]:
        """The box at ``t_s`` seconds: moved by the velocity, scaled about its centre by ``exp(growth t)``."""
        x, y, w, h = self.box
        scale = float(np.exp(self.growth * t_s))
        cx, cy = x + w / 2 + self.velocity[0] * t_s, y + h / 2 + self.velocity[1] * t_s
        return cx - w * scale / 2, cy - h * scale / 2, w * scale, h * scale


@dataclass
class EventScene:
    """A background (H, W, 3 uint8) and its moving shapes, nearest last."""

    background: np.ndarray
    shapes: list[Motion] = field(default_factory=list)

    def frame(self, t_s: float) -> np.ndarray:
        """Luminance in [0, 1] (H, W) at ``t_s`` seconds (4x4 supersampled, then area-averaged)."""
        h, w = self.background.shape[:2]
        image = Image.fromarray(self.background).resize((w * SUPERSAMPLE, h * SUPERSAMPLE), Image.NEAREST)
        draw = ImageDraw.Draw(image)
        for shape in self.shapes:
            x, y, bw, bh = (v * SUPERSAMPLE for v in shape.box_at(t_s))
            _draw_object(draw, shape.cls, (x, y, bw, bh), shape.colour)
        pixels = np.asarray(image, np.float64) @ LUMA / 255.0
        return pixels.reshape(h, SUPERSAMPLE, w, SUPERSAMPLE).mean(axis=(1, 3))

    def boxes_at(self, t_s: float, min_visible: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (x, y, w, h) clipped to the sensor, their classes and track ids, at ``t_s`` seconds."""
        h, w = self.background.shape[:2]
        boxes, classes, tracks = [], [], []
        for track, shape in enumerate(self.shapes):
            x, y, bw, bh = shape.box_at(t_s)
            x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + bw, float(w)), min(y + bh, float(h))
            if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) < min_visible * bw * bh:
                continue
            boxes.append((x0, y0, x1 - x0, y1 - y0))
            classes.append(shape.cls)
            tracks.append(track)
        return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(classes, np.int64), np.asarray(tracks)


def make_event_scene(rng: np.random.Generator, size: tuple[int, int] = SENSOR, max_objects: int = 5,
                     max_speed: float = 80.0, max_growth: float = 1.0) -> EventScene:
    """A background like :func:`brainyolo.data.scenes.make_scene`'s and 1..``max_objects`` moving shapes.

    Speeds up to ``max_speed`` px/s in a random direction; scale rates in ±``max_growth`` per second;
    sizes 15-45 % of the shorter side; starting boxes overlap by at most
    :data:`~brainyolo.data.scenes.MAX_OVERLAP_IOU` (they may occlude each other later).
    """
    width, height = size
    image = noisy_gradient(rng, width, height)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 7)):
        points = [tuple(int(v) for v in rng.uniform(0, (width, height))) for _ in range(3)]
        draw.line(points, fill=tuple(int(v) for v in rng.uniform(0, 255, 3)), width=int(rng.integers(1, 3)))
    background = np.asarray(image.filter(ImageFilter.GaussianBlur(0.6)))
    luma = float(background.reshape(-1, 3).mean(axis=0) @ LUMA)
    shapes, boxes = [], []
    for _ in range(rng.integers(1, max_objects + 1)):
        box = place_box(rng, width, height, boxes, (0.15, 0.45))
        if box is None:
            continue
        colour = rng.uniform(0, 255, 3)
        while abs(float(colour @ LUMA) - luma) < 40:  # an event camera sees luminance contrast only
            colour = rng.uniform(0, 255, 3)
        angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 1.0) * max_speed
        shapes.append(Motion(int(rng.integers(len(CLASS_NAMES))), tuple(int(v) for v in colour), box,
                             (speed * np.cos(angle), speed * np.sin(angle)), float(rng.uniform(-1, 1) * max_growth)))
        boxes.append(box)
    return EventScene(background, shapes)


def scene_events(scene: EventScene, duration_ms: float, params: dvs.SensorParameters, rng: np.random.Generator,
                 frame_us: float = 1000.0) -> np.ndarray:
    """The events of ``scene`` from 0 to ``duration_ms`` (frames every ``frame_us``)."""
    times = np.arange(0.0, duration_ms * 1000.0 + frame_us / 2, frame_us)
    frames = np.stack([scene.frame(t * 1e-6) for t in times])
    events, _ = dvs.emulate(frames, times, params, rng)
    return events


def write_event_scenes(folder, count: int, seed: int, annotation_ms: tuple[float, ...] = (250.0,),
                       params: dvs.SensorParameters = dvs.SensorParameters(), size: tuple[int, int] = SENSOR
                       ) -> list[tuple[Path, Path]]:
    """Write ``count`` event scenes in Gen1's layout into ``folder``; return the (td, bbox) pairs.

    Each scene's events run from 0 to the last annotation time; its boxes are given at every
    annotation time (``ts`` in microseconds).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    for i in range(count):
        scene = make_event_scene(rng, size)
        events = scene_events(scene, max(annotation_ms), params, rng)
        rows = []
        for t_ms in annotation_ms:
            boxes, classes, tracks = scene.boxes_at(t_ms / 1000.0)
            for box, cls, track in zip(boxes, classes, tracks, strict=True):
                rows.append((int(round(t_ms * 1000)), *box, cls, 1.0, track))
        bbox = np.array(rows, gen1.BBOX_DTYPE) if rows else np.zeros(0, gen1.BBOX_DTYPE)
        td, box_path = folder / f"scene{i:04d}_td.dat", folder / f"scene{i:04d}_bbox.npy"
        gen1.write_td(td, events, *size)
        gen1.write_bbox(box_path, bbox)
        written.append((td, box_path))
    (folder / "classes.names").write_text("\n".join(CLASS_NAMES) + "\n")
    return written


def _training_scene(args) -> tuple[np.ndarray, np.ndarray]:
    """One training sample: EMS frames ``(bins, H, W)`` (one of the three equal channels) and its labels."""

    seed, index, window_ms, bins, params = args
    rng = np.random.default_rng([seed, index])
    scene = make_event_scene(rng)
    events = scene_events(scene, window_ms, params, rng)
    width, height = SENSOR
    t_us = int(round(window_ms * 1000))
    frames = ems_frames(events, t_us, t_us, bins, width, height)[:, 0]
    boxes, classes, _ = scene.boxes_at(window_ms / 1000.0)
    labels = np.column_stack([classes, boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2,
                              boxes[:, 2], boxes[:, 3]]).astype(np.float32).reshape(-1, 5)
    return frames, labels


def event_training_set(count: int, seed: int, window_ms: float = 250.0, bins: int = 5, processes: int = 1,
                       params: dvs.SensorParameters = dvs.SensorParameters()) -> tuple[np.ndarray, list[np.ndarray]]:
    """``count`` event scenes as EMS-YOLO frames of the window before their box time, for training.

    Scene ``i`` draws from ``default_rng([seed, i])`` (the same scene whatever ``processes``).
    Returns frames ``(count, bins, H, W)`` uint8 and per scene labels ``(n, 5)``: class, centre x,
    centre y, width, height in sensor pixels (the detectors' input is the sensor).
    """
    jobs = [(seed, i, window_ms, bins, params) for i in range(count)]
    if processes > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(processes) as pool:
            samples = pool.map(_training_scene, jobs, chunksize=16)
    else:
        samples = [_training_scene(job) for job in jobs]
    return np.stack([s[0] for s in samples]), [s[1] for s in samples]

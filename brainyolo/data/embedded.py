"""The embedded detectors shipped in ``brainyolo/data``, and the names that stand for them.

* ``embedded``: a yolov3-tiny with the same layer kinds at 1/4 of the width and a 96x96 input,
  trained by ``python -m brainyolo.training`` on the generated scenes of :mod:`brainyolo.data.scenes`
  (the demo's and run files' ``embedded = true``); as a model file it is converted as the demo
  converts it (channel-norm, p99.9 of 32 generated scenes, seed 2020), once, into the cache.
* ``embedded-direct``: the directly trained spiking detector of :mod:`brainyolo.training.direct_graph`
  (``python -m brainyolo.training --spiking``), shipped as a model file.
* ``embedded-direct-events``: the same architecture trained on event scenes (EMS-YOLO frames, T = 5
  bins of the 250 ms before the box time; ``--spiking --events``), shipped as a model file.
* ``embedded-events``: the embedded ANN's architecture trained on event scenes read as the mean of
  their 5 EMS frames (``python -m brainyolo.training --events``), converted like ``embedded`` with
  32 generated event scenes (seed 2020, their mean frames) as calibration.

Wherever a command expects a model file, these names stand for them (:func:`model_file`).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np

from brainyolo import __version__
from brainyolo.convert.balancing import BalanceSettings
from brainyolo.convert.conversion import convert_darknet
from brainyolo.convert.model_file import save_model
from brainyolo.data import scenes
from brainyolo.data.moving_scenes import event_training_set
from brainyolo.io.atomic import atomic_path
from brainyolo.system.folders import cache_home

EMBEDDED = "embedded"
EMBEDDED_DIRECT = "embedded-direct"
EMBEDDED_EVENTS = "embedded-events"
EMBEDDED_DIRECT_EVENTS = "embedded-direct-events"
DIRECT_FILE = "direct.h5"
DIRECT_EVENTS_FILE = "direct-events.h5"
NAMES = (EMBEDDED, EMBEDDED_DIRECT, EMBEDDED_EVENTS, EMBEDDED_DIRECT_EVENTS)

CALIBRATION_SCENES = 32
CALIBRATION_SEED = 2020
PERCENTILE = 99.9
"""How the demo (and ``embedded`` as a model file) calibrates the embedded ANN."""

FILES = ("tiny-yolov3.cfg", "tiny-yolov3.weights", "scenes.names")
"""Its cfg, weights and class names, in ``brainyolo/data``."""

EVENT_FILES = ("events-tiny-yolov3.cfg", "events-tiny-yolov3.weights", "scenes.names")
"""The event ANN's (``embedded-events``)."""


def embedded_model(folder: Path) -> tuple[Path, Path, Path]:
    """Write the embedded default detector's cfg, weights and class names into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = resources.files("brainyolo").joinpath("data")
    paths = []
    for name in FILES:
        (folder / name).write_bytes(data.joinpath(name).read_bytes())
        paths.append(folder / name)
    return tuple(paths)


def model_file(text: str, progress: bool = False) -> Path:
    """A command's model argument as a path: one of :data:`NAMES` or a file path (as given)."""
    data = resources.files("brainyolo").joinpath("data")
    if text == EMBEDDED_DIRECT:
        return Path(str(data.joinpath(DIRECT_FILE)))
    if text == EMBEDDED_DIRECT_EVENTS:
        return Path(str(data.joinpath(DIRECT_EVENTS_FILE)))
    if text == EMBEDDED:
        return converted_embedded(progress)
    if text == EMBEDDED_EVENTS:
        return converted_embedded(progress, events=True)
    return Path(text)


def _event_calibration(folder: Path) -> list[Path]:
    """The mean EMS frames of :data:`CALIBRATION_SCENES` generated event scenes as PNG pictures."""
    from PIL import Image


    frames, _ = event_training_set(CALIBRATION_SCENES, CALIBRATION_SEED)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, scene in enumerate(frames):
        mean = np.clip(np.rint(scene.astype(np.float64).mean(axis=0)), 0, 255).astype(np.uint8)
        paths.append(folder / f"event{i:04d}.png")
        Image.fromarray(np.repeat(mean[:, :, None], 3, axis=2)).save(paths[-1])
    return paths


def converted_embedded(progress: bool = False, events: bool = False) -> Path:
    """The embedded ANN (``events``: the event ANN) converted as the demo converts it, made once into
    the cache and reused."""

    data = resources.files("brainyolo").joinpath("data")
    files = EVENT_FILES if events else FILES
    digest = hashlib.sha256()
    for name in files:
        digest.update(data.joinpath(name).read_bytes())

    digest.update(f"{__version__} {CALIBRATION_SCENES} {CALIBRATION_SEED} {PERCENTILE} {BalanceSettings()}".encode())
    folder = cache_home() / "models"
    name = EMBEDDED_EVENTS if events else EMBEDDED
    path = folder / f"{name}-{digest.hexdigest()[:16]}.h5"
    if path.exists():
        return path
    import tempfile


    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        model_dir = Path(work) / "model"
        model_dir.mkdir()
        cfg, weights, names = (model_dir / f for f in files)
        for f in files:
            (model_dir / f).write_bytes(data.joinpath(f).read_bytes())
        if events:
            calib = _event_calibration(Path(work) / "calibration")
            source = f"mean EMS frames of {CALIBRATION_SCENES} generated event scenes (seed {CALIBRATION_SEED})"
        else:
            calib = scenes.write_scenes(Path(work) / "calibration", CALIBRATION_SCENES, CALIBRATION_SEED)
            source = f"{CALIBRATION_SCENES} generated scenes (seed {CALIBRATION_SEED})"
        model = convert_darknet(cfg, weights, calib, "channel", PERCENTILE, names, progress=progress,
                                calibration_source=source)
        with atomic_path(path) as tmp:  # two processes at once write the same file; the last rename wins
            save_model(model, tmp)
    return path

"""The embedded detectors shipped in ``brainyolo/data``, and the names that stand for them.

* ``embedded``: a yolov3-tiny with the same layer kinds at 1/4 of the width and a 96x96 input,
  trained by ``python -m brainyolo.training`` on the generated scenes of :mod:`brainyolo.scenes`
  (the demo's and run files' ``embedded = true``); as a model file it is converted as the demo
  converts it (channel-norm, p99.9 of 32 generated scenes, seed 2020), once, into the cache.
* ``embedded-direct``: the directly trained spiking detector of :mod:`brainyolo.direct`
  (``python -m brainyolo.training --spiking``), shipped as a model file.

Wherever a command expects a model file, these names stand for them (:func:`model_file`).
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

EMBEDDED = "embedded"
EMBEDDED_DIRECT = "embedded-direct"
DIRECT_FILE = "direct.h5"

CALIBRATION_SCENES = 32
CALIBRATION_SEED = 2020
PERCENTILE = 99.9
"""How the demo (and ``embedded`` as a model file) calibrates the embedded ANN."""

FILES = ("tiny-yolov3.cfg", "tiny-yolov3.weights", "scenes.names")
"""Its cfg, weights and class names, in ``brainyolo/data``."""


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
    """A command's model argument as a path: ``embedded``, ``embedded-direct`` or a file path (as given)."""
    if text == EMBEDDED_DIRECT:
        return Path(str(resources.files("brainyolo").joinpath("data").joinpath(DIRECT_FILE)))
    if text == EMBEDDED:
        return converted_embedded(progress)
    return Path(text)


def converted_embedded(progress: bool = False) -> Path:
    """The embedded ANN converted as the demo converts it, made once into the cache and reused."""
    from brainyolo import __version__

    data = resources.files("brainyolo").joinpath("data")
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(data.joinpath(name).read_bytes())
    digest.update(f"{__version__} {CALIBRATION_SCENES} {CALIBRATION_SEED} {PERCENTILE}".encode())
    folder = Path(os.environ.get("BRAINYOLO_CACHE", Path.home() / ".cache" / "brainyolo")) / "models"
    path = folder / f"embedded-{digest.hexdigest()[:16]}.h5"
    if path.exists():
        return path
    import tempfile

    from brainyolo import scenes
    from brainyolo.fileio import atomic_path
    from brainyolo.modelfile import save_model
    from brainyolo.pipeline import convert_darknet

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        cfg, weights, names = embedded_model(Path(work) / "model")
        calib = scenes.write_scenes(Path(work) / "calibration", CALIBRATION_SCENES, CALIBRATION_SEED)
        model = convert_darknet(cfg, weights, calib, "channel", PERCENTILE, names, progress=progress,
                                calibration_source=f"{CALIBRATION_SCENES} generated scenes (seed {CALIBRATION_SEED})")
        with atomic_path(path) as tmp:  # two processes at once write the same file; the last rename wins
            save_model(model, tmp)
    return path

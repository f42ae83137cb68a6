"""The embedded default detector shipped in ``brainyolo/data`` (the demo's and run files' ``embedded = true``).

A yolov3-tiny with the same layer kinds at 1/4 of the width and a 96x96 input, trained by
``python -m brainyolo.training`` on the generated scenes of :mod:`brainyolo.scenes`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

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

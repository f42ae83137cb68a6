"""brainyolo's folders on this machine (no heavy imports)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "BRAINYOLO_CACHE"
"""Environment variable: the folder of brainyolo's caches (default ``~/.cache/brainyolo``)."""


def cache_home() -> Path:
    """The folder of brainyolo's caches: ``builds`` (compiled networks), ``objects`` (compiled files shared
    by builds) and ``models`` (the shipped detectors, converted)."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "brainyolo"))


SCRATCH_ENV = "BRAINYOLO_SCRATCH"
"""Environment variable: a folder in memory for the results of standalone runs (default: ``/dev/shm`` where it
is a tmpfs), or ``off`` to keep them in the build folder."""

_SHARED_MEMORY = Path("/dev/shm")


def _is_tmpfs(folder: Path) -> bool:
    """Whether the file system holding ``folder`` (the longest mount point above it) is a tmpfs."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return False
    path = os.path.realpath(folder)
    holding = [(len(fields[1]), fields[2]) for fields in mounts if len(fields) > 2
               and (path == fields[1] or path.startswith(fields[1].rstrip("/") + "/"))]
    return bool(holding) and max(holding)[1] == "tmpfs"


def scratch_home() -> Path | None:
    """Where a standalone run's binary writes its results, which are read once and removed: a folder in memory
    (``$BRAINYOLO_SCRATCH``, else ``/dev/shm/brainyolo-<uid>`` where ``/dev/shm`` is a tmpfs), or None (``off``,
    or no such file system): the build folder. The yolov3-tiny binary wrote its 70 MB of results per image in
    0.15-0.38 s on this machine's ext4 disk, in 0.03-0.05 s into ``/dev/shm`` (analysis/overhead)."""
    chosen = os.environ.get(SCRATCH_ENV)
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen).expanduser().absolute()
    if _SHARED_MEMORY.is_dir() and os.access(_SHARED_MEMORY, os.W_OK) and _is_tmpfs(_SHARED_MEMORY):
        return _SHARED_MEMORY / f"brainyolo-{os.getuid()}"
    return None

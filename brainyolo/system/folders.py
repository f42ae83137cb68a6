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

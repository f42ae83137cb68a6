"""Arrays mapped from files rather than copied (a run's large results, read once)."""

from __future__ import annotations

import os
import sys

import numpy as np

MAPS_FILES = os.name == "posix" and sys.version_info >= (3, 13)
"""Whether :func:`mapped_array` can map a file without holding a descriptor open (Python 3.13's ``trackfd``), and
the mapped file can be removed while mapped (POSIX). Elsewhere results are copied, as Brian2 reads them."""


def mapped_array(path: str | os.PathLike, dtype) -> np.ndarray:
    """The numbers of a file, as an array mapped from it privately (copy-on-write: writable, nothing written reaches
    the file; pages not yet written follow the file, so it must not be rewritten while mapped). No file descriptor
    stays open; the mapping goes with the last array that uses it.

    Raises
    ------
    OSError, ValueError
        The file cannot be mapped (the caller copies it instead).
    """
    import mmap

    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return np.zeros(0, dtype)
        mapping = mmap.mmap(handle.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE,
                            trackfd=False)
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(mapping, dtype=dtype, count=len(mapping) // itemsize)

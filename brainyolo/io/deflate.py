"""HDF5 datasets byte-shuffled and gzipped on every core: HDF5's own filters, compressed by threads.

HDF5 runs a dataset's filters chunk after chunk on the writing thread. Here the chunks are shuffled and deflated by
a pool of threads (numpy's copies and the compressor release Python's lock) and handed to HDF5 as they are
(``write_direct_chunk``). The file is what HDF5's own filters would have written with ``shuffle=True,
compression="gzip"`` (the bytes of a deflate stream depend on the compressor, not what it decodes to): the dataset
declares both filters, and any HDF5 reader decompresses it with its own zlib. The streams are made by zlib-ng (the
``zlib-ng`` package), which writes the same format as zlib, faster. The chunks of many datasets are compressed side
by side (:class:`DeflatedWriter`: an image's recordings). On 2 cores a yolov3-tiny image's recordings were written
1.06-1.28 times as fast as with HDF5's filters and h5py's chunks when the threads first compressed them (one dataset
at a time, zlib); with 0.15.3's changes (the datasets together, zlib-ng, among others) a detection's recording stage,
the writing among it, took half the time it took before (``analysis/overhead/README.md``, 0.13.2 and 0.15.3). A
forked child process starts its own threads.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
from zlib_ng import zlib_ng

CHUNK_BYTES = 1 << 18
"""Largest chunk (bytes) :func:`deflated_dataset` makes (:func:`chunk_shape`): a yolov3-tiny image's recordings in
about 110 chunks (``analysis/overhead/deflate-levels.txt``: 660 in 6 images), enough to keep every core busy; 1 MiB
chunks wrote them more slowly."""

GZIP_LEVEL = 2
"""Compression level (zlib-ng's): on yolov3-tiny's recordings (6 photos of a detection, one thread) level 2
compressed in 0.146 s per image to 0.312 of their size, where zlib's level 1 took 0.197 s for 0.323 and zlib-ng's
level 1 0.088 s for 0.415 (``analysis/overhead/deflate-levels.txt``)."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _threads() -> ThreadPoolExecutor:
    """The process's compression threads (one per core it may use), started on first use."""
    global _pool  # noqa: PLW0603 - one pool per process, like numpy's or OpenMP's
    with _pool_lock:
        if _pool is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            _pool = ThreadPoolExecutor(max(1, cores), thread_name_prefix="brainyolo-deflate")
        return _pool


def _forget_threads() -> None:
    """In a forked child: the parent's threads do not exist there (nor may its lock be free); start afresh."""
    global _pool, _pool_lock  # noqa: PLW0603
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads)


def chunk_shape(shape: tuple[int, ...], itemsize: int, limit: int = CHUNK_BYTES) -> tuple[int, ...]:
    """Chunks of at most ``limit`` bytes (or one element) that cut the array along as few axes as they can, the first
    first, into pieces of equal size (so that an edge chunk pads little).

    >>> chunk_shape((16, 416, 416), 2), chunk_shape((10_000_000,), 4), chunk_shape((3, 5000, 5000), 1)
    ((1, 208, 416), (65360,), (1, 52, 5000))
    """
    chunk = list(shape)
    for axis in range(len(shape)):
        row = itemsize * int(np.prod(shape[axis + 1:], dtype=np.int64))
        if row * shape[axis] <= limit:
            break
        if row <= limit:
            pieces = -(-shape[axis] // (limit // row))  # as few as hold every row, then as equal as they can be
            chunk[axis] = -(-shape[axis] // pieces)
            break
        chunk[axis] = 1
    return tuple(max(1, c) for c in chunk)


def chunks(value: np.ndarray, chunk: tuple[int, ...]):
    """``(offset, piece)`` of every chunk of ``value`` in chunks of shape ``chunk``, in HDF5's order (pieces at the
    far edges are smaller)."""
    for corner in np.ndindex(*(-(-n // c) for n, c in zip(value.shape, chunk, strict=True))):
        offset = tuple(k * c for k, c in zip(corner, chunk, strict=True))
        yield offset, value[tuple(slice(o, o + c) for o, c in zip(offset, chunk, strict=True))]


def shuffled(piece: np.ndarray, chunk: tuple[int, ...]) -> np.ndarray:
    """One chunk's bytes as HDF5's shuffle filter hands them to deflate: padded to the full chunk (an edge chunk),
    its elements' bytes grouped by significance (byte 0 of every element, then byte 1, ...)."""
    if piece.shape != chunk:
        full = np.zeros(chunk, piece.dtype)
        full[tuple(slice(0, n) for n in piece.shape)] = piece
        piece = full
    raw = np.ascontiguousarray(piece).reshape(-1).view(np.uint8).reshape(-1, piece.dtype.itemsize)
    return np.ascontiguousarray(raw.T)


def _deflated_chunk(piece: np.ndarray, chunk: tuple[int, ...], level: int) -> bytes:
    """One chunk as HDF5's shuffle and deflate filters store it (:func:`shuffled`, then deflated)."""
    return zlib_ng.compress(shuffled(piece, chunk), level)


class DeflatedWriter:
    """Datasets written byte-shuffled and gzipped (HDF5's filters), their chunks compressed on every core from the
    moment each is added: the chunks of many datasets, one or two each (a yolov3-tiny image's 44 arrays, most of one
    chunk), are compressed side by side instead of one dataset after another. The chunks are written into the file
    when the writer is closed (:meth:`close`, or leaving the ``with`` block), in the order added; an added array
    must not change until then.

    Parameters
    ----------
    level : int
        The compression level (:data:`GZIP_LEVEL`).
    chunk_bytes : int
        The largest chunk (:func:`chunk_shape`).
    """

    def __init__(self, level: int = GZIP_LEVEL, chunk_bytes: int = CHUNK_BYTES):
        self.level, self.chunk_bytes = level, chunk_bytes
        self._pending: list = []

    def add(self, parent: h5py.Group, name: str, value: np.ndarray) -> h5py.Dataset:
        """Create ``parent[name]`` for ``value`` (a numeric array with at least one element) and start compressing
        its chunks; returns the dataset (its values are in the file once the writer is closed)."""
        value = np.asarray(value)
        if value.dtype.kind not in "biuf" or value.size == 0 or value.ndim == 0:
            raise ValueError(f"{name}: a non-empty numeric array is compressed, not {value.dtype} of shape "
                             f"{value.shape}")
        chunk = chunk_shape(value.shape, value.dtype.itemsize, self.chunk_bytes)
        dataset = parent.create_dataset(name, shape=value.shape, dtype=value.dtype, chunks=chunk, shuffle=True,
                                        compression="gzip", compression_opts=self.level)
        pool = _threads()
        for offset, piece in chunks(value, chunk):
            self._pending.append((dataset, offset, pool.submit(_deflated_chunk, piece, chunk, self.level)))
        return dataset

    def close(self, write: bool = True) -> None:
        """Write every chunk compressed so far into its dataset (waiting for those still compressed); ``write``
        False: drop them (the file is being given up)."""
        pending, self._pending = self._pending, []
        try:
            for dataset, offset, future in pending if write else ():
                dataset.id.write_direct_chunk(offset, future.result())
        finally:
            for _, _, future in pending:
                future.cancel()

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        self.close(write=kind is None)


def deflated_dataset(parent: h5py.Group, name: str, value: np.ndarray, level: int = GZIP_LEVEL,
                     chunk_bytes: int = CHUNK_BYTES) -> h5py.Dataset:
    """``parent[name] = value``, byte-shuffled and gzipped at ``level`` (HDF5's filters), the chunks (at most
    ``chunk_bytes``: :func:`chunk_shape`) compressed on every core (:class:`DeflatedWriter`). ``value``: a numeric
    array with at least one element."""
    with DeflatedWriter(level, chunk_bytes) as writer:
        return writer.add(parent, name, value)

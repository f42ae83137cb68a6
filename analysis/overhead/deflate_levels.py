"""Deflate streams of a run's recordings by compressor and level: seconds per image on one thread, size.

    python analysis/overhead/deflate_levels.py RUN_DIR [IMAGES]

RUN_DIR: a run folder (``brainyolo detect ... -o OUT`` writes OUT/run); IMAGES (default 6): its first images. Every
array that ``write_image`` compresses (more than ``COMPRESSED_SIZE`` numbers), in the chunks and byte order that
``deflated_dataset`` hands its compressor (shuffled, edge chunks padded), compressed whole by each compressor and
level (three times; the fastest counts), and every stream inflated again by Python's zlib (the reader HDF5's filter
is) to the bytes it was made from.
"""

from __future__ import annotations

import sys
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
from zlib_ng import zlib_ng

from brainyolo.io.deflate import CHUNK_BYTES, GZIP_LEVEL, chunk_shape, chunks, shuffled
from brainyolo.readout.recordings import COMPRESSED_SIZE

WAYS = [("zlib", zlib.compress, 1), ("zlib-ng", zlib_ng.compress, 1), ("zlib-ng", zlib_ng.compress, 2),
        ("zlib-ng", zlib_ng.compress, 3)]


def shuffled_chunks(value: np.ndarray) -> list[bytes]:
    """``value``'s chunks as ``deflated_dataset`` compresses them: padded to the chunk, bytes by significance."""
    chunk = chunk_shape(value.shape, value.dtype.itemsize, CHUNK_BYTES)
    return [shuffled(piece, chunk).tobytes() for _, piece in chunks(value, chunk)]


def main(run_dir: str, images: int = 6) -> None:
    pieces = []
    with h5py.File(Path(run_dir) / "recordings.h5", "r") as f:
        names = list(f["images"])[:images]

        def add(_, node):
            if isinstance(node, h5py.Dataset) and node.size > COMPRESSED_SIZE and node.dtype.kind in "biuf":
                pieces.extend(shuffled_chunks(node[()]))

        for name in names:
            f["images"][name].visititems(add)
    count = len(names)
    raw = sum(map(len, pieces))
    print(f"{count} images, {len(pieces)} chunks, {raw / count / 1e6:.1f} MB per image before compression")
    print("| compressor, level | seconds per image (one thread) | of the raw size | MB per image |")
    print("| --- | ---: | ---: | ---: |")
    inflated = True
    for label, compress, level in WAYS:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            streams = [compress(piece, level) for piece in pieces]
            best = min(best, time.perf_counter() - start)
        inflated &= all(zlib.decompress(s) == p for s, p in zip(streams, pieces, strict=True))
        size = sum(map(len, streams))
        now = " (now)" if label == "zlib-ng" and level == GZIP_LEVEL else ""
        print(f"| {label} {level}{now} | {best / count:.3f} | {size / raw:.3f} | {size / count / 1e6:.2f} |")
    print(f"every stream inflated by Python's zlib to its chunk: {inflated}")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))

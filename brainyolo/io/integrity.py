"""Content checksums of brainyolo's HDF5 files: silent corruption is detected and named.

A writer stores :func:`content_digest` of the finished file in the root attribute
``content_sha256``; a reader recomputes it and refuses a file whose content changed (a flipped
byte in a weight, an edited attribute). The digest covers every group, dataset (dtype, shape and
values) and attribute, in name order, and nothing of HDF5's own layout: copying a file with
``h5repack`` keeps it valid. Files written before checksums existed have no attribute and are read
as before.
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

DIGEST_ATTRIBUTE = "content_sha256"


def _feed(digest, value) -> None:
    if isinstance(value, str):
        digest.update(b"s" + value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, bytes):
        digest.update(b"b" + value)
    else:
        array = np.asarray(value)
        if array.dtype.kind == "O":
            digest.update(b"o%d" % array.size)
            for item in array.ravel():
                _feed(digest, item)
        else:
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())


def content_digest(f: h5py.File) -> str:
    """Hex sha256 of everything in ``f`` but its own :data:`DIGEST_ATTRIBUTE`."""
    digest = hashlib.sha256()

    def walk(node, name: str) -> None:
        digest.update(b"\x00node:" + name.encode())
        for key in sorted(node.attrs):
            if node is f and key == DIGEST_ATTRIBUTE:
                continue
            digest.update(b"\x00attr:" + key.encode())
            _feed(digest, node.attrs[key])
        if isinstance(node, h5py.Dataset):
            _feed(digest, node[()])
            return
        for key in sorted(node):
            walk(node[key], f"{name}/{key}")

    walk(f, "")
    return digest.hexdigest()


def seal(f: h5py.File) -> None:
    """Store the content digest in an open, completely written file."""
    f.attrs[DIGEST_ATTRIBUTE] = content_digest(f)


def verify(f: h5py.File) -> bool | None:
    """``True`` if the stored digest matches the content, ``False`` if not, ``None`` if there is none."""
    stored = f.attrs.get(DIGEST_ATTRIBUTE)
    if stored is None:
        return None
    if isinstance(stored, bytes):
        stored = stored.decode("ascii", "replace")
    return str(stored) == content_digest(f)

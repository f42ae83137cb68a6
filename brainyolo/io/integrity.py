"""Content checksums of brainyolo's HDF5 files: silent corruption is detected and named.

A writer stores :func:`content_digest` of the finished file in the root attribute
``content_sha256``; a reader recomputes it and refuses a file whose content changed (a flipped
byte in a weight, an edited attribute). The digest covers every group, dataset (dtype, shape and
values) and attribute, in name order, and nothing of HDF5's own layout: copying a file with
``h5repack`` keeps it valid. Files written before checksums existed have no attribute and are read
as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

import h5py
import numpy as np

from brainyolo import __version__
from brainyolo.io.errors import BrainyoloError, one_line

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
            digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))  # the bytes, not a copy


def content_digest(f: h5py.File) -> str:
    """Hex sha256 of everything in ``f`` but its own :data:`DIGEST_ATTRIBUTE`."""
    digest = hashlib.sha256()
    _walk(digest, f, f, "")
    return digest.hexdigest()


def _walk(digest, root: h5py.File, node, name: str, values: dict | None = None, outline=None) -> None:
    """Feed ``node`` (of the file ``root``, named ``name`` in the walk) and everything under it into ``digest``
    (None: not at all) and its outline into ``outline`` (None: not at all): names, attributes, every dataset's dtype
    and shape, no values. A dataset whose HDF5 name is in ``values`` is fed from that array where it holds numbers
    of the dataset's dtype and shape (what was written: read back, it would be the same)."""
    fed = [d for d in (digest, outline) if d is not None]
    for d in fed:
        d.update(b"\x00node:" + name.encode())
    for key in sorted(node.attrs):
        if node is root and key == DIGEST_ATTRIBUTE:
            continue
        value = node.attrs[key]
        for d in fed:
            d.update(b"\x00attr:" + key.encode())
            _feed(d, value)
    if isinstance(node, h5py.Dataset):
        if outline is not None:
            outline.update(f"{node.dtype.str}{node.shape}".encode())
        if digest is not None:
            written = None if values is None else values.get(node.name)
            if written is not None:
                written = np.asarray(written)
            if (written is None or written.dtype.kind not in "biufc" or written.dtype != node.dtype
                    or written.shape != node.shape):  # text, for one, reads back as bytes
                written = node[()]
            _feed(digest, written)
        return
    for key in sorted(node):
        _walk(digest, root, node[key], f"{name}/{key}", values, outline)


class GroupDigest:
    """:func:`content_digest` of a file whose one top-level group ``group`` is written member after member, fed
    while it is written: a member's datasets from the arrays just written instead of read back (for a yolov3-tiny
    image's recordings, 64 MB decompressed again per image).

    Everything but ``group``'s members is fed when this is made; each :meth:`add` feeds one new member, whole.
    :meth:`seal` stores the digest where the file's outline (names, attributes, dtypes and shapes: no values) is
    still the outline fed, in the order fed; otherwise (another node, a member added without :meth:`add` or not in
    name order, "10000" after "9999", an attribute changed or added later) the digest of the whole file read back.
    A dataset's values rewritten after its member was added are not seen: members are complete when added.
    """

    def __init__(self, f: h5py.File, group: str):
        if list(f) != [group] or len(f[group]):
            raise ValueError(f"a file holding only an empty group {group!r} is fed member after member")
        self._file, self._group = f, group
        self._digest, self._outline = hashlib.sha256(), hashlib.sha256()
        _walk(self._digest, f, f, "", outline=self._outline)  # the file up to the group's members

    def add(self, name: str, values: dict | None = None) -> None:
        """Feed the member ``name`` of the group, just written; ``values``: ``{HDF5 name of a dataset: the array
        it was written from}``."""
        _walk(self._digest, self._file, self._file[self._group][name], f"/{self._group}/{name}", values,
              self._outline)

    def seal(self) -> None:
        """Store the digest in the file (:func:`seal`'s attribute)."""
        outline = hashlib.sha256()
        _walk(None, self._file, self._file, "", outline=outline)
        fed = outline.digest() == self._outline.digest()
        self._file.attrs[DIGEST_ATTRIBUTE] = self._digest.hexdigest() if fed else content_digest(self._file)


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


def text_attribute(attrs, key: str) -> str | None:
    """An HDF5 attribute as text (UTF-8 bytes decoded); None when absent or not text."""
    value = attrs.get(key)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def whole_attribute(attrs, key: str) -> int:
    """An HDF5 attribute as a whole number; -1 when absent or not one."""
    value = attrs.get(key)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return -1


def file_format(path: str | os.PathLike) -> str | None:
    """The ``format`` attribute of an HDF5 file (None: none, or not a readable HDF5 file)."""
    try:
        with h5py.File(path, "r") as f:
            return text_attribute(f.attrs, "format")
    except Exception:  # noqa: BLE001 - not HDF5, missing, damaged: no format
        return None


@contextlib.contextmanager
def open_sealed(path: str | os.PathLike, fmt: str, versions, name: str, foreign: dict[str, str] | None = None):
    """Open one of brainyolo's sealed HDF5 files for reading: yields ``(file, schema version)``.

    Every problem is one :class:`BrainyoloError` naming ``path``: missing, a folder, not HDF5, another
    ``format`` than ``fmt`` (``foreign``: what a known other format is and what to do with it; else "not a
    ``name``"), a schema version not in ``versions``, content changed since it was sealed, or any error while
    the ``with`` block reads it (damage).
    """
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise BrainyoloError(path, "no such model file") from None
    except IsADirectoryError:
        raise BrainyoloError(path, "is a folder, not a model file") from None
    except Exception:  # noqa: BLE001 - h5py reports damage as OSError, sometimes as others
        raise BrainyoloError(path, "not a readable HDF5 file (damaged or truncated?)") from None
    try:
        with f:
            found = text_attribute(f.attrs, "format")
            if found != fmt:
                raise BrainyoloError(path, (foreign or {}).get(found) or f"not a {name} (no format={fmt!r})")
            version = whole_attribute(f.attrs, "schema_version")
            if version not in versions:
                raise BrainyoloError(path, f"model schema version {version} is not supported (brainyolo {__version__} "
                                           f"reads version{'s' * (len(versions) > 1)} {', '.join(map(str, versions))})")
            if verify(f) is False:
                raise BrainyoloError(path, "damaged model file: the content checksum does not match (changed or "
                                           "corrupted after it was written)")
            yield f, version
    except BrainyoloError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure to read a part of the file is damage
        raise BrainyoloError(path, f"damaged model file: {one_line(err)}") from None

"""``brainyolo fetch``: download a real Darknet model (cfg, weights, class names), checking sha256.

Files come from their official addresses (Joseph Redmon's Darknet release); a ``mirror`` (a URL
prefix holding the same file names) replaces them, for machines behind a proxy and for the tests.
Every file is streamed into a temporary file beside its destination, hashed on the way, and only
renamed into place when its sha256 matches the pinned value: a failed or corrupted download leaves
nothing behind. Files whose published sha256 is unknown to brainyolo are marked unpinned and their
hash is printed so that users can record it.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from brainyolo.io.errors import BrainyoloError

DARKNET = "https://raw.githubusercontent.com/pjreddie/darknet/master"
WEIGHTS = "https://pjreddie.com/media/files"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str | None  # None: not pinned (no published value known to brainyolo)


MODELS: dict[str, list[RemoteFile]] = {
    "yolov3-tiny": [
        RemoteFile("yolov3-tiny.cfg", f"{DARKNET}/cfg/yolov3-tiny.cfg",
                   "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00"),
        RemoteFile("yolov3-tiny.weights", f"{WEIGHTS}/yolov3-tiny.weights",
                   "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"),
        RemoteFile("coco.names", f"{DARKNET}/data/coco.names",
                   "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933")],
    "yolov2-tiny-voc": [
        RemoteFile("yolov2-tiny-voc.cfg", f"{DARKNET}/cfg/yolov2-tiny-voc.cfg",
                   "1e012b455b845579096378b0ab4a82f1d9cb53b3b1282724a6de5d45537cb7e6"),
        RemoteFile("yolov2-tiny-voc.weights", f"{WEIGHTS}/yolov2-tiny-voc.weights", None),
        RemoteFile("voc.names", f"{DARKNET}/data/voc.names",
                   "f14861775969fd006b382e005f96dc811ef062ea4a37356efb70d7775e90f743")],
    "yolov2-tiny": [
        RemoteFile("yolov2-tiny.cfg", f"{DARKNET}/cfg/yolov2-tiny.cfg",
                   "58e8f4390c8080a90a40f3b7ec5868ee9ae32519f3c08f57d104e494de04b34d"),
        RemoteFile("yolov2-tiny.weights", f"{WEIGHTS}/yolov2-tiny.weights", None),
        RemoteFile("coco.names", f"{DARKNET}/data/coco.names",
                   "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933")],
}


def download(remote: RemoteFile, tmp: Path, mirror: str | None = None, progress: bool = True,
             timeout: float = 60.0) -> str:
    """Download one file into ``tmp``, checking its sha256; return the sha256."""
    from tqdm import tqdm

    url = f"{mirror.rstrip('/')}/{remote.name}" if mirror else remote.url
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=remote.name,
                      disable=None if progress else True) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    f.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
        raise BrainyoloError(url, f"download failed: {reason}") from None
    sha = digest.hexdigest()
    if remote.sha256 is not None and sha != remote.sha256:
        raise BrainyoloError(url, f"sha256 {sha} differs from the published {remote.sha256}: nothing saved")
    return sha


def fetch(name: str, out_dir: str | os.PathLike, mirror: str | None = None, progress: bool = True) -> list[dict]:
    """Download model ``name`` into ``out_dir``; return one ``{file, sha256, pinned}`` per file.

    All files are downloaded and checked first, then moved into place together: a failure leaves
    ``out_dir`` as it was.
    """
    if name not in MODELS:
        raise BrainyoloError(None, f"unknown model {name!r} (known: {', '.join(MODELS)})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    temps = {remote.name: out_dir / f".{remote.name}.{os.getpid()}.tmp" for remote in MODELS[name]}
    try:
        hashes = {remote.name: download(remote, temps[remote.name], mirror, progress) for remote in MODELS[name]}
        for file_name, tmp in temps.items():
            os.replace(tmp, out_dir / file_name)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return [{"file": str(out_dir / r.name), "sha256": hashes[r.name], "pinned": r.sha256 is not None}
            for r in MODELS[name]]

"""Output that is never half-written: temporary file (or folder) first, then an atomic rename."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from brainyolo.io.errors import BrainyoloError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The caller writes the whole file to the yielded path. On any exception the temporary file is
    removed and ``path`` is left as it was. Missing parent folders are created; a ``path`` that is a
    folder is refused (one :class:`BrainyoloError`) before anything is written.
    """
    path = Path(path)
    if path.is_dir():
        raise BrainyoloError(path, "is a folder: give the name of the file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; finished files get the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    """The process's umask: read where Linux shows it; else set and put back, which another thread creating a
    file at that moment would see (a Dask worker's threads write files too)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, data) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


@contextlib.contextmanager
def staged_directory(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder; on success move its contents into ``out_dir``.

    Files already in ``out_dir`` that the block did not produce are kept; files it produced replace
    their old versions. On any exception nothing is moved and the staging folder is deleted.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        yield stage
        out_dir.mkdir(exist_ok=True)
        for item in sorted(stage.rglob("*")):
            target = out_dir / item.relative_to(stage)
            if item.is_dir():
                target.mkdir(exist_ok=True)
            else:
                os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def read_toml(path: str | os.PathLike, what: str, max_bytes: int = 256 * 1024) -> dict:
    """A TOML file's table, or one :class:`~brainyolo.io.errors.BrainyoloError` naming the file and the problem.

    Refused before parsing: a file over ``max_bytes``, text that is not UTF-8.
    """
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib


    path = Path(path)
    try:
        if path.stat().st_size > max_bytes:
            raise BrainyoloError(path, f"larger than {max_bytes // 1024} KiB: not a {what}")
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:
        raise BrainyoloError(path, f"cannot read {what}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise BrainyoloError(path, f"not UTF-8 text (byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise BrainyoloError(path, f"not valid TOML: {err}") from None
    except RecursionError:
        raise BrainyoloError(path, "not valid TOML: nested too deeply") from None


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

"""The object cache: compiled C++ files shared by every build, in ``$BRAINYOLO_CACHE/objects``.

Most code objects of a network are the same text whatever its input kind, step count or the neuron file
of another layer, yet each build folder compiled all of them (an embedded detector: 144 code objects,
two thirds of a build). Before ``make`` runs, each source whose object file is missing or out of date
gets the object file an earlier build compiled from the same input, and after ``make`` the object files
it compiled are kept for later builds: what ccache does, keyed on what the compiler reads.

A source's key (:func:`source_key`) hashes:

- the source and every ``#include "..."`` it reaches inside the build folder, recursively (for code
  objects also the precompiled header they are compiled with);
- of ``objects.h``, which declares every array of the network, the declarations of the names those
  texts use and every other line (a declaration nobody names changes no compiled code);
- the makefile without its list of sources (compiler flags and rules), the source's path (which rule
  compiles it), the compiler's version and the CPU features ``-march=native`` expands to, and Brian2's
  version (its headers outside the build folder).

``BRAINYOLO_OBJECT_CACHE`` names another folder, or ``off`` (no cache). Failures of the cache itself
(a full disk, a folder without write permission) cost only the time it would have saved.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import brian2

from brainyolo.system.folders import cache_home

OBJECT_CACHE_ENV = "BRAINYOLO_OBJECT_CACHE"
"""Environment variable: the object cache's folder, or ``off``."""

OBJECTS_HEADER = "objects.h"
"""Brian2's header declaring every array of the network (filtered per source, see :func:`source_key`)."""

_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)
_DECLARATION = re.compile(r"^[ \t]*extern\b[^;{}()]*?\b(\w+)[ \t]*(?:\[[^\]]*\][ \t]*)?;[ \t]*$")
_WORD = re.compile(r"\w+")
_SOURCES_LINE = re.compile(r"^SRCS[ \t]*=.*$", re.M)


def object_cache_root() -> Path | None:
    """The object cache's folder, or None where ``BRAINYOLO_OBJECT_CACHE=off``."""
    value = os.environ.get(OBJECT_CACHE_ENV, "")
    if value.lower() == "off":
        return None
    return Path(value) if value else cache_home() / "objects"


@functools.lru_cache(maxsize=4)
def _declared_names(text: str) -> tuple[tuple[str, str | None], ...]:
    """Each line of ``text`` with the name it declares (``extern ... name;``), or None."""
    return tuple((line, match.group(1) if (match := _DECLARATION.match(line)) else None)
                 for line in text.splitlines())


@functools.lru_cache(maxsize=256)
def _included_names(text: str) -> tuple[str, ...]:
    return tuple(_INCLUDE.findall(text))


@functools.lru_cache(maxsize=64)
def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text))


def filtered_objects_header(text: str, names: set[str]) -> str:
    """``objects.h`` without the one-line ``extern`` declarations of names not in ``names``."""
    return "\n".join(line for line, declared in _declared_names(text) if declared is None or declared in names)


def included_files(directory: Path, source: str, forced: tuple[str, ...] = (),
                   texts: dict[str, str] | None = None) -> list[str]:
    """The files inside ``directory`` that ``source`` (a path relative to it) reaches through
    ``#include "..."``, recursively, ``forced`` (``-include``) first; in first-reached order. ``texts``: the
    files read so far (name: text), read into and reused."""
    texts = {} if texts is None else texts
    reached: list[str] = []

    def visit(relative: str) -> None:
        if relative not in texts:
            texts[relative] = (directory / relative).read_text(errors="replace")
        for name in _included_names(texts[relative]):
            # GCC looks beside the including file first, then in -I. (the build folder)
            for candidate in (os.path.normpath(os.path.join(os.path.dirname(relative), name)), os.path.normpath(name)):
                if candidate.startswith("..") or not (candidate in texts or (directory / candidate).is_file()):
                    continue
                if candidate not in reached and candidate != source:
                    reached.append(candidate)
                    visit(candidate)
                break

    for name in forced:
        if name not in reached and (directory / name).is_file():
            reached.append(name)
            visit(name)
    visit(source)
    return reached


@functools.lru_cache(maxsize=8)
def compiler_identity(compiler: str, target_flags: tuple[str, ...]) -> str:
    """``compiler --version`` and the target options ``target_flags`` (``-march=native`` ...) expand to on
    this machine; "" when the compiler does not answer (no cache then)."""
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
        target = subprocess.run([compiler, *target_flags, "-Q", "--help=target"], capture_output=True, text=True,
                                timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    if version.returncode != 0:
        return ""
    return version.stdout + (target.stdout if target.returncode == 0 else "")


@dataclass(frozen=True)
class BuildContext:
    """What every source of one build folder shares in its key."""

    directory: Path
    common: str  # hex digest of the makefile's rules and flags, the compiler, Brian2's version
    forced_include: str | None  # the precompiled header code objects are compiled with
    texts: dict[str, str] = field(default_factory=dict)  # the folder's files read so far


def build_context(directory: Path, forced_include: str | None = None) -> BuildContext | None:
    """The shared part of the keys of ``directory``'s sources; None where the compiler cannot be asked."""
    makefile = (directory / "makefile").read_text()
    flags = shlex.split(" ".join(re.findall(r"^(?:OPTIMISATIONS|CXXFLAGS)[ \t]*:?=(.*)$", makefile, re.M)),
                        posix=True)
    target_flags = tuple(sorted(f for f in flags if f.startswith(("-march", "-mtune", "-mcpu"))))
    identity = compiler_identity(os.environ.get("CXX", "g++"), target_flags)
    if not identity:
        return None
    digest = hashlib.sha256()
    for part in (_SOURCES_LINE.sub("", makefile), identity, brian2.__version__):
        digest.update(part.encode())
        digest.update(b"\0")
    return BuildContext(directory, digest.hexdigest(), forced_include)


def source_key(context: BuildContext, source: str) -> tuple[str, list[str]]:
    """The key of ``source`` (relative to the build folder; see the module's description) and the files
    it reaches (:func:`included_files`)."""
    forced = (context.forced_include,) if context.forced_include and source.startswith("code_objects/") else ()
    files = included_files(context.directory, source, forced, context.texts)
    texts = {name: context.texts[name] for name in [source, *files]}
    names = set()
    for name, text in texts.items():
        if name != OBJECTS_HEADER:
            names.update(_words(text))
    digest = hashlib.sha256()
    digest.update(context.common.encode())
    for name, text in texts.items():
        if name == OBJECTS_HEADER:
            text = filtered_objects_header(text, names)
        digest.update(f"\0{name}\0{len(text)}\0".encode())
        digest.update(text.encode())
    return digest.hexdigest(), files


def makefile_sources(directory: Path) -> list[str]:
    """The sources the makefile compiles (its ``SRCS`` line)."""
    match = _SOURCES_LINE.search((directory / "makefile").read_text())
    return match.group(0).split("=", 1)[1].split() if match else []


def _up_to_date(directory: Path, source: str, files: list[str]) -> bool:
    target = directory / Path(source).with_suffix(".o")
    if not target.is_file() or not Path(str(target.with_suffix(".d"))).is_file():
        return False
    built = target.stat().st_mtime_ns
    return all((directory / name).stat().st_mtime_ns <= built for name in [source, "makefile", *files])


def _copy_atomically(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(source.read_bytes())
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ObjectCache:
    """The object cache of one build (:func:`restore` before ``make``, :func:`store` after it).

    ``restored``: the sources whose object files came from the cache; ``stored``: those compiled here
    and added to it.
    """

    def __init__(self, directory: Path, forced_include: str | None = None, root: Path | None = None):
        self.directory, self.root = Path(directory), root if root is not None else object_cache_root()
        self.restored: list[str] = []
        self.stored: list[str] = []
        self._keys: dict[str, tuple[str, list[str]]] = {}
        self._context = None
        if self.root is None:
            return
        try:
            self._context = build_context(self.directory, forced_include)
            if self._context is not None:
                self._keys = {source: source_key(self._context, source) for source in makefile_sources(self.directory)}
        except OSError as err:
            self._give_up(err)

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _give_up(self, err: Exception) -> None:
        warnings.warn(f"brainyolo: the object cache {self.root} is not used for this build: {err}", stacklevel=3)
        self._keys = {}

    def restore(self) -> int:
        """Put cached object files (and their dependency files) in place of missing or outdated ones, newer
        than every file they were compiled from; returns how many."""
        try:
            for source, (key, files) in self._keys.items():
                cached = self._entry(key)
                if not (cached / "object.o").is_file() or not (cached / "object.d").is_file():
                    continue
                if _up_to_date(self.directory, source, files):
                    continue
                target = self.directory / Path(source).with_suffix(".o")
                _copy_atomically(cached / "object.d", target.with_suffix(".d"))
                _copy_atomically(cached / "object.o", target)
                now = time.time_ns()
                for path in (target.with_suffix(".d"), target, cached):
                    os.utime(path, ns=(now, now))  # newer than its sources for make; recently used here
                self.restored.append(source)
        except OSError as err:
            self._give_up(err)
        return len(self.restored)

    def store(self) -> int:
        """Add the object files this build compiled to the cache; returns how many."""
        try:
            for source, (key, _) in self._keys.items():
                if source in self.restored:
                    continue
                cached = self._entry(key)
                target = self.directory / Path(source).with_suffix(".o")
                if (cached / "object.o").is_file() or not target.is_file() or not target.with_suffix(".d").is_file():
                    continue
                _copy_atomically(target.with_suffix(".d"), cached / "object.d")
                _copy_atomically(target, cached / "object.o")  # last: an entry with object.o is whole
                self.stored.append(source)
        except OSError as err:
            self._give_up(err)
        return len(self.stored)


def object_cache_size(root: Path | None = None) -> tuple[int, int]:
    """(entries, bytes) of the object cache."""
    root = root if root is not None else object_cache_root()
    if root is None or not root.is_dir():
        return 0, 0
    entries = [entry for entry in root.glob("??/*") if entry.is_dir()]
    return len(entries), sum(f.stat().st_size for entry in entries for f in entry.iterdir() if f.is_file())


def remove_objects(older_than_days: float = 0.0, root: Path | None = None) -> tuple[int, int]:
    """Delete object cache entries not used for ``older_than_days``; returns (entries, bytes) removed.

    An entry's folder time is its last use (:meth:`ObjectCache.restore` touches it). A build that restores an
    entry while it is removed finds it incomplete and compiles that source.
    """
    root = root if root is not None else object_cache_root()
    if root is None or not root.is_dir():
        return 0, 0
    limit = time.time() - older_than_days * 86400
    removed = freed = 0
    for entry in root.glob("??/*"):
        try:
            if not entry.is_dir() or entry.stat().st_mtime > limit:
                continue
            for path in (entry / "object.o", entry / "object.d"):  # object.o first: the entry is no longer whole
                if path.is_file():
                    freed += path.stat().st_size
                    path.unlink()
            for leftover in entry.iterdir():
                leftover.unlink()
            entry.rmdir()
            removed += 1
        except FileNotFoundError:  # another process removed it
            continue
    return removed, freed

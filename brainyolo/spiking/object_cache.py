"""The object cache: compiled C++ files shared by every build, in ``$BRAINYOLO_CACHE/objects``.

Most code objects of a network are the same text whatever its input kind, step count or the neuron file
of another layer, yet each build folder compiled all of them (an embedded detector: 144 code objects,
two thirds of a build). Before ``make`` runs, each source whose object file is missing or out of date
gets the object file an earlier build compiled from the same input, and after ``make`` the object files
it compiled (and only those) are kept for later builds: what ccache does, keyed on what the compiler reads.

A source's key (:func:`source_key`) hashes:

- the source and every ``#include "..."`` it reaches, recursively, found as GCC finds them (beside the
  including file, then in the ``-I`` folders in order); for code objects also the precompiled header they
  are compiled with. A source including a header found nowhere is not cached;
- of ``objects.h``, which declares every array of the network, every line except the one-line ``extern``
  declarations of names the texts (and the compiler flags) do not use: a declaration nobody names changes
  no compiled code;
- the makefile without its list of sources (compiler flags, rules, target-specific flags), the compiler's
  version and the target ``-march=native`` expands to on this machine (a compiler that cannot tell gets no
  cache), Brian2's version, and with ``-g`` the build folder (debug information names it).

``BRAINYOLO_OBJECT_CACHE`` names another folder, or ``off`` (no cache). Failures of the cache itself
(a full disk, a folder without write permission) cost only the time it would have saved; an entry whose
object file does not match its checksum is removed.
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
_DECLARATION = re.compile(r"^[ \t]*extern\b[^;{}()=,]*?\b(\w+)[ \t]*(?:\[[^\]]*\][ \t]*)?;[ \t]*$")
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


class UnresolvedInclude(Exception):
    """A source includes a quoted header found nowhere on the search path: it is compiled, not cached."""


def included_files(directory: Path, source: str, forced: tuple[str, ...] = (),
                   texts: dict[str, str] | None = None, search: tuple[str, ...] = (".",)) -> list[str]:
    """The files that ``source`` (a path relative to ``directory``) reaches through ``#include "..."``,
    recursively, ``forced`` (``-include``) first; in first-reached order. Found as GCC finds them: beside the
    including file, then in the ``-I`` folders ``search`` (relative ones from ``directory``), in order. Files
    inside ``directory`` are named relative to it, others by their absolute path. ``texts``: the files read so
    far (name: text), read into and reused.

    Raises
    ------
    UnresolvedInclude
        A quoted include is found nowhere on the search path.
    """
    texts = {} if texts is None else texts
    reached: list[str] = []
    folders = [Path(os.path.normpath(directory / folder)) for folder in search]

    def named(path: Path) -> str:
        relative = os.path.relpath(path, directory)
        return str(path) if relative.startswith("..") else relative

    def read(name: str) -> str:
        if name not in texts:
            texts[name] = (directory / name).read_text(errors="replace")  # an absolute name stays absolute
        return texts[name]

    def visit(name: str) -> None:
        here = Path(os.path.normpath(directory / name)).parent
        for include in _included_names(read(name)):
            for folder in (here, *folders):
                candidate = Path(os.path.normpath(folder / include))
                if candidate.is_file():
                    found = named(candidate)
                    if found not in reached and found != source:
                        reached.append(found)
                        visit(found)
                    break
            else:
                raise UnresolvedInclude(f"{name} includes {include!r}, found nowhere")

    for name in forced:
        if name not in reached and (directory / name).is_file():
            reached.append(name)
            visit(name)
    visit(source)
    return reached


@functools.lru_cache(maxsize=8)
def compiler_identity(compiler: str, target_flags: tuple[str, ...]) -> str:
    """``compiler --version`` and the target options ``target_flags`` (``-march=native`` ...) expand to on
    this machine (GCC's ``-Q --help=target``); "" when the compiler does not answer either (no cache then)."""
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
        target = subprocess.run([compiler, *target_flags, "-Q", "--help=target"], capture_output=True, text=True,
                                timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    if version.returncode != 0 or (target_flags and target.returncode != 0):
        return ""  # another compiler: what -march=native means here is unknown, and so is the object
    return version.stdout + target.stdout


@dataclass(frozen=True)
class BuildContext:
    """What every source of one build folder shares in its key."""

    directory: Path
    common: str  # hex digest of the makefile's rules and flags, the compiler, Brian2's version
    forced_include: str | None  # the precompiled header code objects are compiled with
    search: tuple[str, ...]  # the -I folders, in order
    flag_words: frozenset[str]  # the words of the compiler flags (a -D macro may name a declared array)
    texts: dict[str, str] = field(default_factory=dict)  # the files read so far


def make_compiler() -> str:
    """The compiler ``make`` runs: ``CXX=`` among Brian2's make arguments, else ``$CXX``, else ``g++``."""
    for argument in brian2.prefs.devices.cpp_standalone.extra_make_args_unix:
        if str(argument).startswith("CXX="):
            return str(argument)[4:]
    return os.environ.get("CXX", "g++")


def build_context(directory: Path, forced_include: str | None = None) -> BuildContext | None:
    """The shared part of the keys of ``directory``'s sources; None where the compiler cannot be asked
    (or the makefile's flags cannot be read)."""
    makefile = (directory / "makefile").read_text(errors="replace")
    flag_text = " ".join(re.findall(r"^(?:OPTIMISATIONS|CXXFLAGS)[ \t]*:?=(.*)$", makefile, re.M))
    try:
        flags = shlex.split(flag_text, posix=True)
    except ValueError:
        return None
    target_flags = tuple(sorted(f for f in flags if f.startswith(("-march", "-mtune", "-mcpu"))))
    identity = compiler_identity(make_compiler(), target_flags)
    if not identity:
        return None
    search = tuple(flag[2:] for flag in flags if flag.startswith("-I") and len(flag) > 2)
    digest = hashlib.sha256()
    parts = [_SOURCES_LINE.sub("", makefile), identity, brian2.__version__]
    if any(flag.startswith("-g") for flag in flags):  # debug information names the folder, as ccache hashes it
        parts.append(str(directory.resolve()))
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return BuildContext(directory, digest.hexdigest(), forced_include, search or (".",), _words(flag_text))


def source_key(context: BuildContext, source: str) -> tuple[str, list[str]]:
    """The key of ``source`` (relative to the build folder; see the module's description) and the files
    it reaches (:func:`included_files`).

    Raises
    ------
    UnresolvedInclude
        The source includes a header found nowhere (it is compiled, not cached).
    """
    forced = (context.forced_include,) if context.forced_include and source.startswith("code_objects/") else ()
    files = included_files(context.directory, source, forced, context.texts, context.search)
    texts = {name: context.texts[name] for name in [source, *files]}
    names = set(context.flag_words)
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


def _write_atomically(data: bytes, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _copy_atomically(source: Path, destination: Path) -> None:
    _write_atomically(source.read_bytes(), destination)


class ObjectCache:
    """The object cache of one build (:func:`restore` before ``make``, :func:`store` after it).

    An entry is a folder ``KEY[:2]/KEY`` holding ``object.d``, ``object.sha256`` and ``object.o`` (written
    last: an entry with ``object.o`` is whole). ``restored``: the sources whose object files came from the
    cache; ``stored``: those this build's ``make`` compiled and added to it.
    """

    def __init__(self, directory: Path, forced_include: str | None = None, root: Path | None = None):
        self.directory, self.root = Path(directory), root if root is not None else object_cache_root()
        self.restored: list[str] = []
        self.stored: list[str] = []
        self._keys: dict[str, tuple[str, list[str]]] = {}
        self._before: dict[str, int | None] = {}  # each object file's time before make (None: missing)
        if self.root is None:
            return
        try:
            context = build_context(self.directory, forced_include)
            for source in makefile_sources(self.directory) if context is not None else ():
                try:
                    self._keys[source] = source_key(context, source)
                except UnresolvedInclude:
                    continue
        except (OSError, ValueError) as err:
            self._give_up(err)

    @property
    def sources(self) -> list[str]:
        """The sources this build may restore or store (those with a key)."""
        return list(self._keys)

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _object(self, source: str) -> Path:
        return self.directory / Path(source).with_suffix(".o")

    def _give_up(self, err: Exception) -> None:
        warnings.warn(f"brainyolo: the object cache {self.root} is not used for this build: {err}", stacklevel=3)
        self._keys = {}

    def restore(self) -> int:
        """Put cached object files (and their dependency files) in place of missing or outdated ones, newer
        than every file they were compiled from; returns how many. An entry whose object file does not match
        its checksum (a copy cut short) is removed."""
        try:
            for source, (key, files) in self._keys.items():
                cached = self._entry(key)
                if (cached / "object.o").is_file() and not _up_to_date(self.directory, source, files):
                    data = (cached / "object.o").read_bytes()
                    if hashlib.sha256(data).hexdigest() != _read_or_empty(cached / "object.sha256"):
                        (cached / "object.o").unlink(missing_ok=True)
                    else:
                        target = self._object(source)
                        _copy_atomically(cached / "object.d", target.with_suffix(".d"))
                        _write_atomically(data, target)
                        now = time.time_ns()
                        for path in (target.with_suffix(".d"), target, cached):
                            os.utime(path, ns=(now, now))  # newer than its sources for make; recently used here
                        self.restored.append(source)
            for source in self._keys:
                target = self._object(source)
                self._before[source] = target.stat().st_mtime_ns if target.is_file() else None
        except OSError as err:
            self._give_up(err)
        return len(self.restored)

    def store(self) -> int:
        """Add the object files this build's ``make`` compiled to the cache; returns how many. An object file
        make did not write (it found it up to date) is not stored: it may have been compiled from other
        input (another compiler, another machine's ``-march=native``) than the key says."""
        try:
            for source, (key, files) in self._keys.items():
                target = self._object(source)
                if source in self.restored or source not in self._before or not target.is_file():
                    continue
                if target.stat().st_mtime_ns == self._before[source] or not _up_to_date(self.directory, source, files):
                    continue
                cached = self._entry(key)
                if (cached / "object.o").is_file():
                    continue
                data = target.read_bytes()
                _copy_atomically(target.with_suffix(".d"), cached / "object.d")
                _write_atomically(hashlib.sha256(data).hexdigest().encode(), cached / "object.sha256")
                _write_atomically(data, cached / "object.o")  # last: an entry with object.o is whole
                self.stored.append(source)
        except OSError as err:
            self._give_up(err)
        return len(self.stored)


def _read_or_empty(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return ""


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
            for path in (entry / "object.o", *entry.iterdir()):  # object.o first: the entry is no longer whole
                if path.is_file():
                    freed += path.stat().st_size
                    path.unlink()
            entry.rmdir()
            removed += 1
        except OSError:  # another process removed it, or is storing into it
            continue
    return removed, freed

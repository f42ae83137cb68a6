"""The build cache: compiled networks in ``$BRAINYOLO_CACHE/builds`` (default ``~/.cache/brainyolo/builds``),
their locks, the results folder of each run of a binary, and their removal (``brainyolo cache``).

A build folder is shared by every process that simulates the same model with the same network structure:
building takes an exclusive lock on ``<folder>.lock``, running a shared one; each run writes into a results
folder of its own, claimed by a lock the kernel drops when the process dies, so the folders killed runs
leave behind are found and removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import brian2
import numpy as np
from brian2.core.variables import VariableView
from brian2.units.fundamentalunits import fail_for_dimension_mismatch

from brainyolo import __version__
from brainyolo.readout.recordings import checkpoint_slots
from brainyolo.spiking.neurons import load_neuron_model
from brainyolo.spiking.settings import SimulationSettings
from brainyolo.spiking.synapses import load_synapse_model
from brainyolo.system.folders import SCRATCH_ENV, cache_home, scratch_home


@contextlib.contextmanager
def build_lock(directory: Path, exclusive: bool):
    """Reader-writer lock on a build folder: builds are exclusive, runs of the binary shared.

    A build rewrites sources and static arrays, so it must not overlap a run reading them; runs
    write into results folders of their own and may overlap each other.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(str(directory) + ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_root() -> Path:
    return cache_home() / "builds"


@dataclass(frozen=True)
class CachedBuild:
    """One compiled network in the build cache."""

    path: Path
    size_bytes: int
    last_used: float  # seconds since the epoch: the latest build or run


def _tree_bytes(path: Path) -> int:
    return sum(_stat(f).st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def cached_builds() -> list[CachedBuild]:
    """The build cache's compiled networks, least recently used first."""
    builds = []
    for path in cache_root().glob("*"):
        if not path.is_dir():
            continue
        # a run creates (then removes) its folder under results/: that folder's time is the last use
        used = [_stat(p).st_mtime for p in (path, path / "results", path / "main") if p.exists()]
        builds.append(CachedBuild(path, _tree_bytes(path), max(used)))
    return sorted(builds, key=lambda b: b.last_used)


CLAIM_SUFFIX = ".claim"


SCRATCH_MARGIN_BYTES = 512 * 2**20
"""Memory a scratch file system keeps free beyond a run's results (see :func:`results_folder`)."""


def _scratch_for(expected_bytes: int) -> Path | None:
    """The scratch folder (:func:`~brainyolo.system.folders.scratch_home`) if it holds four times
    ``expected_bytes`` and :data:`SCRATCH_MARGIN_BYTES` more, else None."""
    scratch = scratch_home()
    if scratch is None:
        return None
    try:
        scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _own_folder(scratch):
            return None
        # results are read by this user alone: the default folder is made private; a folder the user named is
        # left as it is
        if not os.environ.get(SCRATCH_ENV) and os.lstat(scratch).st_mode & 0o077:
            os.chmod(scratch, 0o700)
        free = os.statvfs(scratch)
    except OSError:
        return None
    if free.f_bavail * free.f_frsize < 4 * expected_bytes + SCRATCH_MARGIN_BYTES:
        return None
    return scratch


def _own_folder(path: Path) -> bool:
    """Whether ``path`` is a folder of this user's own, not a link: in a folder every user may write to
    (``/dev/shm``) another user could have put a link or a folder of theirs there."""
    try:
        status = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid()


_RUN_NAME = re.compile(r"[0-9a-f]{32}")
"""A results folder's name (``uuid4().hex``)."""


def _remove_results(folder: Path) -> int:
    """Remove a results folder; where it is a link, the link and the folder in the scratch folder it points to. A
    link to anything else (another user's link, a folder of another scratch setting) loses only the link. Return
    the bytes freed."""
    if not folder.is_symlink():
        freed = _tree_bytes(folder)
        shutil.rmtree(folder, ignore_errors=True)
        return freed
    target = folder.parent / folder.readlink()
    scratch = scratch_home()
    folder.unlink(missing_ok=True)
    if (scratch is not None and target.name == folder.name and _RUN_NAME.fullmatch(folder.name)
            and target.parent.resolve() == scratch.resolve() and _own_folder(target)):
        freed = _tree_bytes(target)
        shutil.rmtree(target, ignore_errors=True)
        return freed
    return 0


def incomplete_results(folder: Path, files: dict[str, int]) -> list[str]:
    """The result files among ``files`` (name: bytes) that a run's binary left missing or short, and
    ``last_run_info.txt``, written last, where it does not hold the run's time and completed fraction."""
    short = []
    for name, size in files.items():
        try:
            if os.stat(os.path.join(folder, name)).st_size != size:
                short.append(name)
        except OSError:
            short.append(name)
    try:
        if len((folder / "last_run_info.txt").read_text().split()) != 2:
            short.append("last_run_info.txt")
    except OSError:
        short.append("last_run_info.txt")
    return short


@contextlib.contextmanager
def results_folder(build_dir: Path, expected_bytes: int | None = None):
    """A fresh results folder for one run of a build's binary: ``build_dir/results/<uuid>``.

    With ``expected_bytes`` (what the run will write) and a scratch folder in memory with room for it
    (:func:`_scratch_for`), the folder is a link to ``<scratch>/<uuid>``: the binary's results then never
    reach the disk (they are read once and removed). The run holds an exclusive lock on ``<uuid>.claim``
    beside it from before the folder exists until it is removed (on success and on errors alike). The
    kernel drops the lock when the process dies, so a folder whose claim can be taken belongs to no living
    run: :func:`remove_abandoned_results` removes those (and what they link to).
    """
    results = build_dir / "results"
    results.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    claim = results / (name + CLAIM_SUFFIX)
    with open(claim, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        held = None
        try:
            scratch = _scratch_for(expected_bytes) if expected_bytes is not None else None
            if scratch is not None:
                held = _held_folder(scratch / name)
            if held is not None:
                (results / name).symlink_to(scratch / name, target_is_directory=True)
            yield results / name
        finally:
            try:
                if held is not None:  # the link, then the folder it points to, still held
                    (results / name).unlink(missing_ok=True)
                    shutil.rmtree(scratch / name, ignore_errors=True)
                else:  # a plain folder (made by write_run_inputs, or Brian2's run)
                    shutil.rmtree(results / name, ignore_errors=True)
            finally:
                if held is not None:
                    os.close(held)
                claim.unlink(missing_ok=True)
                fcntl.flock(handle, fcntl.LOCK_UN)


def _held_folder(folder: Path) -> int | None:
    """A new folder in the scratch folder, locked by this run (its claim, :func:`remove_orphaned_scratch`): the
    descriptor that holds it, or None (nothing left behind) where the file system cannot make or lock it."""
    try:
        folder.mkdir(mode=0o700)
        held = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. no inode left
        with contextlib.suppress(OSError):
            folder.rmdir()
        return None
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
    except OSError:  # e.g. a network file system
        os.close(held)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return held


def results_bytes(folder: Path) -> int:
    """What a run wrote into its results folder (a link into the scratch folder followed), its input arrays
    (:data:`RUN_INPUTS`) included."""
    inputs = Path(folder) / RUN_INPUTS
    return sum(entry.stat().st_size for where in (folder, inputs) if os.path.isdir(where)
               for entry in os.scandir(where) if entry.is_file())


def remove_abandoned_results(build_dir: Path) -> int:
    """Remove the results folders of a build that no living run claims; return the bytes freed.

    Such folders are what killed runs leave behind (a float64 1000-step yolov3-tiny run writes
    ~2 GB of monitor arrays there). Folders of runs in progress are claimed and left alone.
    """
    results = build_dir / "results"
    if not results.is_dir():
        return 0
    names = {p.name.removesuffix(CLAIM_SUFFIX) for p in results.iterdir()}
    if not names:
        return 0
    last_used = _stat(results).st_mtime  # cleaning is no use of the build (see cached_builds)
    freed = 0
    for name in sorted(names):
        claim = results / (name + CLAIM_SUFFIX)
        try:
            handle = open(claim, "a+")
        except OSError:  # the build folder went away (``cache --clear``)
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a run in progress
            try:
                folder = results / name
                if folder.is_dir() or folder.is_symlink():
                    freed += _remove_results(folder)
                claim.unlink(missing_ok=True)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.utime(results, (last_used, last_used))
    return freed


ORPHAN_AGE_SECONDS = 60.0
"""How old a folder in the scratch folder must be before :func:`remove_orphaned_scratch` may take it for an orphan
(a run creates it a moment before it locks it)."""


def remove_orphaned_scratch() -> int:
    """Remove the folders in the scratch folder that no living run holds (each run holds a lock on its own, which
    the kernel drops when the process dies): what killed runs of any build left in memory. Return the bytes
    freed."""
    scratch = scratch_home()
    if scratch is None or not _own_folder(scratch):
        return 0
    freed, limit = 0, time.time() - ORPHAN_AGE_SECONDS
    for folder in scratch.iterdir():
        if not (_RUN_NAME.fullmatch(folder.name) and _own_folder(folder) and _stat(folder).st_mtime < limit):
            continue
        try:
            held = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a run in progress (or a file system that cannot lock: left alone)
            os.close(held)
            continue
        try:
            freed += _tree_bytes(folder)
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(held)
    return freed


RUN_INPUTS = "inputs"
"""The folder, inside a run's results folder, of the arrays of its run arguments (:func:`write_run_inputs`)."""


def run_argument(key, value) -> tuple[str, str | None, np.ndarray]:
    """One of Brian2's ``run_args`` (``key``: a ``VariableView`` or a ``TimedArray``) as Brian2's binary takes it:
    ``(name, the value on the command line or None, the array)``; None where the array goes into a file.

    Brian2's own checks (``CPPStandaloneDevice._prepare_variableview_run_arg`` and ``_prepare_timed_array_run_arg``),
    without naming the file by the MD5 of its content (a yolov3-tiny image's 11 MB: 0.02 s per image).

    Raises
    ------
    TypeError
        ``key`` is neither, or the array has another size than the variable (Brian2's words).
    brian2.DimensionMismatchError
        ``value`` has other units than the variable.
    """
    timed = isinstance(key, brian2.TimedArray)
    if not timed and not isinstance(key, VariableView):  # Brian2's own words
        raise TypeError("The keys for 'run_args' need to be 'VariableView' objects, i.e. attributes of groups such "
                        f"as 'neurongroup.v', or a 'TimedArray'. Key has type '{type(key)}' instead.")
    fail_for_dimension_mismatch(key.dim, value)
    name = f"{key.name}.values" if timed else f"{key.group_name}.{key.name}"
    array = np.asarray(value, dtype=key.values.dtype if timed else key.dtype)
    if array.ndim == 0 or array.size == 1:
        return name, repr(array.item()), array
    # (a variable's shape only here, as in Brian2: a single value's variable may have none to give)
    if timed:
        fits = array.shape == key.values.shape
    else:
        fits = array.ndim == 1 and (key.variable.dynamic or array.size == key.shape[0])
    if not fits:
        shape = key.values.shape if timed else key.shape
        raise TypeError(f"Incorrect size for variable '{name}'. Shape {shape} ≠ {array.shape}.")
    return name, None, array


def write_run_inputs(build_dir: Path, results_dir: Path, arguments: list[tuple[str, str | None, np.ndarray]]) \
        -> list[str]:
    """Write the arrays of a run's ``arguments`` (:func:`run_argument`'s, checked before the run's results folder was
    made) into that folder (``results_dir``, inside ``build_dir``, where the binary runs); return the binary's
    command-line arguments (for ``device.run``): Brian2's ``name=value``, an array's value its file's path relative
    to the build folder.

    Brian2's ``device.run`` writes each array into the build's ``static_arrays`` under the MD5 of its content, where
    a process killed while writing left it cut short for later runs to read. Here the files are the run's own,
    in :data:`RUN_INPUTS` of its results folder (in memory where the results are), removed with it.
    """
    relative = Path(results_dir).relative_to(build_dir).as_posix()
    folder = results_dir / RUN_INPUTS
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, text, array in arguments:
        if text is None:
            array.tofile(folder / f"{name}.dat")
            text = f"{relative}/{RUN_INPUTS}/{name}.dat"
        lines.append(f"{name}={text}")
    return lines


def _stat(path: Path) -> os.stat_result:
    """``path.stat()``, or zeros for a file that a concurrent run just removed."""
    try:
        return path.stat()
    except FileNotFoundError:
        return os.stat_result((0,) * 10)


def remove_builds(older_than_days: float = 0.0) -> tuple[list[CachedBuild], list[CachedBuild]]:
    """Delete cached builds not used for ``older_than_days``; return (removed, busy).

    A build that is being compiled or run holds its lock: it is left alone and listed as busy.
    The empty lock files stay (removing one could let two processes lock different files).
    The builds that stay lose the results folders that killed runs left behind.
    """
    limit = time.time() - older_than_days * 86400
    removed, busy = [], []
    for build in cached_builds():
        if build.last_used > limit:
            remove_abandoned_results(build.path)
            continue
        with open(str(build.path) + ".lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy.append(build)
                continue
            try:
                remove_abandoned_results(build.path)  # with what their links point to in the scratch folder
                shutil.rmtree(build.path)
                removed.append(build)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    return removed, busy


def _file_text(model) -> str:
    return Path(model.source).read_text() if model.source else model.name


@functools.cache
def generator_digest() -> str:
    """Digest of this package's own code and code-generation templates: what writes a binary's sources besides
    Brian2, so that an edited template or builder (a development install between two versions) builds anew
    instead of running a binary the old code wrote."""
    return code_digest(Path(__file__).resolve().parents[1])


def code_digest(root: Path) -> str:
    """Digest of the Python files under ``root`` and the files of its ``templates/<target>/`` folders (names and
    contents)."""
    digest = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *root.rglob("templates/*/*")]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_key(model_sha256: str, settings: SimulationSettings) -> str:
    """Identity of a compiled binary: model, neuron file text, options, versions, this package's code
    (:func:`generator_digest`)."""

    neuron = load_neuron_model(settings.build.neuron)
    built = {k: v for k, v in asdict(settings).items()  # runs set those
             if k not in ("parameters", "events", "thresholds", "preset", "decode", "steps", "checkpoints",
                          "counts")}  # (counts: what the writer keeps of a run's results)
    # steps and checkpoints are run-time inputs; only the number of checkpoint slots is built
    built["checkpoint_slots"] = checkpoint_slots(settings.checkpoints, settings.steps)
    parts = {"model": model_sha256, "neuron": Path(neuron.source).read_text() if neuron.source else "",
             "settings": built, "brainyolo": __version__, "code": generator_digest(), "brian2": brian2.__version__}
    # options added later count only where they differ from their defaults (earlier builds stay valid)
    for key, default in (("synapse", "instant"), ("max_delay", 0), ("lesions", False),
                         ("channel_parameters", False), ("layer_neurons", ()), ("layer_synapses", ())):
        if built["build"][key] == default:
            del built["build"][key]
    if settings.build.layer_neurons:  # the files' texts: an edited file is another binary
        parts["layer_neurons"] = [[k, _file_text(load_neuron_model(v))] for k, v in settings.build.layer_neurons]
    if settings.build.layer_synapses:
        parts["layer_synapses"] = [[k, _file_text(load_synapse_model(v))] for k, v in settings.build.layer_synapses]
    if settings.build.synapse != "instant":
        synapse = load_synapse_model(settings.build.synapse)
        parts["synapse"] = Path(synapse.source).read_text() if synapse.source else ""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]

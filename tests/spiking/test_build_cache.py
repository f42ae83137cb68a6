"""Results folders of standalone runs: in a scratch folder in memory where it has room, removed with what they
link to, and found when a killed run left them behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from brainyolo.io.mapping import MAPS_FILES, mapped_array
from brainyolo.spiking import build_cache
from brainyolo.spiking.build_cache import (
    CLAIM_SUFFIX,
    remove_abandoned_results,
    results_bytes,
    results_folder,
)
from brainyolo.system.folders import SCRATCH_ENV, scratch_home


@pytest.mark.codegen_independent
def test_the_scratch_folder_is_the_chosen_one_shared_memory_or_none(monkeypatch):
    monkeypatch.setenv(SCRATCH_ENV, "off")
    assert scratch_home() is None
    monkeypatch.setenv(SCRATCH_ENV, "/some/where")
    assert scratch_home() == Path("/some/where")
    monkeypatch.delenv(SCRATCH_ENV)
    # an independent reading of the file system type: coreutils' stat
    kind = subprocess.run(["stat", "-f", "-c", "%T", "/dev/shm"], capture_output=True, text=True)
    if kind.returncode == 0 and kind.stdout.strip() == "tmpfs" and os.access("/dev/shm", os.W_OK):
        assert scratch_home() == Path(f"/dev/shm/brainyolo-{os.getuid()}")
    else:
        assert scratch_home() is None


@pytest.mark.codegen_independent
def test_a_results_folder_with_room_in_the_scratch_is_a_link_into_it_and_goes_with_it(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    monkeypatch.setenv(SCRATCH_ENV, str(scratch))
    build = tmp_path / "build"
    with results_folder(build, 1000) as folder:
        assert folder.parent == build / "results" and folder.is_symlink()
        assert folder.resolve() == (scratch / folder.name).resolve()
        (folder / "a").write_bytes(b"x" * 300)
        (folder / "b").write_bytes(b"y" * 20)
        assert results_bytes(folder) == 320
        assert (scratch / folder.name / "a").read_bytes() == b"x" * 300
    assert list((build / "results").iterdir()) == [] and list(scratch.iterdir()) == []


@pytest.mark.codegen_independent
@pytest.mark.parametrize("expected, scratch", [(None, "memory"), (1000, "off"), (10**18, "memory")])
def test_a_results_folder_stays_in_the_build_without_room_scratch_or_size(tmp_path, monkeypatch, expected, scratch):
    """No expected size, no scratch folder (``off``), or more than a quarter of the scratch's free room less
    the margin: a plain folder in the build (which Brian2's run creates)."""
    monkeypatch.setenv(SCRATCH_ENV, "off" if scratch == "off" else str(tmp_path / scratch))
    with results_folder(tmp_path / "build", expected) as folder:
        assert folder.parent == tmp_path / "build" / "results" and not folder.is_symlink() and not folder.exists()
        folder.mkdir()
        (folder / "a").write_bytes(b"x" * 10)
        assert results_bytes(folder) == 10
    assert list((tmp_path / "build" / "results").iterdir()) == []
    assert not (tmp_path / scratch).exists() or list((tmp_path / scratch).iterdir()) == []


@pytest.mark.codegen_independent
def test_the_margin_decides_with_the_free_room(tmp_path, monkeypatch):
    """Four times the expected bytes and the margin must be free: just below it stays in the build."""
    scratch = tmp_path / "scratch"
    monkeypatch.setenv(SCRATCH_ENV, str(scratch))
    scratch.mkdir()
    stat = os.statvfs(scratch)
    free = stat.f_bavail * stat.f_frsize
    monkeypatch.setattr(build_cache, "SCRATCH_MARGIN_BYTES", free - 4 * 1000)  # exactly enough for 1000 bytes
    monkeypatch.setattr(build_cache.os, "statvfs", lambda path: stat)
    with results_folder(tmp_path / "build", 1000) as folder:
        assert folder.is_symlink()
    with results_folder(tmp_path / "build", 1001) as folder:
        assert not folder.is_symlink() and not folder.exists()


@pytest.mark.codegen_independent
def test_a_killed_runs_linked_folder_is_removed_with_its_target_and_a_living_ones_kept(tmp_path, monkeypatch):
    import fcntl

    results, scratch = tmp_path / "build" / "results", tmp_path / "scratch"
    monkeypatch.setenv(SCRATCH_ENV, str(scratch))
    results.mkdir(parents=True)
    killed, running, gone = "a" * 32, "b" * 32, "c" * 32
    for name in (killed, running):
        (scratch / name).mkdir(parents=True)
        (scratch / name / "spikes").write_bytes(b"z" * 500)
        (results / name).symlink_to(scratch / name, target_is_directory=True)
        (results / (name + CLAIM_SUFFIX)).touch()
    (results / gone).symlink_to(scratch / gone, target_is_directory=True)  # its memory was cleared
    (results / (gone + CLAIM_SUFFIX)).touch()
    with open(results / (running + CLAIM_SUFFIX), "a+") as claim:
        fcntl.flock(claim, fcntl.LOCK_EX)
        assert remove_abandoned_results(tmp_path / "build") == 500
        assert sorted(p.name for p in results.iterdir()) == [running, running + CLAIM_SUFFIX]
        assert sorted(p.name for p in scratch.iterdir()) == [running]


@pytest.mark.codegen_independent
def test_a_scratch_folder_that_is_a_link_is_not_used(tmp_path, monkeypatch):
    """Where every user may write (``/dev/shm``), the scratch folder could be another user's link: the results
    then stay in the build."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "scratch").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    monkeypatch.setenv(SCRATCH_ENV, str(tmp_path / "scratch"))
    with results_folder(tmp_path / "build", 1000) as folder:
        assert not folder.is_symlink()
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.codegen_independent
def test_removing_a_build_removes_what_its_left_behind_results_link_to(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(SCRATCH_ENV, str(tmp_path / "scratch"))
    build = build_cache.cache_root() / "old"
    killed = "d" * 32
    (build / "results").mkdir(parents=True)
    (tmp_path / "scratch" / killed).mkdir(parents=True)
    (tmp_path / "scratch" / killed / "spikes").write_bytes(b"z" * 10)
    (build / "results" / killed).symlink_to(tmp_path / "scratch" / killed, target_is_directory=True)
    (build / "results" / (killed + CLAIM_SUFFIX)).touch()
    removed, busy = build_cache.remove_builds()
    assert [b.path for b in removed] == [build] and busy == []
    assert not build.exists() and list((tmp_path / "scratch").iterdir()) == []


@pytest.mark.codegen_independent
def test_a_left_behind_link_to_anything_but_a_run_folder_in_the_scratch_loses_only_the_link(tmp_path, monkeypatch):
    """A link planted in a shared build folder (to a user's work, or to a folder of another scratch setting)
    must never take what it points to with it."""
    monkeypatch.setenv(SCRATCH_ENV, str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    results = tmp_path / "build" / "results"
    results.mkdir(parents=True)
    work = tmp_path / "work"
    (work / ("e" * 32)).mkdir(parents=True)
    (work / ("e" * 32) / "thesis.tex").write_text("keep")
    (tmp_path / "scratch" / "notes").mkdir()
    for name, target in ((("e" * 32), work / ("e" * 32)), ("notes", tmp_path / "scratch" / "notes"),
                         ("f" * 32, work)):
        (results / name).symlink_to(target, target_is_directory=True)
        (results / (name + CLAIM_SUFFIX)).touch()
    remove_abandoned_results(tmp_path / "build")
    assert list(results.iterdir()) == []
    assert (work / ("e" * 32) / "thesis.tex").read_text() == "keep" and (tmp_path / "scratch" / "notes").is_dir()


@pytest.mark.codegen_independent
def test_a_relative_or_home_scratch_setting_is_made_absolute_and_a_loose_default_folder_private(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(SCRATCH_ENV, "mem")
    assert scratch_home() == tmp_path / "mem"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(SCRATCH_ENV, "~/mem")
    assert scratch_home() == tmp_path / "home" / "mem"
    (tmp_path / "mem").mkdir(mode=0o777)
    os.chmod(tmp_path / "mem", 0o777)
    monkeypatch.setenv(SCRATCH_ENV, "mem")
    with results_folder(tmp_path / "build", 1000) as folder:
        assert folder.is_symlink() and folder.resolve().parent == tmp_path / "mem"
        assert os.stat(folder).st_mode & 0o777 == 0o700  # a run's own folder is private
    assert os.stat(tmp_path / "mem").st_mode & 0o777 == 0o777  # a folder the user named is left as it is
    monkeypatch.delenv(SCRATCH_ENV)  # the default folder (here in place of /dev/shm's) is made private
    monkeypatch.setattr(build_cache, "scratch_home", lambda: tmp_path / "mem")
    with results_folder(tmp_path / "build", 1000) as folder:
        assert folder.is_symlink()
    assert os.stat(tmp_path / "mem").st_mode & 0o777 == 0o700


@pytest.mark.codegen_independent
def test_short_or_missing_result_files_and_an_unfinished_run_info_are_found(tmp_path):
    from brainyolo.spiking.build_cache import incomplete_results

    (tmp_path / "a").write_bytes(b"x" * 8)
    (tmp_path / "b").write_bytes(b"x" * 3)
    (tmp_path / "last_run_info.txt").write_text("1.25 1")
    assert incomplete_results(tmp_path, {"a": 8}) == []
    assert incomplete_results(tmp_path, {"a": 8, "b": 4, "c": 4}) == ["b", "c"]
    (tmp_path / "last_run_info.txt").write_text("")  # written last: a full file system leaves it empty
    assert incomplete_results(tmp_path, {"a": 8}) == ["last_run_info.txt"]


@pytest.mark.codegen_independent
def test_folders_in_the_scratch_that_no_living_run_holds_are_swept_once_old(tmp_path, monkeypatch):
    """Whatever the build cache: a folder in memory whose run holds its lock stays (a run of another
    ``BRAINYOLO_CACHE``), and so does one just made (its run has not locked it yet)."""
    import fcntl

    scratch = tmp_path / "scratch"
    monkeypatch.setenv(SCRATCH_ENV, str(scratch))
    running, orphan, young, other = "1" * 32, "2" * 32, "3" * 32, "not-a-run"
    for name in (running, orphan, young, other):
        (scratch / name).mkdir(parents=True)
        (scratch / name / "v").write_bytes(b"v" * 7)
    old = os.stat(scratch / orphan).st_mtime - 2 * build_cache.ORPHAN_AGE_SECONDS
    for name in (running, orphan, other):
        os.utime(scratch / name, (old, old))
    held = os.open(scratch / running, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert build_cache.remove_orphaned_scratch() == 7
    finally:
        os.close(held)
    assert sorted(p.name for p in scratch.iterdir()) == sorted([running, young, other])
    assert build_cache.remove_orphaned_scratch() == 7  # its run ended without removing it (killed)
    assert sorted(p.name for p in scratch.iterdir()) == sorted([young, other])


@pytest.mark.codegen_independent
def test_a_run_holds_its_folder_in_memory_against_the_sweep(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    monkeypatch.setenv(SCRATCH_ENV, str(scratch))
    monkeypatch.setattr(build_cache, "ORPHAN_AGE_SECONDS", -10.0)  # every folder old enough
    with results_folder(tmp_path / "build", 1000) as folder:
        (folder / "v").write_bytes(b"v")
        assert build_cache.remove_orphaned_scratch() == 0 and (folder / "v").exists()
    assert list(scratch.iterdir()) == []


@pytest.mark.codegen_independent
def test_a_scratch_folder_that_cannot_be_locked_leaves_the_results_on_disk(tmp_path, monkeypatch):
    """A file system whose locks fail (a network file system's emulated ``flock`` on a read-only descriptor):
    the run keeps its results in the build, and the sweep skips what it cannot lock."""
    import fcntl

    monkeypatch.setenv(SCRATCH_ENV, str(tmp_path / "scratch"))
    real = fcntl.flock

    def failing(target, operation):
        if isinstance(target, int):  # the folders' descriptors (the claim files are file objects)
            raise OSError(9, "Bad file descriptor")
        return real(target, operation)

    monkeypatch.setattr(build_cache.fcntl, "flock", failing)
    with results_folder(tmp_path / "build", 1000) as folder:
        assert not folder.is_symlink()
    assert list((tmp_path / "scratch").iterdir()) == []
    (tmp_path / "scratch" / ("9" * 32)).mkdir()
    monkeypatch.setattr(build_cache, "ORPHAN_AGE_SECONDS", -10.0)
    assert build_cache.remove_orphaned_scratch() == 0 and (tmp_path / "scratch" / ("9" * 32)).is_dir()


@pytest.mark.codegen_independent
def test_a_folder_in_memory_that_cannot_be_made_leaves_the_results_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv(SCRATCH_ENV, str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    monkeypatch.setattr(build_cache.os, "open", lambda *args, **kwargs: (_ for _ in ()).throw(OSError(28, "full")))
    with results_folder(tmp_path / "build", 1000) as folder:
        assert not folder.is_symlink()
    assert list((tmp_path / "scratch").iterdir()) == []


@pytest.mark.codegen_independent
def test_run_arguments_are_brian2s_own_names_values_and_bytes_in_the_runs_folder(tmp_path):
    """Each run argument as Brian2's own preparation gives it (its name, a single value's text, an array's bytes,
    Brian2's checks: a neuron variable, an integer one, a subgroup's, a synaptic (dynamic) one, a ``TimedArray``'s
    values), the arrays written into the run's own folder with paths relative to the build."""
    import brian2
    import numpy as np

    from brainyolo.spiking.build_cache import RUN_INPUTS, run_argument, write_run_inputs
    from brainyolo.spiking.device import standalone

    with standalone(1, directory=str(tmp_path / "build"), build_on_run=False):
        group = brian2.NeuronGroup(3, "v : volt\nn : integer", name="cells")
        synapses = brian2.Synapses(group, group, "w : 1", name="links")
        synapses.connect(i=[0, 1], j=[1, 2])
        stimulus = brian2.TimedArray(np.array([1.0, 2.0]) * brian2.nA, dt=brian2.ms, name="stimulus")
        part = group[:2]
        brian2.Network(group, synapses)  # (all of them used)
        device = brian2.get_device()
        cases = [(group.v, np.array([1.0, 2.0, 3.0]) * brian2.mV), (group.v, -65 * brian2.mV),
                 (group.n, [4, 5, 6]), (part.v, np.array([1.0, 2.0]) * brian2.mV),
                 (synapses.w, np.array([0.5, 0.25])), (stimulus, np.array([3.0, 4.0]) * brian2.nA),
                 (stimulus, 0 * brian2.nA)]
        for key, value in cases:
            prepare = (device._prepare_timed_array_run_arg if isinstance(key, brian2.TimedArray)
                       else device._prepare_variableview_run_arg)
            name, text, file_name, array = prepare(key, value)
            ours = run_argument(key, value)
            assert ours[:2] == (name, None if file_name else text)
            assert ours[2].dtype == array.dtype and ours[2].tobytes() == array.tobytes()
        for key, value, error in [(group.v, np.ones(4) * brian2.mV, TypeError),
                                  (group.v, np.ones((3, 1)) * brian2.mV, TypeError),
                                  (part.v, np.ones(3) * brian2.mV, TypeError),
                                  (group.v, [1.0, 2, 3], brian2.DimensionMismatchError),
                                  (stimulus, np.ones(3) * brian2.nA, TypeError)]:
            prepare = (device._prepare_timed_array_run_arg if isinstance(key, brian2.TimedArray)
                       else device._prepare_variableview_run_arg)
            with pytest.raises(error):
                prepare(key, value)
            with pytest.raises(error):
                run_argument(key, value)
        with pytest.raises(TypeError, match="VariableView"):
            run_argument("cells.v", 1.0)
        run = tmp_path / "build" / "results" / "r1"
        values = {group.v: np.array([1.0, 2.0, 3.0]) * brian2.mV, group.n: 7,
                  stimulus: np.array([3.0, 4.0]) * brian2.nA}
        arguments = write_run_inputs(tmp_path / "build", run, [run_argument(k, v) for k, v in values.items()])
    assert arguments == [f"cells.v=results/r1/{RUN_INPUTS}/cells.v.dat", "cells.n=7",
                         f"stimulus.values=results/r1/{RUN_INPUTS}/stimulus.values.dat"]
    assert np.fromfile(run / RUN_INPUTS / "cells.v.dat").tolist() == pytest.approx([1e-3, 2e-3, 3e-3])
    assert np.fromfile(run / RUN_INPUTS / "stimulus.values.dat").tolist() == pytest.approx([3e-9, 4e-9])
    assert results_bytes(run) == 3 * 8 + 2 * 8  # (what a run's folder holds counts its inputs)


@pytest.mark.codegen_independent
@pytest.mark.skipif(not MAPS_FILES or not os.path.isdir("/proc/self/fd"),
                    reason="results are copied here (Python < 3.13 or not POSIX), or no /proc to count descriptors")
def test_a_mapped_result_is_the_file_s_numbers_without_a_descriptor_and_outlives_the_file(tmp_path):
    """A results file mapped (what a run's large arrays are read as): the numbers np.fromfile reads; writable
    without the file changing; still whole once the file is removed (as a run's results folder is); no descriptor
    left open, however many are mapped; an empty file is an empty array."""
    values = np.arange(-5, 300_000, dtype=np.int32)
    path = tmp_path / "_array_layer00_positive_count"
    values.tofile(path)
    descriptors = len(os.listdir("/proc/self/fd"))
    arrays = [mapped_array(path, np.int32) for _ in range(50)]
    assert len(os.listdir("/proc/self/fd")) == descriptors
    np.testing.assert_array_equal(arrays[0], np.fromfile(path, np.int32))
    arrays[0][:3] = 7
    assert arrays[0][:3].tolist() == [7, 7, 7] and arrays[1][:3].tolist() == [-5, -4, -3]
    np.testing.assert_array_equal(np.fromfile(path, np.int32), values)
    path.unlink()
    np.testing.assert_array_equal(arrays[1], values)
    (tmp_path / "empty").touch()
    assert mapped_array(tmp_path / "empty", np.float32).shape == (0,)

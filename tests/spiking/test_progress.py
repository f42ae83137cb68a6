"""Progress of a simulation, from the binary itself (issue 13): the report lines, their rendering,
and the run wrapper around the binary (tested with a stand-in binary, then with a compiled one)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

import pytest

from brainyolo.spiking.measure import MARK, ProgressLine, progress_setting, progress_text


@pytest.mark.codegen_independent
@pytest.mark.parametrize(("steps", "elapsed", "completed", "expected"), [
    (300, 0.0, 0.0, "a.jpg: 0/300 steps"),
    (300, 3.0, 0.1, "a.jpg: 30/300 steps, 100.0 ms/step, 27 s left"),
    (3000, 45.0, 0.25, "a.jpg: 750/3000 steps, 60.0 ms/step, 2 min 15 s left"),
    (3000, 3600.0, 0.5, "a.jpg: 1500/3000 steps, 2400.0 ms/step, 1 h 00 min left"),
    (3000, 20.0, 1.0, "a.jpg: 3000/3000 steps, 6.7 ms/step, 0 s left"),
])
def test_progress_text_hand_computed(steps, elapsed, completed, expected):
    assert progress_text("a.jpg", steps, elapsed, completed) == expected


@pytest.mark.codegen_independent
def test_progress_line_log_and_terminal():
    log = io.StringIO()
    line = ProgressLine(progress_setting("log", 100, "x.png", every=10), log)
    for elapsed, completed in [(0, 0), (5, 0.1), (10, 0.2), (12, 0.25), (25, 0.5), (40, 1.0)]:
        line.report(elapsed, completed)
    line.close()
    # one line per 10 s of the run, none at the end (the caller reports the finished image)
    assert log.getvalue().splitlines() == ["x.png: 20/100 steps, 500.0 ms/step, 40 s left",
                                           "x.png: 50/100 steps, 500.0 ms/step, 25 s left"]
    tty = io.StringIO()
    line = ProgressLine(progress_setting("tty", 100, "x.png", every=2), tty)
    for elapsed, completed in [(0, 0), (1, 0.1), (2, 0.2), (3, 1.0)]:
        line.report(elapsed, completed)
    line.close()
    # shown from 2 s on, rewritten in place, the line cleared when the run ends
    assert tty.getvalue() == "\rx.png: 20/100 steps, 100.0 ms/step, 8 s left\033[K\r\033[K"
    quick = io.StringIO()
    line = ProgressLine(progress_setting("tty", 100, "x.png"), quick)
    line.report(0.5, 1.0)
    line.close()
    assert quick.getvalue() == ""  # a short run leaves the terminal alone


STAND_IN = f"""#!/bin/sh
echo "binary line 1"
echo "{MARK} 0 0"
echo "{MARK} 1.5 0.5"
echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo "GLIBC_TUNABLES=$GLIBC_TUNABLES"
echo "{MARK} 3 1"
exit 3
"""


def _run_wrapper(tmp_path, environment):
    binary = tmp_path / "main"
    binary.write_text(STAND_IN)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "BRAINYOLO_PROGRESS", "GLIBC_TUNABLES")}
    env.update(environment)
    return subprocess.run([sys.executable, "-m", "brainyolo.spiking.measure", str(binary), "--results_dir",
                           str(tmp_path / "results")], capture_output=True, text=True, env=env)


@pytest.mark.codegen_independent
def test_wrapper_passes_output_renders_progress_and_waits_passively(tmp_path):
    done = _run_wrapper(tmp_path, {"BRAINYOLO_PROGRESS": progress_setting("log", 40, "img.jpg", every=0)})
    assert done.returncode == 3  # the binary's own exit status
    # the binary's other lines reach Brian2's stdout file unchanged; progress lines do not
    assert done.stdout.splitlines() == ["binary line 1", "OMP_WAIT_POLICY=PASSIVE",
                                        "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"]
    assert done.stderr.splitlines() == ["img.jpg: 0/40 steps", "img.jpg: 20/40 steps, 75.0 ms/step, 2 s left"]
    assert int((tmp_path / "results" / "peak_memory_bytes").read_text()) > 0
    silent = _run_wrapper(tmp_path, {"OMP_WAIT_POLICY": "ACTIVE"})
    assert silent.stderr == ""  # no progress asked: nothing shown
    assert "OMP_WAIT_POLICY=ACTIVE" in silent.stdout.splitlines()  # a caller's own policy is kept


@pytest.mark.codegen_independent
@pytest.mark.parametrize("caller, binary", [
    ("glibc.malloc.arena_max=2", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"),  # the caller's tunables kept
    ("glibc.malloc.hugetlb=0", "glibc.malloc.hugetlb=0"),  # a caller who turns huge pages off keeps them off
    ("glibc.malloc.hugetlb=2:glibc.malloc.arena_max=2", "glibc.malloc.hugetlb=2:glibc.malloc.arena_max=2"),
    ("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0"),
    ("glibc.malloc.hugetlbx=1", "glibc.malloc.hugetlbx=1:glibc.malloc.hugetlb=1"),  # another tunable's name
    ("", "glibc.malloc.hugetlb=1"),
])
def test_wrapper_asks_glibc_for_huge_pages_unless_the_caller_chose(tmp_path, caller, binary):
    done = _run_wrapper(tmp_path, {"GLIBC_TUNABLES": caller})
    assert f"GLIBC_TUNABLES={binary}" in done.stdout.splitlines()


@pytest.mark.long
@pytest.mark.standalone_only
def test_the_compiled_binary_reports_its_progress(tiny_converted, shared_build_cache, capfd):
    """(The model and settings of test_simulation's standalone tests: one binary for all of them.)"""
    from conftest import STANDALONE

    from brainyolo.spiking.settings import BuildOptions
    from brainyolo.spiking.simulate import SimulationSettings, Simulator

    model_path, (image, _) = tiny_converted
    steps = STANDALONE["steps"]
    settings = SimulationSettings(steps=steps, checkpoints=STANDALONE["checkpoints"], device="cpp_standalone",
                                  threads=STANDALONE["threads"], build=BuildOptions(output=STANDALONE["output"]))
    with Simulator(model_path, settings, progress=True, progress_every=0) as simulator:
        capfd.readouterr()
        shown = simulator.run(image)
        err = capfd.readouterr().err.splitlines()
        simulator.progress = False
        quiet = simulator.run(image)
        assert capfd.readouterr().err == ""  # progress off: the same binary shows nothing
    # the report at t = 0, then one per report period: every line names the image and counts steps
    assert err and err[0] == f"{image.name}: 0/{steps} steps"
    assert all(line.startswith(f"{image.name}: ") and f"/{steps} steps" in line for line in err)
    assert shown.synaptic_events == quiet.synaptic_events > 0

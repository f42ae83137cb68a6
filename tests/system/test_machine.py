"""The default thread count follows the cores a process may use (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from brainyolo.system.machine import usable_cores


@pytest.mark.codegen_independent
def test_usable_cores_follow_affinity_and_cgroup_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path / "none") == affinity  # no cgroup file: the affinity
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cores(tmp_path) == affinity  # no quota
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert usable_cores(tmp_path) == 1  # half a core: one thread
    (tmp_path / "cpu.max").write_text(f"{150000 * affinity} 100000\n")
    assert usable_cores(tmp_path) == affinity  # a quota above the affinity does not add cores
    (tmp_path / "cpu.max").write_text("garbage\n")
    assert usable_cores(tmp_path) == affinity


@pytest.mark.codegen_independent
def test_a_process_pinned_to_one_core_defaults_to_one_thread():
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "from brainyolo.system.machine import usable_cores; "
            "from brainyolo.spiking.simulate import SimulationSettings; "
            "print(usable_cores(), SimulationSettings().threads)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "1"]

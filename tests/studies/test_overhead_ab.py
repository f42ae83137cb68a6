"""analysis/overhead/ab.sh, as its README runs it: a commit's brainyolo against this checkout's, in turn, twice,
with options for this checkout's runs only (here: the same commit, 2 runtime steps, ``--counts channels`` for
"now")."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import REPO, git_in_repo, not_a_git_checkout, script_environment, write_images

pytestmark = [pytest.mark.codegen_independent, pytest.mark.long]


@not_a_git_checkout
def test_ab_compares_a_commit_with_this_checkout_and_gives_now_its_own_options(tmp_path):
    photos = write_images(tmp_path / "photos", 2, seed=8)
    out = tmp_path / "ab"
    env = script_environment()
    try:
        proc = subprocess.run(["bash", str(REPO / "analysis/overhead/ab.sh"), "HEAD", "embedded", str(out),
                               *map(str, photos), "--", "--steps", "2", "--checkpoints", "2", "--device", "runtime",
                               "--", "--counts", "channels"], capture_output=True, text=True, env=env, timeout=600)
    finally:
        git_in_repo("worktree", "prune")  # (a killed script leaves its checkout of the commit registered)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "| seconds per image | before1 | now1 | before2 | now2 |"
    for run in ("before1", "now1", "before2", "now2"):
        info = json.loads((out / run / "run" / "run_info.json").read_text())
        assert info["steps"] == 2 and info["device"] == "runtime" and len(info["images"]) == 2, run
        assert info["counts"] == ("channels" if run.startswith("now") else "neurons"), run
    assert re.search(r"^\| recordings.h5 \(MB\) \|( [0-9.]+ \|){4}$", proc.stdout, re.M), proc.stdout
    import h5py

    sums = []
    for run in ("before1", "now1", "before2", "now2"):
        with h5py.File(out / run / "run" / "recordings.h5", "r") as f:
            sums.append(str(f.attrs["content_sha256"])[:16])
    assert f"| recordings.h5 content_sha256 (first 16 hex digits) | {' | '.join(sums)} |" in proc.stdout
    assert sums[0] == sums[2] and sums[1] == sums[3] and sums[0] != sums[1]  # per-channel counts: other content
    # the datasets compared one by one: the same in the second run of the same code, not with sums per channel
    assert "| the same datasets as before1's, integers compared as int64 | yes | no | yes | no |" in proc.stdout
    sizes = {run: (out / run / "run" / "recordings.h5").stat().st_size for run in ("before1", "now1", "before2",
                                                                                     "now2")}
    assert sizes["now1"] < sizes["before1"] and sizes["now2"] < sizes["before2"]  # sums per channel: smaller
    assert re.search(r"^\| \*\*wall\*\* \(all images\) \|( \*\*[0-9.]+\*\* \|){4}$", proc.stdout, re.M)
    assert str(out / "before") not in git_in_repo("worktree", "list").stdout  # the commit's checkout is gone again
    assert not (out / "before").exists()

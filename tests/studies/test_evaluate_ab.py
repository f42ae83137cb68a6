"""analysis/overhead/evaluate-ab.sh, as its README runs it, with this checkout's own commit against itself, on the
embedded detector, three generated scenes and two runtime steps: four serial evaluations in the order it promises,
their table read against their own files, the commit's checkout gone again; arguments it refuses."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import REPO, git_in_repo, not_a_git_checkout, script_environment

pytestmark = [pytest.mark.codegen_independent, pytest.mark.long]


@not_a_git_checkout
def test_evaluate_ab_table_is_what_its_four_serial_runs_wrote(tmp_path):
    from brainyolo.data import scenes

    scenes.write_scenes(tmp_path / "scenes", 3, seed=8)
    out = tmp_path / "out"
    env = script_environment()
    script = str(REPO / "analysis/overhead/evaluate-ab.sh")
    try:
        proc = subprocess.run(["bash", script, "HEAD", "embedded", str(out), str(tmp_path / "scenes" / "images"),
                               str(tmp_path / "scenes" / "labels"), "2", "--", "--steps", "2", "--checkpoints", "2",
                               "--device", "runtime"], capture_output=True, text=True, env=env, timeout=900)
    finally:
        git_in_repo("worktree", "prune")  # (a killed script leaves its checkout of the commit registered)
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, rule, *rows = proc.stdout.splitlines()
    assert header.startswith("| run | images | wall | images per hour |") and rule.startswith("| --- |")
    names = ["before1", "now1", "now2", "before2"]
    assert [row.split(" | ")[0] for row in rows] == [f"| {name}" for name in names]
    started = []
    for name, row in zip(names, rows, strict=True):
        metrics = json.loads((out / name / "metrics.json").read_text())
        profile = json.loads((out / name / "profile.json").read_text())
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        wall, simulation = profile["wall_seconds"], profile["stages"]["simulation"]
        assert metrics["images"] == 2 and cells[1] == "2"  # --count 2 of the 3 scenes
        assert metrics["snn_settings"]["steps"] == 2, name  # the options after -- came after --steps 50
        assert cells[2:7] == [f"{wall:.1f} s", f"{3600 * 2 / wall:.0f}", f"{simulation / 2:.2f} s",
                              f"{(wall - simulation) / 2:.2f} s", f"{1 - simulation / wall:.0%}"]
        assert cells[7] == f"{metrics['snn']['2']['mAP50']:.3f} / {metrics['ann']['mAP50']:.3f}"
        started.append((out / name / "metrics.json").stat().st_mtime_ns)
    assert started == sorted(started)  # in the order of the table: before, now, now, before
    assert (out / "cache").is_dir() and not (out / "before").exists()
    assert str(out / "before") not in git_in_repo("worktree", "list").stdout
    for arguments, message in ((["HEAD", "embedded", str(out), "i", "l", "x"], "COUNT must be a positive whole"),
                               (["HEAD", "embedded", str(tmp_path / "o2"), "i", "l", "2", "--", "--workers", "2"],
                                "the runs are serial"),
                               (["HEAD", "embedded", str(out), "i", "l"], "is not empty"),
                               (["not-a-commit", "embedded", str(tmp_path / "o3"), "i", "l"], "is no commit")):
        bad = subprocess.run(["bash", script, *arguments], capture_output=True, text=True, env=env)
        assert bad.returncode == 2 and message in bad.stderr, (arguments, bad.stderr)
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()  # a refused call made nothing

"""analysis/overhead/images-per-hour.sh, as its README runs it, on the embedded detector, three generated scenes and
two runtime steps (so the warm-ups build nothing): a serial and a Dask evaluation, and their table read against their
own files; arguments it refuses."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import REPO, script_environment

pytestmark = [pytest.mark.codegen_independent, pytest.mark.long]


def test_images_per_hour_table_is_what_the_serial_and_dask_runs_wrote(tmp_path):
    from brainyolo.data import scenes

    scenes.write_scenes(tmp_path / "scenes", 3, seed=8)
    out = tmp_path / "out"
    env = script_environment(BRAINYOLO_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run(["bash", str(REPO / "analysis/overhead/images-per-hour.sh"), "embedded", str(out),
                           str(tmp_path / "scenes" / "images"), str(tmp_path / "scenes" / "labels"), "2", "--",
                           "--steps", "2", "--checkpoints", "2", "--device", "runtime"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, rule, *rows, threads = proc.stdout.splitlines()
    assert re.fullmatch(r"\(the serial run's OpenMP threads, one per usable core: [1-9][0-9]*\)", threads)
    assert header.startswith("| run | images | wall | per image | images per hour |") and rule.startswith("| --- |")
    assert [row.split(" | ")[0] for row in rows] == ["| serial, one process",
                                                     "| local Dask cluster, 2 workers x 1 thread"]
    for name, row in zip(("serial", "dask"), rows, strict=True):
        metrics = json.loads((out / name / "metrics.json").read_text())
        profile = json.loads((out / name / "profile.json").read_text())
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert metrics["images"] == 2 and cells[1] == "2"  # --count 2 of the 3 scenes
        assert metrics["snn_settings"]["steps"] == 2, name  # the options after -- came after --steps 50
        assert cells[2] == f"{profile['wall_seconds']:.1f} s"
        assert cells[3] == f"{profile['wall_seconds'] / 2:.2f} s"
        assert cells[4] == f"{3600 * 2 / profile['wall_seconds']:.0f}"
        if name == "serial":
            simulation = profile["stages"]["simulation"]
            assert cells[5:7] == [f"{simulation / 2:.2f} s", f"{1 - simulation / profile['wall_seconds']:.0%}"]
        snn = metrics["snn"]["2"]["mAP50"]
        assert cells[7] == f"{snn:.3f} / {metrics['ann']['mAP50']:.3f}"
    serial, dask = (json.loads((out / name / "metrics.json").read_text())["snn"] for name in ("serial", "dask"))
    assert serial == dask  # the same network on the same scenes, wherever it ran
    assert rows[1].split(" | ")[5:7] == ["-", "-"]  # Dask's stages ran in its workers
    bad = subprocess.run(["bash", str(REPO / "analysis/overhead/images-per-hour.sh"), "embedded", str(out),
                          "images", "labels", "2", "--steps", "3"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "usage" in bad.stderr  # options without their --
    for arguments, message in ((["x", "--", "--steps", "2"], "COUNT must be a positive whole number"),
                               (["2", "--", "--workers", "3"], "--workers is the script's to choose"),
                               (["2"], "is not empty")):
        bad = subprocess.run(["bash", str(REPO / "analysis/overhead/images-per-hour.sh"), "embedded", str(out),
                              "images", "labels", *arguments], capture_output=True, text=True, env=env)
        assert bad.returncode == 2 and message in bad.stderr, (arguments, bad.stderr)
    assert (out / "serial" / "metrics.json").exists()  # a refused call touched nothing

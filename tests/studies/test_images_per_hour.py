"""analysis/overhead/images-per-hour.sh, as its README runs it, on the embedded detector, three generated scenes and
two runtime steps: a serial and a Dask evaluation, and their table read against their own files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.codegen_independent, pytest.mark.long]

REPO = Path(__file__).resolve().parents[2]


def test_images_per_hour_table_is_what_the_serial_and_dask_runs_wrote(tmp_path):
    from brainyolo.data import scenes

    scenes.write_scenes(tmp_path / "scenes", 3, seed=8)
    out = tmp_path / "out"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONWARNINGS": "ignore", "BRAINYOLO_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(["bash", str(REPO / "analysis/overhead/images-per-hour.sh"), "embedded", str(out),
                           str(tmp_path / "scenes" / "images"), str(tmp_path / "scenes" / "labels"), "2", "--",
                           "--steps", "2", "--checkpoints", "2", "--device", "runtime"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, rule, *rows = proc.stdout.splitlines()
    assert header.startswith("| run | images | wall | per image | images per hour |") and rule.startswith("| --- |")
    assert [row.split(" | ")[0] for row in rows] == ["| serial, one process",
                                                     "| local Dask cluster, 2 workers x 1 thread"]
    for name, row in zip(("serial", "dask"), rows):
        metrics = json.loads((out / name / "metrics.json").read_text())
        profile = json.loads((out / name / "profile.json").read_text())
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert metrics["images"] == 2 and cells[1] == "2"  # --count 2 of the 3 scenes
        assert metrics["snn_settings"]["steps"] == 2, name  # the options after -- came after --steps 50
        assert cells[2] == f"{profile['wall_seconds']:.1f} s"
        assert cells[4] == f"{3600 * 2 / profile['wall_seconds']:.0f}"
        snn = metrics["snn"]["2"]["mAP50"]
        assert cells[7] == f"{snn:.3f} / {metrics['ann']['mAP50']:.3f}"
    serial, dask = (json.loads((out / name / "metrics.json").read_text())["snn"] for name in ("serial", "dask"))
    assert serial == dask  # the same network on the same scenes, wherever it ran
    assert rows[0].split(" | ")[5] != "-" and rows[1].split(" | ")[5] == "-"  # Dask's stages ran in its workers

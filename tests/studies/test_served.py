"""analysis/overhead/served.py and binary_parts.py on the embedded detector and two generated scenes: served.py's
table of one round, the recordings of both ways equal; binary_parts.py's parts against the runner's run; arguments
they refuse."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.standalone_only, pytest.mark.long]

REPO = Path(__file__).resolve().parents[2]


def test_served_and_started_per_image_side_by_side(tmp_path):
    from brainyolo.data import scenes

    scenes.write_scenes(tmp_path / "scenes", 2, seed=8)
    photos = sorted(str(p) for p in (tmp_path / "scenes" / "images").iterdir())
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "BRAINYOLO_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(REPO / "analysis/overhead/served.py"), "embedded", "1", *photos,
                           "--steps", "6"], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, rule, *rows, note = proc.stdout.splitlines()
    assert header == "| seconds per image | a process per image, round 1 | served, round 1 |"
    assert rule == "| --- | ---: | ---: |"
    assert [row.split(" | ")[0] for row in rows] == ["| simulation", "| binary start and results", "| wall"]
    cells = [[float(c) for c in row.strip("| ").split(" | ")[1:]] for row in rows]
    for started, served in cells:
        assert started > 0 and served > 0
    assert all(wall > simulation for simulation, wall in zip(cells[0], cells[2], strict=True))
    assert note == "(2 photos, 6 steps; the recordings of every run equal photo by photo: yes)"
    bad = subprocess.run([sys.executable, str(REPO / "analysis/overhead/served.py"), "embedded", "0", photos[0]],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and re.search(r"ROUNDS and --steps are at least 1", bad.stderr)


def test_binary_parts_add_up_within_the_runners_run(tmp_path):
    from brainyolo.data import scenes

    scenes.write_scenes(tmp_path / "scenes", 2, seed=8)
    photos = sorted(str(p) for p in (tmp_path / "scenes" / "images").iterdir())
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "BRAINYOLO_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(REPO / "analysis/overhead/binary_parts.py"), "embedded", *photos,
                           "--steps", "6"], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, rule, *rows = proc.stdout.splitlines()
    assert header == "| seconds per image (2 photos, 6 steps) | |" and rule == "| --- | ---: |"
    values = {row.split(" | ")[0].lstrip("| "): float(row.split(" | ")[1].rstrip(" |")) for row in rows}
    assert list(values) == ["simulation (inside the binary)", "the served binary besides the simulation",
                            "writing the run's input files", "the runner's run in all"]
    assert all(value > 0 for value in values.values())
    parts = sum(value for label, value in values.items() if label != "the runner's run in all")
    assert parts < values["the runner's run in all"] + 0.0015  # (each rounded to a millisecond)
    bad = subprocess.run([sys.executable, str(REPO / "analysis/overhead/binary_parts.py"), "embedded", photos[0],
                          "--steps", "0"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "--steps is at least 1" in bad.stderr

"""analysis/presets/short_runs.py: fast and short side by side at each step count. Oracle: the default command as a
user runs it (``brainyolo detect --steps S``, which hands the run to short) and ``analysis/presets/agreement.py``,
which reads that run's files; fast read at a checkpoint of its longest run equals a run of that length."""

from __future__ import annotations

import re

import pytest
from conftest import analysis_script, run_cli

pytestmark = pytest.mark.codegen_independent


def _cells(line: str) -> list[tuple[float, float]]:
    return [(float(a), float(e)) for a, e in re.findall(r"([\d.]+) \(([\d.]+)x\)", line)]


def test_short_runs_agrees_with_the_default_command_and_its_files(tiny_converted, tmp_path, capsys):
    script = analysis_script("presets/short_runs")
    model_path, images = tiny_converted
    script.main(str(model_path), "8,4", *map(str, images), device="runtime")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "| preset | 4 steps | 8 steps |"
    fast, short = (_cells(line) for line in lines[3:5])
    assert lines[3].startswith("| fast |") and lines[4].startswith("| short |") and len(fast) == len(short) == 2
    assert fast != short and 0 < short[0][1] < short[1][1]  # short's grid v_th / T: more steps, more events
    for steps, column in ((4, 0), (8, 1)):
        out = tmp_path / f"short{steps}"
        code, _, stderr = run_cli(["detect", str(model_path), *map(str, images), "--mode", "snn", "--steps",
                                   str(steps), "--device", "runtime", "--threshold", "0.005", "-q", "-o", str(out)])
        assert code == 0 and "hands runs of at most 24 steps to the short preset" in stderr
        ann = tmp_path / "ann"
        if not ann.exists():
            assert run_cli(["detect", str(model_path), *map(str, images), "--threshold", "0.005", "-q", "-o",
                            str(ann)])[0] == 0
        analysis_script("presets/agreement").main(str(ann), str(out), *map(str, images))
        report = capsys.readouterr().out
        assert "preset short" in report
        ap = float(re.search(r"AP@0.5 against the ANN = ([\d.]+)", report).group(1))
        assert short[column][0] == pytest.approx(ap, abs=6e-4)
    # fast's 4-step cell is read at a checkpoint of its 8-step run: a 4-step run of its own gives the same
    code, _, _ = run_cli(["detect", str(model_path), *map(str, images), "--mode", "snn", "--steps", "4",
                          "--checkpoints", "4", "--device", "runtime", "--threshold", "0.005", "-q", "-o",
                          str(tmp_path / "fast4")])
    assert code == 0
    analysis_script("presets/agreement").main(str(tmp_path / "ann"), str(tmp_path / "fast4"), *map(str, images))
    report = capsys.readouterr().out
    assert "preset fast" in report
    assert fast[0][0] == pytest.approx(float(re.search(r"= ([\d.]+),", report).group(1)), abs=6e-4)

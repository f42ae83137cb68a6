"""--profile: the stopwatch's arithmetic on a fake clock, and what detect prints and writes with it."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from brainyolo.system import timing

pytestmark = pytest.mark.codegen_independent


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_nested_stages_add_up_to_the_wall_time(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    with timing.stopwatch() as watch:
        with timing.stage("outer"):
            clock.now += 1.0
            with timing.stage("inner"):
                clock.now += 2.0
                timing.account("binary", 0.5, within="inner")  # 0.5 s of the inner 2 s measured elsewhere
            clock.now += 4.0
        with timing.stage("inner"):
            clock.now += 8.0
        timing.count_image()
        clock.now += 16.0  # no stage: "other"
    clock.now = 500.0  # the wall time ended with the block
    assert watch.seconds == {"outer": 5.0, "inner": 9.5, "binary": 0.5} and watch.images == 1
    record = timing.as_dict(watch)
    assert record["wall_seconds"] == 31.0 and record["other_seconds"] == 16.0
    lines = timing.report(watch)
    assert lines[0] == "where the time went (1 image):"
    # stages of a detection in their order (none here), then the others by name
    assert [line.split()[0] for line in lines[2:]] == ["binary", "inner", "outer", "other", "wall"]
    assert lines[-2].split()[1:] == ["16.00", "16.000", "51.6%"]
    # outside a stopwatch a stage costs nothing and records nothing
    with timing.stage("outer"):
        timing.count_image()
    assert watch.seconds["outer"] == 5.0


def test_detect_profile_prints_and_writes_where_the_time_went(tmp_path):
    scenes = tmp_path / "scenes"
    code, _, stderr = run_cli(["scenes", "-o", str(scenes), "--count", "2", "--seed", "5", "-q"])
    assert code == 0, stderr
    images = sorted(str(p) for p in (scenes / "images").glob("*.png"))
    code, stdout, stderr = run_cli(["detect", "embedded", *images, "--mode", "snn", "--steps", "4", "--device",
                                    "runtime", "--profile", "-o", str(tmp_path / "out"), "-q"])
    assert code == 0, stderr
    table = stdout[stdout.index("where the time went (2 images):"):].splitlines()
    stages = {line.split("  ")[0].strip(): line.split()[-3:] for line in table[2:]}
    assert {"model load", "network construction", "inputs", "simulation", "recording", "decoding", "writing",
            "ANN (pictures)", "other", "wall"} <= set(stages)
    record = json.loads((tmp_path / "out" / "profile.json").read_text())
    assert record["images"] == 2
    assert sum(record["stages"].values()) + record["other_seconds"] == pytest.approx(record["wall_seconds"])
    assert all(seconds >= 0 for seconds in record["stages"].values())
    assert record["stages"]["simulation"] > 0 and record["stages"]["network construction"] > 0
    # the printed table is the file's numbers
    assert float(stages["simulation"][0]) == pytest.approx(record["stages"]["simulation"], abs=0.006)
    assert float(stages["wall"][0]) == pytest.approx(record["wall_seconds"], abs=0.05)


def test_evaluate_profile_names_the_anns_scores_the_scoring_and_the_writing(tmp_path):
    """``evaluate --mode snn --profile``: the ANN's detections scored beside the SNN's, the mAPs' computation and the
    per-image results written are stages of their own, not "other"."""
    scenes = tmp_path / "scenes"
    code, _, stderr = run_cli(["scenes", "-o", str(scenes), "--count", "2", "--seed", "5", "-q"])
    assert code == 0, stderr
    code, stdout, stderr = run_cli(["evaluate", "embedded", "--images", str(scenes / "images"), "--labels",
                                    str(scenes / "labels"), "--mode", "snn", "--steps", "4", "--device", "runtime",
                                    "--profile", "-o", str(tmp_path / "out"), "-q"])
    assert code == 0, stderr
    record = json.loads((tmp_path / "out" / "profile.json").read_text())
    assert record["images"] == 2
    assert {"ANN (scores)", "scoring", "writing", "recording", "simulation", "decoding"} <= set(record["stages"])
    assert all(record["stages"][name] > 0 for name in ("ANN (scores)", "scoring", "writing"))
    table = stdout[stdout.index("where the time went (2 images):"):].splitlines()
    names = [line.split("  ")[0].strip() for line in table[2:]]
    assert names.index("decoding") < names.index("ANN (scores)") < names.index("scoring") < names.index("writing")


def test_the_overhead_table_from_hand_made_profiles(tmp_path, capsys):
    from conftest import analysis_script

    for name, images, wall, simulation in (("steps40", 1, 40.0, 1.0), ("all", 4, 10.0, 6.0)):
        (tmp_path / name).mkdir()
        stages = {"network construction": wall - simulation - 1.0, "simulation": simulation}
        (tmp_path / name / "profile.json").write_text(json.dumps(
            {"images": images, "wall_seconds": wall, "stages": stages, "other_seconds": 1.0}))
    analysis_script("overhead/table").main(str(tmp_path))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| stage (seconds per image) | 1 photo, 40 steps, empty cache (1) | all photos, 50 steps (4) |"
    assert lines[2:] == ["| network construction | 38.00 | 0.75 |", "| simulation | 1.00 | 1.50 |",
                         "| other | 1.00 | 0.25 |", "| **wall** (all images) | **40.0** | **10.0** |",
                         "| not simulation | 98% | 40% |"]


def test_a_profile_without_images_says_where_they_ran():
    with timing.stopwatch() as watch:
        pass
    assert timing.report(watch)[0] == ("where the time went (no image simulated in this process: cluster workers' "
                                       "stages are not timed, they are in other):")

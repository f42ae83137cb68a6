"""brainyolo tune: Pareto front and pick by hand, a study that resumes with no trial lost or repeated."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import run_cli

from brainyolo.convert.tuning import THRESHOLD_RANGE, WARM_START, pareto_front, pick, suggest, warm_start

pytestmark = pytest.mark.codegen_independent


def test_pareto_front_and_pick_by_hand():
    points = np.array([[0.90, 100.0],   # 0 front
                       [0.95, 200.0],   # 1 front
                       [0.94, 250.0],   # 2 dominated by 1
                       [0.80, 50.0],    # 3 front
                       [0.95, 300.0],   # 4 dominated by 1 (same accuracy, more events)
                       [0.96, 400.0]])  # 5 front
    assert sorted(pareto_front(points)) == [0, 1, 3, 5]
    assert pick(points, "accuracy", 0.98) == 5
    assert pick(points, "frugal", 0.98) == 1   # >= 0.9408: rows 1, 2, 4, 5; fewest events: 1
    assert pick(points, "frugal", 0.80) == 3


def test_scale_space_is_one_threshold_for_every_layer():
    """--space scale,init,two_phase: one v_th for all layers, the early threshold a fraction of it."""
    import optuna

    trial = optuna.trial.FixedTrial({"v_th": 1.3, "v_init": 0.25, "early_fraction": 0.5, "t_switch": 7})
    settings = suggest(trial, [0, 2, 4], ("scale", "init", "two_phase"), steps=20)
    assert settings.entries == (("all", "v_th", 1.3), ("all", "v_init", 0.25), ("0", "v_th_early", 0.65),
                                ("2", "v_th_early", 0.65), ("4", "v_th_early", 0.65), ("all", "t_switch", 7e-3))
    points = warm_start([0, 2, 4], ("scale", "init"), steps=20)
    assert points[:2] == [{"v_th": 1.0, "v_init": 0.0}, {"v_th": 1.0, "v_init": 0.5}]
    assert points[2:] == [{"v_th": v, "v_init": 0.5} for v in WARM_START]


def _tune(corpus, out, trials, *extra, quiet=True):
    return run_cli(["tune", str(corpus["model"]), "--images", str(corpus["images"][0].parent), "--steps", "6",
                    "--trials", str(trials), "--device", "runtime", *(["-q"] if quiet else []), "-o", str(out),
                    *extra])


def _rows(out):
    with open(out / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_tune_resumes_with_no_trial_lost_or_repeated(corpus, tmp_path):
    import optuna

    out = tmp_path / "tune"
    code, stdout, stderr = _tune(corpus, out, 3)
    assert code == 0, stderr
    first = _rows(out)
    assert [r["trial"] for r in first] == ["0", "1", "2"]
    assert first[0]["v_th_0"] == "1"  # trial 0: the neuron file's own values (the baseline)
    # 6 steps, no checkpoints: the default runs short, and the study says which preset and neuron it tuned
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert (summary["preset"], summary["neuron"]) == ("short", "if_signed_ibt_tracking_weighted")
    assert (out / "params.toml").read_text().splitlines()[0].endswith(
        "6 steps, preset short, neuron if_signed_ibt_tracking_weighted")
    # a trial cut off mid-run (asked, never told): it is run again with its parameters, once
    study = optuna.load_study(study_name="brainyolo-tune", storage=f"sqlite:///{out / 'study.db'}")
    cut = study.ask()
    cut_value = cut.suggest_float("v_th_0", *THRESHOLD_RANGE, log=True)
    code, stdout, stderr = _tune(corpus, out, 5, quiet=False)
    assert code == 0, stderr
    # without a terminal (a log), one line per trial instead of the bar; trial 3 (cut off) failed, 4 reran it
    assert [line.split()[2] for line in stdout.splitlines() if line.startswith("tune: trial")] == ["4", "5"]
    rows = _rows(out)
    assert len(rows) == 5 and rows[:3] == [{**r, "pareto": rows[i]["pareto"]} for i, r in enumerate(first)]
    assert sum(float(r["v_th_0"]) == pytest.approx(cut_value, rel=1e-5) for r in rows) == 1
    study = optuna.load_study(study_name="brainyolo-tune", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.state.name for t in study.trials].count("COMPLETE") == 5
    text = (out / "params.toml").read_text()
    assert text.startswith("# brainyolo tune: trial") and "v_th" in text
    assert (out / "pareto.png").stat().st_size > 10_000
    # the chosen parameters are usable as they are
    code, _, stderr = run_cli(["simulate", str(corpus["model"]), str(corpus["images"][0]), "--steps", "3",
                               "--device", "runtime", "--params", str(out / "params.toml"), "-q", "-o",
                               str(tmp_path / "run")])
    assert code == 0, stderr


@pytest.mark.parametrize("extra, message", [
    (["--space", "thresholds,magic"], "--space thresholds,magic: choose from"),
    (["--space", "thresholds,scale"], "one of thresholds (per layer), relative (per layer"),
    (["--space", "relative,scale"], "one of thresholds (per layer), relative (per layer"),
    (["--space", "two_phase"], "needs a neuron file with the shared parameters v_th_early and t_switch"),
    (["--set", "9.v_th=1"], "layer 9 takes no neuron parameters"),
    (["--neuron", "if_relu", "--set", "all.alpha=0.2"], "'alpha' is not a parameter"),
    (["--keep", "0"], "--keep in (0, 1]"),
])
def test_tune_refuses_bad_input_before_writing(corpus, tmp_path, extra, message):
    out = tmp_path / "tune"
    code, _, stderr = _tune(corpus, out, 2, *extra)
    assert code == 2 and message in stderr and not out.exists(), stderr


def test_tune_refuses_the_evaluation_images(corpus, tmp_path):
    import shutil

    copy = tmp_path / "evaluation"
    shutil.copytree(corpus["images"][0].parent, copy)
    for folder in (corpus["images"][0].parent, copy):  # the same folder, or the same pictures elsewhere
        code, _, stderr = _tune(corpus, tmp_path / "tune", 2, "--evaluation-images", str(folder))
        assert code == 2 and "evaluation" in stderr and not (tmp_path / "tune").exists(), stderr


@pytest.mark.long
def test_tune_on_a_local_cluster_equals_the_serial_study(corpus, tmp_path):
    """--workers 2: the same enqueued trials (baseline, uniform thresholds) give the same scores."""
    code, _, stderr = _tune(corpus, tmp_path / "serial", 3)
    assert code == 0, stderr
    code, _, stderr = _tune(corpus, tmp_path / "farm", 3, "--workers", "2")
    assert code == 0, stderr
    serial, farm = _rows(tmp_path / "serial"), _rows(tmp_path / "farm")
    assert len(farm) == 3
    key = next(k for k in serial[0] if "AP" in k)

    def point(row):
        return tuple(sorted((k, v) for k, v in row.items() if k.startswith("v_th")))

    scores = {point(r): (r[key], r["events_per_image"]) for r in serial}
    assert len(scores) == 3
    for row in farm:
        assert scores[point(row)] == (row[key], row["events_per_image"])


def test_relative_space_multiplies_the_runs_own_thresholds():
    """--space relative,init: each layer's factor times its own (e.g. balanced) v_th; the baseline is factor 1
    (the run's own thresholds), then V(0) = v_th/2, then the uniform factors."""
    import optuna

    from brainyolo.convert.tuning import RELATIVE_WARM_START

    trial = optuna.trial.FixedTrial({"factor_0": 0.5, "factor_2": 2.0, "v_init": 0.3})
    settings = suggest(trial, [0, 2], ("relative", "init"), steps=16, own_v_th={0: 1.2, 2: 2.5})
    assert settings.entries == (("0", "v_th", 0.6), ("2", "v_th", 5.0), ("all", "v_init", 0.3))
    points = warm_start([0, 2], ("relative", "init"), steps=16)
    assert points[:2] == [{"factor_0": 1.0, "factor_2": 1.0, "v_init": 0.0},
                          {"factor_0": 1.0, "factor_2": 1.0, "v_init": 0.5}]
    assert points[2:] == [{"factor_0": f, "factor_2": f, "v_init": 0.5} for f in RELATIVE_WARM_START]


def test_tune_relative_space_starts_from_the_balanced_thresholds(corpus, tmp_path):
    """--preset fast --space relative: trial 0 runs the model file's balanced thresholds (factor 1 everywhere),
    and every trial's thresholds are its factors times them (--checkpoints keeps fast's own neuron and thresholds
    in this 6-step run)."""
    import json

    from brainyolo.convert.model_file import load_model

    out = tmp_path / "tune"
    code, _, stderr = _tune(corpus, out, 3, "--preset", "fast", "--space", "relative", "--checkpoints", "6")
    assert code == 0, stderr
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    factors = [k for k in rows[0] if k.startswith("factor_")]
    assert factors and all(float(rows[0][k]) == 1.0 for k in factors)
    summary = json.loads((out / "summary.json").read_text())
    own = {int(k): v["v_th"] for k, v in summary["base_parameters"].items() if "v_th" in v}
    assert (summary["preset"], summary["neuron"]) == ("fast", "if_signed_ibt_tracking")
    balanced = load_model(corpus["model"]).thresholds.v_th
    assert own == pytest.approx({index: balanced[index] for index in own}, rel=1e-12) and len(own) == len(balanced)
    chosen = next(r for r in rows if int(r["trial"]) == summary["chosen_trial"])
    for key in factors:
        index = key.split("_")[1]
        assert summary["parameters"][index]["v_th"] == pytest.approx(float(chosen[key]) * own[int(index)], rel=1e-5)

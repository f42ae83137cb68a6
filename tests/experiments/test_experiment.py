"""Run files (``brainyolo run``) and resumable SNN evaluation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_random_model

from brainyolo.cli import main
from brainyolo.data import scenes
from brainyolo.experiments.experiment import run_experiment
from brainyolo.experiments.run_file import RunSpec, load_run_file
from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.parameters import read_parameter_file

pytestmark = pytest.mark.codegen_independent
RUNS = Path(__file__).resolve().parents[2] / "runs"


def test_shipped_run_files_parse():
    assert load_run_file(RUNS / "demo.toml") == RunSpec()  # the demo's experiment, spelled out
    table1 = load_run_file(RUNS / "table1-ablation.toml")
    assert len(table1.configurations()) == 8
    assert {c[1] for c in table1.configurations()} == {"if_signed", "if_signed_ibt"}
    for run_file in RUNS.glob("*.toml"):  # runs/ holds run files only; parameter files are in runs/params/
        assert load_run_file(run_file).configurations(), run_file
    for parameter_file in (RUNS / "params").glob("*.toml"):
        assert read_parameter_file(parameter_file).entries, parameter_file
    coco = load_run_file(RUNS / "coco-yolov3-tiny.toml")
    assert coco.model["weights"].endswith("shared/models/yolov3-tiny/yolov3-tiny.weights")
    assert coco.images.labels and coco.images.count == 16


@pytest.mark.parametrize("text, problem", [
    ("[model]\nembedded = true\n[images]\nscenes = 2\n[calibration]\nscenes = 2\n[grid]\ndecode = ['x']\n",
     "decode 'x' is not one of"),
    ("[model]\nembedded = true\n[images]\nscenes = 2\n[calibration]\nscenes = 2\n[simulation]\nsteps = 5\n"
     "checkpoints = [9]\n", "checkpoints must be a list of steps within 1..5"),
    ("[model]\n[images]\nscenes = 2\n[calibration]\nscenes = 2\n", "[model] needs"),
    ("[model]\nembedded = true\n[images]\nfolder = 'x'\n[calibration]\nscenes = 2\n", "exactly one of labels"),
    ("[model]\nembedded = true\n[images]\nscenes = 2\n[calibration]\nscenes = 2\n[grid]\nneuron = ['nope']\n",
     "no such neuron model"),
    ("[model]\nembedded = true\n[images]\nscenes = 2\n[calibration]\nscenes = 2\n[grid]\nprecision = ['half']\n",
     "precision 'half' is not one of"),
    ("colour = 1\n", "unknown entries ['colour']"),
    ("[model\n", "not valid TOML"),
])
def test_bad_run_files(tmp_path, text, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BrainyoloError, match="bad.toml") as err:
        load_run_file(path)
    assert problem in str(err.value)


def test_precision_axis(tmp_path):
    """``[grid] precision`` overrides ``[simulation] float32`` per configuration and names it; without it
    every configuration keeps the simulation's precision and its old folder name (resume finds it)."""
    from brainyolo.experiments.run_file import config_name

    head = "[model]\nembedded = true\n[images]\nscenes = 2\n[calibration]\nscenes = 2\n"
    path = tmp_path / "p.toml"
    path.write_text(head + "[simulation]\nfloat32 = true\n[grid]\nprecision = ['float64', 'float32']\n")
    spec = load_run_file(path)
    chosen = [(config_name(*c), spec.uses_float32(c[4])) for c in spec.configurations()]
    assert chosen == [("channel-if_signed_ibt_tracking-vmem-float64", False),
                      ("channel-if_signed_ibt_tracking-vmem-float32", True)]  # (the fast preset's neuron)
    path.write_text(head + "[simulation]\nfloat32 = true\n")
    spec = load_run_file(path)
    assert [(config_name(*c), spec.uses_float32(c[4])) for c in spec.configurations()] == [
        ("channel-if_signed_ibt_tracking-vmem", True)]


def test_run_file_end_to_end_and_resume(tmp_path, tiny_cfg_text, monkeypatch, capsys):
    cfg, weights = write_random_model(tiny_cfg_text, tmp_path / "m", seed=2, names=["a", "b", "c"])
    images = scenes.write_scenes(tmp_path / "val", 3, 5)
    for label in (tmp_path / "val" / "labels").iterdir():  # the test model has 3 classes
        rows = np.loadtxt(label, ndmin=2)
        rows[:, 0] %= 3
        np.savetxt(label, rows, fmt="%d %.6f %.6f %.6f %.6f")
    run_file = tmp_path / "small.toml"
    run_file.write_text(
        'name = "small"\n[model]\ncfg = "m/model.cfg"\nweights = "m/model.weights"\n'
        '[calibration]\nscenes = 4\nseed = 1\n[images]\nfolder = "val/images"\nlabels = "val/labels"\n'
        '[simulation]\nsteps = 30\ncheckpoints = [10, 20]\ndevice = "runtime"\n[monitors]\nrecord_images = 1\n'
        '[grid]\nnormalization = ["layer", "channel"]\nneuron = ["if_signed_ibt"]\ndecode = ["vmem"]\n')
    assert main(["run", str(run_file), "-q"]) == 0
    out = tmp_path / "small"
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["configurations"]) == {"layer-if_signed_ibt-vmem", "channel-if_signed_ibt-vmem"}
    for name, config in summary["configurations"].items():
        assert set(config["snn"]) == {"10", "20", "30"}
        assert len(list((out / name / "snn_images").iterdir())) == len(images)
        assert (out / name / "run" / "recordings.h5").exists()
    assert (out / "map_vs_steps.png").stat().st_size > 0
    assert "| channel-if_signed_ibt-vmem |" in (out / "summary.md").read_text()
    assert "| ANN |" in capsys.readouterr().out

    # resume: every image is done, so nothing is simulated again
    from brainyolo.spiking import simulate as simulate_module

    def refuse(*args, **kwargs):
        raise AssertionError("simulated again")

    monkeypatch.setattr(simulate_module.Simulator, "run", refuse)
    again = run_experiment(load_run_file(run_file), out, progress=False)
    assert again["configurations"] == summary["configurations"]


def test_interrupted_evaluation_resumes_without_loss_or_repeat(tmp_path, tiny_cfg_text, monkeypatch):
    from brainyolo.convert.conversion import convert_darknet
    from brainyolo.convert.model_file import save_model
    from brainyolo.pipeline import evaluate_snn
    from brainyolo.spiking import simulate as simulate_module
    from brainyolo.spiking.simulate import SimulationSettings

    cfg, weights = write_random_model(tiny_cfg_text, tmp_path / "m", seed=2, names=["a", "b", "c"])
    images = scenes.write_scenes(tmp_path / "val", 4, 5)
    save_model(convert_darknet(cfg, weights, images[:2], progress=False), tmp_path / "m.h5")
    settings = SimulationSettings(steps=20, checkpoints=(10,), device="runtime")
    real_run = simulate_module.Simulator.run
    simulated = []

    def flaky(self, path, *args, **kwargs):
        if len(simulated) == 2:
            raise KeyboardInterrupt
        simulated.append(Path(path).name)
        return real_run(self, path, *args, **kwargs)

    monkeypatch.setattr(simulate_module.Simulator, "run", flaky)
    with pytest.raises(KeyboardInterrupt):
        evaluate_snn(tmp_path / "m.h5", images, settings, tmp_path / "eval", progress=False)
    assert sorted(p.name for p in (tmp_path / "eval" / "snn_images").iterdir()) == ["scene0000.json",
                                                                                  "scene0001.json"]
    simulated.clear()
    monkeypatch.setattr(simulate_module.Simulator, "run", lambda self, path, *args, **kwargs: (
        simulated.append(Path(path).name), real_run(self, path, *args, **kwargs))[1])
    # resumed with another thread count (the spikes do not depend on it): only the missing images, once each
    records = evaluate_snn(tmp_path / "m.h5", images, dataclasses.replace(settings, threads=settings.threads + 1),
                           tmp_path / "eval", progress=False)
    assert simulated == ["scene0002.png", "scene0003.png"]
    assert sorted(records) == [10, 20]
    assert {r["file_name"] for r in records[20]} <= {p.name for p in images}
    # another evaluation in the same folder is refused
    with pytest.raises(BrainyoloError, match="other settings"):
        evaluate_snn(tmp_path / "m.h5", images, SimulationSettings(steps=25, device="runtime"), tmp_path / "eval")


def test_conv_events_at_checkpoints_by_hand(tmp_path):
    import json

    import numpy as np

    from brainyolo.experiments.experiment import conv_events_per_image
    from brainyolo.pipeline import checkpoint_conv_events

    data = {"layers": {0: {"kind": "Conv"}, 2: {"input_events": np.array([10, 30])},
                       5: {"input_events": np.array([1, 4])}}}
    assert checkpoint_conv_events(data, [100, 300]) == {"100": 11, "300": 34}
    (tmp_path / "snn_images").mkdir()
    for name, events in (("a", {"100": 11, "300": 34}), ("b", {"100": 1, "300": 6})):
        (tmp_path / "snn_images" / f"{name}.json").write_text(json.dumps({"conv_events": events}))
    assert conv_events_per_image(tmp_path, [tmp_path / "a.png", tmp_path / "b.png"]) == {"100": 6.0, "300": 20.0}


def test_energy_ratios_hand_computed():
    from brainyolo.experiments.experiment import energy_ratios

    costs = {"ann_macs": 1000, "image_macs": 100, "bias_acs_per_step": 10}
    ratios = energy_ratios(costs, 5000, 20)  # 5000 synaptic + 200 bias ACs, 100 MACs
    assert ratios["float32"] == pytest.approx((100 * 4.6 + 5200 * 0.9) / (1000 * 4.6))
    assert ratios["int32"] == pytest.approx((100 * 3.2 + 5200 * 0.1) / (1000 * 3.2))

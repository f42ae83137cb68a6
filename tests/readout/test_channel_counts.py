"""``--counts channels`` (and ``SpikingDetector(counts="channels")``): recordings with every layer's counts summed per
channel, checked against a run that kept every neuron's (h5py reads both; the detections, totals and events must
not change)."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest
from conftest import run_cli

pytestmark = pytest.mark.codegen_independent

STEPS = ["--steps", "12", "--checkpoints", "6,12", "--device", "runtime"]


@pytest.fixture(scope="module")
def two_runs(tiny_converted, tmp_path_factory):
    """``simulate`` of the same two images with ``--counts neurons`` and ``--counts channels``."""
    model, images = tiny_converted
    root = tmp_path_factory.mktemp("counts")
    for counts in ("neurons", "channels"):
        code, _, err = run_cli(["simulate", str(model), *map(str, images), *STEPS, "--counts", counts,
                                "-o", str(root / counts), "-q"])
        assert code == 0, err
    return root


def test_channel_counts_are_the_neurons_counts_summed(two_runs):
    with h5py.File(two_runs / "neurons" / "recordings.h5") as n, h5py.File(two_runs / "channels" /
                                                                            "recordings.h5") as c:
        assert (n.attrs["counts"], c.attrs["counts"]) == ("neurons", "channels")
        layers = 0
        for image in n["images"]:
            for key, layer in n[f"images/{image}/layers"].items():
                summed = c[f"images/{image}/layers/{key}"]
                for name in ("positive_count", "negative_count"):
                    per_neuron = layer[name][()]
                    assert per_neuron.ndim == 3 and summed[name].shape == per_neuron.shape[:1]
                    np.testing.assert_array_equal(summed[name][()], per_neuron.astype(np.int64).sum(axis=(1, 2)))
                for name in ("sample_spike_step", "population_positive", "population_negative"):
                    np.testing.assert_array_equal(summed[name][()], layer[name][()], err_msg=name)
                layers += 1
            for key, output in n[f"images/{image}/output"].items():
                np.testing.assert_array_equal(c[f"images/{image}/output/{key}/v"][()], output["v"][()])
        assert layers > 0 and int(n["images/0000/layers/00/positive_count"][()].sum()) > 0  # spikes were counted


def test_check_says_the_counts_are_per_channel(two_runs):
    for counts in ("neurons", "channels"):
        code, out, err = run_cli(["check", str(two_runs / counts)])
        assert code == 0 and out.startswith(f"{two_runs / counts}: ok: recordings, 2 images x 12 steps"), err
        assert out.rstrip().endswith(", spike counts per channel") == (counts == "channels"), out


def test_channel_counts_keep_detections_totals_and_events(two_runs, tmp_path):
    infos = {c: json.loads((two_runs / c / "run_info.json").read_text()) for c in ("neurons", "channels")}
    assert infos["channels"]["counts"] == "channels" and infos["neurons"]["counts"] == "neurons"
    for key in ("layer_spikes", "synaptic_events", "single_spike_events"):
        assert infos["channels"][key] == infos["neurons"][key], key
    decoded = {}
    for counts in ("neurons", "channels"):
        code, _, err = run_cli(["decode", str(two_runs / counts), "-o", str(tmp_path / counts), "-q"])
        assert code == 0, err
        decoded[counts] = json.loads((tmp_path / counts / "detections.json").read_text())
    assert decoded["channels"] == decoded["neurons"]


def test_analyze_refuses_channel_counts_in_one_line(two_runs, tmp_path):
    out = tmp_path / "figures"
    code, _, err = run_cli(["analyze", str(two_runs / "channels"), "-o", str(out), "-q"])
    assert code == 2 and err.count("\n") == 1 and not out.exists(), err
    assert f"{two_runs / 'channels' / 'recordings.h5'}: holds spike counts per channel" in err
    assert "--counts channels" in err


def test_load_run_reads_channel_counts_back(two_runs):
    from brainyolo.analysis.spikes import load_run

    run = load_run(two_runs / "channels")
    assert run.attrs["counts"] == "channels"
    with h5py.File(two_runs / "neurons" / "recordings.h5") as n:
        for index, layer in run.images[0].layers.items():
            np.testing.assert_array_equal(layer["positive_count"],
                                          n[f"images/0000/layers/{index:02d}/positive_count"][()].sum(axis=(1, 2)))


@pytest.mark.parametrize("command", [["tune", "m.h5", "--trials", "1"], ["evaluate", "m.h5", "--images", "d"]])
def test_commands_without_recordings_take_no_recording_options(command):
    """tune and evaluate write no recordings: they take neither --counts nor --sample-neurons."""
    for option in ("--counts", "--sample-neurons"):
        code, _, err = run_cli([*command, "-o", "out", option, "channels" if option == "--counts" else "3"])
        assert code == 2 and f"unrecognized arguments: {option}" in err, err


def test_the_api_keeps_every_neuron_in_memory_and_sums_in_the_file(tiny_converted, tmp_path, numpy_runtime):
    import brainyolo

    model, images = tiny_converted
    with brainyolo.SpikingDetector(model, steps=8, device="runtime", counts="channels") as detector:
        run = detector.run(images[0])
        detector.save([run], tmp_path / "session")
    layer = run.result.data["layers"][0]
    assert layer["positive_count"].ndim == 3 and layer["positive_count"].sum() > 0
    with h5py.File(tmp_path / "session" / "recordings.h5") as f:
        assert f.attrs["counts"] == "channels"
        np.testing.assert_array_equal(f["images/0000/layers/00/positive_count"][()],
                                      layer["positive_count"].sum(axis=(1, 2)))


def test_an_evaluation_pinned_before_the_counts_option_resumes(tiny_converted, tmp_path, numpy_runtime):
    """evaluate pins its settings; a folder pinned before ``counts`` existed, or with the other value, resumes (the
    spikes do not depend on it), and other steps are still refused."""
    import dataclasses

    from brainyolo.io.errors import BrainyoloError
    from brainyolo.pipeline import evaluate_snn
    from brainyolo.spiking.settings import SimulationSettings

    model, images = tiny_converted
    settings = SimulationSettings(steps=4, device="runtime", threads=1)
    first = evaluate_snn(model, images[:1], settings, tmp_path, progress=False)
    pin = tmp_path / "snn_settings.json"
    pinned = json.loads(pin.read_text())
    assert pinned["settings"].pop("counts") == "neurons"
    pin.write_text(json.dumps(pinned))  # as brainyolo before the option wrote it
    for counts in ("neurons", "channels"):
        again = evaluate_snn(model, images[:1], dataclasses.replace(settings, counts=counts), tmp_path, progress=False)
        assert again == first
    with pytest.raises(BrainyoloError, match="other settings"):
        evaluate_snn(model, images[:1], dataclasses.replace(settings, steps=5), tmp_path, progress=False)


def test_the_storage_study_sums_every_dataset_by_name(two_runs, capsys):
    """analysis/overhead/storage.py: per dataset name, the stored bytes of every image and layer (h5py's own
    storage sizes, summed here by walking the file another way), and the file's total."""
    from conftest import analysis_script

    study = analysis_script("overhead/storage")
    for counts in ("neurons", "channels"):
        path = two_runs / counts / "recordings.h5"
        sizes = study.storage(path)
        with h5py.File(path) as f:
            layers = [layer for image in f["images"].values() for layer in image["layers"].values()]
            expected = sum(layer["positive_count"].id.get_storage_size() for layer in layers)
            assert sizes["layers/*/positive_count"] == expected > 0, counts
            assert sum(sizes.values()) == sum(obj.id.get_storage_size() for obj in _datasets(f)), counts
    study.main([str(two_runs / "neurons"), str(two_runs / "channels")])
    out = capsys.readouterr().out
    assert "2 images, counts per neuron" in out and "2 images, counts per channel" in out
    assert len(re.findall(r"^\| layers/\*/positive_count \| [0-9.]+ \|$", out, re.M)) == 2


def _datasets(group) -> list:
    found = []
    for item in group.values():
        found += _datasets(item) if isinstance(item, h5py.Group) else [item]
    return found

"""``--counts channels`` (and ``SpikingDetector(counts="channels")``): recordings with every layer's counts summed per
channel, checked against a run that kept every neuron's (h5py reads both; the detections, totals and events must
not change)."""

from __future__ import annotations

import json

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
    assert "--counts neurons" in err


def test_tune_has_no_recording_options():
    """tune writes no recordings: it takes neither --counts nor --sample-neurons."""
    for option in ("--counts", "--sample-neurons"):
        code, _, err = run_cli(["tune", "m.h5", "--trials", "1", "-o", "out", option,
                                "channels" if option == "--counts" else "3"])
        assert code == 2 and f"unrecognized arguments: {option}" in err, err


def test_the_api_keeps_every_neuron_in_memory_and_sums_in_the_file(tiny_converted, tmp_path):
    import brian2

    import brainyolo

    brian2.prefs.codegen.target = "numpy"
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

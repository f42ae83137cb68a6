"""A directly trained spiking network in Brian2 equals its training framework, spike for spike.

The reference is ``tests/files/direct_golden.npz``, written by spikingjelly itself
(``tools/make_direct_golden.py`` in the training environment; CI never imports torch): a small
network with every part of the directly trained detector (image current, strided convolutions of
spikes, a membrane shortcut, hard and soft resets, two time constants, a membrane read-out),
on dyadic weights and a black-and-white image so that every sum is exact.
"""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
from PIL import Image

from brainyolo.ann.graph import INPUT, Conv, ConvAdd, Graph, YoloHead
from brainyolo.convert.model_file import DIRECT, ConvertedModel, SpikingSpec, load_model, save_model
from brainyolo.detector import simulate
from brainyolo.io.errors import BrainyoloError
from brainyolo.readout.decoding import Decoder
from brainyolo.spiking.simulate import SimulationSettings

GOLDEN = __import__("pathlib").Path(__file__).parents[1] / "files" / "direct_golden.npz"
PARAMETERS = ("tau", "v_th", "v_reset", "hard_reset")


def golden_model(folder):
    """The golden network as a model file and its image as a PNG; returns (model path, image, golden)."""
    data = dict(np.load(GOLDEN))
    g = {k: data[k] for k in data}

    def conv(index):
        return g[f"layer{index}_weight"], g[f"layer{index}_bias"]

    layers = [
        Conv((INPUT,), 4, 3, 2, 1, "spike", 1.0, *conv(0)),
        Conv((0,), 4, 3, 1, 1, "spike", 1.0, *conv(1)),
        ConvAdd((1, 0), 4, 3, 1, 1, 1, 1, 0, weight=g["layer2_weight"], shortcut_weight=g["layer2_shortcut_weight"],
                bias=g["layer2_bias"]),
        Conv((2,), 6, 3, 2, 1, "spike", 1.0, *conv(3)),
        Conv((3,), 18, 1, 1, 0, "linear", 1.0, *conv(4)),
        YoloHead((4,), classes=1, mask=(0, 1, 2), all_anchors=g["anchors"]),
    ]
    params = {i: dict(zip(PARAMETERS, map(float, g[f"params{i}"]), strict=True)) for i in range(4)}
    spec = SpikingSpec(int(g["steps"]), "lif_direct", params, str(g["framework"]))
    model = ConvertedModel(Graph((3, 16, 16), layers, ["thing"]), None, DIRECT, {"source": "golden"}, spec)
    folder.mkdir(parents=True, exist_ok=True)
    path, image = folder / "direct.h5", folder / "golden.png"
    save_model(model, path)
    Image.fromarray(g["image"]).save(image)
    return path, image, g


def recorded_spikes(run_dir, steps: int) -> dict[int, np.ndarray]:
    """Every spiking layer's spikes (T, C, H, W) from the recordings (every neuron sampled)."""
    out = {}
    with h5py.File(run_dir / "recordings.h5") as f:
        for name, layer in f["images/0000/layers"].items():
            shape = tuple(layer.attrs["shape"])
            neurons = layer["sample_neuron"][()]
            if len(neurons) != np.prod(shape):
                continue
            spikes = np.zeros((steps, *shape), np.uint8)
            rows, when = layer["sample_spike_neuron"][()], layer["sample_spike_step"][()]
            assert np.all(layer["sample_spike_sign"][()] == 1)  # LIF neurons have no negative spikes
            c, y, x = neurons[rows].T
            np.add.at(spikes, (when - 1, c, y, x), 1)
            out[int(name)] = spikes
    return out


def run(model_path, image, folder, device, steps, **settings):
    return simulate(model_path, [image], SimulationSettings(steps=steps, device=device, sample_neurons=100_000,
                                                           threads=1, **settings), folder, progress=False)


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    return golden_model(tmp_path_factory.mktemp("direct"))


def test_model_file_round_trips_the_spiking_spec(golden, tmp_path):
    path, _, g = golden
    model = load_model(path)
    assert model.direct and model.calibration is None and model.normalization == DIRECT
    assert model.spiking.time_steps == int(g["steps"]) and model.spiking.neuron == "lif_direct"
    assert model.spiking.layers[1]["hard_reset"] == 0.0 and model.spiking.layers[2]["tau"] == 4.0
    add = model.graph.layers[2]
    np.testing.assert_array_equal(add.shortcut_weight, g["layer2_shortcut_weight"])
    assert [np.all(lam == 1) for lam in model.lambdas()] == [True] * 6
    save_model(model, tmp_path / "again.h5")
    again = load_model(tmp_path / "again.h5")
    assert again.spiking == model.spiking
    np.testing.assert_array_equal(again.graph.layers[2].weight, add.weight)


def _check_against_framework(run_dir, model_path, g):
    steps = int(g["steps"])
    spikes = recorded_spikes(run_dir, steps)
    assert {0, 1, 2, 3} <= set(spikes) and not spikes.get(4, np.zeros(1)).any()
    for index in range(4):
        expected = g[f"spikes{index}"]
        assert expected.sum() > 100
        mismatch = np.argwhere(spikes[index] != expected)
        assert len(mismatch) == 0, f"layer {index}: {len(mismatch)} (step, c, y, x) differ, first {mismatch[0]}"
    with h5py.File(run_dir / "recordings.h5") as f:
        v = f["images/0000/output/04/v"][()]
        checkpoints = list(f.attrs["checkpoints"])
    decoder = Decoder.for_model(load_model(model_path), decode="vmem")
    assert decoder.schedule == "same_step"
    (head,), = decoder.head_maps({4: {"v": v}}, checkpoints)[-1:]
    np.testing.assert_allclose(head, g["head_mean"], rtol=0, atol=1e-12)
    # and the detections decoded from Brian2's membranes are the framework's
    from brainyolo.ann.heads import detect_from_heads
    from brainyolo.ann.letterbox import Letterbox

    box = Letterbox((16, 16), (16, 16))
    ours = detect_from_heads(decoder.graph, [head], box).records("golden.png", ["thing"])
    theirs = detect_from_heads(decoder.graph, [g["head_mean"]], box).records("golden.png", ["thing"])
    assert ours == theirs and len(ours) > 0


@pytest.mark.codegen_independent
def test_brian2_runtime_spikes_equal_spikingjelly(golden, tmp_path):
    path, image, g = golden
    info = run(path, image, tmp_path, "runtime", int(g["steps"]))
    assert info["schedule"] == "same_step" and info["neuron"] == "lif_direct"
    _check_against_framework(tmp_path, path, g)


@pytest.mark.long
@pytest.mark.standalone_only
def test_brian2_cpp_standalone_spikes_equal_spikingjelly(golden, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    path, image, g = golden
    run(path, image, tmp_path / "run", "cpp_standalone", int(g["steps"]))
    _check_against_framework(tmp_path / "run", path, g)


def test_a_run_sets_a_trained_parameter_per_layer(golden, tmp_path):
    """--set 2.tau=2 is the network with tau 2 built in: the run's parameters reach the neurons."""
    from brainyolo.spiking.parameters import parse_setting

    path, image, g = golden
    run(path, image, tmp_path / "set", "runtime", 8, parameters=parse_setting("2.tau=2"))
    model = load_model(path)
    spec = dataclasses.replace(model.spiking, layers={**model.spiking.layers,
                                                      2: {**model.spiking.layers[2], "tau": 2.0}})
    save_model(dataclasses.replace(model, spiking=spec), tmp_path / "tau2.h5")
    run(tmp_path / "tau2.h5", image, tmp_path / "built", "runtime", 8)
    a, b = recorded_spikes(tmp_path / "set", 8), recorded_spikes(tmp_path / "built", 8)
    assert all(np.array_equal(a[i], b[i]) for i in a)
    assert not np.array_equal(a[2], g["spikes2"])  # and tau matters


def _damaged(golden, tmp_path, change) -> str:
    path, _, _ = golden
    model = load_model(path)
    broken = tmp_path / "broken.h5"
    with h5py.File(path) as src, h5py.File(broken, "w") as dst:
        for key in src:
            src.copy(src[key], dst, key)
        dst.attrs.update(dict(src.attrs))
        del dst.attrs["content_sha256"]
        change(dst, model)
    with pytest.raises(BrainyoloError) as err:
        load_model(broken)
    message = str(err.value)
    assert "\n" not in message and str(broken) in message
    return message


@pytest.mark.codegen_independent
def test_bad_direct_model_files_get_one_line(golden, tmp_path):
    def branches_of_different_shapes(f, model):
        f["network/layers/002"].attrs["shortcut_stride"] = 2

    def zero_steps(f, model):
        f["spiking"].attrs["time_steps"] = 0

    def unknown_neuron(f, model):
        f["spiking"].attrs["neuron"] = "no such/neuron"

    def neuron_not_installed(f, model):
        f["spiking"].attrs["neuron"] = "lif_from_elsewhere"

    def unknown_kind(f, model):
        f["network/layers/002"].attrs["kind"] = "ConvMultiply"

    def missing_parameters(f, model):
        del f["spiking/003"]

    assert "different shapes" in _damaged(golden, tmp_path, branches_of_different_shapes)
    assert "time_steps 0" in _damaged(golden, tmp_path, zero_steps)
    assert "not the name of a neuron file" in _damaged(golden, tmp_path, unknown_neuron)
    assert "unknown layer kind" in _damaged(golden, tmp_path, unknown_kind)
    assert "not a neuron file of this installation" in _damaged(golden, tmp_path, neuron_not_installed)
    assert "layer 3" in _damaged(golden, tmp_path, missing_parameters)


@pytest.mark.codegen_independent
def test_a_version_1_file_with_a_shortcut_is_refused(golden, tmp_path):
    def version_1(f, model):
        f.attrs["schema_version"] = 1

    assert "version 1" in _damaged(golden, tmp_path, version_1)


@pytest.mark.codegen_independent
def test_the_cli_refuses_the_ann_of_a_direct_model_in_one_line(golden, tmp_path, capsys):
    from brainyolo.cli import main

    path, image, _ = golden
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / f"{image.stem}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    for argv in (["detect", str(path), str(image), "-o", str(tmp_path / "d")],
                 ["evaluate", str(path), "--images", str(image.parent), "--labels", str(labels), "-o",
                  str(tmp_path / "e")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "has no ANN (use --mode snn)" in err and str(path) in err
        assert not (tmp_path / argv[-1]).exists()


def test_evaluate_runs_a_direct_model_and_scores_it_without_an_ann(golden, tmp_path, capsys):
    from brainyolo.cli import main

    path, image, g = golden
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / f"{image.stem}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert main(["evaluate", str(path), "--images", str(image.parent), "--labels", str(labels), "--mode", "snn",
                 "--steps", "8", "--checkpoints", "4,8", "--device", "runtime", "-q", "-o", str(tmp_path / "e")]) == 0
    metrics = __import__("json").loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["ann"] is None and set(metrics["snn"]) == {"4", "8"}
    assert metrics["snn_settings"]["neuron"] == "lif_direct"
    assert "directly trained" in capsys.readouterr().out


def test_decode_and_analyze_work_on_a_direct_run(golden, tmp_path):
    from brainyolo.analysis.spikes import analyze
    from brainyolo.readout.decoding import decode_run

    path, image, g = golden
    run(path, image, tmp_path / "run", "runtime", 8, checkpoints=(4, 8))
    records, _ = decode_run(tmp_path / "run", "vmem", path)
    assert sorted(records) == [4, 8]
    index = analyze([tmp_path / "run"], tmp_path / "figures", progress=False)
    assert index["figures"]["fig1"] is None and index["figures"]["fig9"]  # no normalization to show; energy yes
    table = __import__("json").loads((tmp_path / "figures" / "fig9_table2_energy.json").read_text())
    per_layer = table["per_layer"]
    # the shortcut layer's accumulates: layer 1's spikes through the 3x3 kernel (its real fan-out at the
    # borders) plus layer 0's spikes through the 1x1 shortcut (4 targets each)
    from brainyolo.spiking.unrolled import conv_fan_out

    main_branch = int((g["spikes1"].sum(axis=0).astype(np.int64) * conv_fan_out((4, 8, 8), 4, 3, 1, 1)).sum())
    assert per_layer["2"]["synaptic_acs"] == main_branch + 4 * int(g["spikes0"].sum()) > 0
    assert per_layer["0"]["image_macs"] == table["snn_macs"] == 4 * 8 * 8 * 3 * 9

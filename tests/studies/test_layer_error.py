"""analysis/fast-and-frugal/layer_error.py: a short run's error split per layer into what the layer passes on (total,
against the ANN) and what it adds itself (local, against its own function of the rates it received).
Oracles: the ANN's own activations given as the "spiking" rates (no error anywhere), a hand-placed
per-channel offset (all local, all in the channel mean, nothing upstream), hand-computed counts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import analysis_script

from brainyolo.ann.graph import Conv, MaxPool
from brainyolo.ann.letterbox import letterbox, load_image
from brainyolo.ann.reference import forward
from brainyolo.convert.model_file import load_model
from brainyolo.spiking.builder import hidden_layers, output_layers

pytestmark = pytest.mark.codegen_independent


@pytest.fixture(scope="module")
def layer_error():
    return analysis_script("layer_error")


@pytest.fixture(scope="module")
def network(tiny_converted):
    model_path, images = tiny_converted
    graph = load_model(model_path).normalized_graph()
    _, height, width = graph.input_shape
    chw = letterbox(load_image(images[0]), width, height)[0].astype(np.float64)
    ann = forward(graph, chw, capture=True, dtype=np.float64)
    spiking = [i for i, layer in enumerate(graph.layers) if i in hidden_layers(graph) or isinstance(layer, MaxPool)]
    return graph, chw, ann, spiking


def test_the_anns_own_activations_have_no_error(layer_error, network):
    graph, chw, ann, spiking = network
    tallies = {}
    layer_error.compare(graph, chw, {i: ann[i] for i in spiking}, {i: ann[i] for i in output_layers(graph)},
                        tallies)
    assert set(tallies) == set(spiking) | set(output_layers(graph))
    for index, tally in tallies.items():
        row = tally.row()
        assert row["activation_rms"] > 0
        for key in ("total", "local", "channel_mean", "mean"):
            assert abs(row[key]) < 1e-12, (index, key)


def test_a_channel_offset_is_local_all_in_the_channel_mean(layer_error, network):
    graph, chw, ann, spiking = network
    first = next(i for i in spiking if isinstance(graph.layers[i], Conv))
    rates = {i: ann[i].copy() for i in spiking}
    rates[first][0] += 0.05
    tallies = {}
    layer_error.compare(graph, chw, rates, {i: ann[i] for i in output_layers(graph)}, tallies)
    c, h, w = ann[first].shape
    rms = np.sqrt(np.mean(ann[first] ** 2))
    row = tallies[first].row()
    expected = 0.05 * np.sqrt(h * w / ann[first].size) / rms  # one channel of c off by 0.05
    for key in ("total", "local", "channel_mean"):
        assert row[key] == pytest.approx(expected, rel=1e-9), key
    assert row["mean"] == pytest.approx(0.05 / c / rms, rel=1e-9)
    assert row["negative_share"] == pytest.approx(np.mean(ann[first] < 0))
    assert row["mean_on_negative"] == pytest.approx(0.05 * np.sum(ann[first][0] < 0) / ann[first].size / rms)
    reader = next(i for i, layer in enumerate(graph.layers) if first in layer.inputs)
    assert tallies[reader].row()["local"] > 0  # its input changed, its rates did not
    assert all(abs(tallies[i].row()["total"]) < 1e-12 for i in spiking if i < first)


@pytest.mark.parametrize("negative", [1.0, 0.5])
def test_window_rates_from_differenced_counts(layer_error, negative):
    """Net counts over the window (a -1 spike worth the layer's recorded ``negative_value``), times the value a spike
    stands for, per step."""
    counts = {"layers": {3: {"positive_count": np.full((2, 1, 1), 10, np.int32),
                             "negative_count": np.full((2, 1, 1), 2, np.int32), "negative_value": negative}}}
    earlier = {"layers": {3: {"positive_count": np.full((2, 1, 1), 4, np.int32),
                              "negative_count": np.full((2, 1, 1), 1, np.int32), "negative_value": negative}}}
    values = {3: np.array([1.5, 1.0])}
    window = (10 - 4) - negative * (2 - 1)  # 5 with whole negative spikes, 5.5 with half ones
    rates = layer_error.spiking_values(counts, values, 20, set(), earlier)[3]
    np.testing.assert_allclose(rates[:, 0, 0], [window * 1.5 / 20, window * 1.0 / 20])
    whole = layer_error.spiking_values(counts, values, 40, set(), None)[3]
    np.testing.assert_allclose(whole[:, 0, 0], [(10 - 2 * negative) * 1.5 / 40, (10 - 2 * negative) / 40])
    assert layer_error.spiking_values(counts, values, 40, {3}, None) == {}


@pytest.fixture(scope="module")
def bias_correction():
    return analysis_script("bias_correction")


def test_bias_correction_moves_normalized_biases_by_the_mean_error(bias_correction, tiny_converted, tmp_path):
    """The normalized bias of each corrected hidden layer moves by -scale * its error; everything else stays."""
    from brainyolo.convert.model_file import save_model
    from brainyolo.io.errors import BrainyoloError

    model = load_model(tiny_converted[0])
    hidden = hidden_layers(model.graph)
    rng = np.random.default_rng(3)
    errors = {i: rng.normal(0, 0.05, model.graph.layers[i].bias.shape) for i in hidden[:2]}
    save_model(bias_correction.corrected(model, errors, 0.5, "errors.npz"), tmp_path / "corrected.h5")
    before, after = model.normalized_graph(), load_model(tmp_path / "corrected.h5").normalized_graph()
    for index, (a, b) in enumerate(zip(before.layers, after.layers, strict=True)):
        if not isinstance(a, Conv):
            continue
        np.testing.assert_array_equal(a.weight, b.weight)
        shift = -0.5 * errors[index] if index in errors else 0.0
        np.testing.assert_allclose(b.bias, a.bias + shift, atol=1e-6, err_msg=str(index))
    assert load_model(tmp_path / "corrected.h5").provenance["bias_correction"] == "errors.npz"
    with pytest.raises(BrainyoloError, match="channels"):
        bias_correction.corrected(model, {hidden[0]: np.zeros(3)})


@pytest.mark.long
@pytest.mark.standalone_only
def test_measured_errors_become_a_bias_corrected_model(tiny_converted, tmp_path, monkeypatch, capsys):
    """The two scripts end to end, as the study runs them: layer_error.py measures and saves each layer's
    per-channel mean local error on a short C++ run; bias_correction.py moves each hidden bias by
    ``-error * lambda`` (hand-checked) and leaves everything else as it was."""
    monkeypatch.setenv("BRAINYOLO_CACHE", str(tmp_path / "cache"))
    model_path, images = tiny_converted
    folder = images[0].parent
    errors_file = tmp_path / "errors.npz"
    assert analysis_script("layer_error").main([str(model_path), "--images", str(folder), "--count", "2",
                                                 "--steps", "8", "--save", str(errors_file)]) == 0
    assert "synaptic events per image" in capsys.readouterr().out
    with np.load(errors_file) as data:
        errors = {int(k): data[k] for k in data.files}
    model = load_model(model_path)
    hidden = hidden_layers(model.graph)
    assert set(hidden) <= set(errors) and any(np.abs(errors[i]).max() > 0 for i in hidden)
    out = tmp_path / "corrected.h5"
    assert analysis_script("bias_correction").main([str(model_path), str(errors_file), str(out), "--scale", "0.5"]) == 0
    corrected, lambdas = load_model(out), model.lambdas()
    for index, layer in enumerate(model.graph.layers):
        if index in hidden:
            expected = layer.bias.astype(np.float64) - 0.5 * errors[index] * lambdas[index]
            np.testing.assert_allclose(corrected.graph.layers[index].bias, expected.astype(np.float32), rtol=0,
                                       atol=1e-6)
        elif isinstance(layer, Conv):
            np.testing.assert_array_equal(corrected.graph.layers[index].bias, layer.bias)
    assert corrected.provenance["bias_correction"] == "errors.npz"

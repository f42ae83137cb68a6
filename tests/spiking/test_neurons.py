"""Neuron models from equations/: rates of the signed IBT neuron and its variants in Brian2."""

from __future__ import annotations

import brian2
import numpy as np
import pytest

from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.neurons import NEGATIVE_EVENT, available_neuron_models, load_neuron_model, neuron_group

T = 400


pytestmark = pytest.mark.usefixtures("numpy_runtime")


def net_rates(model_name, inputs, steps=T, **parameters):
    """(positive rate, negative rate) per neuron for constant input currents ``inputs`` per step."""
    model = load_neuron_model(model_name)
    group = neuron_group(model, len(inputs), **parameters)
    group.I = inputs
    positive = brian2.SpikeMonitor(group, record=False)
    monitors = [group, positive]
    negative = None
    if model.signed:
        negative = brian2.EventMonitor(group, NEGATIVE_EVENT, record=False)
        monitors.append(negative)
    net = brian2.Network(*monitors)
    net.run(steps * brian2.ms)
    pos = np.asarray(positive.count[:], float) / steps
    neg = np.asarray(negative.count[:], float) / steps if negative is not None else np.zeros(len(inputs))
    return pos, neg


def test_all_models_are_shipped():
    assert {"if_signed_ibt", "if_signed", "if_relu", "lif_signed_ibt", "integrate", "relay",
            "maxpool"} <= set(available_neuron_models())


def test_integrate_only_neuron_accumulates():
    model = load_neuron_model("integrate")
    assert not model.spiking and not model.signed
    group = neuron_group(model, 3)
    group.I = [0.25, -0.5, 0.0]
    brian2.Network(group).run(8 * brian2.ms)
    np.testing.assert_allclose(group.v[:], [2.0, -4.0, 0.0])


def test_signed_ibt_rate_is_leaky_relu():
    x = np.linspace(-1, 1, 41)
    pos, neg = net_rates("if_signed_ibt", x)
    expected = np.where(x >= 0, x, 0.1 * x)
    assert np.all(np.abs((pos - neg) - expected) <= 1 / T + 1e-9)
    assert np.all(neg[x >= 0] == 0) and np.all(pos[x < 0] == 0)


def test_threshold_and_alpha_are_parameters():
    x = np.array([-1.0, -0.4, 0.3, 0.9])
    pos, neg = net_rates("if_signed_ibt", x, v_th=2.0, alpha=0.25)
    expected = np.where(x >= 0, x, 0.25 * x) / 2.0
    assert np.all(np.abs((pos - neg) - expected) <= 1 / T + 1e-9)


def test_symmetric_signed_neuron_without_ibt():
    x = np.array([-0.8, -0.2, 0.5])
    pos, neg = net_rates("if_signed", x)
    assert np.all(np.abs((pos - neg) - x) <= 1 / T + 1e-9)  # negative side NOT scaled by alpha


def test_relu_neuron_loses_negative_inputs():
    x = np.array([-0.8, 0.0, 0.6])
    pos, neg = net_rates("if_relu", x)
    assert np.all(np.abs(pos - np.maximum(x, 0)) <= 1 / T + 1e-9) and not neg.any()


def test_leaky_variant_forgets_weak_inputs():
    x = np.array([0.01, 0.5])
    pos, _ = net_rates("lif_signed_ibt", x)
    assert pos[0] == 0  # 0.01/ms * 50 ms = 0.5 < v_th: never fires
    assert 0 < pos[1] < 0.5 - 1 / T


def test_edited_copy_by_path_changes_dynamics(tmp_path):
    text = load_neuron_model("if_signed_ibt").source
    edited = tmp_path / "my_neuron.toml"
    edited.write_text(open(text).read().replace('v_th = "1"', 'v_th = "4"'))
    pos, _ = net_rates(str(edited), np.array([0.8]))
    assert abs(pos[0] - 0.2) <= 1 / T


@pytest.mark.parametrize("content, problem", [("threshold = 'v > 1'\n", "missing text entry 'model'"),
                                              ("model = [1\n", "not valid TOML"),
                                              ("model='v:1'\nthreshold='v>1'\nreset='v=0'\nspeed=3\n",
                                               "unknown keys"),
                                              ("model='v:1'\nthreshold='v>1'\nreset='v=0'\n"
                                               "[parameters]\nv_th='1*furlong'\n", "not a quantity")])
def test_bad_model_files(tmp_path, content, problem):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(BrainyoloError) as info:
        model = load_neuron_model(path)
        neuron_group(model, 1)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_unknown_name():
    with pytest.raises(BrainyoloError, match="no such neuron model"):
        load_neuron_model("hodgkin_huxley_deluxe")

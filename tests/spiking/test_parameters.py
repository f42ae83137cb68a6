"""Per-layer neuron parameters: parsing, files, checks against the neuron file and the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from brainyolo.ann.darknet import graph_from_sections, parse_cfg_text
from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.builder import hidden_layers, parameter_defaults
from brainyolo.spiking.network import spike_values
from brainyolo.spiking.neurons import load_neuron_model
from brainyolo.spiking.parameters import (
    ParameterSettings,
    parse_setting,
    read_parameter_file,
    resolve,
    write_parameter_file,
)

pytestmark = pytest.mark.codegen_independent

CFG = """[net]
width=16
height=16
channels=3
[convolutional]
filters=4
size=3
pad=1
activation=leaky
[maxpool]
size=2
stride=2
[convolutional]
filters=2
size=1
activation=leaky
[route]
layers=-1,-2
[convolutional]
filters=12
size=1
activation=linear
[yolo]
mask=0,1
anchors=4,4, 8,8
classes=1
num=2
"""


@pytest.fixture(scope="module")
def graph():
    return graph_from_sections(parse_cfg_text(CFG))


def test_settings_override_in_order_and_layers_beat_all():
    settings = parse_setting("all.v_th=0.5") + parse_setting("2.v_th=0.8") + parse_setting("all.v_th=0.6")
    assert settings.for_layer(0) == {"v_th": 0.6}
    assert settings.for_layer(2) == {"v_th": 0.8}
    assert settings.layers() == {2}


@pytest.mark.parametrize("text", ["v_th=1", "3.v_th", "x.v_th=1", "3.v-th=1", "3.v_th=__import__('os')",
                                  "3.v_th=9**9**9", "3.v_th=nan"])
def test_bad_settings_are_one_error(text):
    with pytest.raises(BrainyoloError, match="--set"):
        parse_setting(text)


def test_defaults_are_the_built_values(graph):
    model = load_neuron_model("lif_signed_ibt")
    assert hidden_layers(graph) == [0, 2]
    assert parameter_defaults(graph, model)[0] == {"v_th": 1.0, "alpha": pytest.approx(0.1), "tau": 0.05,
                                                   "v_init": 0.0}


def test_resolve_checks_layer_name_units_and_range(graph):
    model = load_neuron_model("lif_signed_ibt")
    defaults = parameter_defaults(graph, model)
    values = resolve(parse_setting("all.tau=20*ms") + parse_setting("2.v_th=0.5"), model, hidden_layers(graph),
                     defaults)
    assert values[0]["tau"] == pytest.approx(0.02) and values[2]["v_th"] == 0.5 and values[0]["v_th"] == 1.0
    for text, message in [("4.v_th=0.5", "layer 4 takes no neuron parameters"),
                          ("all.t_step=2", "'t_step' is not a parameter"),
                          ("all.tau=2*mV", "does not have the units"),
                          ("0.v_th=0", "must be finite and positive"),
                          ("0.v_th=1*ms", "does not have the units")]:
        with pytest.raises(BrainyoloError, match=message):
            resolve(parse_setting(text), model, hidden_layers(graph), defaults)


@pytest.mark.parametrize(("name", "v_th"), [("yolov3-tiny-64", 2.5), ("yolov3-tiny-64-v_th2", 2.0)])
def test_shipped_64_step_parameters_resolve_for_the_tracking_neuron(graph, name, v_th):
    """The 64-step points are for if_signed_ibt_tracking (hold_positive is its parameter alone): they
    resolve there, every hidden layer holding its positive spikes at the file's v_th, and are refused by
    if_signed_ibt with one error naming the file."""
    path = Path(__file__).resolve().parents[2] / "runs" / "params" / f"{name}.toml"
    settings = read_parameter_file(path)
    model = load_neuron_model("if_signed_ibt_tracking")
    values = resolve(settings, model, hidden_layers(graph), parameter_defaults(graph, model), path)
    assert all(v == {**v, "v_th": v_th, "v_init": 0.5, "hold_positive": 1.0} for v in values.values())
    ibt = load_neuron_model("if_signed_ibt")
    with pytest.raises(BrainyoloError, match=f"{name}.toml.*'hold_positive' is not a parameter"):
        resolve(settings, ibt, hidden_layers(graph), parameter_defaults(graph, ibt), path)


def test_spike_values_follow_sources_through_pool_and_route(graph):
    values = spike_values(graph, {0: 0.5, 2: 0.25})
    np.testing.assert_array_equal(values[1], np.full(4, 0.5))  # max-pool passes layer 0's value on
    np.testing.assert_array_equal(values[3], [0.25, 0.25, 0.5, 0.5, 0.5, 0.5])  # route: its sources' in order


def test_parameter_file_round_trip(tmp_path):
    settings = parse_setting("all.v_init=0.5") + parse_setting("3.v_th=0.8") + parse_setting("3.tau=20*ms")
    path = tmp_path / "params.toml"
    write_parameter_file(path, settings, "tuned here")
    again = read_parameter_file(path)
    assert again.for_layer(3)["v_th"] == 0.8 and again.for_layer(0) == {"v_init": 0.5}
    assert float(again.for_layer(3)["tau"]) == pytest.approx(0.02)
    assert path.read_text().startswith("# tuned here")


@pytest.mark.parametrize("text, message", [
    ("[x]\nv_th = 1\n", "tables are [all] or [LAYER]"),
    ("v_th = 1\n", "must be a table"),
    ("[3]\nv_th = \"().__class__\"\n", "unexpected character"),
    ("[3]\nv_th = true\n", "true/false is not a quantity"),
])
def test_bad_parameter_files(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BrainyoloError, match="bad.toml") as err:
        read_parameter_file(path)
    assert message in str(err.value)


def test_cli_refuses_a_bad_setting_before_writing(corpus, tmp_path):
    out = tmp_path / "run"
    code, _, stderr = run_cli(["simulate", str(corpus["model"]), str(corpus["images"][0]), "--steps", "3",
                               "--device", "runtime", "--set", "7.v_th=0.5", "-q", "-o", str(out)])
    assert code == 2 and "layer 7 takes no neuron parameters" in stderr and not out.exists()
    assert ParameterSettings().entries == ()

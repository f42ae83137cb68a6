"""Offline decoding of output recordings into head maps and detections (Vmem and spike count)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brainyolo.ann.graph import INPUT, Conv, Graph, MaxPool, Route, Upsample, YoloHead
from brainyolo.ann.letterbox import letterbox, load_image
from brainyolo.ann.reference import head_maps
from brainyolo.convert.model_file import load_model
from brainyolo.detector import simulate
from brainyolo.readout.decoding import Decoder, decode_run, estimate_activation
from brainyolo.spiking.schedule import spike_delays
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.simulate import SimulationSettings, Simulator

pytestmark = pytest.mark.codegen_independent


def _conv(inputs, filters=2):
    return Conv(inputs, filters=filters, size=1, stride=1, pad=0, activation="leaky", alpha=0.1)


def test_spike_delays_hand_counted():
    anchors = np.ones((3, 2), np.float32)
    layers = [_conv((INPUT,)),                                   # 0: image current -> spikes from step 1
              MaxPool((0,), size=2, stride=2, pad=1),             # 1: one step behind its input
              _conv((1,)),                                        # 2
              Route((2,)),                                        # 3: single route = its input's group
              Upsample((3,), stride=2),                           # 4: relay neurons
              Route((4, 0)),                                      # 5: concatenation relays: max + 1
              _conv((5,), 24),                                    # 6: output layer
              YoloHead((6,), classes=3, mask=(0, 1, 2), all_anchors=anchors)]
    graph = Graph((3, 8, 8), layers)
    assert spike_delays(graph) == [0, 1, 2, 2, 3, 4, 5, 5]
    assert spike_delays(graph, spiking_input=True) == [1, 2, 3, 3, 4, 5, 6, 6]
    decoder = Decoder(graph, [np.ones(2)] * 8, spike_delays(graph))
    assert decoder.output_delay(6) == 4  # its input (layer 5) first spikes at step 5, reaching V then
    assert Decoder(graph, [np.ones(2)] * 8, spike_delays(graph), decode="spikes").output_delay(6) == 5


def test_estimate_activation_by_hand():
    # bias 0.5 per step from step 1; synaptic input 0.25 per step from step 4 (delay 3)
    steps = [2, 3, 4, 10]
    v = np.array([[0.5 * t + 0.25 * max(t - 3, 0)] for t in steps]).reshape(4, 1, 1, 1)
    estimate = estimate_activation(v, steps, np.array([0.5]), delay=3)
    np.testing.assert_allclose(estimate.ravel(), [0.5, 0.5, 0.75, 0.75])


def test_late_half_estimate_by_hand():
    # bias 0.1 per step; synaptic input 0.5 per step from step 6 (a start-up of 5 steps, delay 2)
    from brainyolo.readout.decoding import estimate_activation_late, late_checkpoints

    steps = [10, 20, 40]
    v = np.array([0.1 * t + 0.5 * max(t - 5, 0) for t in steps]).reshape(3, 1, 1, 1)
    late = estimate_activation_late(v, steps, np.array([0.1]), delay=2)
    # 40: from 20 on, (21.5 - 9.5 - 2) / 20 + 0.1; 20: from 10 on; 10: no checkpoint in (2, 5]: whole run
    np.testing.assert_allclose(late.ravel(), [0.1 + 2.5 / 8, 0.6, 0.6])
    np.testing.assert_allclose(estimate_activation(v, steps, np.array([0.1]), 2).ravel(),
                               [0.1 + 2.5 / 8, 0.1 + 7.5 / 18, 0.1 + 17.5 / 38])
    assert late_checkpoints((10, 40), 40, "vmem-late") == (5, 10, 20, 40)


@pytest.fixture(scope="module")
def small_model(tiny_converted):
    return tiny_converted


@pytest.mark.parametrize("decode", ["vmem", "spikes"])
def test_decoded_head_maps_approach_the_ann(small_model, tmp_path, decode):
    """The decoded head maps converge to the ANN's head maps; the delay correction helps early on."""
    model_path, images = small_model
    model = load_model(model_path)
    settings = SimulationSettings(steps=400, checkpoints=(50, 100, 400), device="runtime",
                                  build=BuildOptions(output=decode))
    with Simulator(model_path, settings) as simulator:
        result = simulator.run(images[0])
    chw, _ = letterbox(load_image(images[0]), 96, 96)
    ann = head_maps(model.graph, chw)
    decoder = Decoder.for_model(model, decode=decode)
    estimates = decoder.head_maps(result.data["output"], result.checkpoints)
    errors = [np.mean([np.abs(e - a).mean() / np.abs(a).mean() for e, a in zip(maps, ann, strict=True)])
              for maps in estimates]
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < (0.1 if decode == "vmem" else 0.2)
    corr = np.corrcoef(np.concatenate([m.ravel() for m in estimates[2]]),
                       np.concatenate([m.ravel() for m in ann]))[0, 1]
    assert corr > 0.98
    # without the delay correction (delay 0) the early estimate is worse
    undelayed = Decoder(decoder.graph, decoder.lambdas, [0] * len(decoder.delays), decode)
    raw = undelayed.head_maps(result.data["output"], result.checkpoints)[0]
    raw_error = np.mean([np.abs(e - a).mean() / np.abs(a).mean() for e, a in zip(raw, ann, strict=True)])
    assert errors[0] < raw_error


def test_decode_command_matches_in_memory_decoding(small_model, tmp_path):
    from conftest import run_command as run_cli

    model_path, images = small_model
    settings = SimulationSettings(steps=60, checkpoints=(20, 40), device="runtime")
    simulate(model_path, images, settings, tmp_path / "run", progress=False)
    code, out, err = run_cli("decode", tmp_path / "run", "-o", tmp_path / "dec")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "dec" / "checkpoints").iterdir()) == [
        "detections_t20.json", "detections_t40.json", "detections_t60.json"]
    final = json.loads((tmp_path / "dec" / "detections.json").read_text())
    assert final == json.loads((tmp_path / "dec" / "checkpoints" / "detections_t60.json").read_text())
    records, _ = decode_run(tmp_path / "run")
    assert final == records[60] and len(final) > 0
    # the same images through the Simulator and the Decoder directly
    model = load_model(model_path)
    decoder = Decoder.for_model(model)
    with Simulator(model_path, settings) as simulator:
        direct = []
        for path in images:
            result = simulator.run(path)
            direct += decoder.detections(result.data["output"], result.checkpoints, result.box)[60].records(
                path.name, model.graph.class_names)
    assert direct == final


def test_decode_errors(small_model, tmp_path):
    from conftest import run_command as run_cli

    model_path, images = small_model
    code, _, err = run_cli("decode", tmp_path, "-o", tmp_path / "out")
    assert code == 2 and "recordings.h5: not found" in err and err.count("\n") == 1
    simulate(model_path, images[:1], SimulationSettings(steps=5, device="runtime"), tmp_path / "run",
             progress=False)
    code, _, err = run_cli("decode", tmp_path / "run", "--decode", "spikes", "-o", tmp_path / "out")
    assert code == 2 and "needs a run made with --output spikes" in err
    other = tmp_path / "other.h5"
    other.write_bytes(model_path.read_bytes() + b"x")
    code, _, err = run_cli("decode", tmp_path / "run", "--model", other, "-o", tmp_path / "out")
    assert code == 2 and "sha256 differs" in err
    assert not (tmp_path / "out").exists()

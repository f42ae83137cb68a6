"""The Python API (``brainyolo.SpikingDetector``): monitors of hidden neurons, lesions per run on one
binary, per-run parameters, a user's own Brian2 objects; against the network's own spike counters."""

from __future__ import annotations

import brian2
import numpy as np
import pytest

import brainyolo
from brainyolo.convert import model_file
from brainyolo.data.scenes import write_scenes
from brainyolo.io.atomic import sha256_of
from brainyolo.spiking.simulate import Simulator

HIDDEN = 2  # the embedded detector's second convolution (a hidden spiking layer)
LATER = 4  # a convolution after it
SILENCED_CHANNEL = 3
NEURONS = [(0, 5, 5), (1, 10, 20), (2, 20, 10), (5, 30, 30), (7, 12, 40)]


def test_neuron_index_and_lazy_api():
    assert brainyolo.neuron_index((4, 3, 5), 2, 1, 3) == (1 * 5 + 3) * 4 + 2
    with pytest.raises(ValueError, match="outside"):
        brainyolo.neuron_index((4, 3, 5), 4, 0, 0)
    assert "SpikingDetector" in dir(brainyolo)
    with pytest.raises(AttributeError):
        brainyolo.NoSuchThing  # noqa: B018


def run_experiment(device: str, steps: int, scene):
    detector = brainyolo.SpikingDetector("embedded", steps=steps, checkpoints=(steps // 2,), device=device,
                                         lesions=True, threads=2)
    trace = detector.record_v(HIDDEN, NEURONS)
    spikes = detector.record_spikes(HIDDEN)
    rate = detector.record_rate(LATER)
    with detector:
        first = detector.run(scene)
        second = detector.run(scene, silenced={HIDDEN: [SILENCED_CHANNEL]})
        shape = detector._shape(HIDDEN)  # noqa: SLF001
        if device == "cpp_standalone":  # a layer by number or by its group's name
            layer = detector.layer(f"layer{HIDDEN:02d}")
            assert layer.group is detector.layer(HIDDEN).group and layer.group.name == f"layer{HIDDEN:02d}"
            assert layer.shape == shape and layer.neuron(1, 2, 3) == brainyolo.neuron_index(shape, 1, 2, 3)
    return first, second, trace, spikes, rate, shape


def check_experiment(first, second, trace, spikes, rate, shape, steps):
    v = first.recorded(trace)["v"]
    assert v.shape == (len(NEURONS), steps) and np.isfinite(v).all()
    assert (np.ptp(v, axis=1) > 0).all()  # every traced membrane moves
    channel = np.arange(int(np.prod(shape))) % shape[0]  # neuron order: channel fastest
    counts = [run.recorded(spikes)["count"] for run in (first, second)]
    # the monitor agrees with the network's own counters
    np.testing.assert_array_equal(counts[0], first.result.data["layers"][HIDDEN]["positive_count"]
                                  .transpose(1, 2, 0).ravel())
    assert counts[0][channel == SILENCED_CHANNEL].sum() > 0
    assert counts[1][channel == SILENCED_CHANNEL].sum() == 0  # the lesion: not one spike
    layers = [run.result.data["layers"][LATER]["positive_count"] for run in (first, second)]
    assert not np.array_equal(*layers)  # the layers after it change
    assert first.recorded(rate)["rate"].shape == (steps,)
    assert sorted(first.detections) == [steps // 2, steps]


def test_api_runtime(tmp_path):
    """numpy runtime: the network is made for every run, the user's monitors with it."""
    brian2.prefs.codegen.target = "numpy"
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=41)
    check_experiment(*run_experiment("runtime", 24, scene), steps=24)


@pytest.mark.long
@pytest.mark.standalone_only
def test_api_cpp_standalone_one_binary(tmp_path):
    """The issue's promise: C++ standalone, one scene, 100 steps: 5 hidden membranes recorded (finite,
    varying), a channel silenced in a second run fires no spike and the layers after it change, and the
    second run reuses the first one's binary."""
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=41)
    first, second, *rest = run_experiment("cpp_standalone", 100, scene)
    check_experiment(first, second, *rest, steps=100)
    assert second.result.timing["build_seconds"] == 0.0  # no second compilation


def test_per_run_parameters_and_refusals(tmp_path, monkeypatch):
    brian2.prefs.codegen.target = "numpy"
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=42)
    reads = []
    monkeypatch.setattr(model_file, "read_model", lambda path, read=model_file.read_model: reads.append(path)
                        or read(path))
    with brainyolo.SpikingDetector("embedded", steps=12, device="runtime") as detector:
        base = detector.run(scene)
        assert len(reads) == 1 and detector._simulator.model is detector.model  # noqa: SLF001 - read once
        assert detector._simulator.model_sha == detector.model_sha == sha256_of(detector.model_path)  # noqa: SLF001
        with pytest.raises(ValueError, match="model_sha"):  # a model as read, without the file's checksum
            Simulator(detector.model_path, detector.settings, model=detector.model)
        raised = detector.run(scene, parameters={HIDDEN: {"v_th": 50.0}})
        with pytest.raises(ValueError, match="without lesions"):
            detector.run(scene, silenced={HIDDEN: [0]})
        with pytest.raises(RuntimeError, match="add objects before"):
            detector.record_spikes(HIDDEN)
    counts = [run.result.data["layers"][HIDDEN]["positive_count"].sum() for run in (base, raised)]
    assert counts[0] > 0 and counts[1] < counts[0]  # a 50-fold threshold: far fewer spikes
    with pytest.raises(KeyError):
        brainyolo.SpikingDetector("embedded", device="runtime").record_v(99, [(0, 0, 0)])


def _example(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


@pytest.mark.long
@pytest.mark.standalone_only
def test_membrane_traces_example_writes_its_figure(tmp_path):
    out = _example("membrane_traces").main(str(tmp_path / "traces.png"))
    assert out.stat().st_size > 10_000


@pytest.mark.long
@pytest.mark.standalone_only
def test_lesion_study_example_one_binary(tmp_path):
    """Example b, small: 3 scenes, 4 channels of layer 2; every run after the first reuses its binary."""
    result = _example("lesion_study").main(str(tmp_path / "lesions.png"), count=3, steps=32, channels=4)
    assert set(result) == {"intact", 0, 1, 2, 3}
    assert all(0 <= value <= 1 for value in result.values())
    assert (tmp_path / "lesions.png").stat().st_size > 5_000


@pytest.mark.long
@pytest.mark.standalone_only
def test_tuning_curve_example(tmp_path):
    """Example c, 9 positions: the neurons at the map's centre fire more for some object positions than for
    others, and their most tuned channel peaks while the object is inside their receptive field."""
    result = _example("tuning_curve").main(str(tmp_path / "tuning.png"), positions=9)
    rates = result["rates"]
    assert rates.shape == (9, 32) and rates.max() > 0
    tuned = int(np.argmax(rates.max(axis=0) - rates.min(axis=0)))
    left, right = result["field"]
    peak = result["x"][int(np.argmax(np.abs(rates[:, tuned] - np.median(rates[:, tuned]))))]
    assert left - 10 <= peak <= right + 10  # (within half the object's width of the field)
    assert (tmp_path / "tuning.png").stat().st_size > 10_000


@pytest.mark.long
@pytest.mark.standalone_only
def test_plastic_readout_example(tmp_path):
    """Example d, 6 scenes: the weights move away from their start, stay within [0, w_max], and each run
    starts from the weights the run before ended with (learning accumulates over the sequence)."""
    example = _example("plastic_readout")
    result = example.main(str(tmp_path / "plastic.png"), count=6)
    history = result["mean_weight"]
    assert history.shape == (7, 4)
    assert np.all(result["weights"] >= 0) and np.all(result["weights"] <= example.W_MAX)
    changes = np.abs(np.diff(history, axis=0))
    assert changes.sum() > 0
    assert not np.allclose(history[-1], history[1])  # later scenes build on earlier ones
    assert np.ptp(history[-1]) > 0  # the teacher: classes shown in other scenes learn other weights
    assert (tmp_path / "plastic.png").stat().st_size > 10_000


def _readout(net):
    """A user's own readout: one neuron per channel of layer HIDDEN, counting that channel's spikes."""
    layer = net.layers[HIDDEN]
    channels = layer.shape[0]
    readout = brian2.NeuronGroup(channels, "v : 1", clock=net.clock, name="readout")
    # the layer's namespace: its equations' constants (t_step, ...) resolve for the synapses' code too
    synapses = brian2.Synapses(layer.group, readout, on_pre="v_post += 1", clock=net.clock, name="readout_syn",
                               namespace=dict(layer.group.namespace))
    pre = np.arange(len(layer.group))
    synapses.connect(i=pre, j=pre % channels)  # neuron order: the channel is the index modulo C
    return [readout, synapses]


@pytest.mark.parametrize("device", ["runtime", pytest.param("cpp_standalone", marks=[pytest.mark.long,
                                                                                    pytest.mark.standalone_only])])
def test_a_users_own_group_and_synapses_join_the_network(tmp_path, device):
    """Brian2 objects of the user's (a group and its Synapses from a hidden layer) run with the network:
    each readout neuron counts its channel's spikes, as the layer's own counters do."""
    brian2.prefs.codegen.target = "numpy"
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=43)
    # checkpoints given: fast's neuron, one spike a step (short's bursts are one Brian2 event per level)
    with brainyolo.SpikingDetector("embedded", steps=16, checkpoints=(), device=device, threads=2) as detector:
        readout = detector.add(_readout)
        run = detector.run(scene)
        if device == "runtime":
            with pytest.raises(RuntimeError, match="runtime device"):
                detector.layer(HIDDEN)
        else:  # the binary cannot reset the Synapses' spike queues between images: it is started per image
            assert "Synapses" in detector._simulator._runner.not_served_reason
    states = run.recorded(readout)
    assert set(states) == {"readout", "readout_syn"}
    per_channel = run.result.data["layers"][HIDDEN]["positive_count"].sum(axis=(1, 2))
    np.testing.assert_array_equal(states["readout"]["v"], per_channel)
    assert per_channel.sum() > 0

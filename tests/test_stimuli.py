"""The Python API's stimuli, per-channel parameters and saved recordings, each against an independent way of
getting the same network input or an independent reader (h5py)."""

from __future__ import annotations

import json

import brian2
import h5py
import numpy as np
import pytest
from conftest import run_cli
from PIL import Image as PILImage

import brainyolo
from brainyolo.analysis.spikes import load_run
from brainyolo.data.scenes import write_scenes
from brainyolo.io import gen1
from brainyolo.io.errors import BrainyoloError
from brainyolo.readout.recordings_schema import check_recordings
from brainyolo.spiking.event_encoding import EventSample, EventSettings
from brainyolo.stimuli import EventStream, Image, ImageSequence, PoissonRates, occlusion_box
from tests.spiking.test_event_inputs import _random_recording
from tests.training.test_direct import golden_model

pytestmark = pytest.mark.codegen_independent

HIDDEN = 2  # the embedded detector's second convolution: 16 channels of 48 x 48
LATER_CONV = 6  # a convolution further on
STEPS = 10
RUN = {"steps": STEPS, "checkpoints": ()}
"""fast's own network: these tests are about the stimuli, and a 10-step run naming no checkpoints runs short."""


@pytest.fixture(autouse=True)
def _numpy():
    brian2.prefs.codegen.target = "numpy"


def counts(run) -> dict[int, np.ndarray]:
    return {i: layer["positive_count"] + 1000 * layer["negative_count"] for i, layer in
            run.result.data["layers"].items()}


def assert_same_spikes(a, b) -> None:
    ca, cb = counts(a), counts(b)
    assert sum(int(c.sum()) for c in ca.values()) > 0
    for index in ca:
        np.testing.assert_array_equal(ca[index], cb[index], err_msg=f"layer {index}")


def test_an_image_array_and_its_file_give_the_same_spikes_and_occlusion_covers_grey(tmp_path):
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=5)
    pixels = np.asarray(PILImage.open(scene).convert("RGB"))
    height, width = pixels.shape[:2]
    mask = occlusion_box((height, width), 0, 0, width, height)  # all covered
    with brainyolo.SpikingDetector("embedded", **RUN, device="runtime") as detector:
        from_file = detector.run(scene)
        from_array = detector.run(Image(pixels, name="array"))
        covered = detector.run(Image(pixels, occlusion=mask))
        grey = detector.run(np.full((height, width, 3), 0.5))  # an array is a stimulus too
        with pytest.raises(BrainyoloError, match="needs the input poisson"):
            detector.run(PoissonRates(np.zeros((3, 96, 96))))
        with pytest.raises(BrainyoloError, match="needs the input frames"):
            detector.run(ImageSequence([pixels, pixels]))
        with pytest.raises(BrainyoloError, match="occlusion mask"):
            detector.run(Image(pixels, occlusion=np.zeros((3, 3), bool)))
    assert_same_spikes(from_file, from_array)
    assert from_array.name == "array" and from_file.name == scene.name
    assert_same_spikes(covered, grey)
    assert not np.array_equal(counts(covered)[HIDDEN], counts(from_file)[HIDDEN])


def test_image_array_refusals():
    with pytest.raises(ValueError, match="lie in"):
        Image(np.full((4, 4, 3), 2.0)).pixels()
    with pytest.raises(ValueError, match="not"):
        Image(np.zeros((4, 4, 2))).pixels()
    assert occlusion_box((2, 2), 1, 1, 5, 5).tolist() == [[False, False], [False, True]]


def test_an_image_sequence_shows_each_picture_in_its_own_bin(tmp_path):
    """Against the constant current of each picture alone: while a bin shows picture P, the first layer's
    membranes move as they do under P's current. (The current input convolves the float32 picture, the
    frames input in float64: the membranes agree to float32 rounding, about 2e-7 per step.)"""
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=6)
    grey = np.full(np.asarray(PILImage.open(scene)).shape[:2] + (3,), 0.5)
    neurons = [(c, y, x) for c in range(0, 8, 3) for y in (10, 40, 70) for x in (20, 60)]
    traces = {}
    for picture in ("grey", "scene"):
        detector = brainyolo.SpikingDetector("embedded", **RUN, device="runtime")
        trace = detector.record_v(0, neurons, variable="I")
        with detector:
            traces[picture] = detector.run(grey if picture == "grey" else scene).recorded(trace)["I"][:, -1]
    detector = brainyolo.SpikingDetector("embedded", **RUN, device="runtime", input="frames", bins=5,
                                         bin_steps=2)
    trace = detector.record_v(0, neurons, variable="I")
    with detector:
        moving = detector.run(ImageSequence([grey, grey, scene, scene, scene])).recorded(trace)["I"]
        with pytest.raises(BrainyoloError, match="3 pictures for a network of 5 bins"):
            detector.run(ImageSequence([scene] * 3))
    assert not np.allclose(traces["grey"], traces["scene"], atol=1e-3)
    # a StateMonitor reads at the start of a step what the step before set (the same-step schedule updates
    # the current within the layers' slot)
    for step in range(1, STEPS):
        shown = "grey" if step - 1 < 4 else "scene"  # bins 0 and 1: steps 0-3
        np.testing.assert_allclose(moving[:, step], traces[shown], rtol=0, atol=1e-5, err_msg=f"step {step}")


def test_poisson_rates_of_one_are_a_white_image(tmp_path):
    """Rate 1 per step: every input neuron fires every step, as a white picture's pixels do."""
    with brainyolo.SpikingDetector("embedded", **RUN, device="runtime", input="poisson") as detector:
        rates = detector.run(PoissonRates(np.ones((3, 96, 96))))
        white = detector.run(np.ones((96, 96, 3)))
        with pytest.raises(BrainyoloError, match="in \\[0, 1\\]"):
            detector.run(PoissonRates(np.full((3, 96, 96), 1.5)))
        with pytest.raises(BrainyoloError, match="shape"):
            detector.run(PoissonRates(np.ones((3, 8, 8))))
    assert_same_spikes(rates, white)


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    path, _, _ = golden_model(tmp_path_factory.mktemp("direct"))
    return path


@pytest.mark.parametrize("encoding", ["frames", "spikes"])
def test_an_event_stream_gives_what_its_gen1_recording_gives(golden, tmp_path, encoding):
    _random_recording(tmp_path, 3)
    events, width, height = gen1.read_td(tmp_path / "rec3_td.dat")
    with brainyolo.SpikingDetector(golden, steps=8, device="runtime", input="spikes" if encoding == "spikes" else
                                   "frames", bins=4, bin_steps=2, events=EventSettings(encoding, 40.0, 4)
                                   ) as detector:
        recorded = detector.run(EventSample(tmp_path / "rec3_td.dat", tmp_path / "rec3_bbox.npy", 80_000))
        streamed = detector.run(EventStream(events, width, height, 80_000))
        with pytest.raises(BrainyoloError, match="outside the 8x8 sensor"):
            detector.run(EventStream(events, 8, 8, 80_000))
    assert_same_spikes(recorded, streamed)
    for key in ("step", "neuron"):
        np.testing.assert_array_equal(recorded.result.data["input_events"][key],
                                      streamed.result.data["input_events"][key])


def test_per_channel_thresholds_without_recompiling(tmp_path):
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=7)
    with brainyolo.SpikingDetector("embedded", **RUN, device="runtime") as plain:
        reference = plain.run(scene)
        with pytest.raises(BrainyoloError, match="channel_parameters"):
            plain.run(scene, parameters={HIDDEN: {"v_th": np.ones(16)}})
    with brainyolo.SpikingDetector("embedded", **RUN, device="runtime", channel_parameters=True) as detector:
        v_th = detector.parameters[HIDDEN]["v_th"]
        same = detector.run(scene, parameters={HIDDEN: {"v_th": np.full(16, v_th)}})
        high = np.full(16, v_th)
        high[3] = 1e6  # channel 3 never reaches its threshold
        raised = detector.run(scene, parameters={HIDDEN: {"v_th": high}})
        for values, problem in (({"v_th": np.ones(15)}, "shape"), ({"v_th": np.ones((16, 48, 48))}, "shape"),
                                ({"v_th": -np.ones(16)}, "positive"), ({"seed": np.zeros(16)}, "synapse"),
                                ({"delay": np.ones(16)}, "largest delay")):
            with pytest.raises(BrainyoloError, match=problem):
                detector.run(scene, parameters={HIDDEN: values})
    assert_same_spikes(reference, same)  # per-neuron constants, the same values: the same network
    base, changed = counts(same)[HIDDEN], counts(raised)[HIDDEN]
    assert base[3].sum() > 0 and changed[3].sum() == 0
    # the other channels of the layer do not see channel 3: their spikes are unchanged
    np.testing.assert_array_equal(np.delete(base, 3, axis=0), np.delete(changed, 3, axis=0))
    assert not np.array_equal(counts(same)[HIDDEN + 1], counts(raised)[HIDDEN + 1])


def test_saved_runs_are_the_projects_recordings_with_the_users_monitors(tmp_path):
    scenes = write_scenes(tmp_path / "scenes", 2, seed=8)
    detector = brainyolo.SpikingDetector("embedded", **RUN, device="runtime", max_delay=2)
    trace = detector.record_v(HIDDEN, [(0, 4, 4), (5, 20, 30)])
    spikes = detector.record_spikes(HIDDEN)
    with detector:
        runs = [detector.run(scene) for scene in scenes]
        # a run with a delay of its own: its read-out waits for it, offline too
        runs.append(detector.run(Image(scenes[0], name="delayed"), parameters={12: {"delay": 2}}))
        info = detector.save(runs, tmp_path / "session")
    assert [image["file_name"] for image in info["images"]] == [s.name for s in scenes] + ["delayed"]
    # the command line decodes the saved recordings into the detections the API decoded
    code, _, err = run_cli(["decode", str(tmp_path / "session"), "-o", str(tmp_path / "decoded")])
    assert code == 0, err
    for run in runs:
        step = max(run.detections)
        decoded = json.loads((tmp_path / "decoded" / "checkpoints" / f"detections_t{step}.json").read_text())
        mine = [r for r in decoded if r["file_name"] == run.name]
        assert mine == run.detections[step].records(run.name, detector.model.graph.class_names)
    names = detector.model.graph.class_names
    assert runs[2].detections[STEPS].records("x", names) != runs[0].detections[STEPS].records("x", names)
    with h5py.File(tmp_path / "session" / "recordings.h5", "r") as f:  # read without brainyolo's reader
        check_recordings(f)
        for number, run in enumerate(runs):
            image = f["images"][f"{number:04d}"]
            np.testing.assert_array_equal(image[f"recorded/{trace.names[0]}/v"][()], run.recorded(trace)["v"])
            np.testing.assert_array_equal(image[f"recorded/{spikes.names[0]}/i"][()], run.recorded(spikes)["i"])
            np.testing.assert_array_equal(image[f"layers/{HIDDEN:02d}/positive_count"][()],
                                          run.result.data["layers"][HIDDEN]["positive_count"])
    back = load_run(tmp_path / "session")
    np.testing.assert_array_equal(back.images[1].recorded[trace.names[0]]["v"], runs[1].recorded(trace)["v"])


def per_channel_synapses(device: str, tmp_path) -> None:
    """Each output channel of a per-channel ``release`` or ``delay`` gets the input a layer-wide value gives:
    channel 3 as the run with its value everywhere, the other channels as the run with theirs."""
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=9)
    with brainyolo.SpikingDetector("embedded", **RUN, device=device, max_delay=2, threads=2) as detector:
        runs = {key: counts(detector.run(scene, parameters={HIDDEN: {name: value}}))[HIDDEN]
                for key, name, value in (("release 0.5", "release", 0.5), ("release 1", "release", 1.0),
                                         ("delay 2", "delay", 2), ("delay 1", "delay", 1))}
        mixed_release, mixed_delay = np.full(16, 0.5), np.full(16, 2)
        mixed_release[3], mixed_delay[3] = 1.0, 1
        mixed = {name: counts(detector.run(scene, parameters={HIDDEN: {name: value}}))[HIDDEN]
                 for name, value in (("release", mixed_release), ("delay", mixed_delay))}
    for name, everywhere, channel_3 in (("release", "release 0.5", "release 1"), ("delay", "delay 2", "delay 1")):
        assert not np.array_equal(runs[everywhere][3], runs[channel_3][3])  # the two values differ at all
        np.testing.assert_array_equal(mixed[name][3], runs[channel_3][3], err_msg=name)
        np.testing.assert_array_equal(np.delete(mixed[name], 3, axis=0), np.delete(runs[everywhere], 3, axis=0),
                                      err_msg=name)


def test_release_and_delay_per_channel(tmp_path):
    per_channel_synapses("runtime", tmp_path)


@pytest.mark.long
@pytest.mark.standalone_only
def test_release_and_delay_per_channel_in_cpp_standalone(tmp_path):
    per_channel_synapses("cpp_standalone", tmp_path)


def test_initial_values_refusals_and_index_helpers(tmp_path):
    """A user's object starts each run from ``initial`` (by name or by its recording); bad input is refused in
    one line before anything runs."""
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=10)
    detector = brainyolo.SpikingDetector("embedded", steps=4, device="runtime", lesions=True)
    counter = detector.add(lambda net: brian2.NeuronGroup(3, "x : 1", clock=net.clock, name="counter"))
    with pytest.raises(ValueError, match="does not spike"):
        detector.record_spikes(len(detector.model.graph.layers) - 1)
    with pytest.raises(ValueError, match="channel, y, x"):
        detector.record_v(HIDDEN, [(1, 0)])
    with detector:
        assert detector.run(scene).recorded(counter)["x"].tolist() == [0, 0, 0]
        assert detector.run(scene, initial={counter: {"x": [1, 2, 3]}}).recorded(counter)["x"].tolist() == [1, 2, 3]
        assert detector.run(scene, initial={"counter": {"x": 5}}).recorded(counter)["x"].tolist() == [5, 5, 5]
        with pytest.raises(ValueError, match="holds 3 values"):
            detector.run(scene, initial={"counter": {"x": [1, 2]}})
        with pytest.raises(ValueError, match="no added object"):
            detector.run(scene, initial={"other": {"x": 1}})
        one = detector.run(scene, silenced={HIDDEN: 3})  # one channel, not a list
        with pytest.raises(BrainyoloError, match="not a layer index"):
            detector.run(scene, parameters={"layer2": {"v_th": 1.0}})
        with pytest.raises(BrainyoloError, match="layer 2: v_th = 'abc'"):
            detector.run(scene, parameters={2: {"v_th": "abc"}})
    assert one.spike_counts(HIDDEN)[0][3].sum() == 0
    with pytest.raises(BrainyoloError, match="at least 1"):
        brainyolo.SpikingDetector("embedded", steps=0, device="runtime")
    with brainyolo.SpikingDetector("embedded", steps=8, device="runtime", input="frames", bins=2,
                                   bin_steps=10) as short:
        with pytest.raises(BrainyoloError, match="shows only 1 of the 2 pictures"):
            short.run(ImageSequence([scene, scene]))
    shape = (16, 48, 48)
    channel, y, x = brainyolo.neuron_at(shape, np.array([brainyolo.neuron_index(shape, 5, 7, 9), 0]))
    assert (channel.tolist(), y.tolist(), x.tolist()) == ([5, 0], [7, 0], [9, 0])


def test_one_layer_of_another_neuron_or_synapse_model(tmp_path):
    """A layer swapped to another neuron (synapse) file fires as it does in a network built wholly of that file
    as long as its input is the same: the first convolution (the image's current) for the neuron, the first
    convolution fed by spikes (layer 2, after a max-pool) for the synapse."""
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=12)

    def run(**options):
        with brainyolo.SpikingDetector("embedded", "paper", steps=STEPS, device="runtime", **options) as detector:
            return counts(detector.run(scene))

    default = run()
    for swapped, everywhere, layer in ((dict(layer_neurons={0: "lif_signed_ibt"}), dict(neuron="lif_signed_ibt"), 0),
                                       (dict(layer_synapses={2: "exponential"}), dict(synapse="exponential"), 2)):
        one, every = run(**swapped), run(**everywhere)
        np.testing.assert_array_equal(one[layer], every[layer], err_msg=str(swapped))
        assert not np.array_equal(one[layer], default[layer])
        assert not np.array_equal(one[LATER_CONV], every[LATER_CONV])  # later layers keep the network's model
    with brainyolo.SpikingDetector("embedded", "paper", steps=4, device="runtime",
                                   layer_neurons={0: "lif_signed_ibt"}) as detector:
        detector.run(scene, parameters={0: {"tau": "50*ms"}})  # the swapped layer's own parameter
        with pytest.raises(BrainyoloError, match="not a parameter of the neuron model if_signed_ibt"):
            detector.run(scene, parameters={2: {"tau": "50*ms"}})
    with pytest.raises(BrainyoloError, match="not a hidden spiking convolution"):
        brainyolo.SpikingDetector("embedded", steps=4, device="runtime", layer_neurons={1: "lif_signed_ibt"}).build()


def test_leak_and_noise_per_channel(tmp_path):
    """A leaky, noisy neuron file built with channel_parameters: a fast leak in one channel, noise in another;
    every other channel of the layer fires as without them (sigma 0 adds exactly nothing)."""
    (scene,) = write_scenes(tmp_path / "scenes", 1, seed=13)
    with brainyolo.SpikingDetector("embedded", "paper", steps=STEPS, device="runtime", neuron="lif_signed_ibt_noise",
                                   channel_parameters=True) as detector:
        plain = counts(detector.run(scene))[HIDDEN]
        tau = np.full(16, 1000.0)
        tau[3] = 0.002  # seconds: a 2-step leak
        sigma = np.zeros(16)
        sigma[5] = 0.3
        leaky = counts(detector.run(scene, parameters={HIDDEN: {"tau": tau}}))[HIDDEN]
        noisy = counts(detector.run(scene, parameters={HIDDEN: {"sigma": sigma}}))[HIDDEN]
    for changed, channel in ((leaky, 3), (noisy, 5)):
        assert not np.array_equal(changed[channel], plain[channel])
        np.testing.assert_array_equal(np.delete(changed, channel, axis=0), np.delete(plain, channel, axis=0))

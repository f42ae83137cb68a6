"""The Python API's stimuli, per-channel parameters and saved recordings, each against an independent way of
getting the same network input or an independent reader (h5py)."""

from __future__ import annotations

import brian2
import h5py
import numpy as np
import pytest
from PIL import Image as PILImage

import brainyolo
from brainyolo.analysis.spikes import load_run
from brainyolo.data.scenes import write_scenes
from brainyolo.io import gen1
from brainyolo.io.errors import BrainyoloError
from brainyolo.readout.recordings import check_recordings
from brainyolo.spiking.event_encoding import EventSample, EventSettings
from brainyolo.stimuli import EventStream, Image, ImageSequence, PoissonRates, occlusion_box
from tests.spiking.test_event_inputs import _random_recording
from tests.training.test_direct import golden_model

pytestmark = pytest.mark.codegen_independent

HIDDEN = 2  # the embedded detector's second convolution: 16 channels of 48 x 48
STEPS = 10


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
    with brainyolo.SpikingDetector("embedded", steps=STEPS, device="runtime") as detector:
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
        detector = brainyolo.SpikingDetector("embedded", steps=STEPS, device="runtime")
        trace = detector.record_v(0, neurons, variable="I")
        with detector:
            traces[picture] = detector.run(grey if picture == "grey" else scene).recorded(trace)["I"][:, -1]
    detector = brainyolo.SpikingDetector("embedded", steps=STEPS, device="runtime", input="frames", bins=5,
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
    with brainyolo.SpikingDetector("embedded", steps=STEPS, device="runtime", input="poisson") as detector:
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
    with brainyolo.SpikingDetector("embedded", steps=STEPS, device="runtime") as plain:
        reference = plain.run(scene)
        with pytest.raises(BrainyoloError, match="channel_parameters"):
            plain.run(scene, parameters={HIDDEN: {"v_th": np.ones(16)}})
    with brainyolo.SpikingDetector("embedded", steps=STEPS, device="runtime", channel_parameters=True) as detector:
        v_th = detector.parameters[HIDDEN]["v_th"]
        same = detector.run(scene, parameters={HIDDEN: {"v_th": np.full(16, v_th)}})
        high = np.full(16, v_th)
        high[3] = 1e6  # channel 3 never reaches its threshold
        raised = detector.run(scene, parameters={HIDDEN: {"v_th": high}})
        for values, problem in (({"v_th": np.ones(15)}, "shape"), ({"v_th": np.ones((16, 48, 48))}, "shape"),
                                ({"v_th": -np.ones(16)}, "positive"), ({"delay": np.zeros(16)}, "synapse")):
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
    detector = brainyolo.SpikingDetector("embedded", steps=STEPS, device="runtime")
    trace = detector.record_v(HIDDEN, [(0, 4, 4), (5, 20, 30)])
    spikes = detector.record_spikes(HIDDEN)
    with detector:
        runs = [detector.run(scene) for scene in scenes]
        info = detector.save(runs, tmp_path / "session")
    assert [image["file_name"] for image in info["images"]] == [s.name for s in scenes]
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

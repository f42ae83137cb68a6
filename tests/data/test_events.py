"""The DVS emulator against hand-computed cases; Gen1 files read back by expelliarmus; bad files."""

from __future__ import annotations

import numpy as np
import pytest

from brainyolo.data import dvs
from brainyolo.io import gen1
from brainyolo.io.errors import BrainyoloError

pytestmark = pytest.mark.codegen_independent

EXACT = dvs.SensorParameters(threshold_on=0.2, threshold_off=0.3, mismatch=0.0, refractory_us=0.0, noise_hz=0.0)


def ramp(log_values, times_us, eps=EXACT.eps):
    """One pixel whose log intensity takes ``log_values`` at ``times_us`` (as a (N, 1, 1) frame stack)."""
    return (np.exp(np.asarray(log_values, np.float64)) - eps)[:, None, None], np.asarray(times_us, np.float64)


def test_an_intensity_ramp_gives_one_event_per_threshold_at_the_crossing_times():
    # log intensity rises linearly by 1.1 over 1000 us: ON thresholds 0.2 are crossed 5 times, at
    # 0.2/1.1, 0.4/1.1, ... of the way (timestamps rounded down to whole microseconds)
    start = np.log(0.2 + EXACT.eps)
    frames, times = ramp(start + np.linspace(0, 1.1, 11), np.linspace(0, 1000, 11))
    events, state = dvs.emulate(frames, times, EXACT, np.random.default_rng(0))
    expected = [181, 363, 545, 727, 909]  # 1000 x k x 0.2 / 1.1, rounded down
    np.testing.assert_array_equal(events["t"], expected)
    assert np.all(events["p"] == 1) and np.all(events["x"] == 0) and np.all(events["y"] == 0)
    assert state.reference[0, 0] == pytest.approx(start + 1.0)  # moved by the 5 thresholds, not to the end


def test_a_falling_ramp_gives_off_events_with_the_off_threshold():
    start = np.log(0.9 + EXACT.eps)
    frames, times = ramp(start - np.linspace(0, 1.0, 5), [0, 250, 500, 750, 1000])
    events, _ = dvs.emulate(frames, times, EXACT, np.random.default_rng(0))
    np.testing.assert_array_equal(events["t"], [300, 600, 900])  # at 0.3, 0.6, 0.9 of the fall
    assert np.all(events["p"] == 0)


def test_up_then_down_within_a_threshold_gives_nothing_and_the_reference_stays():
    start = np.log(0.5 + EXACT.eps)
    frames, times = ramp([start, start + 0.19, start - 0.29, start], [0, 100, 200, 300])
    events, state = dvs.emulate(frames, times, EXACT, np.random.default_rng(0))
    assert len(events) == 0 and state.reference[0, 0] == pytest.approx(start)


def test_refractory_period_drops_events_too_close_to_the_previous_one():
    # crossings every 100 us; a 250 us refractory period keeps the 1st, 4th, 7th, 10th
    params = dvs.SensorParameters(threshold_on=0.1, mismatch=0.0, refractory_us=250.0, noise_hz=0.0)
    start = np.log(0.1 + params.eps)
    frames, times = ramp(start + np.linspace(0, 1.05, 2), [0, 1050])
    events, _ = dvs.emulate(frames, times, params, np.random.default_rng(0))
    crossings = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    kept, last = [], -np.inf
    for t in crossings:
        if t - last >= 250:
            kept.append(t)
            last = t
    np.testing.assert_array_equal(events["t"], kept)
    assert len(kept) == 4


def test_mismatch_spreads_the_thresholds_per_pixel():
    params = dvs.SensorParameters(threshold_on=0.2, mismatch=0.1, noise_hz=0.0)
    state = dvs.initial_state(np.full((100, 100), 0.5), params, np.random.default_rng(1))
    assert state.threshold_on.std() / 0.2 == pytest.approx(0.1, rel=0.05)
    assert state.threshold_on.mean() == pytest.approx(0.2, rel=0.01)


def test_background_noise_rate_and_polarities():
    params = dvs.SensorParameters(mismatch=0.0, noise_hz=5.0)
    frames = np.full((11, 40, 50), 0.5)  # a static scene: only noise
    events, _ = dvs.emulate(frames, np.linspace(0, 1e6, 11), params, np.random.default_rng(2))
    expected = 5.0 * 1.0 * 40 * 50  # rate x seconds x pixels
    assert abs(len(events) - expected) < 4 * np.sqrt(expected)
    assert abs(events["p"].mean() - 0.5) < 0.05
    assert np.all(np.diff(events["t"]) >= 0)


def test_td_and_bbox_files_read_back_identically_through_expelliarmus(tmp_path):
    rng = np.random.default_rng(3)
    n = 5000
    events = np.zeros(n, dvs.EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(0, 2**32 - 1, n))
    events["x"], events["y"], events["p"] = rng.integers(0, 304, n), rng.integers(0, 240, n), rng.integers(0, 2, n)
    gen1.write_td(tmp_path / "a_td.dat", events, 304, 240)
    back, width, height = gen1.read_td(tmp_path / "a_td.dat")
    assert (width, height) == (304, 240)
    for name in dvs.EVENT_DTYPE.names:
        np.testing.assert_array_equal(back[name], events[name])
    # an independent reader: the words unpacked by hand from the bytes after the header
    raw = (tmp_path / "a_td.dat").read_bytes()
    words = np.frombuffer(raw[raw.rindex(b"% Width 304\n") + len(b"% Width 304\n") + 2:], "<u8")
    np.testing.assert_array_equal(words & 0xFFFFFFFF, events["t"])
    np.testing.assert_array_equal((words >> 32) & 0x3FFF, events["x"])
    np.testing.assert_array_equal((words >> 46) & 0x3FFF, events["y"])
    np.testing.assert_array_equal(words >> 60, events["p"])
    boxes = np.zeros(3, gen1.BBOX_DTYPE)
    boxes["ts"], boxes["x"], boxes["y"], boxes["w"], boxes["h"] = 250000, [1, 50, 100], [2, 60, 30], 20, 25
    boxes["class_id"], boxes["track_id"], boxes["confidence"] = [0, 1, 2], [7, 8, 9], 1.0
    gen1.write_bbox(tmp_path / "a_bbox.npy", boxes)
    np.testing.assert_array_equal(gen1.read_bbox(tmp_path / "a_bbox.npy", 304, 240), boxes)
    assert gen1.pairs(tmp_path) == [(tmp_path / "a_td.dat", tmp_path / "a_bbox.npy")]


def _td(tmp_path, body: bytes, header: bytes = b"% Height 240\n% Width 304\n") -> str:
    path = tmp_path / "bad_td.dat"
    path.write_bytes(header + body)
    return str(path)


def _one_event(t=1, x=3, y=4, p=1) -> bytes:
    return np.array([t | (x << 32) | (y << 46) | (p << 60)], "<u8").tobytes()


@pytest.mark.parametrize("header, body, problem", [
    (b"", b"\x00\x08" + _one_event(), "starts with '%' header lines"),
    (b"% Height 240\n", b"\x00\x08" + _one_event(), "no '% Width N'"),
    (b"% Height 240\n% Width 304", b"", "without its end"),
    (b"% Height 240\n% Width 304\n", b"\x00", "event type and size bytes"),
    (b"% Height 240\n% Width 304\n", b"\x0c\x08" + _one_event(), "event type 12"),
    (b"% Height 240\n% Width 304\n", b"\x00\x08" + _one_event()[:5], "not a whole number of 8-byte events"),
    (b"% Height 240\n% Width 304\n", b"\x00\x08" + _one_event(x=400), "outside the 304x240 sensor"),
    (b"% Height 240\n% Width 304\n", b"\x00\x08" + _one_event(p=3), "polarities"),
    (b"% Height 240\n% Width 304\n", b"\x00\x08" + _one_event(t=9) + _one_event(t=5), "backwards"),
    (b"% Height 0\n% Width 304\n", b"\x00\x08", "sensor 304x0"),
])
def test_malformed_td_files_get_one_line(tmp_path, header, body, problem):
    path = _td(tmp_path, body, header)
    with pytest.raises(BrainyoloError) as err:
        gen1.read_td(path)
    message = str(err.value)
    assert problem in message and path in message and "\n" not in message


def test_malformed_bbox_files_and_missing_pairs_get_one_line(tmp_path):
    (tmp_path / "x_bbox.npy").write_bytes(b"not numpy")
    with pytest.raises(BrainyoloError, match="not a readable"):
        gen1.read_bbox(tmp_path / "x_bbox.npy")
    np.save(tmp_path / "y_bbox.npy", np.zeros(3))
    with pytest.raises(BrainyoloError, match="not Gen1 boxes"):
        gen1.read_bbox(tmp_path / "y_bbox.npy")
    boxes = np.zeros(1, gen1.BBOX_DTYPE)
    boxes["x"], boxes["w"], boxes["h"] = 500, 10, 10
    gen1.write_bbox(tmp_path / "z_bbox.npy", boxes)
    with pytest.raises(BrainyoloError, match="outside the 304x240 sensor"):
        gen1.read_bbox(tmp_path / "z_bbox.npy", 304, 240)
    gen1.write_td(tmp_path / "lonely_td.dat", np.zeros(0, dvs.EVENT_DTYPE), 304, 240)
    with pytest.raises(BrainyoloError, match="has no box file lonely_bbox.npy"):
        gen1.pairs(tmp_path)


def test_a_bright_shape_moving_right_gives_on_events_ahead_and_off_events_behind():
    from brainyolo.data.moving_scenes import EventScene, Motion

    scene = EventScene(np.full((32, 48, 3), 40, np.uint8),
                       [Motion(0, (230, 230, 230), (8.0, 10.0, 10.0, 12.0), (40.0, 0.0), 0.0)])
    params = dvs.SensorParameters(mismatch=0.0, noise_hz=0.0)
    from brainyolo.data.moving_scenes import scene_events

    events = scene_events(scene, 100.0, params, np.random.default_rng(0))
    on, off = events[events["p"] == 1], events[events["p"] == 0]
    assert len(on) > 50 and len(off) > 50
    # the leading edge sweeps x = 18 -> 22, the trailing edge x = 8 -> 12 (4 px in 100 ms)
    assert on["x"].min() >= 17 and on["x"].max() <= 22 and off["x"].min() >= 8 and off["x"].max() <= 12
    assert np.all((events["y"] >= 9) & (events["y"] <= 22))
    x0, _, w, _ = scene.boxes_at(0.1)[0][0]
    assert (x0, w) == pytest.approx((12.0, 10.0))


def test_event_scenes_are_reproducible_and_in_gen1_layout(tmp_path):
    from brainyolo.data.moving_scenes import SENSOR, write_event_scenes

    a = write_event_scenes(tmp_path / "a", 3, 11)
    b = write_event_scenes(tmp_path / "b", 3, 11)
    for (td_a, bb_a), (td_b, bb_b) in zip(a, b, strict=True):
        assert td_a.read_bytes() == td_b.read_bytes() and bb_a.read_bytes() == bb_b.read_bytes()
        events, width, height = gen1.read_td(td_a)
        boxes = gen1.read_bbox(bb_a, width, height)
        assert (width, height) == SENSOR and len(events) > 100 and np.all(boxes["ts"] == 250_000)
        assert events["t"].max() <= 250_000
    assert (tmp_path / "a" / "classes.names").read_text().split() == ["rectangle", "ellipse", "triangle", "cross"]


def test_the_scenes_command_writes_event_scenes(tmp_path, capsys):
    from brainyolo.cli import main

    assert main(["scenes", "--events", "--count", "2", "--seed", "3", "--annotation-ms", "120",
                 "-o", str(tmp_path / "ev")]) == 0
    found = gen1.pairs(tmp_path / "ev")
    assert [td.name for td, _ in found] == ["scene0000_td.dat", "scene0001_td.dat"]
    assert np.all(gen1.read_bbox(found[0][1])["ts"] == 120_000)
    assert main(["scenes", "--events", "--count", "2", "--seed", "3", "-o", str(tmp_path / "ev")]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def _events(rows):
    out = np.zeros(len(rows), dvs.EVENT_DTYPE)
    for k, name in enumerate(("t", "x", "y", "p")):
        out[name] = [r[k] for r in rows]
    return out


def test_ems_frames_hand_computed():
    from brainyolo.spiking.event_encoding import ems_frames

    # window (0, 100] us in 4 bins of 25 us: (0, 25], (25, 50], (50, 75], (75, 100]
    ev = _events([(0, 0, 0, 1),        # before the window: ignored
                  (1, 1, 0, 1),        # bin 0, ON
                  (20, 1, 0, 0),       # bin 0, same pixel, later OFF: OFF wins
                  (25, 2, 1, 1),       # bin 0 (25 is the bin's end)
                  (26, 2, 1, 0),       # bin 1
                  (100, 3, 2, 1),      # bin 3 (the window's end)
                  (101, 3, 2, 0)])     # after: ignored
    frames = ems_frames(ev, 100, 100, 4, 4, 3)
    assert frames.shape == (4, 3, 3, 4)
    assert np.all(frames[:, 0] == frames[:, 1]) and np.all(frames[:, 1] == frames[:, 2])
    expected = np.full((4, 3, 4), 127, np.uint8)
    expected[0, 0, 1], expected[0, 1, 2], expected[1, 1, 2], expected[3, 2, 3] = 0, 255, 0, 255
    np.testing.assert_array_equal(frames[:, 0], expected)


def test_tonic_counts_equal_a_hand_count_and_voxels_keep_the_events():
    from brainyolo.spiking.event_encoding import count_frames, spike_trains, voxel_grid

    rng = np.random.default_rng(4)
    n = 3000
    ev = _events(sorted(zip(rng.integers(0, 1000, n), rng.integers(0, 20, n), rng.integers(0, 10, n),
                            rng.integers(0, 2, n), strict=True)))
    frames = count_frames(ev, 800, 500, 5, 20, 10)
    inside = (ev["t"] > 300) & (ev["t"] <= 800)
    expected = np.zeros((5, 2, 10, 20), np.int64)
    np.add.at(expected, ((ev["t"][inside] - 301) // 100, ev["p"][inside], ev["y"][inside], ev["x"][inside]), 1)
    np.testing.assert_array_equal(frames, expected)
    voxels = voxel_grid(ev, 800, 500, 5, 20, 10)
    assert voxels.shape == (5, 1, 10, 20) and np.isfinite(voxels).all() and np.abs(voxels).sum() > 0
    steps, neurons = spike_trains(ev, 800, 500, 1000 // 10, 20)  # 100 us per step
    np.testing.assert_array_equal(np.bincount(steps, minlength=5), expected.sum(axis=(1, 2, 3)))
    c = neurons % 2
    assert np.array_equal(np.bincount(c), [inside.sum() - ev["p"][inside].sum(), ev["p"][inside].sum()])


def test_a_box_file_with_a_damaged_header_gets_one_line(tmp_path):
    """Found by the fuzz test: a NUL byte in the .npy header made numpy's parser raise a TokenError."""
    boxes = np.zeros(2, gen1.BBOX_DTYPE)
    boxes["w"] = boxes["h"] = 5
    gen1.write_bbox(tmp_path / "a_bbox.npy", boxes)
    data = bytearray((tmp_path / "a_bbox.npy").read_bytes())
    data[len(data) // 2 if len(data) < 200 else 60] = 0
    (tmp_path / "a_bbox.npy").write_bytes(bytes(data))
    with pytest.raises(BrainyoloError, match="not a readable .npy box array"):
        gen1.read_bbox(tmp_path / "a_bbox.npy")


def test_a_frames_trained_first_convolution_reads_on_off_maps_exactly():
    """conv(EMS frame) = conv(ON/OFF maps) with the derived 2-channel kernel + its bias (no padding)."""
    from brainyolo.ann.reference import conv2d
    from brainyolo.spiking.event_encoding import ems_frames, polarity_kernel

    rng = np.random.default_rng(8)
    n = 400
    ev = _events(sorted(zip(rng.integers(1, 1000, n), rng.integers(0, 12, n), rng.integers(0, 10, n),
                            rng.integers(0, 2, n), strict=True)))
    frame = ems_frames(ev, 1000, 1000, 1, 12, 10)[0].astype(np.float64) / 255.0
    on = (frame[0] == 1.0).astype(np.float64)
    off = (frame[0] == 0.0).astype(np.float64)
    weight, bias = rng.normal(size=(5, 3, 3, 3)), rng.normal(size=5)
    kernel, bias2 = polarity_kernel(weight, bias)
    np.testing.assert_allclose(conv2d(np.stack([off, on]), kernel, bias2, 1, 0), conv2d(frame, weight, bias, 1, 0),
                               rtol=0, atol=1e-12)

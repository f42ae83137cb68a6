"""Ways of giving an event stream to a detector: EMS-YOLO frames, tonic count / voxel tensors, spike trains.

All take the events of a window before a box time (Gen1's protocol: the boxes at ``ts`` are
detected from the events of ``(ts - window, ts]``).

* :func:`ems_frames` — EMS-YOLO's encoding for Gen1 (its ``get_gen1_data.py``): the window split
  into ``bins`` equal time bins, each a grey picture (127) in which a pixel that had events takes
  its *latest* event's polarity (255 ON, 0 OFF), on three identical channels; bin ``t`` is the
  network's input at step ``t``.
* :func:`count_frames`, :func:`voxel_grid` — tonic's ``ToFrame`` (ON and OFF counts per bin) and
  ``ToVoxelGrid`` (events spread bilinearly over the bins, signed by polarity).
* :func:`spike_trains` — the events themselves: neuron ``(y * W + x) * 2 + p`` (position-major,
  channel-minor, like every brainyolo layer, channel 0 OFF, 1 ON) fires at the step of its event's
  time, ``dt_us`` per step from the window's start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainyolo.ann.letterbox import Letterbox
from brainyolo.data.dvs import EVENT_DTYPE
from brainyolo.io import gen1
from brainyolo.io.errors import BrainyoloError
from brainyolo.readout.evaluation import GroundTruth

GREY, ON_VALUE, OFF_VALUE = 127, 255, 0


def window(events: np.ndarray, t_end_us: int, window_us: int) -> np.ndarray:
    """The events with ``t_end - window < t <= t_end`` (sorted by time, as read)."""
    lo = np.searchsorted(events["t"], t_end_us - window_us, side="right")
    hi = np.searchsorted(events["t"], t_end_us, side="right")
    return events[lo:hi]


def _bins(events: np.ndarray, t_end_us: int, window_us: int, bins: int) -> np.ndarray:
    """The bin (0..bins-1) of each event of the window; bins are ``window / bins`` long, the last ends at t_end."""
    start = t_end_us - window_us
    return np.minimum(((events["t"] - start - 1) * bins) // window_us, bins - 1).astype(np.int64)


def ems_frames(events: np.ndarray, t_end_us: int, window_us: int, bins: int, width: int, height: int) -> np.ndarray:
    """EMS-YOLO's frames of the window before ``t_end_us``: uint8 ``(bins, 3, H, W)``."""
    events = window(events, t_end_us, window_us)
    frames = np.full((bins, height, width), GREY, np.uint8)
    if len(events):
        b = _bins(events, t_end_us, window_us, bins)
        key = (b * height + events["y"].astype(np.int64)) * width + events["x"]
        # the latest event of each (bin, pixel): the last occurrence in time order
        last = len(key) - 1 - np.unique(key[::-1], return_index=True)[1]
        frames.reshape(-1)[key[last]] = np.where(events["p"][last] == 1, ON_VALUE, OFF_VALUE)
    return np.repeat(frames[:, None], 3, axis=1)


def _tonic_events(events: np.ndarray) -> np.ndarray:
    """The events in tonic's dtype (t, x, y, p; integer times)."""
    out = np.zeros(len(events), [("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    for name in ("x", "y", "t", "p"):
        out[name] = events[name]
    return out


def count_frames(events: np.ndarray, t_end_us: int, window_us: int, bins: int, width: int, height: int
                 ) -> np.ndarray:
    """ON and OFF event counts per bin (tonic ``ToFrame``): ``(bins, 2, H, W)``, channel 0 OFF, 1 ON."""
    from tonic.transforms import ToFrame

    events = window(events, t_end_us, window_us)
    if not len(events):
        return np.zeros((bins, 2, height, width), np.int64)
    # fixed bins of the window (tonic's n_time_bins would span the events' own first and last times)
    frames = ToFrame(sensor_size=(width, height, 2), time_window=window_us / bins, start_time=t_end_us - window_us + 1,
                     end_time=t_end_us + 1, include_incomplete=True)(_tonic_events(events))
    return np.asarray(frames)[:bins]


def voxel_grid(events: np.ndarray, t_end_us: int, window_us: int, bins: int, width: int, height: int
               ) -> np.ndarray:
    """tonic's ``ToVoxelGrid`` of the window: ``(bins, 1, H, W)`` floats."""
    from tonic.transforms import ToVoxelGrid

    events = window(events, t_end_us, window_us)
    if not len(events):
        return np.zeros((bins, 1, height, width))
    return np.asarray(ToVoxelGrid(sensor_size=(width, height, 2), n_time_bins=bins)(_tonic_events(events)))


def spike_trains(events: np.ndarray, t_end_us: int, window_us: int, dt_us: int, width: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The window's events as input spikes: ``(steps 0.., neurons)``, step ``(t - start - 1) // dt_us``.

    Several events of one neuron within one step stay several entries (the caller decides how a
    step delivers them).
    """
    events = window(events, t_end_us, window_us)
    steps = ((events["t"] - (t_end_us - window_us) - 1) // dt_us).astype(np.int64)
    neurons = ((events["y"].astype(np.int64) * width + events["x"]) * 2 + events["p"]).astype(np.int64)
    return steps, neurons


@dataclass(frozen=True)
class EventSample:
    """One detection problem of a Gen1 recording: the boxes at ``t_us`` from the events before it.

    ``name`` (``NAME_<t>us``, NAME the recording's without ``_td.dat``) is its ``file_name`` in
    detections and ground truth.
    """

    td: Path
    bbox: Path
    t_us: int

    @property
    def stem(self) -> str:
        return f"{self.td.name[:-len('_td.dat')]}_{self.t_us}us"

    @property
    def name(self) -> str:
        return self.stem


@dataclass(frozen=True)
class EventSettings:
    """How a run reads an event sample: ``encoding`` (:data:`ENCODINGS`), the window before the box
    time and its bins (Gen1 as EMS-YOLO: 250 ms, 5 bins)."""

    encoding: str = "frames"
    window_ms: float = 250.0
    bins: int = 5

    def __post_init__(self):
        if self.encoding not in ENCODINGS:
            raise ValueError(f"event encoding {self.encoding!r} is not one of {ENCODINGS}")
        if not self.window_ms > 0 or self.bins < 1:
            raise ValueError("the event window is positive and has at least one bin")

    @property
    def window_us(self) -> int:
        return int(round(self.window_ms * 1000))


def event_samples(folder) -> list[EventSample]:
    """Every (recording, box time) of the Gen1 pairs in ``folder``, by name then time; boxes checked."""

    return [sample for td, bbox in gen1.pairs(folder) for sample in _samples_of(td, bbox)]


def _samples_of(td: Path, bbox: Path) -> list[EventSample]:
    """One sample per distinct box time of a recording, its boxes checked against its sensor."""

    width, height, _ = gen1.read_header(td)
    return [EventSample(td, bbox, int(t)) for t in np.unique(gen1.read_bbox(bbox, width, height)["ts"])]


def sample_truths(samples: list[EventSample], n_classes: int) -> list:
    """Gen1 protocol ground truth: each sample's boxes at its time
    (:class:`~brainyolo.readout.evaluation.GroundTruth`)."""

    truths = []
    for sample in samples:
        width, height, _ = gen1.read_header(sample.td)
        boxes = gen1.read_bbox(sample.bbox, width, height)
        boxes = boxes[boxes["ts"] == sample.t_us]
        if len(boxes) and (boxes["class_id"].max() >= n_classes):
            raise BrainyoloError(sample.bbox, f"class {int(boxes['class_id'].max())} is not one of the model's "
                                              f"{n_classes} classes")
        xywh = np.stack([boxes[k].astype(np.float64) for k in ("x", "y", "w", "h")], axis=1).reshape(-1, 4)
        truths.append(GroundTruth(sample.name, width, height, xywh, boxes["class_id"].astype(np.int64)))
    return truths


def network_input(sample: EventSample, settings: EventSettings, steps: int, input_shape: tuple[int, int, int]):
    """What a run of ``steps`` steps gives the network for ``sample``, and the sample's letterbox
    (:func:`encode_events` of its recording's events before its box time)."""

    events, width, height = gen1.read_td(sample.td)
    return encode_events(events, width, height, sample.t_us, settings, steps, input_shape, sample.td)


def encode_events(events: np.ndarray, width: int, height: int, t_end_us: int, settings: EventSettings, steps: int,
                  input_shape: tuple[int, int, int], where=None):
    """The network input of a run of ``steps`` steps on the events of the window before ``t_end_us``.

    ``frames``: EMS-YOLO's pictures ``(bins, C, H, W)`` in [0, 1]; ``counts``: tonic's counts as
    their equivalent pictures (:func:`count_pictures`); ``spikes``: ``(steps, neurons)``
    (:func:`input_spikes`). The sensor must be the network's input size (events map one to one).

    Raises
    ------
    BrainyoloError
        A sensor of another size than the network's input (naming ``where``).
    """

    channels, net_h, net_w = input_shape
    if (width, height) != (net_w, net_h):
        raise BrainyoloError(where, f"the {width}x{height} sensor is not the model's {net_w}x{net_h} input")
    window, bins = settings.window_us, settings.bins
    if settings.encoding == "spikes":
        data = input_spikes(events, t_end_us, window, steps, bins, width)
    elif settings.encoding == "counts":
        data = count_pictures(events, t_end_us, window, bins, width, height)
    else:
        data = ems_frames(events, t_end_us, window, bins, width, height).astype(np.float64) / 255.0
    if settings.encoding != "spikes" and channels != data.shape[1]:
        data = np.repeat(data[:, :1], channels, axis=1)
    return data, Letterbox((width, height), (net_w, net_h))


def recording_samples(td_paths) -> list[EventSample]:
    """The samples of the given ``_td.dat`` files (each with its ``_bbox.npy`` beside it): one per box time."""

    return [sample for td in map(Path, td_paths) for sample in _samples_of(td, gen1.box_file(td))]


def ann_input(sample: EventSample, settings: EventSettings, input_shape: tuple[int, int, int]):
    """The picture an ANN (and the converted SNN's time average) reads of ``sample``: the mean of its
    ``frames`` (or ``counts``) pictures over the bins ``(C, H, W)``, and its letterbox."""
    encoding = "counts" if settings.encoding == "counts" else "frames"
    pictures, box = network_input(sample, EventSettings(encoding, settings.window_ms, settings.bins), settings.bins,
                                  input_shape)
    return pictures.mean(axis=0), box


def event_picture(sample: EventSample, settings: EventSettings):
    """A picture of ``sample``'s window for drawing detections on: each pixel's latest event (white ON,
    black OFF, grey none) over the whole window, as a PIL image."""
    from PIL import Image


    events, width, height = gen1.read_td(sample.td)
    frame = ems_frames(events, sample.t_us, settings.window_us, 1, width, height)[0]
    return Image.fromarray(np.ascontiguousarray(frame.transpose(1, 2, 0)))


ENCODINGS = ("frames", "counts", "spikes")
"""``--events``: EMS-YOLO frames, tonic's ON/OFF counts (as their equivalent picture), or spikes."""


def latest_events(events: np.ndarray, t_end_us: int, window_us: int, bins: int, width: int) -> np.ndarray:
    """The events :func:`ems_frames` keeps: each pixel's latest event in each bin (time order)."""
    events = window(events, t_end_us, window_us)
    if not len(events):
        return events
    key = _bins(events, t_end_us, window_us, bins) * (1 << 32) + events["y"].astype(np.int64) * width + events["x"]
    last = np.sort(len(key) - 1 - np.unique(key[::-1], return_index=True)[1])
    return events[last]


def count_pictures(events: np.ndarray, t_end_us: int, window_us: int, bins: int, width: int, height: int
                   ) -> np.ndarray:
    """tonic's ON/OFF counts per bin as the pictures a frames-trained detector reads: ``(bins, 3, H, W)``.

    An EMS frame is ``grey + (1 - grey) * ON - grey * OFF`` (:func:`polarity_kernel`); the counts
    take the place of the 0/1 maps (a pixel with two ON events counts twice, one with an ON and an
    OFF event counts both), so the first convolution sees ``conv(grey) + conv2(counts)``.
    """
    counts = count_frames(events, t_end_us, window_us, bins, width, height).astype(np.float64)
    grey = GREY / 255.0
    picture = grey + (1 - grey) * counts[:, 1] - grey * counts[:, 0]
    return np.repeat(picture[:, None], 3, axis=1)


def input_spikes(events: np.ndarray, t_end_us: int, window_us: int, steps: int, bins: int, width: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The ``spikes`` input of a run of ``steps`` steps over the window: ``(steps, neurons)``.

    The events :func:`latest_events` keeps (one per pixel and bin: the frames' own events, none
    invented or merged), each at its own step ``(t - start - 1) * steps // window``; neuron
    ``(y * W + x) * 2 + p``. ``steps`` is a multiple of ``bins``, so a bin's events stay in its steps.
    """
    if steps % bins:
        raise ValueError(f"{steps} steps are not a whole number of steps per bin ({bins} bins)")
    kept = latest_events(events, t_end_us, window_us, bins, width)
    step = ((kept["t"].astype(np.int64) - (t_end_us - window_us) - 1) * steps) // window_us
    neurons = (kept["y"].astype(np.int64) * width + kept["x"]) * 2 + kept["p"]
    return step, neurons.astype(np.int64)


def polarity_kernel(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first convolution of a detector trained on :func:`ems_frames`, rewritten for ON/OFF input maps.

    An EMS frame (scaled to [0, 1]) is ``grey + (1 - grey) * ON - grey * OFF`` on each of its three
    identical channels (``grey`` = 127/255; ON and OFF are the 0/1 maps of the pixels whose latest
    event was ON or OFF). So ``conv(frame) = conv2(ON, OFF) + bias'`` with a 2-channel kernel
    (channel 0 OFF: ``-grey * sum_c w[:, c]``, channel 1 ON: ``(1 - grey) * sum_c w[:, c]``) and
    ``bias' = bias + grey * sum of w`` over channels and the kernel window — away from the borders
    (zero padding sees no grey there: the border terms are the caller's, as for any padded input).

    Returns ``(weight2 (F, 2, k, k), bias')``.
    """
    weight = np.asarray(weight, np.float64)
    grey = GREY / 255.0
    summed = weight.sum(axis=1)
    kernel = np.stack([-grey * summed, (1 - grey) * summed], axis=1)
    return kernel, np.asarray(bias, np.float64) + grey * summed.sum(axis=(1, 2))


__all__ = ["EVENT_DTYPE", "ENCODINGS", "EventSample", "EventSettings", "event_samples", "sample_truths",
           "network_input", "encode_events", "recording_samples", "ann_input", "event_picture", "window",
           "ems_frames", "count_frames", "voxel_grid", "spike_trains", "latest_events", "count_pictures",
           "input_spikes", "polarity_kernel"]

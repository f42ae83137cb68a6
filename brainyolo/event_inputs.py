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

import numpy as np

from brainyolo.dvs import EVENT_DTYPE

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


__all__ = ["EVENT_DTYPE", "window", "ems_frames", "count_frames", "voxel_grid", "spike_trains", "polarity_kernel"]

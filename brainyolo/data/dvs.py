"""A DVS (event camera) emulator: intensity frames at a high rate -> ON/OFF events with their own times.

The model of a dynamic vision sensor pixel (Lichtsteiner, Posch, Delbruck 2008; as emulators such as
ESIM and v2e state it), small enough to check by hand:

* each pixel keeps a **reference log intensity** ``L_ref`` (``L = log(I + eps)``, ``I`` in [0, 1]),
  set from the first frame;
* between two frames the log intensity is **interpolated linearly in time**; every time it crosses
  ``L_ref + C_on`` the pixel emits an ON event (polarity 1) at the crossing's time and ``L_ref``
  moves up by ``C_on``; every crossing of ``L_ref - C_off`` gives an OFF event (polarity 0) and
  moves ``L_ref`` down by ``C_off`` (so a change of ``n`` thresholds gives ``n`` events, at the
  times the interpolated intensity reaches each level);
* contrast thresholds have **per-pixel mismatch**: ``C = C_nominal * (1 + mismatch * N(0, 1))``,
  drawn once per pixel and sensor (at least ``min_threshold``);
* a **refractory period**: an event within ``refractory_us`` of the pixel's previous emitted event
  is not emitted (its reference still moves: the change is lost, as in a real pixel that was busy);
* **background activity**: independent Poisson noise events at ``noise_hz`` per pixel, polarity
  ON or OFF with equal odds, outside the reference dynamics.

Timestamps are whole microseconds (the crossing time rounded down, within :data:`TIME_TOLERANCE_US`),
as Prophesee sensors give them.
Everything is a pure function of its arguments: :class:`SensorParameters` (the sensor),
:class:`PixelState` (reference, thresholds, last event time), ``rng`` for mismatch and noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
"""Events as a structured array, as expelliarmus and tonic give them: time (us), x, y, polarity (1 ON, 0 OFF)."""


@dataclass(frozen=True)
class SensorParameters:
    """What a sensor does, in log-intensity units and microseconds."""

    threshold_on: float = 0.25
    threshold_off: float = 0.25
    mismatch: float = 0.03
    min_threshold: float = 0.01
    refractory_us: float = 500.0
    noise_hz: float = 0.1
    eps: float = 1e-3

    def __post_init__(self):
        for name in ("threshold_on", "threshold_off", "min_threshold", "eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("mismatch", "refractory_us", "noise_hz"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass
class PixelState:
    """Per pixel: reference log intensity, ON and OFF thresholds, time of the last emitted event (us)."""

    reference: np.ndarray
    threshold_on: np.ndarray
    threshold_off: np.ndarray
    last_event: np.ndarray


TIME_TOLERANCE_US = 1e-6
"""A crossing computed within this of a whole microsecond counts as at it (float rounding of log/exp)."""


def log_intensity(frame: np.ndarray, eps: float) -> np.ndarray:
    """``log(I + eps)`` of a frame of intensities in [0, 1]."""
    return np.log(np.asarray(frame, np.float64) + eps)


def initial_state(frame: np.ndarray, params: SensorParameters, rng: np.random.Generator) -> PixelState:
    """A sensor that has seen ``frame``: references at its log intensity, thresholds with mismatch."""
    shape = np.shape(frame)

    def thresholds(nominal: float) -> np.ndarray:
        spread = 1 + params.mismatch * rng.standard_normal(shape) if params.mismatch else np.ones(shape)
        return np.maximum(nominal * spread, params.min_threshold)

    return PixelState(log_intensity(frame, params.eps), thresholds(params.threshold_on),
                      thresholds(params.threshold_off), np.full(shape, -np.inf))


def _crossings(state: PixelState, start: np.ndarray, end: np.ndarray, t0: float, t1: float,
               params: SensorParameters, on: bool) -> list[np.ndarray]:
    """Events of one polarity while the log intensity goes linearly from ``start`` to ``end`` (t0 -> t1)."""
    step = state.threshold_on if on else -state.threshold_off
    count = np.floor((end - state.reference) / step).astype(np.int64)
    count[(count < 0) | ((end > start) != on) | (end == start)] = 0
    rows = []
    for k in range(1, int(count.max(initial=0)) + 1):  # k-th crossing of every pixel that has one
        y, x = np.nonzero(count >= k)
        level = state.reference[y, x] + k * step[y, x]
        t = t0 + (level - start[y, x]) / (end[y, x] - start[y, x]) * (t1 - t0)
        t = np.floor(t + TIME_TOLERANCE_US)
        keep = t - state.last_event[y, x] >= params.refractory_us
        state.last_event[y[keep], x[keep]] = t[keep]
        rows.append(np.column_stack([t[keep], x[keep], y[keep], np.full(keep.sum(), int(on))]))
    state.reference += count * step
    return rows


def emulate(frames: np.ndarray, times_us: np.ndarray, params: SensorParameters, rng: np.random.Generator,
            state: PixelState | None = None) -> tuple[np.ndarray, PixelState]:
    """Events of a sensor watching ``frames`` (N, H, W) of intensities in [0, 1] at ``times_us`` (N,).

    Returns the events (:data:`EVENT_DTYPE`, sorted by time, then y, x) and the sensor's state after
    the last frame (pass it back to continue a stream). Without ``state`` the sensor starts from the
    first frame (no events at ``times_us[0]``).
    """
    frames = np.asarray(frames, np.float64)
    times_us = np.asarray(times_us, np.float64)
    if frames.ndim != 3 or len(times_us) != len(frames) or np.any(np.diff(times_us) <= 0):
        raise ValueError("frames must be (N, H, W) with N increasing times")
    if state is None:
        state = initial_state(frames[0], params, rng)
    rows = []
    start = log_intensity(frames[0], params.eps)
    for n in range(1, len(frames)):
        end = log_intensity(frames[n], params.eps)
        t0, t1 = times_us[n - 1], times_us[n]
        for on in (True, False):
            rows += _crossings(state, start, end, t0, t1, params, on)
        if params.noise_hz:
            counts = rng.poisson(params.noise_hz * (t1 - t0) * 1e-6, start.shape)
            y, x = np.nonzero(counts)
            y, x = np.repeat(y, counts[y, x]), np.repeat(x, counts[y, x])
            t = np.floor(rng.uniform(t0, t1, len(y)))
            rows.append(np.column_stack([t, x, y, rng.integers(0, 2, len(y))]))
        start = end
    table = np.concatenate(rows) if rows else np.zeros((0, 4))
    events = np.zeros(len(table), EVENT_DTYPE)
    for k, name in enumerate(EVENT_DTYPE.names):
        events[name] = table[:, k]
    return np.sort(events, order=["t", "y", "x"], kind="stable"), state

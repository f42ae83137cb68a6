"""What each stimulus kind (:mod:`brainyolo.stimuli`, and a Gen1 :class:`EventSample`) gives the network: one
registered rule per kind (:data:`stimulus_rule`), checked against the network's input kind before a run.

A rule takes the stimulus and the run's :class:`Presentation` context and returns a :class:`Presented`:
the input kind's values (:meth:`~brainyolo.spiking.network.SpikingNetwork.image_inputs`), the letterbox that
maps detections back onto the stimulus, and the input events a recording keeps (event stimuli).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from brainyolo.ann.letterbox import Letterbox, letterbox
from brainyolo.io import gen1
from brainyolo.io.errors import BrainyoloError
from brainyolo.registry import Registry
from brainyolo.spiking.event_encoding import EventSample, EventSettings, encode_events, input_spikes
from brainyolo.stimuli import EventStream, Image, ImageSequence, PoissonRates

stimulus_rule = Registry("stimulus")


@dataclass(frozen=True)
class Presentation:
    """What a rule needs to know of the run: the network's input kind and shape, its steps and bins, and
    its event settings (None: the run reads no events)."""

    input: str
    input_shape: tuple[int, int, int]
    steps: int
    bins: int
    bin_steps: int
    events: EventSettings | None


@dataclass(frozen=True)
class Presented:
    """A stimulus as the network receives it."""

    data: object  # the input kind's sample: (C, H, W), (bins, C, H, W) or (steps, neurons)
    box: Letterbox
    name: str
    input_events: dict | None = None  # for the recordings: {"step", "neuron", "width", "height"}


def as_stimulus(sample):
    """A path (str or ``os.PathLike``) or an image array as an :class:`~brainyolo.stimuli.Image`; any other
    sample as it is."""
    return Image(sample) if isinstance(sample, (str, os.PathLike, np.ndarray)) else sample


def present(sample, context: Presentation) -> Presented:
    """``sample`` (a path, an image array or any registered stimulus) as the network of ``context`` receives it.

    Raises
    ------
    BrainyoloError
        A stimulus the network's input kind cannot read (naming it), or an unreadable one.
    """
    stimulus = as_stimulus(sample)
    try:
        rule = stimulus_rule.rule(type(stimulus))
    except NotImplementedError:
        kinds = ", ".join(k.__name__ for k in stimulus_rule.kinds())
        raise BrainyoloError(None, f"a {type(stimulus).__name__} is not a stimulus (a path, or one of {kinds})") \
            from None
    return rule(stimulus, context)


def _needs(stimulus, context: Presentation, inputs: tuple[str, ...], where=None) -> None:
    if context.input not in inputs:
        kind = type(stimulus).__name__
        raise BrainyoloError(where, f"{'an' if kind[0] in 'AEIOU' else 'a'} {kind} needs the input "
                                    f"{' or '.join(inputs)} (this network's input is {context.input!r}: build the "
                                    "detector with input=...)")


def _letterboxed(image: Image, context: Presentation) -> tuple[np.ndarray, Letterbox]:
    _, height, width = context.input_shape
    try:
        pixels = image.pixels()
    except ValueError as err:
        raise BrainyoloError(image.source if isinstance(image.source, (str, os.PathLike)) else None, str(err)) \
            from None
    return letterbox(pixels, width, height)


@stimulus_rule.register(Image)
def _image(stimulus: Image, context: Presentation) -> Presented:
    where = stimulus.source if isinstance(stimulus.source, (str, os.PathLike)) else None
    _needs(stimulus, context, ("current", "poisson", "frames"), where)
    chw, box = _letterboxed(stimulus, context)
    if context.input == "frames":  # the same picture in every bin
        chw = np.repeat(chw[None], context.bins, axis=0)
    return Presented(chw, box, stimulus.name)


@stimulus_rule.register(ImageSequence)
def _sequence(stimulus: ImageSequence, context: Presentation) -> Presented:
    _needs(stimulus, context, ("frames",))
    if len(stimulus.images) != context.bins:
        raise BrainyoloError(None, f"an image sequence of {len(stimulus.images)} pictures for a network of "
                                   f"{context.bins} bins (build it with bins={len(stimulus.images)})")
    if context.steps < context.bins * context.bin_steps:
        shown = -(-context.steps // context.bin_steps)
        raise BrainyoloError(None, f"a run of {context.steps} steps shows only {shown} of the {context.bins} "
                                   f"pictures ({context.bin_steps} steps each): run at least "
                                   f"{context.bins * context.bin_steps} steps")
    pictures = [_letterboxed(image, context) for image in stimulus.images]
    sizes = {box.image_size for _, box in pictures}
    if len(sizes) > 1:
        raise BrainyoloError(None, f"the pictures of an image sequence differ in size: {sorted(sizes)}")
    return Presented(np.stack([chw for chw, _ in pictures]), pictures[0][1], stimulus.name)


@stimulus_rule.register(PoissonRates)
def _rates(stimulus: PoissonRates, context: Presentation) -> Presented:
    _needs(stimulus, context, ("poisson",))
    rates = np.asarray(stimulus.rates, np.float64)
    if rates.shape != tuple(context.input_shape):
        raise BrainyoloError(None, f"Poisson rates of shape {rates.shape} for a network input of "
                                   f"{tuple(context.input_shape)}")
    if not np.all(np.isfinite(rates)) or rates.min() < 0 or rates.max() > 1:
        raise BrainyoloError(None, "Poisson rates are spike probabilities per step, in [0, 1]")
    _, height, width = context.input_shape
    return Presented(rates, Letterbox((width, height), (width, height)), stimulus.name)


def _events(stimulus, events: np.ndarray, width: int, height: int, t_end_us: int, context: Presentation,
            where) -> Presented:
    _needs(stimulus, context, ("frames", "spikes"), where)
    if context.events is None:
        raise BrainyoloError(where, "events need the detector's event settings (events=EventSettings(...), "
                                    "or --events)")
    if context.events.bins != context.bins:
        raise BrainyoloError(where, f"the event settings' {context.events.bins} bins, but a network of "
                                    f"{context.bins} (build the detector with bins={context.events.bins})")
    data, box = encode_events(events, width, height, t_end_us, context.events, context.steps, context.input_shape,
                              where)
    step, neuron = input_spikes(events, t_end_us, context.events.window_us, context.steps, context.events.bins,
                                width)
    record = {"step": (step + 1).astype(np.int32), "neuron": neuron.astype(np.int32), "width": width,
              "height": height}
    return Presented(data, box, getattr(stimulus, "name", "events"), record)


@stimulus_rule.register(EventSample)
def _event_sample(stimulus: EventSample, context: Presentation) -> Presented:
    if context.events is None or context.input not in ("frames", "spikes"):
        raise BrainyoloError(stimulus.td, f"an event recording, but the input is {context.input!r} "
                                          "(read events with --events)")
    events, width, height = gen1.read_td(stimulus.td)
    return _events(stimulus, events, width, height, stimulus.t_us, context, stimulus.td)


@stimulus_rule.register(EventStream)
def _event_stream(stimulus: EventStream, context: Presentation) -> Presented:
    events = np.asarray(stimulus.events)
    missing = [name for name in ("t", "x", "y", "p") if events.dtype.names is None or name not in events.dtype.names]
    if missing:
        raise BrainyoloError(None, f"an event stream's array has fields t, x, y and p; {missing[0]!r} is missing")
    if len(events):
        if np.any(np.diff(events["t"]) < 0):
            raise BrainyoloError(None, "an event stream's events are sorted by time")
        if (events["x"].min() < 0 or events["x"].max() >= stimulus.width or events["y"].min() < 0
                or events["y"].max() >= stimulus.height or not np.isin(events["p"], (0, 1)).all()):
            raise BrainyoloError(None, f"an event lies outside the {stimulus.width}x{stimulus.height} sensor "
                                       "or has a polarity other than 0 or 1")
    return _events(stimulus, events, stimulus.width, stimulus.height, int(stimulus.t_end_us), context, None)


__all__ = ["stimulus_rule", "Presentation", "Presented", "as_stimulus", "present"]

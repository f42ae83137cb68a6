"""The ways a sample reaches the spiking network's first convolution (front end; no Brian2).

Each input kind is one :class:`InputKind` here and one build rule in
:mod:`brainyolo.spiking.input_rules` (:data:`~brainyolo.spiking.input_rules.input_rule`):

* ``current`` — the image's first convolution, computed once, as a constant current (Spiking-YOLO);
* ``poisson`` — the image as Poisson spikes (rate = pixel value per step) through the first convolution;
* ``frames`` — one picture per time bin (EMS-YOLO's event frames, or tonic's ON/OFF counts as their
  equivalent picture): bin ``b``'s first convolution is the current of steps
  ``[b * bin_steps, (b + 1) * bin_steps)``;
* ``spikes`` — events as spikes: 2 x H x W input neurons (OFF, ON per pixel) firing at the events'
  own steps into the first convolution (rewritten for ON/OFF maps,
  :func:`brainyolo.spiking.event_encoding.polarity_kernel`), no frames.

What one network run reads is a *sample*: an image file, or the events of a window before a box
time of a Gen1 recording (:class:`brainyolo.spiking.event_encoding.EventSample`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputKind:
    """One way into the network.

    Attributes
    ----------
    name : str
    spikes : bool
        The first convolution receives spikes (delivered the step after they are emitted), not a current.
    reads : {"image", "events"}
        What a sample must hold.
    """

    name: str
    spikes: bool
    reads: str
    description: str


INPUT_KINDS = {kind.name: kind for kind in (
    InputKind("current", False, "image", "the image's first convolution as a constant current"),
    InputKind("poisson", True, "image", "the image as Poisson spikes, rate = pixel value per step"),
    InputKind("frames", False, "events", "one picture per time bin as the first layer's current"),
    InputKind("spikes", True, "events", "events as ON/OFF spikes at their own steps"),
)}


def input_kind(name: str) -> InputKind:
    """The :class:`InputKind` called ``name``; ``ValueError`` if there is none."""
    try:
        return INPUT_KINDS[name]
    except KeyError:
        raise ValueError(f"input {name!r} is not one of {tuple(INPUT_KINDS)}") from None


__all__ = ["InputKind", "INPUT_KINDS", "input_kind"]

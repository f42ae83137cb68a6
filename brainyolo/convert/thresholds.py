"""The thresholds ``convert`` balances, as a model file keeps them (``/thresholds``:
:mod:`~brainyolo.convert.model_file`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


@dataclass
class BalancedThresholds:
    """Each hidden layer's threshold, balanced at conversion (:mod:`brainyolo.convert.balancing`).

    Attributes
    ----------
    v_th : {layer index: threshold}
        Every hidden spiking layer's threshold.
    steps : int
        The run length ``T`` the balancing modelled.
    base : float
        The uniform threshold whose events were the budget's unit.
    budget : float
        Events as a multiple of the uniform threshold's.
    low, high : float
        The bounds of every threshold.
    images : int
        Calibration images measured.
    channel_scale : {layer index: ndarray}
        Per hidden layer, a factor per output channel on its lambda (channel balancing,
        :func:`~brainyolo.convert.balancing.channel_scales`): in effect each channel's threshold relative to
        the layer's. Empty: none (every channel at the layer's threshold).
    """

    v_th: dict[int, float]
    steps: int
    base: float
    budget: float
    low: float
    high: float
    images: int
    channel_scale: dict[int, np.ndarray] = field(default_factory=dict)

    def __eq__(self, other) -> bool:
        """Equal fields, the channel scales compared as arrays."""
        if not isinstance(other, BalancedThresholds):
            return NotImplemented
        fields = [f.name for f in dataclasses.fields(self) if f.name != "channel_scale"]
        return (all(getattr(self, name) == getattr(other, name) for name in fields)
                and self.channel_scale.keys() == other.channel_scale.keys()
                and all(np.array_equal(self.channel_scale[i], other.channel_scale[i]) for i in self.channel_scale))

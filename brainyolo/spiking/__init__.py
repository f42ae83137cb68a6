"""The spiking network in Brian2: device, weight-shared connections, builder.

Neurons of a layer are numbered position-major, channel-minor: the neuron of channel ``c`` at
row ``y``, column ``x`` of an ``(C, H, W)`` layer has index ``(y * W + x) * C + c``. With that
order one spike reaches its targets' channels in contiguous memory, and the kernel is stored as
``[c][dy][dx][f]``, contiguous in the output channel ``f``.
"""


def to_neuron_order(chw):
    """``(C, H, W)`` array -> flat array in neuron order (position-major, channel-minor)."""
    import numpy as np

    return np.ascontiguousarray(np.moveaxis(np.asarray(chw), 0, -1)).ravel()


def from_neuron_order(flat, shape):
    """Flat array in neuron order -> ``(C, H, W)`` array of ``shape``."""
    import numpy as np

    channels, height, width = shape
    return np.moveaxis(np.asarray(flat).reshape(height, width, channels), -1, 0)

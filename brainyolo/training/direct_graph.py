"""The directly trained spiking detector (EMS-YOLO style): its architecture as a graph, no PyTorch.

An EMS-ResNet-style network for the embedded detector's 96x96 scenes and classes: every
convolution reads spikes (the first reads the image, repeated at every step as EMS-YOLO feeds it,
so its output is the first layer's input current), and each residual block's shortcut is a
second convolution adding into the membrane of the block's output neurons
(:class:`~brainyolo.ann.graph.ConvAdd`): no non-spike multiply-accumulate remains. Two YOLO heads
(6x6 and 12x12 cells, the embedded ANN's grids and anchors) read the head convolutions' membranes
averaged over the time steps.

::

    0  Conv 3x3/2     3 -> 16   48x48   LIF   (image current)
    1  Conv 3x3/2    16 -> 32   24x24   LIF
    2  ConvAdd 3x3 of 1 + 1x1/2 of 0   24x24x32   LIF          (membrane shortcut)
    3  Conv 3x3/2    32 -> 64   12x12   LIF
    4  ConvAdd 3x3 of 3 + 1x1/2 of 2   12x12x64   LIF
    5  Conv 3x3/2    64 -> 128   6x6    LIF
    6  ConvAdd 3x3 of 5 + 1x1/2 of 4    6x6x128   LIF
    7  Conv 1x1     128 -> 27   linear (membrane read-out)   8  YOLO head, anchors 3-5
    9  Conv 3x3 of 4 64 -> 64   12x12   LIF
    10 Conv 1x1      64 -> 27   linear                        11 YOLO head, anchors 0-2

EMS-ResNet's second block type takes its shortcut through a max-pool of spikes and a 1x1
convolution; here the shortcut is a strided 1x1 convolution of the spikes (still full-spike, no
pooling neurons).

The neuron is spikingjelly's ``LIFNode`` (tau 2, threshold 1, hard reset to 0, input decaying
with the membrane): ``equations/lif_direct.toml`` states the same update for Brian2.
"""

from __future__ import annotations

import numpy as np

from brainyolo.ann.graph import INPUT, Conv, ConvAdd, Graph, YoloHead

TIME_STEPS = 4
"""T of training (EMS-YOLO's T = 4)."""

NEURON = "lif_direct"
"""The neuron file equal to the training framework's LIF step."""

LIF = {"tau": 2.0, "v_th": 1.0, "v_reset": 0.0, "hard_reset": 1.0}
"""spikingjelly ``LIFNode`` defaults as trained: tau 2, v_threshold 1, v_reset 0 (hard reset)."""

NETWORK_SIZE = (96, 96)


def _conv(inputs, filters, size, stride, activation="spike") -> Conv:
    return Conv((inputs,), filters=filters, size=size, stride=stride, pad=size // 2, activation=activation,
                alpha=1.0)


def _add(main, shortcut, filters) -> ConvAdd:
    return ConvAdd((main, shortcut), filters=filters, size=3, stride=1, pad=1, shortcut_size=1, shortcut_stride=2,
                   shortcut_pad=0)


def direct_graph(anchors: np.ndarray, class_names: list[str], width: int = 16) -> Graph:
    """The architecture above (no weights); ``width`` channels in the first layer, doubling per stage."""
    classes = len(class_names)
    out = 3 * (5 + classes)
    w1, w2, w3, w4 = width, 2 * width, 4 * width, 8 * width
    anchors = np.asarray(anchors, np.float64)
    layers = [
        _conv(INPUT, w1, 3, 2),
        _conv(0, w2, 3, 2),
        _add(1, 0, w2),
        _conv(2, w3, 3, 2),
        _add(3, 2, w3),
        _conv(4, w4, 3, 2),
        _add(5, 4, w4),
        _conv(6, out, 1, 1, "linear"),
        YoloHead((7,), classes=classes, mask=(3, 4, 5), all_anchors=anchors),
        _conv(4, w3, 3, 1),
        _conv(9, out, 1, 1, "linear"),
        YoloHead((10,), classes=classes, mask=(0, 1, 2), all_anchors=anchors),
    ]
    return Graph((3, NETWORK_SIZE[1], NETWORK_SIZE[0]), layers, list(class_names))


def spiking_layers(graph: Graph) -> list[int]:
    """Indices of the layers whose neurons spike (activation ``spike``)."""
    return [i for i, layer in enumerate(graph.layers) if getattr(layer, "activation", None) == "spike"]

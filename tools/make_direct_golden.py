"""Write tests/files/direct_golden.npz: a small directly trained-style SNN run by spikingjelly itself.

Run in the training environment (``bash .ci/setup-train-venv``)::

    .venv-train/bin/python tools/make_direct_golden.py

The network has every part of the directly trained detector (image current into the first LIF
layer, strided and plain convolutions of spikes, a membrane shortcut adding two convolutions into
one layer, a linear head convolution read out as its membrane averaged over the steps), with hard
and soft resets and two time constants. Weights and biases lie on a 2**-5 grid and the image is
black and white, so every sum is exact in float64 and spikingjelly's spikes are the reference
bit for bit (also for ``frames``: one black-and-white picture per step, the way event frames enter
the network): tests/training/test_direct.py and tests/spiking/test_event_inputs.py check that Brian2 (runtime and
cpp_standalone) fires the same spikes, neuron by neuron and step by step. CI never imports torch: it reads this file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brainyolo.ann.graph import INPUT, Conv, ConvAdd, Graph, YoloHead
from brainyolo.training.direct import folded_module, framework_version

OUT = Path(__file__).resolve().parents[1] / "tests" / "files" / "direct_golden.npz"
STEPS = 8
GRID = 2.0 ** -5


def golden_graph(rng) -> tuple[Graph, dict]:
    def dyadic(*shape, scale=16, low=None):
        return (rng.integers(-scale if low is None else low, scale + 1, shape) * GRID).astype(np.float32)

    anchors = np.array([[4.0, 4.0], [8.0, 6.0], [6.0, 10.0]])
    layers = [
        Conv((INPUT,), 4, 3, 2, 1, "spike", 1.0, dyadic(4, 3, 3, 3, scale=24, low=-12), dyadic(4, scale=16, low=0)),
        Conv((0,), 4, 3, 1, 1, "spike", 1.0, dyadic(4, 4, 3, 3, scale=24, low=-8), dyadic(4, scale=24, low=0)),
        ConvAdd((1, 0), 4, 3, 1, 1, 1, 1, 0, weight=dyadic(4, 4, 3, 3, scale=24, low=-8),
                shortcut_weight=dyadic(4, 4, 1, 1, scale=32, low=-8), bias=dyadic(4, scale=16, low=0)),
        Conv((2,), 6, 3, 2, 1, "spike", 1.0, dyadic(6, 4, 3, 3, scale=24, low=-8), dyadic(6, scale=16, low=0)),
        Conv((3,), 18, 1, 1, 0, "linear", 1.0, dyadic(18, 6, 1, 1), dyadic(18, scale=8)),
        YoloHead((4,), classes=1, mask=(0, 1, 2), all_anchors=anchors),
    ]
    params = {0: {"tau": 2.0, "v_th": 1.0, "v_reset": 0.0, "hard_reset": 1.0},
              1: {"tau": 2.0, "v_th": 1.0, "v_reset": 0.0, "hard_reset": 0.0},   # soft reset
              2: {"tau": 4.0, "v_th": 1.0, "v_reset": 0.0, "hard_reset": 1.0},
              3: {"tau": 2.0, "v_th": 0.75, "v_reset": 0.0, "hard_reset": 1.0}}
    return Graph((3, 16, 16), layers, ["thing"]), params


def main() -> None:
    import torch

    rng = np.random.default_rng(2023)
    graph, params = golden_graph(rng)
    image = np.zeros((16, 16, 3), np.uint8)
    for _ in range(6):  # white blocks on black: the letterboxed input is exactly 0 or 1
        y, x, c = rng.integers(0, 12), rng.integers(0, 12), rng.integers(0, 3)
        image[y:y + rng.integers(2, 6), x:x + rng.integers(2, 6), c] = 255
    chw = image.transpose(2, 0, 1).astype(np.float64) / 255.0
    module = folded_module(graph, params, torch, dtype=torch.float64)
    with torch.no_grad():
        heads, spikes = module(torch.from_numpy(chw[None]), STEPS, record=True)
    arrays = {"image": image, "steps": np.array(STEPS), "framework": np.array(framework_version()),
              "head_mean": heads[0][0].numpy(), "anchors": graph.layers[5].all_anchors}
    for index, layer in enumerate(graph.layers):
        for name in ("weight", "bias", "shortcut_weight"):
            if getattr(layer, name, None) is not None:
                arrays[f"layer{index}_{name}"] = getattr(layer, name)
    for index, values in params.items():
        arrays[f"params{index}"] = np.array([values[k] for k in ("tau", "v_th", "v_reset", "hard_reset")])
        arrays[f"spikes{index}"] = spikes[index][:, 0].numpy().astype(np.uint8)  # (T, C, H, W)
        print(f"layer {index}: {int(arrays[f'spikes{index}'].sum())} spikes in {STEPS} steps")
    # one picture per step (event frames): black, grey-free, a block or two moving per step
    frames = np.zeros((STEPS, 16, 16, 3), np.uint8)
    for step in range(STEPS):
        for _ in range(3):
            y, x = rng.integers(0, 13), rng.integers(0, 13)
            frames[step, y:y + rng.integers(2, 5), x:x + rng.integers(2, 5), :] = 255
    per_step = frames.transpose(0, 3, 1, 2).astype(np.float64)[:, None] / 255.0  # (T, N=1, 3, H, W)
    with torch.no_grad():
        heads, spikes = module(torch.from_numpy(per_step), STEPS, record=True)
    arrays["frames"] = frames
    arrays["frames_head_mean"] = heads[0][0].numpy()
    for index in params:
        arrays[f"frames_spikes{index}"] = spikes[index][:, 0].numpy().astype(np.uint8)
        print(f"frames, layer {index}: {int(arrays[f'frames_spikes{index}'].sum())} spikes")
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({framework_version()}, torch {torch.__version__})")


if __name__ == "__main__":
    main()

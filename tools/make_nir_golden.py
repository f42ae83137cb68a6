"""Write tests/files/nir_conv_snn.nir and tests/files/nir_golden.npz: a convolutional SNN written as NIR with the
``nir`` package alone (no brainyolo), and what Norse (``norse.torch.from_nir``) makes of it over 50 steps.

Run in the training environment with Norse added (``bash .ci/setup-train-venv``, then
``.venv-train/bin/pip install norse nir``)::

    .venv-train/bin/python tools/make_nir_golden.py

The network is the one of issue 37: Conv2d (2 -> 4 channels, 3x3, padding 1, on 8x8) -> LIF -> SumPool2d (2x2)
-> Flatten -> Affine (64 -> 8) -> LIF, fed 50 steps of fixed random input spikes. Norse runs it in float64
with its own discretization (``LIFBoxCell``: ``v += dt / tau * (x + v_leak - v)``, spike where
``v > v_threshold``, then ``v = v_reset``; ``dt`` = 1 ms). Weights and biases lie on a 2**-5 grid and every
``dt / tau`` is a power of two (tau 2 or 4 ms), so every synaptic sum is exact in any order and each membrane
step rounds the same way on both sides: brainyolo must reproduce the spikes (and the membranes) bit for bit
(tests/nir/test_nir_norse.py). Norse ignores NIR's ``r`` and ``v_reset`` of a LIF (it warns for ``r != 1`` and
resets to 0): the network uses ``r = 1`` and ``v_reset = 0``, where both readings agree.

With an argument, the script also re-simulates a NIR file that brainyolo exported (``brainyolo export-nir``)
and checks that Norse gives the same spikes as from the original file::

    .venv-train/bin/python tools/make_nir_golden.py --check-export exported.nir

CI never imports torch: it reads the two files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nir
import numpy as np

FILES = Path(__file__).resolve().parents[1] / "tests" / "files"
GRAPH_FILE = FILES / "nir_conv_snn.nir"
GOLDEN_FILE = FILES / "nir_golden.npz"
STEPS = 50
DT = 1e-3
GRID = 2.0 ** -5


def dyadic(rng, shape, low: int, high: int) -> np.ndarray:
    """Random values ``k * 2**-5`` with ``low <= k <= high``, float32 (exact in float32 and float64)."""
    return (rng.integers(low, high + 1, shape) * GRID).astype(np.float32)


def conv_snn(rng) -> nir.NIRGraph:
    """Conv2d -> LIF -> SumPool2d -> Flatten -> Affine -> LIF, written with the ``nir`` package directly."""
    conv_shape, pooled, outputs = (4, 8, 8), (4, 4, 4), 8
    tau1 = np.broadcast_to(rng.choice([0.002, 0.004], (4, 1, 1)), conv_shape).astype(np.float32)
    th1 = np.broadcast_to(rng.choice([0.75, 1.0, 1.25], (4, 1, 1)), conv_shape).astype(np.float32)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 8, 8])}),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=dyadic(rng, (4, 2, 3, 3), -12, 24), stride=1, padding=1,
                           dilation=1, groups=1, bias=dyadic(rng, 4, 0, 8)),
        "lif1": nir.LIF(tau=tau1, r=np.ones(conv_shape, np.float32), v_leak=np.zeros(conv_shape, np.float32),
                        v_threshold=th1, v_reset=np.zeros(conv_shape, np.float32)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array(pooled)}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=dyadic(rng, (outputs, 64), -8, 12), bias=dyadic(rng, outputs, -4, 4)),
        "lif2": nir.LIF(tau=rng.choice([0.002, 0.004], outputs).astype(np.float32), r=np.ones(outputs, np.float32),
                        v_leak=np.zeros(outputs, np.float32), v_threshold=rng.choice([1.0, 1.5], outputs).astype(
                            np.float32), v_reset=np.zeros(outputs, np.float32)),
        "output": nir.Output(output_type={"output": np.array([outputs])}),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:], strict=True)))


def norse_run(graph: nir.NIRGraph, spikes: np.ndarray) -> dict[str, np.ndarray]:
    """Every node's output at every step (``(steps, *shape)``), and every LIF's membrane after each step."""
    import torch
    from norse.torch import from_nir

    module = from_nir(graph, dt=DT).double()
    state, outputs = None, {}
    with torch.no_grad():
        for step in range(len(spikes)):
            _, state = module(torch.from_numpy(spikes[step].astype(np.float64)), state)
            for name, value in state.cache.items():
                outputs.setdefault(name, []).append(value.numpy().copy())
            for name, value in state.state.items():
                value = value[0] if isinstance(value, tuple) and not hasattr(value, "v") else value
                if hasattr(value, "v"):
                    outputs.setdefault(f"{name}_v", []).append(value.v.numpy().copy())
    return {name: np.stack(values) for name, values in outputs.items()}


def versions() -> str:
    import torch

    return f"nir {_dist('nir')}, nirtorch {_dist('nirtorch')}, norse {_dist('norse')}, torch {torch.__version__}"


def _dist(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-export", metavar="FILE", help="a NIR file brainyolo exported: Norse must give the "
                                                               "golden spikes")
    args = parser.parse_args(argv)
    if args.check_export:
        golden = np.load(GOLDEN_FILE)
        result = norse_run(nir.read(args.check_export), golden["input_spikes"])
        for name in ("lif1", "lif2"):
            if not np.array_equal(result[name].astype(np.uint8), golden[f"{name}_spikes"]):
                print(f"{args.check_export}: {name}: Norse's spikes differ from the golden run")
                return 1
        print(f"{args.check_export}: Norse gives the golden spikes ({versions()})")
        return 0
    rng = np.random.default_rng(37)
    graph = conv_snn(rng)
    spikes = (rng.random((STEPS, 2, 8, 8)) < 0.3).astype(np.uint8)
    nir.write(GRAPH_FILE, graph)
    result = norse_run(nir.read(GRAPH_FILE), spikes)
    arrays = {"input_spikes": spikes, "steps": np.array(STEPS), "dt": np.array(DT), "versions": np.array(versions())}
    for name in ("lif1", "lif2"):
        values = result[name]
        assert set(np.unique(values)) <= {0.0, 1.0}, name
        arrays[f"{name}_spikes"] = values.astype(np.uint8)
        arrays[f"{name}_v"] = result[f"{name}_v"]
        print(f"{name}: {int(values.sum())} spikes in {STEPS} steps, per neuron "
              f"{values.reshape(STEPS, -1).sum(0).min():.0f}..{values.reshape(STEPS, -1).sum(0).max():.0f}")
    arrays["pool"] = result["pool"].astype(np.uint8)  # a sum of spikes: whole numbers
    np.savez_compressed(GOLDEN_FILE, **arrays)
    print(f"wrote {GRAPH_FILE.name} and {GOLDEN_FILE.name} ({versions()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How late a synaptic filter makes the network: the lag of the output layers' accumulated input.

For each synapse file and time constant, one generated scene through the embedded detector (numpy
runtime, 300 steps, every step a checkpoint): the output membranes A(t) (Vmem read-out) are compared
with the instant synapse's, and the lag is the shift s (in steps) that best aligns them,
``argmin_s sum_t |A_syn(t) - A_instant(t - s)|^2`` over t in 100..300 (the transient excluded). With
charge-normalized synapses the network's function is unchanged, so the curves differ by a delay.
Expected: about depth x tau_syn (exponential, mean lag tau per synapse) and depth x 2 tau_syn (alpha),
depth being the spiking convolutions on the path, less where rates are steady before the input arrives.

    python analysis/biology/synaptic_lag.py [--scene-seed 3016] [--steps 300]   # prints a Markdown table
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from brainyolo.data import scenes
from brainyolo.data.embedded import converted_embedded
from brainyolo.spiking.parameters import ParameterSettings, parse_setting
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.simulate import SimulationSettings, Simulator

CASES = [("instant", ""), ("exponential", "1*ms"), ("exponential", "2*ms"), ("exponential", "5*ms"),
         ("exponential", "10*ms"), ("alpha", "2*ms")]


def outputs(model, image, synapse: str, tau: str, steps: int) -> np.ndarray:
    parameters = parse_setting(f"*.tau_syn={tau}") if tau else ParameterSettings()
    settings = SimulationSettings(steps=steps, checkpoints=tuple(range(1, steps + 1)), device="runtime",
                                  build=BuildOptions(synapse=synapse), parameters=parameters)
    with Simulator(model, settings) as simulator:
        data = simulator.run(image).data
    return np.concatenate([out["v"].reshape(steps, -1) for _, out in sorted(data["output"].items())], axis=1)


def lag(curve: np.ndarray, reference: np.ndarray, start: int, max_shift: int = 60) -> int:
    errors = [np.sum((curve[start:] - reference[start - s:len(reference) - s]) ** 2) for s in range(max_shift)]
    return int(np.argmin(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene-seed", type=int, default=3016)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    model = converted_embedded()
    with tempfile.TemporaryDirectory() as tmp:
        image = scenes.write_scenes(Path(tmp), 1, args.scene_seed)[0]
        reference = outputs(model, image, "instant", "", args.steps)
        print("| synapse | tau_syn | lag of the output input (steps) |\n| --- | --- | ---: |")
        for synapse, tau in CASES:
            curve = reference if synapse == "instant" else outputs(model, image, synapse, tau, args.steps)
            print(f"| {synapse} | {tau or '-'} | {lag(curve, reference, start=100)} |", flush=True)


if __name__ == "__main__":
    main()

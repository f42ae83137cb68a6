"""What a burst costs per image: peak memory of the simulation, wall and simulated time, synaptic events, and a
hash of every layer's spike counts (equal hashes: the same spikes), for one neuron file and parameter file.

    python analysis/fast-and-frugal/burst_cost.py MODEL.h5 NEURON PARAMS IMAGE...
    python analysis/fast-and-frugal/burst_cost.py MODEL.h5 preset:NAME - IMAGE...

16 steps read at the end (a preset: its own configuration at 16 steps; otherwise same-step schedule, Vmem
read-out), 2 threads. Run it once to build (the compiler's memory counts as the run's children's too), then again
to measure: the peak memory printed is the largest of the processes this run started, the simulation binary.
Run it with PYTHONPATH set to another tree to measure that tree's code (burst-cost.sh).
"""

from __future__ import annotations

import hashlib
import resource
import sys
import time
from pathlib import Path

import numpy as np

ANN_MACS = 2.78e9


def main(model_path: str, neuron: str, params: str, *images: str) -> None:
    import brainyolo
    from brainyolo.convert.model_file import load_model
    from brainyolo.spiking.parameters import read_parameter_file

    if neuron.startswith("preset:"):
        detector = brainyolo.SpikingDetector(model_path, neuron.removeprefix("preset:"), steps=16, threads=2)
    else:
        # a channel-balanced model: its balance applied (code before 0.10 applied it always and has no such name)
        balanced = getattr(load_model(model_path), "channel_balanced", False)
        detector = brainyolo.SpikingDetector(model_path, steps=16, checkpoints=(16,), neuron=neuron,
                                            parameters=read_parameter_file(params), threads=2,
                                            normalization="channel-balanced" if balanced else None)
    print(f"brainyolo {brainyolo.__version__} from {Path(brainyolo.__file__).parent}", flush=True)
    walls, simulated = [], []
    with detector:
        started = time.perf_counter()
        detector.build()
        print(f"build (cached or not): {time.perf_counter() - started:.1f} s", flush=True)
        for path in map(Path, images):
            started = time.perf_counter()
            run = detector.run(path)
            detections = run.detections[16]
            walls.append(time.perf_counter() - started)
            simulated.append(float(run.result.timing.get("run_seconds", np.nan)))
            layers = run.result.data["layers"]
            digest = hashlib.sha1()
            for name in sorted(layers):
                for key in ("positive_count", "negative_count"):
                    if key in layers[name]:
                        digest.update(np.ascontiguousarray(layers[name][key]).tobytes())
            print(f"{path.name}: spike counts {digest.hexdigest()[:12]}, {run.result.synaptic_events / ANN_MACS:.4f}x "
                  f"the ANN's MACs, {len(detections.records(path.name, ['c'] * 80))} detections, "
                  f"wall {walls[-1]:.2f} s, simulation {simulated[-1]:.2f} s", flush=True)
    print(f"mean per image: wall {np.mean(walls):.2f} s, simulation {np.mean(simulated):.2f} s; peak memory of the "
          f"simulation {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6:.2f} GB", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])

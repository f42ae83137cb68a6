"""What sealing a recordings file costs: its content checksum read back from the finished file (as before 0.13.1)
against the checksum fed while each image is written (GroupDigest), on the images of a run folder.

    python analysis/overhead/seal.py RUN_DIR [ROUNDS]

Each round writes every image of ``RUN_DIR/recordings.h5`` into a new file once each way, in turn, and prints
seconds per image for the writing (the same both ways) and the sealing, and that both ways stored the same digest.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from brainyolo.io.integrity import DIGEST_ATTRIBUTE, GroupDigest, content_digest
from brainyolo.readout.recordings import LAYER_ATTRIBUTES, open_recordings, write_image


def image_data(group: h5py.Group) -> tuple[dict, dict]:
    """An image's recordings as ``write_image`` takes them: ``(attributes, data)``."""
    data = {"layers": {}, "output": {}}
    for key, layer in group["layers"].items():
        data["layers"][int(key)] = {"kind": str(layer.attrs["kind"]), "shape": tuple(layer.attrs["shape"]),
                                    "negative_value": float(layer.attrs.get("negative_value", 1.0)),
                                    **{name: layer[name][()] for name in layer if name not in LAYER_ATTRIBUTES}}
    for key, output in group["output"].items():
        data["output"][int(key)] = {name: output[name][()] for name in output}
    if "input_events" in group:
        events = group["input_events"]
        data["input_events"] = {"width": events.attrs["width"], "height": events.attrs["height"],
                                "step": events["step"][()], "neuron": events["neuron"][()]}
    return dict(group.attrs), data


def write(path: Path, root: dict, images: list, fed: bool) -> tuple[float, float, str]:
    """Write ``images`` into ``path``: ``(seconds writing, seconds sealing, digest)``."""
    writing = sealing = 0.0
    with open_recordings(path, root) as f:
        digest = GroupDigest(f, "images") if fed else None
        for number, (attrs, data) in enumerate(images):
            started = time.perf_counter()
            name, written = write_image(f, number, attrs, data)
            writing += time.perf_counter() - started
            started = time.perf_counter()
            if fed:
                digest.add(name, written)
            sealing += time.perf_counter() - started
        started = time.perf_counter()
        if fed:
            digest.seal()
        else:
            f.attrs[DIGEST_ATTRIBUTE] = content_digest(f)
        sealing += time.perf_counter() - started
        return writing, sealing, str(f.attrs[DIGEST_ATTRIBUTE])


def main(run_dir: str, rounds: int = 2) -> None:
    with h5py.File(Path(run_dir) / "recordings.h5", "r") as f:
        root = {key: value for key, value in f.attrs.items()
                if key not in (DIGEST_ATTRIBUTE, "format", "schema_version", "time_step_ms")}
        images = [image_data(f["images"][name]) for name in sorted(f["images"])]
    counts = sum(value.nbytes for _, data in images for layer in data["layers"].values()
                 for value in layer.values() if isinstance(value, np.ndarray))
    print(f"{len(images)} images of {run_dir}, {counts / len(images) / 1e6:.1f} MB of arrays per image")
    print("| round | way | writing (s per image) | sealing (s per image) |")
    print("| --- | --- | ---: | ---: |")
    digests = set()
    with tempfile.TemporaryDirectory() as folder:
        for round_number in range(1, rounds + 1):
            seals = {}
            for fed in (False, True):
                path = Path(folder) / f"{round_number}-{fed}.h5"
                writing, sealing, digest = write(path, root, images, fed)
                path.unlink()
                digests.add(digest)
                way = "fed while written" if fed else "read back"
                seals[fed] = sealing
                print(f"| {round_number} | {way} | {writing / len(images):.3f} | {sealing / len(images):.3f} |")
            print(f"round {round_number}: sealing read back / fed = {seals[False] / seals[True]:.1f}x")
    print("the same digest both ways:", len(digests) == 1)


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))

"""What writing a run's recordings costs, five ways, on the images of a run folder:

- as before 0.13.1: the per-neuron counts stored as int32, the content checksum read back from the finished file;
- the counts as int32, the checksum fed while each image is written (GroupDigest);
- as in 0.13.1: the counts as int16 where they fit, the checksum fed;
- as in 0.13.2 to 0.15.0: the same, the chunks compressed by a thread per core (``brainyolo.io.deflate``) instead of
  by HDF5's filters on the writing thread;
- as now: the counts in the narrowest type that holds them (``stored_counts``: int8 up to 63), chunks by threads
  (since 0.15.3 the chunks of all of an image's arrays together, by zlib-ng: ``DeflatedWriter``).

The first three compress with HDF5's own filters (shuffle and gzip at level 1, h5py's chunks).

    python analysis/overhead/write_recordings.py RUN_DIR [ROUNDS]

Each round writes every image of ``RUN_DIR/recordings.h5`` into a new file each way, in turn, and prints seconds
per image for the writing and the sealing, the file's size, and whether the files read back hold the same counts.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from brainyolo.io.deflate import DeflatedWriter
from brainyolo.io.integrity import DIGEST_ATTRIBUTE, GroupDigest, content_digest
from brainyolo.readout import recordings
from brainyolo.readout.recordings import open_recordings, write_image
from brainyolo.readout.recordings_schema import LAYER_ATTRIBUTES
from brainyolo.spiking.counters import EVENT_COUNTERS, SPIKE_COUNTERS, read_counts, stored_counts

COUNTS = SPIKE_COUNTERS + EVENT_COUNTERS


def int16_counts(counts: np.ndarray) -> np.ndarray:
    """The counts as 0.13.1 to 0.15.0 stored them (that version's ``stored_counts``, verbatim): int16 where every one
    is in 0 ... 16383, else as they are."""
    counts = np.asarray(counts)
    if counts.dtype.kind in "iu" and (counts.size == 0 or (counts.min() >= 0 and counts.max() <= 16383)):
        return counts.astype(np.int16, order="C")
    return counts if counts.flags.c_contiguous else counts.copy(order="C")


WAYS = {"int32, read back": (None, False, False), "int32, fed": (None, True, False),
        "int16, fed": (int16_counts, True, False), "int16, fed, threads": (int16_counts, True, True),
        "narrowest, fed, threads (now)": (stored_counts, "overlapped", True)}
"""Each way: (how counts are stored, None: as the run's int32; checksum fed after each image is written, or
"overlapped": while its chunks are compressed, as ``write_image(..., digest)`` does now, counted in the writing;
chunks compressed by threads)."""


class HDF5Filters:
    """Datasets compressed as before: HDF5's own shuffle and gzip filters, level 1, on the writing thread (the
    interface of ``DeflatedWriter``)."""

    def add(self, parent: h5py.Group, name: str, value: np.ndarray) -> h5py.Dataset:
        return parent.create_dataset(name, data=value, compression="gzip", compression_opts=1, shuffle=True)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        pass


def image_data(group: h5py.Group) -> tuple[dict, dict]:
    """An image's recordings as ``write_image`` takes them from a run: ``(attributes, data)``, the counts int32."""
    data = {"layers": {}, "output": {}}
    for key, layer in group["layers"].items():
        data["layers"][int(key)] = {"kind": str(layer.attrs["kind"]), "shape": tuple(layer.attrs["shape"]),
                                    "negative_value": float(layer.attrs.get("negative_value", 1.0)),
                                    **{name: read_counts(layer[name][()]) if name in COUNTS else layer[name][()]
                                       for name in layer if name not in LAYER_ATTRIBUTES}}
    for key, output in group["output"].items():
        data["output"][int(key)] = {name: output[name][()] for name in output}
    if "input_events" in group:
        events = group["input_events"]
        data["input_events"] = {"width": events.attrs["width"], "height": events.attrs["height"],
                                "step": events["step"][()], "neuron": events["neuron"][()]}
    return dict(group.attrs), data


def write(path: Path, root: dict, images: list, stored, fed: bool | str, threads: bool) -> tuple[float, float]:
    """Write ``images`` into ``path``: ``(seconds writing, seconds sealing)``."""
    recordings.stored_counts = stored or (lambda counts: counts)
    recordings.DeflatedWriter = DeflatedWriter if threads else HDF5Filters
    writing = sealing = 0.0
    try:
        with open_recordings(path, root) as f:
            digest = GroupDigest(f, "images") if fed else None
            for number, (attrs, data) in enumerate(images):
                started = time.perf_counter()
                name, written = write_image(f, number, attrs, data, digest if fed == "overlapped" else None)
                writing += time.perf_counter() - started
                started = time.perf_counter()
                if fed is True:
                    digest.add(name, written)
                sealing += time.perf_counter() - started
            started = time.perf_counter()
            if fed:
                digest.seal()
            else:
                f.attrs[DIGEST_ATTRIBUTE] = content_digest(f)
            sealing += time.perf_counter() - started
    finally:
        recordings.stored_counts, recordings.DeflatedWriter = stored_counts, DeflatedWriter
    return writing, sealing


def counts_of(path: Path) -> list[np.ndarray]:
    with h5py.File(path, "r") as f:
        return [read_counts(layer[key][()]) for name in sorted(f["images"])
                for _, layer in sorted(f["images"][name]["layers"].items()) for key in SPIKE_COUNTERS]


def main(run_dir: str, rounds: int = 2) -> None:
    with h5py.File(Path(run_dir) / "recordings.h5", "r") as f:
        if f.attrs.get("counts", "neurons") != "neurons":
            sys.exit(f"{run_dir}: recorded with counts per channel; this study writes every neuron's counts")
        root = {key: value for key, value in f.attrs.items()
                if key not in (DIGEST_ATTRIBUTE, "format", "schema_version", "time_step_ms")}
        images = [image_data(f["images"][name]) for name in sorted(f["images"])]
    counts = sum(layer[key].nbytes for _, data in images for layer in data["layers"].values() for key in SPIKE_COUNTERS)
    print(f"{len(images)} images of {run_dir}: {counts / len(images) / 1e6:.1f} MB of int32 counts per image "
          f"({counts} bytes in all)")
    print("| round | way | writing (s per image) | sealing (s per image) | both | file (MB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    same = True
    with tempfile.TemporaryDirectory() as folder:
        for round_number in range(1, rounds + 1):
            both, reference = {}, None
            for way, (stored, fed, threads) in WAYS.items():
                path = Path(folder) / "r.h5"
                writing, sealing = write(path, root, images, stored, fed, threads)
                read = counts_of(path)
                reference = reference or read
                same &= all(np.array_equal(a, b) for a, b in zip(read, reference, strict=True))
                both[way] = (writing + sealing) / len(images)
                print(f"| {round_number} | {way} | {writing / len(images):.3f} | {sealing / len(images):.3f} | "
                      f"{both[way]:.3f} | {path.stat().st_size / 1e6:.1f} |")
                path.unlink()
            before, hdf5 = both["int32, read back"], both["int16, fed"]
            wide, now = both["int16, fed, threads"], both["narrowest, fed, threads (now)"]
            print(f"round {round_number}: before / now = {before / now:.1f}x, {before - now:.3f} s less per image; "
                  f"HDF5's filters / threads = {hdf5 / wide:.2f}x, {hdf5 - wide:.3f} s less per image; "
                  f"int16 / narrowest = {wide / now:.2f}x, {wide - now:.3f} s less per image")
    print("the same counts read back every way:", same)


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))

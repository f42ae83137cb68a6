"""What a recordings file's bytes hold: the stored (compressed) size of its datasets, summed by name over images and
layers, largest first.

    python analysis/overhead/storage.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import h5py


def storage(path: Path) -> Counter:
    """Stored bytes per dataset name (``layers/*/positive_count``, ``output/*/v``...) of a recordings file."""
    sizes = Counter()

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            parts = name.split("/")[2:] if name.startswith("images/") else name.split("/")
            sizes["/".join("*" if part.isdigit() else part for part in parts)] += obj.id.get_storage_size()

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return sizes


def main(run_dirs: list[str]) -> None:
    for run_dir in run_dirs:
        path = Path(run_dir) / "recordings.h5"
        with h5py.File(path, "r") as f:
            counts, images = f.attrs.get("counts", "neurons"), len(f["images"])
        sizes = storage(path)
        print(f"{run_dir}: {images} images, counts per {counts.rstrip('s')}, file {path.stat().st_size / 1e6:.1f} MB, "
              f"datasets {sum(sizes.values()) / 1e6:.1f} MB")
        print("| dataset | MB |")
        print("| --- | ---: |")
        for name, size in sizes.most_common():
            print(f"| {name} | {size / 1e6:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The README's picture from a demo folder: the first scene's ANN-vs-SNN picture beside ``map_vs_steps.png``.

    .venv/bin/brainyolo demo -o demo
    .venv/bin/python analysis/demo/figure.py demo -o analysis/demo/demo.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend


def main(demo: str, output: str) -> Path:
    folder = Path(demo)
    pictures = sorted(folder.glob("*_ann_vs_snn.png"))
    curve = folder / "map_vs_steps.png"
    if not pictures or not curve.is_file():
        raise SystemExit(f"{folder}: no *_ann_vs_snn.png or map_vs_steps.png (is it a demo folder?)")
    left, right = plt.imread(pictures[0]), plt.imread(curve)
    widths = [left.shape[1] / left.shape[0], right.shape[1] / right.shape[0]]
    figure, axes = plt.subplots(1, 2, figsize=(4 * sum(widths), 4), gridspec_kw={"width_ratios": widths})
    for axis, image in zip(axes, (left, right), strict=True):
        axis.imshow(image)
        axis.axis("off")
    figure.tight_layout()
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("demo", help="a folder written by brainyolo demo")
    parser.add_argument("-o", "--output", default=str(Path(__file__).parent / "demo.png"))
    args = parser.parse_args()
    print(main(args.demo, args.output))

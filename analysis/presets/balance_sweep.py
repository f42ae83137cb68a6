"""Which balancing settings should ``brainyolo convert`` use? Agreement with the ANN on COCO *train*
images that neither calibration nor balancing sees (train2017 images 97-128 of ../shared), so that the
choice is never tuned on the val images the results are reported on.

    python analysis/presets/balance_sweep.py OUT NAME=KEY:VALUE,... [NAME=...]

Each NAME converts yolov3-tiny with :class:`brainyolo.convert.balancing.BalanceSettings` changed by its
``KEY:VALUE`` pairs (``calib`` sets the calibration image count, 16 by default, which must hold the
balancing images), then runs ``brainyolo detect`` (ANN, and SNN with the default preset at ``--steps 64
--checkpoints 25,32,50``) on the 32 tuning images and prints the agreement at every checkpoint and the
synaptic events per image. ``base`` alone is the default conversion.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from brainyolo.convert.balancing import BalanceSettings
from brainyolo.convert.conversion import convert_darknet
from brainyolo.convert.model_file import save_model

SHARED = Path(__file__).resolve().parents[3] / "shared"
CFG = SHARED / "models/yolov3-tiny/yolov3-tiny.cfg"
WEIGHTS = SHARED / "models/yolov3-tiny/yolov3-tiny.weights"
TRAIN = sorted((SHARED / "data/coco-train2017-first128/images").glob("*.jpg"))
TUNING = TRAIN[96:128]


def parse(spec: str) -> tuple[str, int, BalanceSettings]:
    name, _, pairs = spec.partition("=")
    calib, changes = 16, {}
    for pair in filter(None, pairs.split(",")):
        key, _, value = pair.partition(":")
        if key == "calib":
            calib = int(value)
        else:
            kind = type(getattr(BalanceSettings(), key))
            changes[key] = kind(value)
    return name, calib, dataclasses.replace(BalanceSettings(), **changes)


def main(out: str, *specs: str) -> None:
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    photos = [str(p) for p in TUNING]
    here = Path(__file__).parent
    for spec in specs:
        name, calib, settings = parse(spec)
        folder = root / name
        folder.mkdir(exist_ok=True)
        model = folder / "model.h5"
        if not model.exists():
            save_model(convert_darknet(CFG, WEIGHTS, TRAIN[:calib], progress=False, balance=settings), model)
        if not (folder / "ann").exists():
            subprocess.run(["brainyolo", "detect", str(model), *photos, "--threshold", "0.005", "-o",
                            str(folder / "ann"), "-q"], check=True)
        if not (folder / "snn").exists():
            subprocess.run(["brainyolo", "detect", str(model), *photos, "--mode", "snn", "--threshold", "0.005",
                            "--steps", "64", "--checkpoints", "25,32,50", "-o", str(folder / "snn"), "-q"],
                           check=True)
        print(f"== {name}: calibration {calib} images, {settings}", flush=True)
        subprocess.run([sys.executable, str(here / "agreement.py"), str(folder / "ann"), str(folder / "snn"),
                        *photos], check=True)


if __name__ == "__main__":
    main(*sys.argv[1:])

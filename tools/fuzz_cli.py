"""Out-of-process mutation fuzzer of every reader: the installed ``brainyolo`` command, as a user runs it.

The in-suite fuzz tests (tests/io/test_fuzz.py) call the command line in-process; this tool runs the
real executable in a subprocess per case, with a time limit, and reads its exit status and stderr
exactly as a user sees them (warnings and stray lines included). Each case mutates one valid file
(cfg, weights, model file, image, recordings, neuron file, run file; bytes or HDF5 structure) and
feeds it to a command that reads it (convert, detect, simulate, decode, analyze, check). A case
passes when the command succeeds, or prints exactly one line ``brainyolo: error: ...`` with exit
status 2 and leaves no output behind.

    .venv/bin/python tools/fuzz_cli.py --cases 400 --seed 7        (about 10 minutes on 2 cores)

Prints every failing case and a tally per (file kind, command, outcome); exit status 1 if any failed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from conftest import FUZZ_CFG, run_cli, write_images, write_random_model  # noqa: E402
from test_fuzz import HDF5_SPECIALS, SPECIAL_NUMBERS, mutate_bytes, mutate_hdf5, mutate_text  # noqa: E402

BINARY = Path(sys.executable).parent / "brainyolo"


def make_seeds(root: Path) -> dict:
    """Valid inputs of every kind (as the suite's ``corpus`` fixture makes them)."""
    from brainyolo.convert.model_file import save_model
    from brainyolo.pipeline import convert_darknet

    cfg, weights = write_random_model(FUZZ_CFG, root / "darknet", names=["thing"])
    images = write_images(root / "images", 2, size=(24, 20))
    save_model(convert_darknet(cfg, weights, images, progress=False), root / "model.h5")
    code, _, stderr = run_cli(["simulate", str(root / "model.h5"), str(images[0]), str(images[1]), "--steps", "6",
                               "--checkpoints", "2,4", "--device", "runtime", "-q", "-o", str(root / "run")])
    if code:
        raise SystemExit(f"seed simulation failed: {stderr}")
    return {"cfg": cfg, "weights": weights, "images": images, "model": root / "model.h5", "run": root / "run",
            "neuron": REPO / "equations" / "lif_signed_ibt.toml", "run_file": REPO / "runs" / "table1-ablation.toml"}


def case(rng: random.Random, seeds: dict, tmp: Path) -> tuple[str, list[str], Path]:
    """One mutated input and the command that reads it: (kind, argv, output path)."""
    def byte_edits():
        return [(rng.choice(["flip", "set", "insert", "delete", "truncate"]), rng.random(), rng.randrange(256))
                for _ in range(rng.randint(1, 4))]

    def line_edits():
        return [(rng.choice(["drop", "repeat", "swap", "number", "value", "garbage", "utf8"]), rng.random(),
                 rng.choice(SPECIAL_NUMBERS)) for _ in range(rng.randint(1, 4))]

    def h5_edits():
        return [(rng.choice(["del_attr", "set_attr", "del_node", "set_data", "reshape", "nan"]), rng.random(),
                 rng.randrange(len(HDF5_SPECIALS))) for _ in range(rng.randint(1, 3))]

    out = tmp / "out"
    image = str(seeds["images"][0])
    kind = rng.choice(["cfg", "weights", "model", "model-h5", "image", "recordings", "recordings-h5", "neuron",
                       "neuron-simulate", "run"])
    if kind in ("cfg", "weights"):
        cfg, weights = tmp / "m.cfg", tmp / "m.weights"
        cfg.write_bytes(mutate_text(seeds["cfg"].read_text(), line_edits()) if kind == "cfg"
                        else seeds["cfg"].read_bytes())
        weights.write_bytes(mutate_bytes(seeds["weights"].read_bytes(), byte_edits()) if kind == "weights"
                            else seeds["weights"].read_bytes())
        return kind, ["convert", "--cfg", str(cfg), "--weights", str(weights), "--calib",
                      str(seeds["images"][0].parent), "-o", str(out / "m.h5")], out
    if kind.startswith("model"):
        model = tmp / "m.h5"
        if kind == "model":
            model.write_bytes(mutate_bytes(seeds["model"].read_bytes(), byte_edits()))
        else:
            shutil.copy(seeds["model"], model)
            mutate_hdf5(model, h5_edits(), rng.random() < 0.3)
        return kind, rng.choice([["detect", str(model), image, "-o", str(out)],
                                 ["simulate", str(model), image, "--steps", "3", "--device", "runtime", "-o",
                                  str(out)]]), out
    if kind == "image":
        picture = tmp / "i.png"
        picture.write_bytes(mutate_bytes(seeds["images"][1].read_bytes(), byte_edits()))
        return kind, ["detect", str(seeds["model"]), str(picture), "-o", str(out)], out
    if kind.startswith("recordings"):
        run = tmp / "run"
        run.mkdir()
        recordings = run / "recordings.h5"
        if kind == "recordings":
            recordings.write_bytes(mutate_bytes((seeds["run"] / "recordings.h5").read_bytes(), byte_edits()))
        else:
            shutil.copy(seeds["run"] / "recordings.h5", recordings)
            mutate_hdf5(recordings, h5_edits(), rng.random() < 0.3)
        return kind, rng.choice([["decode", str(run), "--model", str(seeds["model"]), "-o", str(out)],
                                 ["analyze", str(run), "--images", str(seeds["images"][0].parent), "-o",
                                  str(out)]]), out
    if kind.startswith("neuron"):
        neuron = tmp / "n.toml"
        neuron.write_bytes(mutate_text(seeds["neuron"].read_text(), line_edits()))
        if kind == "neuron":
            return kind, ["check", str(neuron)], out
        return kind, ["simulate", str(seeds["model"]), image, "--steps", "3", "--device", "runtime", "--neuron",
                      str(neuron), "-o", str(out)], out
    run_file = tmp / "r.toml"
    run_file.write_bytes(mutate_text(seeds["run_file"].read_text(), line_edits()))
    return kind, ["check", str(run_file)], out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=int, default=120, help="seconds before a case counts as a hang")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tally: dict[tuple, int] = {}
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        seeds = make_seeds(Path(root))
        for _ in range(args.cases):
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                kind, argv, out = case(rng, seeds, tmp)
                try:
                    done = subprocess.run([str(BINARY), *argv], capture_output=True, text=True,
                                          timeout=args.timeout)
                    code, stderr = done.returncode, done.stderr
                except subprocess.TimeoutExpired:
                    code, stderr = "hang", ""
                lines = [line for line in stderr.strip().splitlines() if line.strip()]
                clean = (code == 0 and "Traceback" not in stderr) or (
                    code == 2 and len(lines) == 1 and lines[0].startswith("brainyolo: error: ")
                    and not out.exists() and not list(tmp.glob(".*.tmp")))
                key = (kind, argv[0], code if clean else "FAILED")
                tally[key] = tally.get(key, 0) + 1
                if not clean:
                    failures += 1
                    print(f"FAILED {kind} {' '.join(argv[:1])}: exit {code}: {stderr[-800:]!r}", flush=True)
    for key in sorted(tally, key=str):
        print(*key, tally[key])
    print(f"{args.cases} cases, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""``brainyolo compare``."""

from __future__ import annotations

from pathlib import Path

from brainyolo.cli.options import existing, ground_truth, positive_int, truth_options
from brainyolo.io.errors import BrainyoloError


def add_parser(commands) -> None:
    p = commands.add_parser("compare", help="is one configuration's mAP@0.5 above another's beyond image noise?",
                            description="Paired bootstrap over the images of two detectors' mAP@0.5 difference, "
                                        "from a run's (or an SNN evaluation's) per-image results: A and B are "
                                        "CONFIG@STEP (a configuration folder and a checkpoint) or ANN.")
    p.add_argument("run_dir", help="brainyolo run's output folder (or evaluate --mode snn's, CONFIG '.')")
    p.add_argument("a", help="CONFIG@STEP or ANN")
    p.add_argument("b", help="CONFIG@STEP or ANN")
    p.add_argument("--images", required=True, help="folder of the evaluated images")
    truth_options(p, voc=False)
    p.add_argument("--model", help="model file for the class names (default: RUN_DIR/model.h5)")
    p.add_argument("--resamples", type=positive_int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument("--seed", type=int, default=0, help="resampling seed")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.ann.letterbox import list_images
    from brainyolo.convert.model_file import load_model
    from brainyolo.experiments.experiment import configuration_records
    from brainyolo.readout.evaluation import paired_bootstrap

    run_dir = existing(args.run_dir)
    names = load_model(existing(args.model or Path(run_dir) / "model.h5")).graph.class_names
    (label_a, a, files_a), (label_b, b, files_b) = (configuration_records(run_dir, s) for s in (args.a, args.b))
    common = sorted(set(files_a) & set(files_b))
    if not common:
        raise BrainyoloError(run_dir, f"{label_a} and {label_b} share no image")
    paths = [p for p in list_images(existing(args.images)) if p.name in set(common)]
    if len(paths) != len(common):
        raise BrainyoloError(args.images, f"lacks {len(common) - len(paths)} of the compared images")
    truths = ground_truth(args, paths, names)
    result = paired_bootstrap(truths, a, b, len(names), args.resamples, args.seed)
    verdict = "within the images' noise" if result["low"] <= 0 <= result["high"] else "beyond the images' noise"
    print(f"{label_a} - {label_b}: mAP@0.5 {result['difference']:+.4f} (95 % interval {result['low']:+.4f} .. "
          f"{result['high']:+.4f}, {args.resamples} paired bootstrap resamples of {len(paths)} images): {verdict}")
    return 0

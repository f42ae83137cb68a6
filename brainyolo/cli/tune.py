"""``brainyolo tune``."""

from __future__ import annotations

from brainyolo.cli.options import (
    MODEL_HELP,
    existing,
    farm,
    farm_options,
    model_file,
    positive_int,
    refuse_evaluation_images,
    simulation_options,
    simulation_settings,
    tuning_image_options,
)
from brainyolo.io.errors import BrainyoloError


def add_parser(commands) -> None:
    p = commands.add_parser("tune", help="threshold balancing by Bayesian optimization (accuracy vs synaptic events)",
                            description="Search per-layer neuron parameters (thresholds; --space adds v_init and "
                                        "two-phase thresholds) with optuna's multi-objective TPE sampler: accuracy "
                                        "at step T (agreement AP@0.5 with the ANN's own detections, or mAP@0.5 with "
                                        "--labels) against synaptic events per image. Every trial runs the compiled "
                                        "network; the study (TUNE_DIR/study.db) resumes where it stopped. Writes "
                                        "params.toml (for --params), trials.csv, pareto.png, summary.json.")
    p.add_argument("model", help=MODEL_HELP)
    tuning_image_options(p, "the first N tuning images")
    p.add_argument("--labels", help="ground truth of the tuning images (a folder of YOLO labels or a COCO "
                                    "instances .json): score mAP@0.5 instead of the agreement")
    p.add_argument("--trials", type=positive_int, required=True, help="trials in all (a resumed study counts its "
                                                                       "finished ones)")
    p.add_argument("--space", default="thresholds",
                   help="comma-separated: thresholds (per layer), relative (per layer, a factor of the run's own v_th, "
                        "e.g. the fast preset's balanced ones) or scale (one v_th for all layers); init, two_phase")
    p.add_argument("--pick", choices=("frugal", "accuracy"), default="frugal",
                   help="frugal: fewest events within --keep of the best accuracy; accuracy: the most accurate")
    p.add_argument("--keep", type=float, default=0.98, help="fraction of the best accuracy kept by --pick frugal")
    p.add_argument("--seed", type=int, default=2021, help="sampler seed")
    simulation_options(p, decode=True, records=False)
    farm_options(p, "the trials (one per worker at a time)")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="tuning folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.convert.model_file import load_model
    from brainyolo.convert.tuning import TuneSettings, run_tune, tuning_images

    if args.events:
        raise BrainyoloError(None, "tune searches on images: --events is for simulate, detect and evaluate")
    model_path = model_file(args.model)
    model = load_model(model_path)
    if model.direct and not args.labels:
        raise BrainyoloError(model_path, "is a directly trained spiking network: it has no ANN to agree with "
                                         "(tune it against ground truth with --labels)")
    folder, paths = tuning_images(model, args.images, args.count)
    refuse_evaluation_images(folder, paths, args.evaluation_images)
    labels = existing(args.labels) if args.labels else None
    settings = simulation_settings(args, model)  # (run_tune checks the search space)
    tune = TuneSettings(steps=settings.steps, trials=args.trials, space=tuple(args.space.split(",")),
                        pick=args.pick, keep=args.keep, seed=args.seed)
    summary = run_tune(model_path, paths, tune, settings, args.output_dir, labels, progress=not args.quiet,
                       farm=farm(args), decode=settings.decode)
    chosen, base = summary["chosen"], summary["baseline"]
    print(f"{summary['trials']} trials on {len(paths)} images of {folder}, {settings.steps} steps: chosen trial "
          f"{summary['chosen_trial']}: {summary['metric']} {chosen['accuracy']:.4f} (baseline {base['accuracy']:.4f}), "
          f"{chosen['events_per_image']:.4g} synaptic events per image ({summary['events_ratio']:.2f}x the "
          f"baseline's) -> {args.output_dir}/params.toml, trials.csv, pareto.png")
    return 0

"""``brainyolo evaluate``."""

from __future__ import annotations

from pathlib import Path

from brainyolo.cli.options import (
    MODEL_HELP,
    event_settings,
    existing,
    farm,
    farm_options,
    ground_truth,
    model_file,
    no_ann_of_direct,
    positive_int,
    simulation_options,
    simulation_settings,
    truth_options,
)
from brainyolo.io.errors import BrainyoloError


def add_parser(commands) -> None:
    p = commands.add_parser("evaluate", help="mAP of a model on a labelled image folder (ANN, SNN)",
                            description="Evaluate with pycocotools (and VOC AP with --voc); writes "
                                        "OUT_DIR/metrics.json and the detections. --mode snn adds the SNN's "
                                        "mAP at every checkpoint; per-image results are kept as each image "
                                        "finishes, so an interrupted evaluation resumes where it stopped.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--images", required=True, help="folder of images (with --events: of Gen1 pairs)")
    truth_options(p, events=True)
    p.add_argument("--count", type=positive_int, help="evaluate the first N images only")
    p.add_argument("--mode", choices=("ann", "snn"), default="ann")
    simulation_options(p, decode=True, records=False)
    farm_options(p, "the SNN's images")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from tqdm import tqdm

    from brainyolo.ann.letterbox import list_images
    from brainyolo.convert.model_file import load_model
    from brainyolo.io.atomic import staged_directory, write_json
    from brainyolo.pipeline import ann_detections, evaluate_snn
    from brainyolo.readout.decoding import write_detections
    from brainyolo.readout.evaluation import score
    from brainyolo.system.timing import stage

    model_path = model_file(args.model)
    model = load_model(model_path)
    names = model.graph.class_names
    if args.events:
        from brainyolo.spiking.event_encoding import event_samples

        paths = event_samples(existing(args.images))
        if args.workers or args.scheduler:
            raise BrainyoloError(None, "--events runs on this machine: --workers/--scheduler take image folders")
    else:
        paths = list_images(existing(args.images))
    if args.count:
        paths = paths[:args.count]
    if not paths:
        raise BrainyoloError(args.images, "holds no Gen1 pairs with boxes" if args.events else "holds no images")
    no_ann_of_direct(model, model_path, args.mode)
    settings = simulation_settings(args, model) if args.mode == "snn" else None
    truths = ground_truth(args, paths, names)

    def scores(records):
        with stage("scoring"):
            return score(truths, records, len(names), voc=bool(args.voc))

    records = []
    progress = tqdm(ann_detections(model.graph, paths, events=event_settings(args)) if not model.direct else [],
                    total=len(paths), desc="ANN",
                    unit="image", disable=True if args.quiet or model.direct else None)
    with stage("ANN (scores)"):
        for path, detections in progress:
            records += detections.records(path.name, names)
    metrics = {"ann": None if model.direct else scores(records), "images": len(paths)}
    if args.mode == "snn":
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        snn_records = evaluate_snn(model_path, paths, settings, out, settings.decode, progress=not args.quiet,
                                   farm=farm(args))
        metrics["snn"] = {str(step): scores(recs) for step, recs in snn_records.items()}
        metrics["snn_settings"] = {"preset": settings.preset, "steps": settings.steps, "decode": settings.decode,
                                   "neuron": model.spiking.neuron if model.direct else settings.build.neuron,
                                   "schedule": settings.build.schedule, "thresholds": settings.thresholds,
                                   "normalization": settings.build.normalization or model.normalization,
                                   "input": settings.build.input,
                                   "events": args.events, "window_ms": args.window_ms if args.events else None,
                                   "bins": args.bins if args.events else None}
        with stage("writing"):
            write_json(out / "detections_ann.json", records)
            write_detections(out, snn_records)
            write_json(out / "metrics.json", metrics)
    else:
        with stage("writing"), staged_directory(args.output_dir) as folder:
            write_json(folder / "detections_ann.json", records)
            write_json(folder / "metrics.json", metrics)
    ann = metrics["ann"]
    if ann is not None:
        print(f"ANN on {len(paths)} images: mAP@0.5 = {ann['mAP50']:.4f}, mAP@[.5:.95] = {ann['mAP']:.4f}"
              + (f", VOC07 mAP = {ann['mAP_voc07']:.4f}" if args.voc else ""))
    for step, m in metrics.get("snn", {}).items():
        ratio = ("directly trained" if ann is None else
                 f"{m['mAP50'] / ann['mAP50']:6.1%} of the ANN" if ann["mAP50"] > 0 else "ANN at 0")
        print(f"SNN {int(step):6d} steps: mAP@0.5 = {m['mAP50']:.4f} ({ratio}), mAP@[.5:.95] = {m['mAP']:.4f}")
    print(f"-> {args.output_dir}/metrics.json")
    return 0

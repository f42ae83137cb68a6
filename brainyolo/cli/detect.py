"""``brainyolo detect``."""

from __future__ import annotations

from brainyolo.cli.options import (
    MODEL_HELP,
    event_settings,
    existing,
    model_file,
    no_ann_of_direct,
    samples,
    simulation_options,
    simulation_settings,
)


def add_parser(commands) -> None:
    p = commands.add_parser("detect", help="detections of a model on images (ANN or SNN)",
                            description="Detect objects; writes OUT_DIR/detections.json and annotated pictures. "
                                        "--mode snn simulates the spiking network (OUT_DIR/run/), decodes the "
                                        "output layer at every checkpoint (OUT_DIR/checkpoints/) and draws ANN "
                                        "and SNN side by side.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--mode", choices=("ann", "snn"), default="ann",
                   help="ann: the numpy reference network; snn: the Brian2 spiking network")
    p.add_argument("--threshold", type=float, default=0.25, help="score threshold (default 0.25)")
    p.add_argument("--show-threshold", type=float, default=0.25,
                   help="smallest score drawn on the pictures (default 0.25)")
    simulation_options(p, decode=True)
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.analysis.annotated import draw_detections
    from brainyolo.convert.model_file import load_model
    from brainyolo.io.atomic import staged_directory, write_json
    from brainyolo.pipeline import ann_detections, sample_picture, snn_detect

    model_path = model_file(args.model)
    model = load_model(model_path)
    paths = samples(args, [existing(p) for p in args.images])
    no_ann_of_direct(model, model_path, args.mode)
    if args.mode == "snn":
        settings = simulation_settings(args, model)
        with staged_directory(args.output_dir) as stage:
            records = snn_detect(model_path, paths, settings, stage, settings.decode, args.threshold,
                                 args.show_threshold, progress=not args.quiet)
        last = max(records)
        print(f"{len(records[last])} detections in {len(paths)} images after {last} steps ({settings.decode} "
              f"read-out; checkpoints {', '.join(map(str, records))}) -> {args.output_dir}/detections.json")
        return 0
    records, events = [], event_settings(args)
    with staged_directory(args.output_dir) as stage:
        for path, detections in ann_detections(model.graph, paths, args.threshold, events):
            records += detections.records(path.name, model.graph.class_names)
            draw_detections(sample_picture(path, events), detections, model.graph.class_names,
                            stage / f"{path.stem}_ann.png", args.show_threshold, "ANN")
        write_json(stage / "detections.json", records)
    print(f"{len(records)} detections in {len(paths)} images -> {args.output_dir}/detections.json")
    return 0

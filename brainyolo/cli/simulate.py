"""``brainyolo simulate``."""

from __future__ import annotations

from brainyolo.cli.options import MODEL_HELP, existing, model_file, samples, simulation_options, simulation_settings


def add_parser(commands) -> None:
    p = commands.add_parser("simulate", help="run a model as a Brian2 spiking network",
                            description="Simulate the converted model as signed IF neurons in Brian2; writes "
                                        "RUN_DIR/recordings.h5 and RUN_DIR/run_info.json.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("images", nargs="+", help="image files")
    simulation_options(p, decode=False)
    p.add_argument("-o", "--output-dir", required=True, help="run directory")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.ann.letterbox import load_image
    from brainyolo.convert.model_file import load_model
    from brainyolo.detector import simulate
    from brainyolo.io.atomic import staged_directory

    model = model_file(args.model)
    converted = load_model(model)  # checked before anything is built or written
    images = samples(args, [existing(p) for p in args.images])
    if not args.events:
        for image in images:
            load_image(image)
    settings = simulation_settings(args, converted)
    with staged_directory(args.output_dir) as stage:
        info = simulate(model, images, settings, stage, progress=not args.quiet)
    print(f"{len(images)} images x {settings.steps} steps on {args.device}: build {info['build_seconds']:.1f} s, "
          f"run {info['run_seconds']:.1f} s ({info['ms_per_step']:.1f} ms/step), "
          f"{info['synaptic_events']:.3g} synaptic events -> {args.output_dir}/recordings.h5")
    return 0

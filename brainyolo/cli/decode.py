"""``brainyolo decode``."""

from __future__ import annotations

from brainyolo.cli.options import existing


def add_parser(commands) -> None:
    p = commands.add_parser("decode", help="detections from a run directory's recordings",
                            description="Decode RUN_DIR/recordings.h5 offline: output-layer V (vmem) or net spike "
                                        "counts (spikes) at every checkpoint -> OUT_DIR/detections.json (last "
                                        "step) and OUT_DIR/checkpoints/detections_t{STEP}.json.")
    p.add_argument("run_dir", help="run directory of 'brainyolo simulate'")
    p.add_argument("--decode", choices=("vmem", "spikes", "vmem-late"), default="vmem",
                   help="read-out (default vmem)")
    p.add_argument("--model", help="the run's model file, if it moved")
    p.add_argument("--threshold", type=float, default=0.005, help="score threshold (default 0.005)")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.io.atomic import staged_directory
    from brainyolo.readout.decoding import decode_run, write_detections

    run_dir = existing(args.run_dir)
    records, _ = decode_run(run_dir, args.decode, args.model, args.threshold)
    with staged_directory(args.output_dir) as stage:
        write_detections(stage, records)
    last = max(records)
    print(f"decoded {run_dir} ({args.decode}): {len(records[last])} detections after {last} steps, "
          f"{len(records)} checkpoints -> {args.output_dir}")
    return 0

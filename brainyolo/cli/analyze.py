"""``brainyolo analyze``."""

from __future__ import annotations

from brainyolo.cli.options import existing


def add_parser(commands) -> None:
    p = commands.add_parser("analyze", help="figures and tables from recorded runs (Spiking-YOLO Figs. 1-9, Table 2)",
                            description="Firing rates, rasters, mAP vs time steps, detections over time, energy "
                                        "and population statistics from run directories (or experiment / demo "
                                        "folders); each figure as PNG with its data as CSV or JSON.")
    p.add_argument("inputs", nargs="+", help="run directories, experiment folders (brainyolo run) or demo folders")
    p.add_argument("--layer", type=int, help="convolution for Figs. 3-5 (default: the second hidden one)")
    p.add_argument("--channel", type=int, help="channel for Fig. 3 (default: the one layer-norm starves most)")
    p.add_argument("--images", help="folder holding the runs' pictures (Fig. 8), if not found by itself")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.analysis.spikes import analyze

    index = analyze([existing(p) for p in args.inputs], args.output_dir, args.layer, args.channel, args.images,
                    progress=not args.quiet)
    made = [f for f in index["figures"].values() if f]
    print(f"{len(made)} figures ({', '.join(k for k, f in index['figures'].items() if f)}), table 2, population "
          f"statistics for layer {index['layer']} channel {index['channel']} -> {args.output_dir}")
    for note in index.get("notes", []):
        print(f"note: {note}")
    return 0

"""``brainyolo fetch``."""

from __future__ import annotations


def add_parser(commands) -> None:
    p = commands.add_parser("fetch", help="download a real Darknet model (sha256-checked)",
                            description="Download cfg, weights and class names from the official addresses; "
                                        "every file's sha256 is checked before it is saved.")
    p.add_argument("model_name", choices=("yolov3-tiny", "yolov2-tiny-voc", "yolov2-tiny"))
    p.add_argument("--mirror", help="URL prefix holding the same file names, instead of the official addresses")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="output folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.data.fetch import fetch

    for entry in fetch(args.model_name, args.output_dir, args.mirror, progress=not args.quiet):
        pinned = "verified" if entry["pinned"] else "NOT PINNED (no published value known): record it"
        print(f"{entry['file']}  sha256 {entry['sha256']}  {pinned}")
    return 0

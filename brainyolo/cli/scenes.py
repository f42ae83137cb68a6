"""``brainyolo scenes``."""

from __future__ import annotations

from pathlib import Path

from brainyolo.cli.options import annotation_ms, positive_int
from brainyolo.io.errors import BrainyoloError


def add_parser(commands) -> None:
    p = commands.add_parser("scenes", help="write generated scenes with YOLO labels (fresh test data)",
                            description="The seeded scene generator the demo, calibration and training use: "
                                        "DIR/images/sceneNNNN.png, DIR/labels/sceneNNNN.txt (class cx cy w h, "
                                        "normalized) and DIR/classes.names. The same seed gives the same scenes.")
    p.add_argument("--count", type=positive_int, required=True, help="number of scenes")
    p.add_argument("--seed", type=int, required=True, help="generator seed (training used 7; pick another)")
    p.add_argument("--events", action="store_true",
                   help="moving scenes seen by an emulated event camera (brainyolo.data.dvs): DIR/sceneNNNN_td.dat "
                        "(Prophesee DAT events) and DIR/sceneNNNN_bbox.npy (Gen1 boxes), Gen1's layout")
    p.add_argument("--annotation-ms", type=annotation_ms, default=250.0,
                   help="with --events: the time of the boxes; the events run from 0 to it (default 250)")
    p.add_argument("-o", "--output", dest="output_dir", required=True, help="a new or empty folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.data import scenes
    from brainyolo.io.atomic import staged_directory

    out = Path(args.output_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BrainyoloError(out, "is not an empty folder: scenes go into a new or empty one (never mixed "
                                  "with other scenes)")
    if args.events:
        from brainyolo.data.moving_scenes import SENSOR, write_event_scenes

        with staged_directory(out) as stage:
            write_event_scenes(stage, args.count, args.seed, (args.annotation_ms,))
        print(f"{args.count} event scenes (seed {args.seed}, {SENSOR[0]}x{SENSOR[1]} sensor, boxes at "
              f"{args.annotation_ms:g} ms): {out}/sceneNNNN_td.dat + sceneNNNN_bbox.npy (Gen1 layout), "
              f"class names in {out / 'classes.names'}")
        return 0
    with staged_directory(out) as stage:
        scenes.write_scenes(stage, args.count, args.seed)
        (stage / "classes.names").write_text("\n".join(scenes.CLASS_NAMES) + "\n")
    print(f"{args.count} scenes (seed {args.seed}): {out / 'images'}, YOLO labels in {out / 'labels'}, "
          f"class names in {out / 'classes.names'}")
    return 0

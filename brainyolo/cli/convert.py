"""``brainyolo convert``."""

from __future__ import annotations

import argparse
import time

from brainyolo.cli.options import existing, percentile, positive_int


def add_parser(commands) -> None:
    p = commands.add_parser("convert", help="Darknet cfg + weights + calibration -> model.h5",
                            description="Fold batch-norm, measure activation percentiles on "
                                        "calibration images, write the HDF5 model file.")
    p.add_argument("--cfg", required=True, help="Darknet .cfg")
    p.add_argument("--weights", required=True, help="Darknet .weights")
    p.add_argument("--names", help="class names file (default: a *.names beside the cfg)")
    p.add_argument("--calib", required=True, help="folder of calibration (training) images")
    p.add_argument("--calib-count", type=positive_int, help="use the first N images (by name)")
    p.add_argument("--norm", choices=("channel", "layer"), default="channel",
                   help="normalization (default: channel)")
    p.add_argument("--percentile", type=percentile, default=99.9,
                   help="lambda percentile in (0, 100] (default: 99.9)")
    p.add_argument("--balance-channels", action=argparse.BooleanOptionalAction, default=True,
                   help="also balance each layer's channels (the default): a threshold per channel, ~ (C_c/e_c)^(1/3) "
                        "of the events its spikes cause and of the squared weights that read it, at the layer's own "
                        "events (on the first 16 calibration images; stored in the model file as factors on lambda, "
                        "which runs apply with --norm channel-balanced, as the short preset does)")
    p.add_argument("-o", "--output", required=True, help="model file to write (.h5)")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.convert.balancing import BalanceSettings
    from brainyolo.convert.conversion import calibration_images, convert_darknet
    from brainyolo.convert.model_file import save_model

    cfg, weights = existing(args.cfg), existing(args.weights)
    images = calibration_images(existing(args.calib), args.calib_count)
    started = time.perf_counter()
    model = convert_darknet(cfg, weights, images, args.norm, args.percentile, args.names,
                            calibration_source=args.calib, progress=not args.quiet,
                            balance=BalanceSettings(channels=args.balance_channels))
    save_model(model, args.output)
    print(f"wrote {args.output}: {len(model.graph.layers)} layers, {args.norm}-norm, "
          f"lambda = p{args.percentile:g} of {len(images)} calibration images "
          f"({time.perf_counter() - started:.1f} s)")
    return 0

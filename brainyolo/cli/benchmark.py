"""``brainyolo benchmark``."""

from __future__ import annotations

from brainyolo.cli.options import positive_int, precision_options


def add_parser(commands) -> None:
    p = commands.add_parser("benchmark", help="speed and memory figures",
                            description="ANN: numpy forward vs OpenCV, calibration memory vs images. "
                                        "conv: weight-shared vs unrolled conv layer. snn: whole network. scatter: "
                                        "whole network, the convolutions' auto summation order against row "
                                        "bands only, in turn. busy: beside a busy process. profile: per layer.")
    p.add_argument("--cfg", help="Darknet cfg (default: ../shared yolov3-tiny if present)")
    p.add_argument("--weights", help="Darknet weights")
    p.add_argument("--images", help="folder of images (default: ../shared calibration set)")
    p.add_argument("--repeat", type=positive_int, default=10, help="timed forward passes")
    p.add_argument("--threads", type=positive_int, default=2, help="BLAS / OpenCV / OpenMP threads")
    p.add_argument("--only", help="comma-separated parts: ann, conv, snn, scatter, busy, profile (default: all)")
    p.add_argument("--conv-size", type=positive_int, default=52, help="map size of the conv comparison")
    p.add_argument("--conv-steps", type=positive_int, default=200, help="steps of the conv comparison")
    p.add_argument("--snn-steps", type=positive_int, default=100, help="steps of the whole-network run")
    p.add_argument("--snn-repeat", type=positive_int, default=2,
                   help="runs of each of the two images through the compiled network (scatter: timed "
                        "runs of each order)")
    precision_options(p, "whole network")
    p.add_argument("--synapse", default="instant", help="snn: the synapse file of every convolution (default instant)")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.analysis.benchmark import run_benchmark

    run_benchmark(args)
    return 0

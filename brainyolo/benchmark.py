"""``brainyolo benchmark``: speed and memory figures, printed side by side.

* ANN forward time per image: brainyolo's numpy reference vs OpenCV's Darknet importer, same
  model, same letterboxed input, same thread count, one process.
* Calibration peak memory (tracemalloc, which sees numpy's buffers) for 16 and for 128 images.

Figures, not pass/fail: the goals are in the README and the issue notes.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _set_threads(threads: int) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # BLAS (numpy) threads; OpenCV's are set with cv2.setNumThreads


def _time(function, repeat: int) -> tuple[float, float]:
    function()  # warm-up (page faults, BLAS buffers)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), min(samples)


def run_benchmark(args) -> None:
    from brainyolo.calibration import calibrate
    from brainyolo.darknet import load_darknet
    from brainyolo.errors import BrainyoloError
    from brainyolo.images import letterbox, list_images, load_image
    from brainyolo.reference import head_maps

    _set_threads(args.threads)
    cfg = Path(args.cfg) if args.cfg else SHARED / "models/yolov3-tiny/yolov3-tiny.cfg"
    weights = Path(args.weights) if args.weights else SHARED / "models/yolov3-tiny/yolov3-tiny.weights"
    images = Path(args.images) if args.images else SHARED / "data/coco-train2017-first128/images"
    for path in (cfg, weights, images):
        if not path.exists():
            raise BrainyoloError(path, "not found (pass --cfg/--weights/--images, or put ../shared "
                                       "beside the checkout)")
    graph = load_darknet(cfg, weights).folded_graph()
    paths = list_images(images)
    _, height, width = graph.input_shape
    chw, _ = letterbox(load_image(paths[0]), width, height)
    print(f"model {cfg.name} {width}x{height}, {args.threads} threads, {args.repeat} timed runs")
    ours, ours_best = _time(lambda: head_maps(graph, chw), args.repeat)
    line = f"ANN forward per image   numpy {ours:7.1f} ms (best {ours_best:.1f})"
    try:
        import cv2

        cv2.setNumThreads(args.threads)
        net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        outputs = net.getUnconnectedOutLayersNames()

        def opencv_forward():
            net.setInput(chw[None])
            net.forward(outputs)

        theirs, theirs_best = _time(opencv_forward, args.repeat)
        line += f" | OpenCV {theirs:7.1f} ms (best {theirs_best:.1f}) | ratio {ours / theirs:.2f}x " \
                f"(goal <= 1.5x)"
    except ImportError:
        line += " | OpenCV not installed (pip install 'brainyolo[bench]')"
    print(line)
    peaks = {}
    for count in (16, 128):
        subset = paths[:count]
        tracemalloc.start()
        start = time.perf_counter()
        calibrate(graph, subset, progress=False)
        seconds = time.perf_counter() - start
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"calibration {len(subset):4d} images  peak {peaks[count] / 2**20:7.1f} MiB  "
              f"{seconds / len(subset) * 1e3:6.0f} ms/image")
    print(f"calibration memory 128 vs 16 images: {peaks[128] / peaks[16]:.3f}x (flat = 1.0)")

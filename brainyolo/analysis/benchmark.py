"""``brainyolo benchmark``: speed and memory figures, printed side by side.

* ``ann``: ANN forward time per image, brainyolo's numpy reference vs OpenCV's Darknet importer
  (same model, same letterboxed input, same thread count, one process); calibration peak memory
  (tracemalloc, which sees numpy's buffers) for 16 and for 128 images.
* ``conv``: one convolution layer of the model (its real kernel, on a cropped map) built as
  brainyolo's weight-shared object and as Brian2's unrolled ``Synapses``, both in C++ standalone:
  run time per step, synaptic events per second, peak memory of the binary, and the ratios.
* ``snn``: the whole model in C++ standalone on one image: build time, ms per step, synaptic
  events per second, peak memory.
* ``scatter``: the whole model on one image with the convolutions' ``auto`` summation order (the
  output-stationary gather or tiles where they pay) and with row bands only (``bands``), timed run after run in
  turn: ms per step side by side and their ratio; both give the same synaptic events (checked).
* ``busy``: the whole model on one image alone, then beside one busy process (a CPU-bound loop at
  normal priority), with OpenMP's passive waiting (the default) and with spinning waits
  (``OMP_WAIT_POLICY=ACTIVE``, the behaviour before): ms per step and the slowdowns side by side.
* ``profile``: the whole model on one image with Brian2's code-object timers (``profile=True``): ms
  per step per layer (its incoming connection: convolution, pool or relay; its neurons: state
  update, thresholds, resets), the synaptic events per second, and the machine's memory bandwidth
  (a streaming copy) with the events per second it would allow if every event went to memory.

Figures, not pass/fail: the goals are in the README and the issue notes.
"""

from __future__ import annotations

import re
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

from brainyolo.ann.darknet import load_darknet
from brainyolo.ann.graph import Conv, conv_output_size
from brainyolo.ann.letterbox import letterbox, list_images, load_image
from brainyolo.ann.reference import head_maps
from brainyolo.convert.calibration import calibrate
from brainyolo.convert.conversion import convert_darknet
from brainyolo.convert.model_file import load_model, save_model
from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking import to_neuron_order
from brainyolo.spiking.neurons import load_neuron_model, neuron_group
from brainyolo.spiking.settings import BuildOptions
from brainyolo.spiking.unrolled import conv_fan_out, unrolled_conv_synapses

SHARED = Path(__file__).resolve().parents[3] / "shared"


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
    parts = args.only.split(",") if args.only else ["ann", "conv", "snn", "scatter", "busy", "profile"]
    _set_threads(args.threads)
    cfg, weights, images = _inputs(args)
    if "ann" in parts:
        ann_benchmark(args, cfg, weights, images)
    if "conv" in parts:
        conv_benchmark(args, cfg, weights)
    if "snn" in parts:
        snn_benchmark(args, cfg, weights, images)
    if "scatter" in parts:
        scatter_benchmark(args, cfg, weights, images)
    if "busy" in parts:
        busy_benchmark(args, cfg, weights, images)
    if "profile" in parts:
        profile_benchmark(args, cfg, weights, images)


def _inputs(args):

    cfg = Path(args.cfg) if args.cfg else SHARED / "models/yolov3-tiny/yolov3-tiny.cfg"
    weights = Path(args.weights) if args.weights else SHARED / "models/yolov3-tiny/yolov3-tiny.weights"
    images = Path(args.images) if args.images else SHARED / "data/coco-train2017-first128/images"
    for path in (cfg, weights, images):
        if not path.exists():
            raise BrainyoloError(path, "not found (pass --cfg/--weights/--images, or put ../shared "
                                       "beside the checkout)")
    if not list_images(images):
        raise BrainyoloError(images, "holds no images (--images: a folder of image files)")
    return cfg, weights, images


def ann_benchmark(args, cfg, weights, images) -> None:

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


def _standalone_conv_run(connectivity: str, weight, in_shape, stride, pad, steps, threads, directory):
    """Build and run source -> conv -> target in C++ standalone; (seconds, events, peak bytes)."""
    import brian2

    from brainyolo.spiking.connections import SharedConvolution
    from brainyolo.spiking.device import standalone

    with standalone(threads, measure_memory=True, build_on_run=False):
        model = load_neuron_model("if_signed_ibt")
        rng = np.random.default_rng(0)
        source = neuron_group(model, int(np.prod(in_shape)), name="source")
        source.I = rng.uniform(-0.5, 0.6, len(source))  # about 0.25 spikes per neuron per step
        filters, size = weight.shape[0], weight.shape[2]
        out_n = filters * conv_output_size(in_shape[1], size, stride, pad) * \
            conv_output_size(in_shape[2], size, stride, pad)
        target = neuron_group(model, out_n, name="target")
        if connectivity == "shared":
            connection = SharedConvolution(source, target, weight, in_shape, stride, pad, name="conv")
        else:
            connection = unrolled_conv_synapses(source, target, weight, in_shape, stride, pad, name="conv")
        counter = brian2.SpikeMonitor(source, record=False, name="counter")
        negative = brian2.EventMonitor(source, "negative_spike", record=False, name="negcounter")
        brian2.Network(source, target, connection, counter, negative).run(steps * brian2.ms)
        brian2.device.build(directory=str(directory), compile=True, run=False, with_output=False)
        brian2.device.run(directory=str(directory), results_directory="results", with_output=False)
        seconds = brian2.device._last_run_time  # the simulation loop, timed inside the binary
        fan = to_neuron_order(conv_fan_out(in_shape, filters, size, stride, pad))
        spikes = np.asarray(counter.count[:], np.int64) + np.asarray(negative.count[:], np.int64)
        peak = int((Path(directory) / "results" / "peak_memory_bytes").read_text())
        return seconds, int(spikes @ fan), peak


def conv_benchmark(args, cfg, weights) -> None:
    import tempfile


    graph = load_darknet(cfg, weights).folded_graph()
    convs = [i for i, layer in enumerate(graph.layers) if isinstance(layer, Conv)]
    index = convs[1] if len(convs) > 1 else convs[0]
    layer = graph.layers[index]
    in_channels = layer.weight.shape[1]
    in_shape = (in_channels, args.conv_size, args.conv_size)
    weight = layer.weight.astype(np.float64) / np.abs(layer.weight).max()
    synapses = layer.filters * in_channels * layer.size ** 2 * args.conv_size ** 2
    print(f"conv layer {index} ({in_channels}->{layer.filters}, {layer.size}x{layer.size}) on a "
          f"{args.conv_size}x{args.conv_size} map: {synapses / 1e6:.1f} M synapses when unrolled, "
          f"{args.conv_steps} steps, {args.threads} threads")
    results = {}
    with tempfile.TemporaryDirectory(prefix="brainyolo-bench-") as tmp:
        for kind in ("shared", "unrolled"):
            results[kind] = _standalone_conv_run(kind, weight, in_shape, layer.stride, layer.pad,
                                                 args.conv_steps, args.threads, Path(tmp) / kind)
    (ts, es, ms), (tu, eu, mu) = results["shared"], results["unrolled"]
    assert es == eu, "both connectivities must see the same spikes"
    print(f"  {'':22s}{'weight-shared':>16s}{'unrolled':>16s}{'ratio':>10s}")
    print(f"  {'ms per step':22s}{1e3 * ts / args.conv_steps:16.2f}{1e3 * tu / args.conv_steps:16.2f}"
          f"{tu / ts:9.1f}x")
    print(f"  {'G synaptic events/s':22s}{es / ts / 1e9:16.2f}{eu / tu / 1e9:16.2f}")
    print(f"  {'peak memory (MiB)':22s}{ms / 2**20:16.1f}{mu / 2**20:16.1f}{mu / ms:9.1f}x")


def _benchmark_model(cfg, weights, images, folder) -> Path:
    """The model converted (calibrated on the first 8 images) into ``folder/model.h5``."""

    path = Path(folder) / "model.h5"
    save_model(convert_darknet(cfg, weights, list_images(images)[:8], progress=False), path)
    return path


def snn_benchmark(args, cfg, weights, images) -> None:
    import tempfile

    from brainyolo.detector import simulate
    from brainyolo.spiking.simulate import SimulationSettings

    paths = list_images(images)
    synapse = getattr(args, "synapse", "instant")
    with tempfile.TemporaryDirectory(prefix="brainyolo-bench-") as tmp:
        model_path = _benchmark_model(cfg, weights, images, tmp)
        settings = SimulationSettings(steps=args.snn_steps, device="cpp_standalone", threads=args.threads,
                                      float32=args.float32, build=BuildOptions(synapse=synapse))
        # each image `snn_repeat` times through the same binary: the spread shows the machine's noise
        info = simulate(model_path, paths[:2] * args.snn_repeat, settings, Path(tmp) / "run",
                        progress=False)
    neurons = sum(v["neurons"] for v in info["layer_spikes"].values())
    runs = info["images"]
    print(f"spiking {cfg.name}: {neurons / 1e6:.2f} M neurons, {args.snn_steps} steps, {args.threads} threads, "
          f"{'float32' if args.float32 else 'float64'}, {synapse} synapses, cpp_standalone")
    print(f"  build (code generation + compilation) {runs[0]['build_seconds']:.1f} s; later runs "
          f"{max(r['build_seconds'] for r in runs[1:]):.1f} s")
    for image in runs:
        print(f"  {image['file_name']}: {1e3 * image['run_seconds'] / args.snn_steps:.1f} ms/step "
              f"(process with start-up and result I/O: {image['process_seconds']:.1f} s), "
              f"{image['synaptic_events'] / image['run_seconds'] / 1e9:.2f} G synaptic events/s, "
              f"peak memory {image['peak_memory_bytes'] / 2**30:.2f} GiB")
    per_step = [1e3 * r["run_seconds"] / args.snn_steps for r in runs]
    print(f"  ms/step over {len(runs)} runs: median {statistics.median(per_step):.1f}, best {min(per_step):.1f}, "
          f"worst {max(per_step):.1f} (bar 50, goal 25); peak memory "
          f"{max(r['peak_memory_bytes'] for r in runs) / 2**30:.2f} GiB (bar 2, goal 1)")


def scatter_benchmark(args, cfg, weights, images) -> None:
    """ms/step of the whole network with the convolutions' ``auto`` summation order against row bands only
    (``bands``, the order before the output-stationary gather), run after run in turn (auto, bands, auto, ...):
    the machine's drift reaches both alike. The two give the same spikes (checked: the same synaptic events)."""
    import tempfile

    from brainyolo.detector import simulate
    from brainyolo.spiking.simulate import SimulationSettings

    paths = list_images(images)[:1]
    modes = ("auto", "bands")
    per_step = {mode: [] for mode in modes}
    events = {mode: set() for mode in modes}
    with tempfile.TemporaryDirectory(prefix="brainyolo-bench-") as tmp:
        model_path = _benchmark_model(cfg, weights, images, tmp)
        for round_ in range(args.snn_repeat + 1):  # round 0 builds both binaries and is not timed
            for mode in modes:
                settings = SimulationSettings(steps=args.snn_steps, device="cpp_standalone", threads=args.threads,
                                              float32=args.float32, build=BuildOptions(scatter=mode))
                info = simulate(model_path, paths, settings, Path(tmp) / f"run-{mode}", progress=False)
                run = info["images"][0]
                events[mode].add(run["synaptic_events"])
                if round_:
                    per_step[mode].append(1e3 * run["run_seconds"] / args.snn_steps)
    if events["auto"] != events["bands"] or len(events["auto"]) != 1:
        raise RuntimeError(f"the summation orders gave different synaptic events: {events}")
    auto, bands = (statistics.median(per_step[mode]) for mode in modes)
    print(f"summation order of spiking {cfg.name}'s convolutions, {paths[0].name}, {args.snn_steps} steps, "
          f"{args.threads} threads, {'float32' if args.float32 else 'float64'}, {args.snn_repeat} runs each in turn")
    for mode in modes:
        print(f"  {mode:5s}: ms/step {', '.join(f'{t:.1f}' for t in per_step[mode])} "
              f"(median {statistics.median(per_step[mode]):.1f})")
    print(f"  auto / bands: {auto / bands:.2f} (median over median); the same {events['auto'].pop():.4g} synaptic "
          f"events either way")


def busy_benchmark(args, cfg, weights, images) -> None:
    """ms/step alone and beside one busy process, with passive and with spinning OpenMP waits."""
    import os
    import subprocess
    import sys
    import tempfile

    from brainyolo.detector import SpikingDetector
    from brainyolo.spiking.simulate import SimulationSettings

    path = list_images(images)[0]
    results = {}
    with tempfile.TemporaryDirectory(prefix="brainyolo-bench-") as tmp:
        model_path = _benchmark_model(cfg, weights, images, tmp)
        settings = SimulationSettings(steps=args.snn_steps, device="cpp_standalone", threads=args.threads,
                                      float32=args.float32)
        saved = os.environ.get("OMP_WAIT_POLICY")
        with SpikingDetector.from_settings(model_path, settings) as detector:
            detector.run(path)  # the build, and a warm-up run
            for policy in ("PASSIVE", "ACTIVE"):
                for busy in (False, True):
                    os.environ["OMP_WAIT_POLICY"] = policy
                    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
                    try:
                        time.sleep(0.5 if busy else 0)
                        runs = [detector.run(path).result.timing["run_seconds"] for _ in range(args.snn_repeat)]
                    finally:
                        if saved is None:
                            del os.environ["OMP_WAIT_POLICY"]
                        else:
                            os.environ["OMP_WAIT_POLICY"] = saved
                        if loop is not None:
                            loop.kill()
                            loop.wait()
                    results[policy, busy] = 1e3 * statistics.median(runs) / args.snn_steps
    print(f"spiking {cfg.name} on {path.name}, {args.snn_steps} steps, {args.threads} threads, "
          f"{'float32' if args.float32 else 'float64'}: median ms/step of {args.snn_repeat} runs")
    alone = results["PASSIVE", False]
    labels = {"PASSIVE": "passive waits (default)", "ACTIVE": "spinning waits (OMP_WAIT_POLICY=ACTIVE)"}
    for policy, label in labels.items():
        print(f"  {label}: alone {results[policy, False]:.1f}, beside one busy process {results[policy, True]:.1f} "
              f"({results[policy, True] / results[policy, False]:.2f}x its own alone, "
              f"{results[policy, True] / alone:.2f}x passive alone)")


def memory_bandwidth(megabytes: int = 256, repeat: int = 5) -> float:
    """Bytes per second of a streaming copy of ``megabytes`` (best of ``repeat``; read + write counted)."""
    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    best = min(_time(lambda: np.copyto(target, source), repeat))
    return 2 * source.nbytes / (best / 1e3)


_CODE_OBJECT = re.compile(r"(conv|pool|relay|layer)(\d+)")


def layer_profile(profile: dict[str, float]) -> tuple[dict[int, dict[str, float]], float]:
    """Code-object seconds (Brian2's profile) per layer: {layer: {"connection": s, "neurons": s}} and the
    seconds of everything else (monitors, the image input, the clock).

    >>> layer_profile({"conv02_codeobject": 2.0, "layer02_stateupdater_codeobject": 1.0,
    ...                "relay20_0_codeobject": 0.5, "statemonitor_codeobject": 0.25})
    ({2: {'connection': 2.0, 'neurons': 1.0}, 20: {'connection': 0.5, 'neurons': 0.0}}, 0.25)
    """
    layers, other = {}, 0.0
    for name, seconds in profile.items():
        match = _CODE_OBJECT.match(name)
        if match is None:
            other += seconds
            continue
        entry = layers.setdefault(int(match.group(2)), {"connection": 0.0, "neurons": 0.0})
        entry["neurons" if match.group(1) == "layer" else "connection"] += seconds
    return dict(sorted(layers.items())), other


def profile_benchmark(args, cfg, weights, images) -> None:
    """ms/step per layer from Brian2's code-object timers, events/s against memory bandwidth."""
    import tempfile

    from brainyolo.detector import SpikingDetector
    from brainyolo.spiking.simulate import SimulationSettings

    path = list_images(images)[0]
    with tempfile.TemporaryDirectory(prefix="brainyolo-bench-") as tmp:
        model_path = _benchmark_model(cfg, weights, images, tmp)
        kinds = {index: layer.kind for index, layer in enumerate(load_model(model_path).graph.layers)}
        settings = SimulationSettings(steps=args.snn_steps, device="cpp_standalone", threads=args.threads,
                                      float32=args.float32, profile=True)
        with SpikingDetector.from_settings(model_path, settings) as detector:
            detector.run(path)  # the build, and a warm-up run
            result = detector.run(path).result
    steps = args.snn_steps
    layers, other = layer_profile(result.timing["profile"])
    total = sum(e["connection"] + e["neurons"] for e in layers.values()) + other
    print(f"profile of spiking {cfg.name} on {path.name}, {steps} steps, {args.threads} threads, "
          f"{'float32' if args.float32 else 'float64'}: {1e3 * result.timing['run_seconds'] / steps:.1f} ms/step "
          f"(loop), code objects {1e3 * total / steps:.1f} ms/step")
    print("  layer  kind            connection ms/step  neurons ms/step  share")
    for index, entry in layers.items():
        share = (entry["connection"] + entry["neurons"]) / total
        print(f"  {index:5d}  {kinds.get(index, '?'):14s}  {1e3 * entry['connection'] / steps:18.2f}  "
              f"{1e3 * entry['neurons'] / steps:15.2f}  {share:5.1%}")
    print(f"  other (monitors, input, clock): {1e3 * other / steps:.2f} ms/step ({other / total:.1%})")
    rate = result.synaptic_events / result.timing["run_seconds"]
    bandwidth = memory_bandwidth()
    print(f"  {result.synaptic_events / steps:.3g} synaptic events per step, {rate / 1e9:.2f} G events/s; "
          f"memory bandwidth (streaming copy, one thread) {bandwidth / 1e9:.1f} GB/s: "
          f"{bandwidth / 8 / 1e9:.2f} G events/s if every event read and wrote a 4-byte int in memory, "
          f"{bandwidth / 12 / 1e9:.2f} G with its 4-byte weight read from memory too")

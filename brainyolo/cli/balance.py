"""``brainyolo balance``."""

from __future__ import annotations

from pathlib import Path

from brainyolo.cli.options import (
    MODEL_HELP,
    existing,
    model_file,
    positive,
    positive_int,
    refuse_evaluation_images,
    tuning_image_options,
)
from brainyolo.io.errors import BrainyoloError


def add_parser(commands) -> None:
    p = commands.add_parser("balance", help="per-layer thresholds balanced from the ANN alone (no spiking run)",
                            description="Per-layer thresholds for a short run of the holding tracking neuron, "
                                        "from the ANN alone: a T-step run is modelled as the ANN with every hidden "
                                        "convolution rounded to multiples of v_th/T; per layer, the synaptic events "
                                        "its spikes cause and the detection error its rounding adds; the thresholds "
                                        "minimizing the modelled error for the uniform threshold's events, v_l ~ "
                                        "(C_l/e_l)^(1/3). Writes a --params file (V(0) = v_th/2, hold_positive, "
                                        "v_th per layer) for --neuron if_signed_ibt_tracking --schedule same-step.")
    p.add_argument("model", help=MODEL_HELP)
    tuning_image_options(p, "the first N tuning images (default 32)", 32)
    p.add_argument("--labels", help="ground truth of the tuning images (YOLO labels folder or COCO .json): also "
                                    "score the rounded ANN's mAP@0.5")
    p.add_argument("--steps", type=positive_int, required=True, help="the run's time steps T")
    from brainyolo.convert.balancing import BalanceSettings

    defaults = BalanceSettings()  # what convert balances with
    p.add_argument("--v-th", type=positive, default=defaults.base,
                   help=f"the uniform base threshold (default {defaults.base:g})")
    p.add_argument("--budget", type=positive, default=defaults.budget,
                   help=f"events as a multiple of the base's (default {defaults.budget:g})")
    p.add_argument("--burst", type=positive_int, default=1,
                   help="spikes a neuron may send in one step (a burst neuron file's burst, e.g. 4 for "
                        "if_signed_ibt_tracking_burst; default 1): the rounding clips at burst x v_th")
    p.add_argument("--low", type=positive, default=None,
                   help=f"smallest threshold (default {defaults.low:g} / burst: a burst of k spikes carries k x v_th)")
    p.add_argument("--high", type=positive, default=defaults.high,
                   help=f"largest threshold (default {defaults.high:g})")
    p.add_argument("-o", "--output", type=Path, required=True, help="parameter file to write (.toml)")
    p.set_defaults(run=run)


def run(args) -> int:
    from tqdm import tqdm

    from brainyolo.ann.graph import YoloHead
    from brainyolo.ann.heads import detect_from_heads
    from brainyolo.ann.letterbox import iterate_letterboxed
    from brainyolo.convert.balancing import BalanceSettings, balance, measure, rounded_forward, rounded_totals
    from brainyolo.convert.model_file import load_model
    from brainyolo.convert.tuning import labelled_truths, tuning_images
    from brainyolo.readout.evaluation import score
    from brainyolo.spiking.builder import hidden_layers
    from brainyolo.spiking.parameters import ParameterSettings, write_parameter_file

    model_path = model_file(args.model)
    model = load_model(model_path)
    if model.direct:
        raise BrainyoloError(model_path, "is a directly trained spiking network: it has no ANN to balance from")
    graph, lambdas = model.normalized_graph(), model.lambdas()
    if not all(isinstance(graph.layers[h], YoloHead) for h in graph.heads()):
        raise BrainyoloError(model_path, "has a [region] head: balancing reads [yolo] heads only")
    from brainyolo.spiking.neurons import MAX_BURST

    if args.burst > MAX_BURST:
        raise BrainyoloError(None, f"--burst {args.burst}: at most {MAX_BURST}")
    if args.low is None:
        args.low = BalanceSettings().low / args.burst
    if not args.low <= args.v_th <= args.high:
        raise BrainyoloError(None, f"--v-th {args.v_th} is outside --low {args.low} .. --high {args.high}")
    folder, paths = tuning_images(model, args.images, args.count)
    refuse_evaluation_images(folder, paths, args.evaluation_images)
    truths = None
    if args.labels:
        truths = labelled_truths(paths, graph.class_names, existing(args.labels))
    hidden, steps = hidden_layers(graph), args.steps
    _, height, width = graph.input_shape

    def images(what: str):
        letterboxed = iterate_letterboxed(paths, width, height)
        return (chw for _, chw, _ in tqdm(letterboxed, total=len(paths), desc=what, unit="image", leave=False,
                                          disable=True if args.quiet else None))

    measured = measure(graph, lambdas, images("measuring"), steps, args.v_th, hidden)
    base = dict.fromkeys(hidden, args.v_th)
    budget = args.budget * sum(c / args.v_th for c in measured.cost.values())
    try:
        chosen = balance(measured.cost, measured.error, budget, args.low, args.high)
    except ValueError as err:
        raise BrainyoloError(None, f"--budget {args.budget}: {err}") from None
    base_error, base_events = rounded_totals(graph, lambdas, images("checking"), base, steps, args.burst)
    error, events = rounded_totals(graph, lambdas, images("checking"), chosen, steps, args.burst)
    print(f"{len(paths)} images of {folder}, {steps} steps, base v_th {args.v_th}, budget {args.budget}x its events"
          + (f", bursts of up to {args.burst} spikes" if args.burst > 1 else ""))
    print("| layer | events per image at v_th 1 (C) | error per grid step² (e) | share of the base's events | "
          "share of the base's error | balanced v_th |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    cost_sum, error_sum = sum(measured.cost.values()), sum(measured.error.values())
    for layer in hidden:
        print(f"| {layer} | {measured.cost[layer]:.4g} | {measured.error[layer]:.4g} | "
              f"{100 * measured.cost[layer] / cost_sum:.1f} % | {100 * measured.error[layer] / error_sum:.1f} % | "
              f"{chosen[layer]:.4f} |")
    modelled = sum(measured.error[i] * chosen[i] ** 2 for i in hidden) / (error_sum * args.v_th ** 2)
    spent = sum(measured.cost[i] / chosen[i] for i in hidden) / (cost_sum / args.v_th)
    print(f"additive model: balanced error {modelled:.3f}x the base's at {spent:.3f}x its events")
    print(f"every layer rounded at once: base error {base_error:.4g}, events {base_events:.4g}; balanced error "
          f"{error:.4g} ({error / base_error if base_error else float('nan'):.3f}x), events {events:.4g} "
          f"({events / base_events if base_events else float('nan'):.3f}x)")
    if truths is not None:
        def map50(thresholds) -> float:
            found = []
            for path, chw, box in iterate_letterboxed(paths, width, height):
                _, maps = rounded_forward(graph, lambdas, chw, thresholds, steps, burst=args.burst)
                found.extend(detect_from_heads(graph, maps, box).records(path.name, graph.class_names))
            return score(truths, found, len(graph.class_names))["mAP50"]

        ann = map50({})
        print(f"rounded ANN mAP@0.5 (a model of the SNN, not the SNN): ANN {ann:.4f}, uniform {map50(base):.4f}, "
              f"balanced {map50(chosen):.4f}")
    entries = [("all", "v_init", 0.5), ("all", "hold_positive", 1.0)]
    entries += [(str(i), "v_th", round(chosen[i], 4)) for i in hidden]
    header = (f"Thresholds balanced by brainyolo balance: {len(paths)} images of {folder}, T = {steps}, base v_th "
              f"{args.v_th}, budget {args.budget}, bounds [{args.low}, {args.high}]"
              + (f", bursts of up to {args.burst} spikes" if args.burst > 1 else "") + ".\n"
              + ("Use with --neuron if_signed_ibt_tracking --schedule same-step --decode vmem." if args.burst == 1 else
                 "Use with a burst neuron file of this burst (if_signed_ibt_tracking_burst: 4) --schedule same-step "
                 "--decode vmem."))
    write_parameter_file(args.output, ParameterSettings(tuple(entries)), header)
    print(f"-> {args.output}")
    return 0

"""Operations and energy: the ANN's multiply-accumulates against the SNN's accumulates, counted exactly
(spikes times their real fan-out, borders included; bias accumulates; the image convolution as MACs), the
energy per operation of Horowitz (ISSCC 2014, 45 nm), TrueNorth against a GPU as Spiking-YOLO's Table 2."""

from __future__ import annotations

import numpy as np

from brainyolo.ann.graph import CONV_KINDS, INPUT, Graph, MaxPool, Route, Upsample
from brainyolo.spiking.counters import cost_per_target
from brainyolo.spiking.unrolled import conv_fan_out, pool_fan_out

GPU_WATTS, GPU_FLOPS = 250.0, 14e12

MAC_PJ = {"float32": 4.6, "int32": 3.2}


AC_PJ = {"float32": 0.9, "int32": 0.1}


TRUENORTH_FLOPS_PER_WATT = 400e9


TRUENORTH_STEP_SECONDS = 1e-3


def ann_macs(graph: Graph) -> dict[int, int]:
    """Multiply-accumulates per convolution for one image."""
    return {index: sum(macs.values()) for index, macs in branch_macs(graph).items()}


def branch_macs(graph: Graph) -> dict[int, dict[int, int]]:
    """Multiply-accumulates per convolution and input layer (a membrane shortcut has two) for one image."""
    shapes = graph.shapes()
    macs = {}
    for index, layer in enumerate(graph.layers):
        if isinstance(layer, CONV_KINDS):
            _, out_h, out_w = shapes[index]
            macs[index] = {}
            for source, _, size, _, _ in layer.branches():
                channels = graph.input_shape[0] if source == INPUT else shapes[source][0]
                macs[index][source] = out_h * out_w * layer.filters * channels * size * size
    return macs


def _resolve(graph: Graph, index: int) -> int:
    """The layer whose neurons stand for ``index`` (a single-input route or a head reuses its input's)."""
    layer = graph.layers[index]
    while index != INPUT and not isinstance(layer, (*CONV_KINDS, MaxPool, Upsample)) and not (
            isinstance(layer, Route) and len(layer.inputs) > 1):
        index = layer.inputs[0]
        layer = graph.layers[index] if index != INPUT else None
    return index


def snn_operations(graph: Graph, layers: dict[int, dict], steps: int) -> dict:
    """Operations of one simulated image, per convolution, from recorded spike counts (a layer that sent weighted
    spikes: its event counts, each event one synaptic operation per target, priced as an accumulate: the weight
    shifted by the event's binary digit, then added).

    Returns ``{"per_layer": {conv index: {"synaptic_acs", "bias_acs", "image_macs"}}, "acs", "macs",
    "other_events"}``: ``other_events`` are spikes into max-pools and relays (no weights).
    """
    shapes = graph.shapes()
    per_layer, other = {}, 0
    for index, layer in enumerate(graph.layers):
        if isinstance(layer, CONV_KINDS):
            entry = {"synaptic_acs": 0, "bias_acs": int(np.prod(shapes[index])) * steps, "image_macs": 0}
            for branch, _, size, stride, pad in layer.branches():
                source = _resolve(graph, branch)
                if source == INPUT:
                    entry["image_macs"] += branch_macs(graph)[index][INPUT]
                else:
                    counts = cost_per_target(layers[source])
                    entry["synaptic_acs"] += int((counts * conv_fan_out(shapes[source], layer.filters, size, stride,
                                                                        pad)).sum())
            per_layer[index] = entry
        elif isinstance(layer, (MaxPool, Upsample, Route)) and _resolve(graph, index) == index:
            for source_index in layer.inputs:
                source = _resolve(graph, source_index)
                counts = cost_per_target(layers[source])
                if isinstance(layer, MaxPool):
                    other += int((counts * pool_fan_out(shapes[source], layer.size, layer.stride, layer.pad)).sum())
                else:
                    other += int(counts.sum()) * (layer.stride ** 2 if isinstance(layer, Upsample) else 1)
    return {"per_layer": per_layer,
            "acs": sum(e["synaptic_acs"] + e["bias_acs"] for e in per_layer.values()),
            "macs": sum(e["image_macs"] for e in per_layer.values()), "other_events": other}


def operations_at_checkpoints(graph: Graph, layers: dict[int, dict], checkpoints) -> list[dict] | None:
    """SNN operations of one image up to each checkpoint step, exactly.

    Each weight-shared convolution recorded the synaptic events it had delivered by every checkpoint
    (``input_events``: source spikes x real fan-out; a source of weighted spikes: its events); bias ACs are
    neurons x steps; the image convolution is its MACs, once. Returns one ``{"steps", "acs", "macs"}`` per
    checkpoint, or None for runs without those records (unrolled connectivity, recordings before schema 3).
    """
    shapes, rows = graph.shapes(), []
    convs = [(index, layer) for index, layer in enumerate(graph.layers) if isinstance(layer, CONV_KINDS)]
    image_macs = sum(branch_macs(graph)[index].get(INPUT, 0) for index, _ in convs)
    spiking = [index for index, layer in convs if any(_resolve(graph, b[0]) != INPUT for b in layer.branches())]
    if any("input_events" not in layers.get(index, {}) for index in spiking):
        return None
    neurons = sum(int(np.prod(shapes[index])) for index, _ in convs)
    for k, step in enumerate(checkpoints):
        events = sum(int(layers[index]["input_events"][k]) for index in spiking)
        rows.append({"steps": int(step), "acs": events + neurons * int(step), "macs": image_macs})
    return rows


def energy_over_steps(rows: list[dict]) -> list[dict]:
    """SNN energy (float32, int32, TrueNorth) at every checkpoint of :func:`operations_at_checkpoints`."""
    out = []
    for row in rows:
        joules = {kind: (row["macs"] * MAC_PJ[kind] + row["acs"] * AC_PJ[kind]) * 1e-12 for kind in MAC_PJ}
        out.append({**row, "snn_joules": joules,
                    "truenorth_joules": (row["acs"] + 2 * row["macs"]) / TRUENORTH_FLOPS_PER_WATT,
                    "truenorth_seconds": row["steps"] * TRUENORTH_STEP_SECONDS})
    return out


def energy_table(graph: Graph, operations: dict, steps: int) -> dict:
    """ANN vs SNN energy per image (Fig. 9) and the TrueNorth-vs-GPU estimate (Table 2)."""
    macs = sum(ann_macs(graph).values())
    table = {"ann_macs": macs, "ann_flops": 2 * macs, "snn_acs": operations["acs"],
             "snn_macs": operations["macs"], "steps": steps, "energy_joules": {}}
    for kind in ("float32", "int32"):
        ann = macs * MAC_PJ[kind] * 1e-12
        snn = (operations["macs"] * MAC_PJ[kind] + operations["acs"] * AC_PJ[kind]) * 1e-12
        table["energy_joules"][kind] = {"ann": ann, "snn": snn, "ann_over_snn": ann / snn if snn else None}
    snn_ops = operations["acs"] + 2 * operations["macs"]
    gpu = GPU_WATTS * (2 * macs) / GPU_FLOPS
    truenorth = snn_ops / TRUENORTH_FLOPS_PER_WATT
    table["table2"] = {
        "gpu_joules": gpu, "gpu_seconds": (2 * macs) / GPU_FLOPS,
        "truenorth_joules": truenorth, "truenorth_seconds": steps * TRUENORTH_STEP_SECONDS,
        "gpu_over_truenorth": gpu / truenorth if truenorth else None,
        "formulas": {"ann_energy": "MACs x E_MAC", "snn_energy": "image MACs x E_MAC + ACs x E_AC",
                     "gpu_joules": "250 W x (2 x MACs) / 14e12 FLOP/s",
                     "truenorth_joules": "(ACs + 2 x image MACs) / 400e9 FLOP/J",
                     "truenorth_seconds": "steps x 1 ms"}}
    return table


PAPER = {"tiny_yolo_gflops": 6.97, "tiny_yolo_gpu_joules": 0.12, "spiking_yolo_truenorth_joules": 4.29e-4,
         "spiking_yolo_steps": 3500, "source": "Kim et al., Spiking-YOLO, AAAI 2020, Table 2"}


def energy_markdown(table: dict) -> str:
    """Table 2 and Fig. 9's numbers as markdown, formulas beside them, the paper's values for reference."""
    e, t2, p = table["energy_joules"], table["table2"], table["paper"]
    lines = [f"# Energy per image ({table['image']}, {table['steps']} steps)", "",
             "| quantity | value | formula |", "|---|---:|---|",
             f"| ANN MACs | {table['ann_macs']:.4g} | sum over convolutions of H_out W_out F C k k |",
             f"| ANN FLOPs | {table['ann_flops']:.4g} | 2 x MACs |",
             f"| SNN ACs | {table['snn_acs']:.4g} | spikes x real fan-out into convolutions + neurons x steps (bias) |",
             f"| SNN MACs (image convolution) | {table['snn_macs']:.4g} | first convolution of the image, once |",
             *[f"| {kind} ANN energy | {e[kind]['ann']:.4g} J | MACs x E_MAC |" for kind in e],
             *[f"| {kind} SNN energy | {e[kind]['snn']:.4g} J | image MACs x E_MAC + ACs x E_AC |" for kind in e],
             *[f"| {kind} ANN / SNN | {e[kind]['ann_over_snn']:.3g} | |" for kind in e],
             f"| GPU energy (Table 2) | {t2['gpu_joules']:.4g} J | {t2['formulas']['gpu_joules']} |",
             f"| TrueNorth energy (Table 2) | {t2['truenorth_joules']:.4g} J | {t2['formulas']['truenorth_joules']} |",
             f"| TrueNorth latency | {t2['truenorth_seconds']:.4g} s | {t2['formulas']['truenorth_seconds']} |",
             f"| GPU / TrueNorth energy | {t2['gpu_over_truenorth']:.4g} | |", "",
             f"E_MAC / E_AC: float32 {MAC_PJ['float32']} / {AC_PJ['float32']} pJ, int32 {MAC_PJ['int32']} / "
             f"{AC_PJ['int32']} pJ (Horowitz 2014). Paper ({p['source']}): Tiny YOLO {p['tiny_yolo_gflops']} GFLOPs, "
             f"{p['tiny_yolo_gpu_joules']} J on GPU; Spiking-YOLO {p['spiking_yolo_truenorth_joules']} J on TrueNorth "
             f"(channel-norm, {p['spiking_yolo_steps']} steps)."]
    if table.get("over_steps"):
        accuracy = table.get("accuracy")
        head = "| steps | SNN ACs | float32 SNN J | int32 SNN J | TrueNorth J | TrueNorth latency |"
        rule = "|---:|---:|---:|---:|---:|---:|"
        if accuracy:
            head, rule = head + " mAP@0.5 | % of ANN |", rule + "---:|---:|"
        lines += ["", "## At every checkpoint (exact: events each convolution delivered by then)", "", head, rule]
        for row in table["over_steps"]:
            line = (f"| {row['steps']} | {row['acs']:.4g} | {row['snn_joules']['float32']:.4g} | "
                    f"{row['snn_joules']['int32']:.4g} | {row['truenorth_joules']:.4g} | "
                    f"{row['truenorth_seconds']:.4g} s |")
            if accuracy:
                value = row.get("mAP50")
                line += (f" {value:.3f} | {100 * value / accuracy['ann_mAP50']:.1f} |" if value is not None
                         else " | |")
            lines.append(line)
        if accuracy:
            lines += ["", f"mAP@0.5 of configuration {accuracy['configuration']} on {accuracy['images']} images "
                          f"(ANN {accuracy['ann_mAP50']:.3f}); energy is that of the image above."]
    return "\n".join(lines) + "\n"

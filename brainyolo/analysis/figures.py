"""Figures drawn with matplotlib (Agg, no screen): accuracy against time steps, and more."""

from __future__ import annotations

import os

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

from brainyolo.io.quantities import parse_quantity
from brainyolo.spiking.neurons import load_neuron_model
from brainyolo.spiking.synapses import COMMON_PARAMETERS, load_synapse_model


def plot_map_vs_steps(summary: dict, out_path: str | os.PathLike, metric: str = "mAP50") -> None:
    """mAP (default @0.5) against simulation time steps, one line per configuration, the ANN dashed.

    ``summary`` as written by :func:`brainyolo.experiments.experiment.run_experiment` (``summary.json``); a
    configuration with ``"points": True`` (a directly trained network at a few T) is drawn as points.
    """
    label = {"mAP50": "mAP@0.5", "mAP": "mAP@[.5:.95]"}.get(metric, metric)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, config in summary["configurations"].items():
        steps = sorted(int(s) for s in config["snn"])
        ax.plot(steps, [config["snn"][str(s)][metric] for s in steps], marker="s" if config.get("points") else "o",
                linestyle="none" if config.get("points") else "-", label=name)
    ax.axhline(summary["ann"][metric], color="black", linestyle="--", label="ANN")
    ax.set_xlabel("time steps (1 step = 1 ms)")
    ax.set_ylabel(label)
    ax.set_ylim(bottom=0)
    ax.set_title(f"{summary['name']}: {label} vs time steps ({summary['images']} images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)


def _finish(fig, ax_or_axes, out_path) -> None:
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)


def plot_layer_norm_channel_maxima(rows: list[dict], out_path) -> None:
    """Fig. 1: per layer, every channel's maximum activation divided by the layer-norm lambda.

    ``rows``: ``{"layer", "values" (per channel), "mean", "min"}`` per convolution.
    """
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for k, row in enumerate(rows):
        values = np.asarray(row["values"])
        jitter = (np.random.default_rng(k).random(len(values)) - 0.5) * 0.5
        ax.scatter(np.full(len(values), k) + jitter, values, s=6, alpha=0.5, color="tab:blue",
                   label="channel maximum / layer lambda" if k == 0 else None)
        for key, colour in (("mean", "tab:orange"), ("min", "tab:red")):
            ax.plot([k - 0.35, k + 0.35], [row[key]] * 2, color=colour, lw=2,
                    label=f"layer {'mean' if key == 'mean' else 'minimum'}" if k == 0 else None)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), [str(r["layer"]) for r in rows])
    ax.set_xlabel("convolution (layer index)")
    ax.set_ylabel("normalized maximum activation (log)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_title("Layer-norm: channel maxima relative to the layer's lambda (Spiking-YOLO Fig. 1)", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    # legend above the axes: below it, it would hide a deep layer's minimum
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=3, frameon=False)
    _finish(fig, ax, out_path)


def plot_rate_distributions(series: dict[str, np.ndarray], title: str, out_path, bins: int = 20) -> None:
    """Fig. 3: number of neurons per firing-rate bin (log counts), one line per run."""
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    edges = np.linspace(0, 1, bins + 1)
    for label, rates in series.items():
        counts, _ = np.histogram(np.clip(rates, 0, 1), edges)
        ax.step(edges[:-1], np.maximum(counts, 0.8), where="post", label=label, lw=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("firing rate (spikes per time step, either sign)")
    ax.set_ylabel("number of neurons (log)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _finish(fig, ax, out_path)


def plot_channel_rates(series: dict[str, np.ndarray], title: str, out_path) -> None:
    """Fig. 4: mean firing rate per channel of one layer, one bar series per run."""
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    width = 0.8 / max(len(series), 1)
    for k, (label, rates) in enumerate(series.items()):
        ax.bar(np.arange(len(rates)) + k * width - 0.4 + width / 2, rates, width=width, label=label)
    ax.set_xlabel("channel")
    ax.set_ylabel("mean firing rate (spikes per step)")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    _finish(fig, ax, out_path)


RASTER_WINDOW = 200
"""Steps shown by :func:`plot_rasters` (single spikes stay visible; the data files hold them all)."""


def plot_rasters(panels: dict[str, dict], title: str, out_path, neurons: int = 20,
                 window: int = RASTER_WINDOW) -> None:
    """Fig. 5: spike rasters of sampled neurons, +1 spikes black, -1 spikes red, one panel per run.

    ``panels[label]``: ``{"neuron", "step", "sign", "steps"}`` arrays of the sampled trains. The
    first ``window`` steps are shown, the same for every run.
    """
    shown = min(window, min(q["steps"] for q in panels.values()))
    if shown < min(q["steps"] for q in panels.values()):
        title = f"{title}, first {shown} of {min(q['steps'] for q in panels.values())} steps"
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), dpi=120, squeeze=False)
    for ax, (label, p) in zip(axes[:, 0], panels.items(), strict=True):
        keep = p["neuron"] < neurons
        for sign, colour, name in ((1, "black", "+1 spike"), (-1, "tab:red", "-1 spike")):
            sel = keep & (p["sign"] == sign)
            ax.scatter(p["step"][sel], p["neuron"][sel], marker="|", s=30, color=colour, label=name, lw=1)
        ax.set_xlim(0, shown + 1)  # the same window for every run
        ax.set_ylim(-0.5, neurons - 0.5)
        ax.set_ylabel("sampled neuron")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1, 0].set_xlabel("time step (1 ms)")
    fig.suptitle(title, fontsize=10)
    _finish(fig, axes, out_path)


def plot_population(series: dict[str, dict], out_path) -> None:
    """Population statistics over time: mean firing rate and negative-spike fraction per layer."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), dpi=120, sharex=True)
    for label, data in series.items():
        top.plot(data["step"], data["rate"], lw=1, label=label)
        bottom.plot(data["step"], data["negative_fraction"], lw=1, label=label)
    top.set_ylabel("mean firing rate\n(spikes per neuron per step)")
    bottom.set_ylabel("fraction of negative spikes")
    bottom.set_xlabel("time step (1 ms)")
    top.set_title("Population activity over time, per layer")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    top.legend(fontsize=7, ncol=3)
    _finish(fig, (top, bottom), out_path)


def plot_energy(table: dict, title: str, out_path) -> None:
    """Fig. 9: ANN vs SNN energy per image for 32-bit float and int operations (log scale).

    With ``table["over_steps"]`` (energy at every checkpoint) a second panel shows the SNN's energy
    growing with time steps against the ANN's and the GPU's, and, when the run's mAP per checkpoint
    is known, the first checkpoints at 95 % and 98 % of the ANN's mAP@0.5.
    """
    kinds = ["float32", "int32"]
    ann = [table["energy_joules"][k]["ann"] for k in kinds]
    snn = [table["energy_joules"][k]["snn"] for k in kinds]
    over = table.get("over_steps")
    fig, axes = plt.subplots(1, 2 if over else 1, figsize=(13 if over else 6.5, 4.8), dpi=120, squeeze=False)
    ax = axes[0, 0]
    x = np.arange(len(kinds))
    bars_ann = ax.bar(x - 0.2, ann, 0.4, label=f"ANN ({table['ann_macs']:.3g} MACs)")
    bars_snn = ax.bar(x + 0.2, snn, 0.4, label=f"SNN, {table['steps']} steps ({table['snn_acs']:.3g} ACs)")
    for bars in (bars_ann, bars_snn):
        for bar in bars:
            ax.annotate(f"{bar.get_height():.2e} J", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(x, ["32-bit float\n(MAC 4.6 pJ, AC 0.9 pJ)", "32-bit int\n(MAC 3.2 pJ, AC 0.1 pJ)"])
    ax.set_ylabel("energy per image (J, log)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    ax.margins(y=0.3)
    if over:
        ax = axes[0, 1]
        steps = [row["steps"] for row in over]
        for kind, colour in zip(kinds, ("tab:orange", "tab:green"), strict=True):
            ax.plot(steps, [row["snn_joules"][kind] for row in over], marker="o", color=colour,
                    label=f"SNN {kind}")
            ax.axhline(table["energy_joules"][kind]["ann"], color=colour, linestyle="--", lw=1,
                       label=f"ANN {kind}")
        ax.plot(steps, [row["truenorth_joules"] for row in over], marker="s", color="tab:purple",
                label="SNN on TrueNorth (400 GFLOPS/W)")
        ax.axhline(table["table2"]["gpu_joules"], color="black", linestyle=":", lw=1.2,
                   label="ANN on GPU (250 W, 14 TFLOPS)")
        accuracy = table.get("accuracy")
        if accuracy:
            for fraction, style in ((0.95, (0, (4, 2))), (0.98, (0, (1, 1)))):
                reached = [row["steps"] for row in over
                           if row.get("mAP50") is not None and row["mAP50"] >= fraction * accuracy["ann_mAP50"]]
                if reached:
                    ax.axvline(reached[0], color="grey", linestyle=style, lw=1,
                               label=f"{fraction:.0%} of ANN mAP@0.5 at {reached[0]} steps")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("time steps (1 step = 1 ms)")
        ax.set_ylabel("energy per image up to this step (J, log)")
        ax.set_title("Energy vs time steps (exact operation counts at each checkpoint)", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper left", framealpha=0.9)
    _finish(fig, axes, out_path)


def sweep_points(summary: dict) -> dict[str, dict[str, list[tuple[float, dict]]]]:
    """Configurations of a ``[grid] settings`` sweep grouped by the one parameter each sets.

    Returns ``{parameter: {series: [(value, per-step metrics), ...]}}`` sorted by value, a series being
    the configuration without its settings (its neuron, synapse, ...); values with time units in ms.
    Configurations setting nothing or several parameters are left out.
    """
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions


    def number(value) -> float:
        return float(np.asarray(value)) * (1.0 if get_dimensions(value) is DIMENSIONLESS else 1000.0)

    groups: dict[str, dict[str, list]] = {}
    for name, config in summary["configurations"].items():
        parts = (config.get("settings") or "").split()
        if len(parts) != 1 or "=" not in parts[0]:
            continue
        key, text = parts[0].split("=", 1)
        series = groups.setdefault(key.split(".", 1)[-1], {}).setdefault(config.get("series", name), [])
        series.append((number(parse_quantity(text)), config["snn"]))
    # a series' configuration without settings sits at its files' default value of the parameter
    for config in summary["configurations"].values():
        if (config.get("settings") or "").strip():
            continue
        for parameter, series in groups.items():
            default = _file_default(config, parameter)
            if config.get("series") in series and default is not None:
                series[config["series"]].append((number(default), config["snn"]))
    return {p: {s: sorted(v, key=lambda point: point[0]) for s, v in g.items()} for p, g in groups.items()}


def _file_default(config: dict, parameter: str):
    """The value a configuration's neuron or synapse file gives ``parameter`` (every synapse's
    ``delay``, ``release``, ``seed``: 0, 1, 0), or None."""

    if parameter in COMMON_PARAMETERS:
        return COMMON_PARAMETERS[parameter]
    try:
        files = [load_synapse_model(config.get("synapse", "instant")), load_neuron_model(config["neuron"])]
    except Exception:  # noqa: BLE001 - a summary from elsewhere: no default point
        return None
    for model in files:
        if parameter in model.parameters:
            return parse_quantity(model.parameters[parameter])
    return None


def plot_sweep(summary: dict, parameter: str, out_path, metric: str = "mAP50") -> None:
    """mAP (default @0.5) against one swept run parameter: per series (the configuration without its
    settings) one line per shown checkpoint, the series' baseline (no settings) dotted, the ANN dashed."""
    label = {"mAP50": "mAP@0.5", "mAP": "mAP@[.5:.95]"}.get(metric, metric)
    groups = sweep_points(summary)[parameter]
    steps = sorted({int(s) for points in groups.values() for _, snn in points for s in snn})
    shown = steps if len(steps) <= 3 else [steps[len(steps) // 3], steps[2 * len(steps) // 3], steps[-1]]
    baselines = {c.get("series"): c for c in summary["configurations"].values()
                 if not (c.get("settings") or "").strip()}
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["o-", "s--", "^-.", "d:"]
    for g, (series, points) in enumerate(groups.items()):
        name = f"{series.split('-', 2)[-1]}, " if len(groups) > 1 else ""
        for k, step in enumerate(shown):
            colour = colours[k % len(colours)]
            kept = [(x, snn[str(step)][metric]) for x, snn in points if str(step) in snn]
            ax.plot(*zip(*kept, strict=True), styles[g % len(styles)], color=colour, label=f"{name}{step} steps")
            base = baselines.get(series)
            if base and str(step) in base["snn"]:
                ax.axhline(base["snn"][str(step)][metric], color=colour, linestyle=":", lw=1)
    ax.axhline(summary["ann"][metric], color="black", linestyle="--", label="ANN")
    unit = " (ms)" if parameter.startswith(("t_", "tau")) else (" (steps)" if parameter == "delay" else "")
    ax.set_xlabel(parameter + unit)
    ax.set_ylabel(label)
    ax.set_ylim(bottom=0)
    ax.set_title(f"{summary['name']}: {label} vs {parameter} ({summary['images']} images; dotted: no setting)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _finish(fig, ax, out_path)

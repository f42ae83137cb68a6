"""Figures drawn with matplotlib (Agg, no screen): accuracy against time steps, and more."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_map_vs_steps(summary: dict, out_path: str | os.PathLike, metric: str = "mAP50") -> None:
    """mAP (default @0.5) against simulation time steps, one line per configuration, the ANN dashed.

    ``summary`` as written by :func:`brainyolo.experiment.run_experiment` (``summary.json``).
    """
    label = {"mAP50": "mAP@0.5", "mAP": "mAP@[.5:.95]"}.get(metric, metric)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, config in summary["configurations"].items():
        steps = sorted(int(s) for s in config["snn"])
        ax.plot(steps, [config["snn"][str(s)][metric] for s in steps], marker="o", label=name)
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

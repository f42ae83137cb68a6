"""The README's tables of the biology sweeps (issue 16) from their summaries.

    python analysis/biology/biology_table.py runs/biology-synapses runs/biology-delay ... [--figure OUT.png]

Per run: mAP@0.5 of every configuration at each checkpoint, its fraction of the reference
configuration's (the one without settings and with the instant synapse, else the first) at the last
step, and the synaptic events per image at the last step.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(run_dir: Path) -> str:
    summary = json.loads((run_dir / "summary.json").read_text())
    configs = summary["configurations"]
    steps = sorted({int(s) for c in configs.values() for s in c["snn"]})
    last = str(steps[-1])
    plain = [c for c in configs.values()
             if not (c.get("settings") or "") and c.get("synapse", "instant") == "instant"]
    reference = (plain or list(configs.values()))[0]["snn"][last]["mAP50"]
    lines = [f"**{summary['name']}** ({summary['images']} images, ANN mAP@0.5 {summary['ann']['mAP50']:.3f}):", "",
             "| configuration | " + " | ".join(f"{s}" for s in steps)
             + f" | of the reference at {last} | events per image |",
             "| --- |" + " ---: |" * (len(steps) + 2)]
    for config in configs.values():
        synapse = config.get("synapse", "instant")
        label = " ".join(filter(None, [synapse if synapse != "instant" else "", config.get("settings") or ""]))
        label = f"`{label}`" if label else "baseline"
        cells = [f"{config['snn'][str(s)]['mAP50']:.3f}" for s in steps]
        events = config["snn"][last].get("conv_events_per_image")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {config['snn'][last]['mAP50'] / reference:.1%} | "
                     + (f"{events:.3g}" if events else "-") + " |")
    return "\n".join(lines) + "\n"


def figure(run_dirs: list[Path], out: Path) -> None:
    """One panel per swept parameter: mAP@0.5 against its value at 100 and 300 steps, per series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from brainyolo.analysis.figures import sweep_points

    panels = []
    for run_dir in run_dirs:
        summary = json.loads((run_dir / "summary.json").read_text())
        panels += [(summary, parameter, groups) for parameter, groups in sweep_points(summary).items()]
    columns = 3
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), dpi=110, squeeze=False)
    for ax, (summary, parameter, groups) in zip(axes.ravel(), panels, strict=False):
        for g, (series, points) in enumerate(groups.items()):
            name = series.split("-vmem")[-1].strip("-") or "instant"
            for step, style in (("100", "--"), ("300", "-")):
                xs = [x for x, snn in points if step in snn]
                ax.plot(xs, [snn[step]["mAP50"] for x, snn in points if step in snn], style, marker="os^d"[g % 4],
                        color=f"C{g}", label=f"{name}, {step} steps" if len(groups) > 1 else f"{step} steps")
        ax.axhline(summary["ann"]["mAP50"], color="black", lw=0.8, linestyle=":", label="ANN")
        unit = " (ms)" if parameter.startswith(("t_", "tau")) else (" (steps)" if parameter == "delay" else "")
        ax.set_xlabel(parameter + unit)
        ax.set_ylabel("mAP@0.5")
        ax.set_ylim(0, 1)
        if parameter == "tau":
            ax.set_xscale("log")
        ax.set_title(summary["name"], fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


if __name__ == "__main__":
    args = sys.argv[1:]
    out = None
    if "--figure" in args:
        k = args.index("--figure")
        out = Path(args[k + 1])
        args = args[:k] + args[k + 2:]
    print("\n".join(table(Path(arg)) for arg in args))
    if out is not None:
        figure([Path(a) for a in args], out)

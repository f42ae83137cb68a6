"""The README's tables of the biology sweeps (issue 16) from their summaries.

    python analysis/biology_table.py runs/biology-synapses runs/biology-delay ...

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


if __name__ == "__main__":
    print("\n".join(table(Path(arg)) for arg in sys.argv[1:]))

"""The event budget whose run agreed best with the ANN at 16 steps within an event limit.

    python analysis/fast-and-frugal/pick_budget.py CHOICE.txt MACS LIMIT

CHOICE.txt: blocks of ``budget B`` followed by analysis/presets/agreement.py's output for that budget's run.
Prints the budget whose 16-step agreement is highest among those with at most LIMIT x MACS synaptic events per
image at 16 steps (exit 1 when none is).
"""

from __future__ import annotations

import re
import sys


def main(path: str, macs: float, limit: float) -> str:
    rows, budget = {}, None
    for line in open(path, encoding="utf-8"):
        if line.startswith("budget "):
            budget = line.split()[1]
        found = re.match(r"\s+16 steps: AP@0\.5 against the ANN = ([\d.]+), ([\d.e+]+) synaptic events", line)
        if found and budget is not None:
            rows[budget] = (float(found[1]), float(found[2]))
    within = {b: ap for b, (ap, events) in rows.items() if events <= limit * macs}
    if not within:
        raise SystemExit(f"{path}: no budget within {limit} x {macs:g} events at 16 steps")
    return max(within, key=within.get)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    print(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))

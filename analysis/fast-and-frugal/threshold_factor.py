"""A parameter file with every balanced threshold of a model times one factor (and the fast preset's V(0) and
hold_positive); with two more arguments also a two-phase threshold, the balanced ones times EARLY in the first
SWITCH steps.

    python analysis/fast-and-frugal/threshold_factor.py MODEL.h5 FACTOR [EARLY SWITCH] > params.toml

The tune-16 study's x0.8 point is ``FACTOR`` 0.8 (its trial 2); the burst study also runs 0.5; the two-phase rows
``1 0.5 8`` (for if_signed_ibt_tracking_two_phase).
"""

from __future__ import annotations

import sys

from brainyolo.convert.model_file import read_model


def main(model_path: str, factor: float, early: float | None = None, switch: int | None = None) -> str:
    balanced = read_model(model_path).thresholds
    if balanced is None:
        raise SystemExit(f"{model_path}: the model file holds no balanced thresholds")
    phase = "" if early is None else f", x {early:g} in the first {switch} steps"
    lines = [f"# every balanced threshold of {model_path} x {factor:g}{phase}", "", "[all]", "v_init = 0.5",
             "hold_positive = 1.0", *([] if early is None else [f"t_switch = \"{switch}*ms\""]), ""]
    for index in sorted(balanced.v_th):
        lines += [f"[{index}]", f"v_th = {balanced.v_th[index] * factor!r}",
                  *([] if early is None else [f"v_th_early = {balanced.v_th[index] * early!r}"]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 5):
        raise SystemExit(__doc__)
    phase = (float(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) == 5 else ()
    print(main(sys.argv[1], float(sys.argv[2]), *phase))

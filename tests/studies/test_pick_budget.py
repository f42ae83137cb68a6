"""analysis/fast-and-frugal/pick_budget.py: the most agreeing event budget within an event limit, from the
agreement script's blocks (the burst-balance study's train-image choice)."""

from __future__ import annotations

import pytest
from conftest import analysis_script

CHOICE = """budget 1.2
16 photos, preset fast, 20 steps, 4.47e+09 synaptic events per image
    16 steps: AP@0.5 against the ANN = 0.760, 3.32e+09 synaptic events per image
    20 steps: AP@0.5 against the ANN = 0.837, 4.46e+09 synaptic events per image
budget 1.5
16 photos, preset fast, 20 steps, 5.41e+09 synaptic events per image
    16 steps: AP@0.5 against the ANN = 0.818, 4.18e+09 synaptic events per image
    20 steps: AP@0.5 against the ANN = 0.871, 5.4e+09 synaptic events per image
budget 2.2
16 photos, preset fast, 20 steps, 7.3e+09 synaptic events per image
    16 steps: AP@0.5 against the ANN = 0.942, 5.69e+09 synaptic events per image
"""


@pytest.mark.parametrize(("limit", "expected"), [(1.5, "1.2"), (1.51, "1.5"), (2.1, "2.2")])
def test_the_most_agreeing_budget_within_the_limit_at_16_steps(tmp_path, limit, expected):
    """1.5 x 2.78e9 = 4.17e9: budget 1.5's 4.18e9 at 16 steps is just over (its 20-step row does not count)."""
    path = tmp_path / "choice.txt"
    path.write_text(CHOICE)
    assert analysis_script("pick_budget").main(str(path), 2.78e9, limit) == expected


def test_no_budget_within_the_limit_is_an_error(tmp_path):
    path = tmp_path / "choice.txt"
    path.write_text(CHOICE)
    with pytest.raises(SystemExit, match="no budget within 1"):
        analysis_script("pick_budget").main(str(path), 2.78e9, 1.0)

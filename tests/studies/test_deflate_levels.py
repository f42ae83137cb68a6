"""analysis/overhead/deflate_levels.py on a run of the reduced network: a row per compressor and level, every
stream inflated by Python's zlib to its chunk, and zlib-ng's level 2 (the one brainyolo writes) at most a
hundredth of the raw size larger than zlib's level 1 on the same chunks (here, a reduced network's few counts).
The study's own check: a stream that does not inflate to its chunk prints False."""

from __future__ import annotations

import re

import pytest
from conftest import analysis_script

pytestmark = pytest.mark.codegen_independent


def test_every_level_is_timed_sized_and_read_back(tiny_run, capsys):
    analysis_script("overhead/deflate_levels").main(str(tiny_run), 2)
    out = capsys.readouterr().out
    assert out.startswith("2 images, ") and "every stream inflated by Python's zlib to its chunk: True" in out
    rows = dict(re.findall(r"^\| (zlib(?:-ng)? \d(?: \(now\))?) \| [0-9.]+ \| ([0-9.]+) \| [0-9.]+ \|$", out, re.M))
    assert set(rows) == {"zlib 1", "zlib-ng 1", "zlib-ng 2 (now)", "zlib-ng 3"}
    assert float(rows["zlib-ng 2 (now)"]) <= float(rows["zlib 1"]) + 0.01

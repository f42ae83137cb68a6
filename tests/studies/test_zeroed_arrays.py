"""analysis/overhead/zeroed_arrays.py on hand-written _init_arrays() lines: Brian2's zeroing loops (with and without
OpenMP's pragma) and the memset that replaces them count the same; an 'arange' and a static array do not count."""

from __future__ import annotations

import pytest
from conftest import analysis_script

pytestmark = pytest.mark.codegen_independent

LINES = """    _array_layer00_v = new float[1000000];
{zero_v}
    _array_layer00_positive_count = new int32_t[250000];
    #pragma omp parallel for schedule(static)
{zero_count}
    _array_layer00_flag = new char[100000];
{zero_flag}
    _array_layer00_i = new int32_t[1000];
    for(int i=0; i<1000; i++) _array_layer00_i[i] = 0 + i;
    _static_array__array_conv00__kernel = new float[432];
"""


def _lines(memset: bool) -> str:
    def zero(name, size):
        return (f"    std::memset({name}, 0, sizeof({name}[0]) * {size});" if memset
                else f"    for(int i=0; i<{size}; i++) {name}[i] = 0;")

    return LINES.format(zero_v=zero("_array_layer00_v", 1000000),
                        zero_count=zero("_array_layer00_positive_count", 250000),
                        zero_flag=zero("_array_layer00_flag", 100000))


@pytest.mark.parametrize("memset", [False, True])
def test_zeroed_arrays_counts_every_zeroed_array_by_its_bytes(tmp_path, capsys, memset):
    path = tmp_path / "objects.cpp"
    path.write_text(_lines(memset))
    analysis_script("zeroed_arrays").main(str(path))
    lines = capsys.readouterr().out.splitlines()
    # 4 MB of float, 1 MB of int32_t, 0.1 MB of char
    assert lines[0] == f"3 arrays zeroed, 5.1 MB ({len(_lines(memset).splitlines())} lines)"
    assert [line.split()[-1] for line in lines[1:]] == ["v", "positive_count", "flag"]
    assert [line.split()[0] for line in lines[1:]] == ["4.0", "1.0", "0.1"]

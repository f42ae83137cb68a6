"""The arrays a build's binary zeroes at every start, from its objects.cpp (Brian2's _init_arrays(): an array
allocated with ``new T[N]`` and then zeroed, by a loop or, since 0.14.1, one memset): how many, their bytes, and the
bytes per kind of variable (the array name's last part).

    python analysis/overhead/zeroed_arrays.py BUILD_FOLDER/objects.cpp
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

BYTES = {"float": 4, "double": 8, "int32_t": 4, "int64_t": 8, "char": 1, "int16_t": 2, "int8_t": 1, "uint64_t": 8,
         "uint32_t": 4, "uint16_t": 2, "uint8_t": 1, "bool": 1}
ZEROED = re.compile(r"(_array_\w+) = new (\w+)\[(\d+)\];\n(?:[ \t]*#pragma omp parallel for schedule\(static\)\n)?"
                    r"[ \t]*(?:std::memset\(\1, 0,|for\(int i=0; i<\d+; i\+\+\) \1\[i\] = 0;)")


def main(path: str) -> None:
    text = Path(path).read_text()
    arrays = [(name, int(size) * BYTES[kind]) for name, kind, size in ZEROED.findall(text)]
    kinds = Counter()
    for name, size in arrays:
        kinds[re.sub(r"^_array_[a-z]+\d*_+", "", name)] += size
    total = sum(size for _, size in arrays)
    print(f"{len(arrays)} arrays zeroed, {total / 1e6:.1f} MB ({len(text.splitlines())} lines)")
    for kind, size in kinds.most_common(12):
        print(f"  {size / 1e6:6.1f} MB  {kind}")


if __name__ == "__main__":
    main(*sys.argv[1:])

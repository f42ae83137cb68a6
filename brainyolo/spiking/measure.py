"""Run the standalone binary and record its own peak memory (``peak_memory_bytes`` in its results).

Used as Brian2's ``run_cmd_unix``: ``python -m brainyolo.spiking.measure ./main ARGS...``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys


def main(argv: list[str]) -> int:
    code = subprocess.call(argv)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    if "--results_dir" in argv:
        results = argv[argv.index("--results_dir") + 1]
        os.makedirs(results, exist_ok=True)
        with open(os.path.join(results, "peak_memory_bytes"), "w") as f:
            f.write(str(peak_kib * 1024))
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

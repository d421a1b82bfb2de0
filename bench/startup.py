"""Wall time of the commands a user runs to look around: --help, list, describe.

Each command runs 5 times in a fresh process; the table shows the median and max. The
model-summary cache is warm for `list` and `describe` (as after `make install`), and one
row shows `describe` with an empty cache.

    python bench/startup.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = [["--help"], ["list"], ["describe", "mnist-dnn"], ["describe", "mnist-cnn"]]


def timed(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dlrecipes", *args], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        timed(["list"], env)  # warm the cache once
        for args in COMMANDS:
            times = [timed(args, env) for _ in range(5)]
            rows.append((" ".join(args), statistics.median(times), max(times)))
    cold = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(timed(["describe", "mnist-cnn"], {**os.environ, "XDG_CACHE_HOME": cache}))
    rows.append(("describe mnist-cnn (empty cache)", statistics.median(cold), max(cold)))
    lines = ["| command | median | max |", "|---|---|---|"]
    lines += [f"| `dlrecipes {name}` | {median:.2f} s | {worst:.2f} s |" for name, median, worst in rows]
    text = "\n".join(lines)
    print(text)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "startup.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
